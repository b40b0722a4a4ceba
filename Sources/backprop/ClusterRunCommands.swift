import ArgumentParser
import ClusterControl
import Foundation

struct ClusterStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Each process (running or exited), the latest step, epoch, loss and accuracy, and the run's state."
    )

    @Argument(help: ArgumentHelp("Run directory (default: runs/current).", valueName: "RUN"))
    var runDirectory: String?

    func run() throws {
        try runCluster(stoppable: false) { context in
            let found = try RunLocator(context).locate(runDirectory)
            ClusterStatus(context).lines(found).forEach { context.console.result($0) }
        }
    }
}

struct ClusterScale: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Start or stop workers so that N run; new ones join at the next step, stopped ones leave cleanly."
    )

    @Argument(help: "Workers that should run.")
    var workers: Int

    @Argument(help: ArgumentHelp("Run directory (default: runs/current).", valueName: "RUN"))
    var runDirectory: String?

    func validate() throws {
        guard workers >= 0 else { throw ValidationError("scale needs a whole number of workers >= 0, got \(workers)") }
    }

    func run() throws {
        try runCluster(stoppable: false) { context in
            try ClusterScaler(context).scale(try RunLocator(context).locate(runDirectory), to: workers)
        }
    }
}

struct ClusterLogs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "The run's report from `backprop logs`; with -f, live until the run ends, then exit 0 iff training finished."
    )

    @Flag(name: .shortAndLong, help: "Refresh live until the run ends.")
    var follow = false

    @Argument(help: ArgumentHelp("Run directory (default: runs/current).", valueName: "RUN"))
    var runDirectory: String?

    func run() throws {
        try runCluster(stoppable: false) { context in
            let found = try RunLocator(context).locate(runDirectory)
            var outcome: Error?
            do {
                let logs = try Logs.parse((follow ? ["--follow"] : []) + [found.directory])
                try logs.run()
            } catch {
                outcome = error
            }
            let consoles = context.launcher.recordedWorkers(in: found).map { "worker-\($0).log" }.filter(found.exists)
            context.console.say("in \(context.show(found.directory)): console logs: \((["server.log"] + consoles).joined(separator: " ")); the raw events are in server.jsonl and worker-<id>.jsonl")
            if let outcome { throw outcome }
        }
    }
}

struct ClusterWait: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Block until the run's server exits; exit code 0 iff training finished."
    )

    @Argument(help: ArgumentHelp("Run directory (default: runs/current).", valueName: "RUN"))
    var runDirectory: String?

    func run() throws {
        try runCluster(stoppable: true) { context in
            guard try ClusterFollower(context).wait(try RunLocator(context).locate(runDirectory)) else { throw ClusterCommandError.reported }
        }
    }
}

struct ClusterStop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "SIGTERM the workers, then the server; SIGKILL what is left after CLUSTER_STOP_TIMEOUT seconds (10)."
    )

    @Argument(help: ArgumentHelp("Run directory (default: runs/current).", valueName: "RUN"))
    var runDirectory: String?

    func run() throws {
        try runCluster(stoppable: false) { context in
            ClusterStopper(context).stopAll(try RunLocator(context).locate(runDirectory))
        }
    }
}
