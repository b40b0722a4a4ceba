/// One process of a cluster: the parameter server or worker number k (counted from 1 in the order started).
public enum ClusterMember: Hashable, Comparable, Sendable, CustomStringConvertible {
    case server
    case worker(Int)

    /// `server` or `worker-<k>`: the name of its pid file and console log, and the name a worker joins with.
    public var description: String {
        switch self {
        case .server: return "server"
        case .worker(let k): return "worker-\(k)"
        }
    }

    /// The program the member runs.
    public var program: String {
        switch self {
        case .server: return "backprop-server"
        case .worker: return "backprop-worker"
        }
    }

    /// Its console log in the run directory.
    public var logName: String { "\(description).log" }

    /// `server` or `worker-<k>` read back.
    public init?(name: String) {
        if name == "server" {
            self = .server
        } else if name.hasPrefix("worker-"), let k = ClusterDefinition.wholeNumber(String(name.dropFirst(7))) {
            self = .worker(k)
        } else {
            return nil
        }
    }
}
