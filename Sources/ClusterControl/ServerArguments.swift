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

    /// The value of the last `name` given (`--epochs 3` or `--epochs=3`), if any.
    public func value(of name: String) -> String? {
        var found: String?
        for (index, argument) in arguments.enumerated() {
            if argument.hasPrefix(name + "=") {
                found = String(argument.dropFirst(name.count + 1))
            } else if argument == name, !Self.switches.contains(name), index + 1 < arguments.count {
                found = arguments[index + 1]
            }
        }
        return found
    }

    /// `name` set to `value`: in the place of its first occurrence (others dropped), or added at the end.
    public func setting(_ name: String, to value: String) -> ServerArguments {
        var out: [String] = []
        var placed = false
        walk { flag, words in
            if flag != name {
                out += words
            } else if !placed {
                out += [name, value]
                placed = true
            }
        }
        return ServerArguments(placed ? out : out + [name, value])
    }

    /// The flags (each with its value) whose name is in `names`.
    public func keeping(_ names: Set<String>) -> ServerArguments { select { names.contains($0) } }

    /// The flags (each with its value) whose name is not in `names`.
    public func dropping(_ names: Set<String>) -> ServerArguments { select { !names.contains($0) } }

    public static func + (lhs: ServerArguments, rhs: [String]) -> ServerArguments { ServerArguments(lhs.arguments + rhs) }

    private func select(_ keep: (String) -> Bool) -> ServerArguments {
        var out: [String] = []
        walk { name, words in if keep(name) { out += words } }
        return ServerArguments(out)
    }

    /// Each flag's name with its words (the flag and its value, or the switch alone), in order.
    private func walk(_ body: (String, ArraySlice<String>) -> Void) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let name = String(argument.prefix { $0 != "=" })
            let standsAlone = !argument.hasPrefix("--") || argument.contains("=") || Self.switches.contains(argument)
            let width = standsAlone ? 1 : min(2, arguments.count - index)
            body(name, arguments[index..<index + width])
            index += width
        }
    }
}
