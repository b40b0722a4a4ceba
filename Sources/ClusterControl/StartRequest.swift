/// What `backprop cluster start` (and `run`, `chaos`) was asked for on its command line.
public struct StartRequest: Sendable {
    /// Workers to start; nil: the definition's `WORKERS`, else 3.
    public var workers: Int?
    /// The cluster definition as the user named it.
    public var config: String
    /// The run directory as the user named it; nil: a fresh `runs/cluster-<date>-<time>`.
    public var runDirectory: String?
    /// The server's port, over the definition's `PORT`.
    public var port: Int?
    /// Flags after `--`, for `backprop-server`; they replace the definition's value of the same flag.
    public var serverFlags: [String]

    public static let defaultConfig = "cluster/local.conf"

    public init(workers: Int? = nil, config: String = StartRequest.defaultConfig, runDirectory: String? = nil,
                port: Int? = nil, serverFlags: [String] = []) {
        self.workers = workers
        self.config = config
        self.runDirectory = runDirectory
        self.port = port
        self.serverFlags = serverFlags
    }
}
