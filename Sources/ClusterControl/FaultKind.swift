/// One fault `chaos` injects.
public enum FaultKind: String, CaseIterable, Sendable {
    /// SIGKILL a running worker and start a replacement.
    case killWorker
    /// SIGSTOP a worker for 2-6 s, then SIGCONT it.
    case freezeWorker
    /// Start one more worker.
    case extraWorker
    /// SIGKILL the server and start it again with `--resume` on the same port.
    case restartServer

    /// `1 worker kill`, `2 worker freezes`, …
    public func counted(_ n: Int) -> String {
        let noun: String
        switch self {
        case .killWorker: noun = "worker kill"
        case .freezeWorker: noun = "worker freeze"
        case .extraWorker: noun = "extra worker"
        case .restartServer: noun = "server restart"
        }
        return "\(n) \(noun)\(n == 1 ? "" : "s")"
    }
}
