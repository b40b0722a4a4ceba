/// A `backprop-server` command line's flags (without the program), read as `--flag value`, `--flag=value` or a switch.
public struct ServerArguments: Equatable, Sendable {
    public private(set) var arguments: [String]

    /// The server's flags that take no value.
    public static let switches: Set<String> = ["--quiet", "--insecure", "--restore-best-weights", "--save-best"]
    /// The flags of `backprop train` that decide the weights: an undisturbed reference run gets exactly these.
    public static let trainingFlags: Set<String> = [
        "--model", "--data", "--epochs", "--batch-size", "--microbatch", "--lr", "--optimizer", "--momentum", "--seed",
        "--validation-split", "--train-limit", "--test-limit", "--init",
        "--gradient-precision", "--update-precision", "--image-size", "--color", "--augment",
        "--weight-decay", "--clip-norm", "--label-smoothing", "--lr-schedule", "--warmup-epochs", "--monitor",
        "--reduce-lr-on-plateau", "--plateau-patience", "--min-lr", "--early-stopping", "--min-delta",
        "--restore-best-weights", "--save-best",
    ]

    public init(_ arguments: [String]) { self.arguments = arguments }

    /// The names of the flags given (`--epochs` for `--epochs 3` and `--epochs=3`).
    public var flagNames: Set<String> {
        Set(arguments.filter { $0.hasPrefix("--") }.map { String($0.prefix { $0 != "=" }) })
    }

    /// The flags (each with its value) whose name is in `names`.
    public func keeping(_ names: Set<String>) -> ServerArguments { select { names.contains($0) } }

    /// The flags (each with its value) whose name is not in `names`.
    public func dropping(_ names: Set<String>) -> ServerArguments { select { !names.contains($0) } }

    public static func + (lhs: ServerArguments, rhs: [String]) -> ServerArguments { ServerArguments(lhs.arguments + rhs) }

    private func select(_ keep: (String) -> Bool) -> ServerArguments {
        var out: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let name = String(argument.prefix { $0 != "=" })
            let standsAlone = !argument.hasPrefix("--") || argument.contains("=") || Self.switches.contains(argument)
            let width = standsAlone ? 1 : min(2, arguments.count - index)
            if keep(name) { out += arguments[index..<index + width] }
            index += width
        }
        return ServerArguments(out)
    }
}
