import ArgumentParser
import Foundation

@main
struct Backprop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backprop",
        abstract: "Train small convolutional networks with hand-written backpropagation.",
        subcommands: [Train.self, Evaluate.self, Predict.self, Export.self, Summary.self, Logs.self, Cluster.self, Demo.self, Keys.self]
    )

    /// ArgumentParser's `main`, except that a usage error of `backprop cluster` exits with code 2, as
    /// `scripts/cluster` always has (the other commands keep ArgumentParser's 64), and `cluster help` is its `--help`.
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        // `backprop cluster help [COMMAND]`, as `scripts/cluster help` has always been spelled.
        if arguments.count >= 2 && arguments[0] == Cluster.configuration.commandName && arguments[1] == "help" {
            arguments = [arguments[0]] + arguments.dropFirst(2) + ["--help"]
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            if arguments.first == Cluster.configuration.commandName, exitCode(for: error).rawValue == ExitCode.validationFailure.rawValue {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ClusterExit.usage)
            }
            exit(withError: error)
        }
    }
}
