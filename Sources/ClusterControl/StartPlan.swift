/// How a cluster starts, from its definition and the command line: the server's flags and the workers.
///
/// Precedence, lowest first: the server's defaults, the definition, `--workers`/`--port`, then server flags after
/// `--`, which replace the definition's value of the same flag.
public struct StartPlan: Sendable {
    /// The server's flags, without `--run-dir`.
    public let server: ServerArguments
    /// Workers to start.
    public let workers: Int
    /// Workers the server waits for before training.
    public let workersMin: Int
    /// Whether the flags after `--` set `--workers-min` themselves.
    public let workersMinGiven: Bool
    /// The port the server is asked to bind (0: any free one).
    public let port: Int
    /// `--server-timeout` for the workers, when the definition sets `SERVER_TIMEOUT`.
    public let workerServerTimeout: String?

    public init(definition: ClusterDefinition, request: StartRequest) throws {
        let extra = ServerArguments(request.serverFlags)
        let overridden = extra.flagNames
        if overridden.contains("--run-dir") {
            throw ClusterCommandError.usage("give the run directory as 'start --run-dir DIR', before --")
        }
        var values = definition.values
        if let port = request.port { values[.port] = String(port) }
        workers = request.workers ?? values[.workers].flatMap { Int($0) } ?? 3
        if values[.host] == nil { values[.host] = "127.0.0.1" }
        if values[.port] == nil { values[.port] = "5555" }
        if values[.workersMin] == nil { values[.workersMin] = String(max(workers, 1)) }
        workersMin = values[.workersMin].flatMap { Int($0) } ?? max(workers, 1)
        workersMinGiven = overridden.contains("--workers-min")
        port = values[.port].flatMap { Int($0) } ?? 5555
        workerServerTimeout = values[.serverTimeout]
        let fromDefinition = DefinitionKey.flagOrder.flatMap { key -> [String] in
            guard let flag = key.serverFlag, let value = values[key], !overridden.contains(flag) else { return [] }
            return key.serverArguments(value)
        }
        server = ServerArguments(fromDefinition + request.serverFlags)
    }
}
