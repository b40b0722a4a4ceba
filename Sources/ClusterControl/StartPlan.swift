import Training

/// How a cluster starts, from its definition and the command line: the server's flags and the workers.
///
/// Precedence, lowest first: the server's defaults, the definition, `--workers`/`--port`, then server flags after
/// `--`, which replace the definition's value of the same flag.
///
/// Without `--workers` or `WORKERS`, the cluster is sized to the machine: as many workers as share a step's
/// microbatches evenly, at most one per core (2 for the default 4 microbatches on 2 or 3 cores, 4 on 4 or more).
public struct StartPlan: Sendable {
    /// The server's flags, without `--run-dir`.
    public let server: ServerArguments
    /// Workers to start.
    public let workers: Int
    /// Whether `workers` was chosen for this machine (neither `--workers` nor `WORKERS` gave it).
    public let workersFitTheMachine: Bool
    /// How a step's microbatches spread over `workers`.
    public let shares: StepShares
    /// Workers the server waits for before training.
    public let workersMin: Int
    /// Whether the flags after `--` set `--workers-min` themselves.
    public let workersMinGiven: Bool
    /// The port the server is asked to bind (0: any free one).
    public let port: Int
    /// `--server-timeout` for the workers, when the definition sets `SERVER_TIMEOUT`.
    public let workerServerTimeout: String?

    /// `cores`: the machine's, for a cluster sized to it.
    public init(definition: ClusterDefinition, request: StartRequest, cores: Int) throws {
        let extra = ServerArguments(request.serverFlags)
        let overridden = extra.flagNames
        if overridden.contains("--run-dir") {
            throw ClusterCommandError.usage("give the run directory as 'start --run-dir DIR', before --")
        }
        var values = definition.values
        if let port = request.port { values[.port] = String(port) }
        let defaults = RunConfig()
        let batch = extra.value(of: "--batch-size").flatMap { Int($0) } ?? values[.batchSize].flatMap { Int($0) } ?? defaults.batchSize
        let micro = extra.value(of: "--microbatch").flatMap { Int($0) } ?? values[.microbatch].flatMap { Int($0) } ?? defaults.microbatch
        let even = StepShares(batchSize: max(batch, 1), microbatch: max(micro, 1), workers: 0).evenCounts(upTo: cores)
        let given = request.workers ?? values[.workers].flatMap { Int($0) }
        workers = given ?? even.last ?? 1
        workersFitTheMachine = given == nil
        shares = StepShares(batchSize: max(batch, 1), microbatch: max(micro, 1), workers: workers)
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
