import Foundation
import Messaging
import NeuralNet

/// How the parameter server listens and watches its workers.
public struct ServerOptions: Sendable {
    /// Where to bind, e.g. `tcp://127.0.0.1:5555` (port `*` picks a free one).
    public var endpoint: String
    /// A second address for workers on this machine, e.g. `ipc:///path/server.ipc`: the same
    /// socket over a Unix socket, which moves large messages faster than loopback TCP.
    /// Not binding it is not an error: workers still have `endpoint`.
    public var localEndpoint: String?
    /// Workers that must have joined before training starts.
    public var workersMin: Int
    /// A worker silent for this long is dropped and its microbatches handed to others.
    public var workerTimeout: Double
    /// How often the server tells idle workers it is alive.
    public var heartbeatInterval: Double
    /// CurveZMQ keys: when set, only workers whose public key is authorized get in, and all traffic is encrypted.
    public var curve: CurveServerKeys?

    public init(endpoint: String, localEndpoint: String? = nil, workersMin: Int = 1, workerTimeout: Double = 5,
                heartbeatInterval: Double = 0.5, curve: CurveServerKeys? = nil) {
        self.endpoint = endpoint
        self.localEndpoint = localEndpoint
        self.workersMin = workersMin
        self.workerTimeout = workerTimeout
        self.heartbeatInterval = heartbeatInterval
        self.curve = curve
    }
}

/// How a worker finds and watches its server.
public struct WorkerOptions: Sendable {
    /// The server's endpoint, e.g. `tcp://127.0.0.1:5555`.
    public var server: String
    /// A name for logs (default: host and pid).
    public var name: String
    /// If set, the worker refuses to train any other model (a preset name or spec).
    public var expectedModel: String?
    /// Give up when the server has been silent (or absent, at start) this long.
    public var serverTimeout: Double
    /// How often an idle worker tells the server it is alive.
    public var heartbeatInterval: Double
    /// Directory for `worker-<id>.jsonl`; nil = the run directory the server names, if it exists here.
    public var logDirectory: String?
    /// CurveZMQ keys: this worker's pair and the server's public key.
    public var curve: CurveClientKeys?

    public init(server: String, name: String, expectedModel: String? = nil, serverTimeout: Double = 30,
                heartbeatInterval: Double = 0.5, logDirectory: String? = nil, curve: CurveClientKeys? = nil) {
        self.curve = curve
        self.server = server
        self.name = name
        self.expectedModel = expectedModel
        self.serverTimeout = serverTimeout
        self.heartbeatInterval = heartbeatInterval
        self.logDirectory = logDirectory
    }
}

/// What the server tells a worker when it joins: everything needed to compute, nothing more.
struct WelcomeInfo: Codable {
    var config: RunConfig
    var modelSpec: String
    var parameterCount: Int
    var runDirectory: String
    var heartbeatInterval: Double
}

/// Errors of the cluster's processes; each description is one line for people.
public enum ClusterError: Error, CustomStringConvertible, Equatable {
    /// The server refused this worker, with its reason.
    case refused(String)
    /// The server did not answer for too long.
    case serverGone(String)
    /// The process was asked to stop (SIGINT/SIGTERM) before training ended.
    case stopped(String)
    case badWelcome(String)
    /// The server could not bind its address.
    case cannotListen(String)
    /// The worker cannot compute what it was assigned (its data is not the server's).
    case cannotCompute(String)

    /// Whether the process was asked to stop.
    public var isStop: Bool {
        if case .stopped = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .refused(let why): return "refused by the server: \(why)"
        case .serverGone(let why): return why
        case .stopped(let why): return why
        case .badWelcome(let why): return "cannot use the server's welcome: \(why)"
        case .cannotListen(let why): return why
        case .cannotCompute(let why): return "cannot compute the server's assignment: \(why)"
        }
    }
}

/// Seconds since an arbitrary fixed point, for timeouts and durations.
func monotonicSeconds() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

/// The wire protocol version this build speaks.
public let protocolVersion = Message.protocolVersion

/// CurveZMQ keys for a server and for a worker, as loaded from the files `backprop keys generate` writes.
public typealias CurveServerKeys = Messaging.CurveServerKeys
public typealias CurveClientKeys = Messaging.CurveClientKeys

/// Reads the server's key pair and authorized worker keys from a key directory.
public func loadServerKeys(directory: String) throws -> CurveServerKeys {
    try CurveKeys.loadServer(directory: directory)
}

/// Reads a worker's key pair and the server's public key.
public func loadWorkerKeys(keyFile: String, serverPublicFile: String) throws -> CurveClientKeys {
    try CurveKeys.loadClient(keyFile: keyFile, serverPublicFile: serverPublicFile)
}

/// Whether `host` names this machine only (`127.*`, `localhost`, `::1`).
public func isLoopback(_ host: String) -> Bool {
    host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
}
