/// Why a cluster command stopped: a usage error (exit code 2) or a failure (exit code 1), in one line.
public enum ClusterCommandError: Error, CustomStringConvertible, Equatable {
    /// Bad input on the command line or in the cluster definition.
    case usage(String)
    /// Something that did not work: a missing run, a server that would not start, a run that failed.
    case failure(String)
    /// A failure already explained on the console: exit code 1, nothing more to say.
    case reported
    /// The command was interrupted (SIGINT/SIGTERM) and stopped what it had started: exit code 130.
    case interrupted

    public var description: String {
        switch self {
        case .usage(let text), .failure(let text): return text
        case .reported: return ""
        case .interrupted: return "interrupted"
        }
    }
}
