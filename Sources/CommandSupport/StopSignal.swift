#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0

/// SIGINT and SIGTERM ask a long-running command to stop cleanly at its next chance.
public enum StopSignal {
    /// Installs the handlers; a second signal of either kind ends the process at once.
    public static func install() {
        for number in [SIGINT, SIGTERM] {
            signal(number) { received in
                if stopRequested != 0 {
                    signal(received, SIG_DFL)
                    raise(received)
                }
                stopRequested = 1
            }
        }
    }

    /// Whether a stop was asked for.
    public static var requested: Bool { stopRequested != 0 }
}
