/// A key of a cluster definition file (`cluster/*.conf`): what kind of value it takes and where the value goes.
public enum DefinitionKey: String, CaseIterable, Sendable {
    case port = "PORT", host = "HOST", workers = "WORKERS", workersMin = "WORKERS_MIN"
    case model = "MODEL", data = "DATA", epochs = "EPOCHS", batchSize = "BATCH_SIZE", microbatch = "MICROBATCH"
    case learningRate = "LR", optimizer = "OPTIMIZER", momentum = "MOMENTUM", seed = "SEED"
    case validationSplit = "VALIDATION_SPLIT", trainLimit = "TRAIN_LIMIT", testLimit = "TEST_LIMIT"
    case workerTimeout = "WORKER_TIMEOUT", serverTimeout = "SERVER_TIMEOUT"

    /// What a value must look like before it is used.
    public enum Kind: Sendable {
        /// A whole number ≥ 0.
        case whole
        /// A number (integer or decimal, optionally with an exponent) ≥ 0.
        case number
        /// A port number 0-65535.
        case port
        /// A host name or address (`*` for every interface).
        case host
        /// Text the server checks itself (a model spec, a data source, an optimiser name).
        case text
    }

    public var kind: Kind {
        switch self {
        case .port: return .port
        case .host: return .host
        case .workers, .workersMin, .epochs, .batchSize, .microbatch, .seed, .trainLimit, .testLimit: return .whole
        case .learningRate, .momentum, .validationSplit, .workerTimeout, .serverTimeout: return .number
        case .model, .data, .optimizer: return .text
        }
    }

    /// The `backprop-server` flag the value becomes; nil for keys the cluster command uses itself.
    public var serverFlag: String? {
        switch self {
        case .host: return "--host"
        case .port: return "--port"
        case .workersMin: return "--workers-min"
        case .workerTimeout: return "--worker-timeout"
        case .model: return "--model"
        case .data: return "--data"
        case .epochs: return "--epochs"
        case .batchSize: return "--batch-size"
        case .microbatch: return "--microbatch"
        case .learningRate: return "--lr"
        case .optimizer: return "--optimizer"
        case .momentum: return "--momentum"
        case .seed: return "--seed"
        case .validationSplit: return "--validation-split"
        case .trainLimit: return "--train-limit"
        case .testLimit: return "--test-limit"
        case .workers, .serverTimeout: return nil
        }
    }

    /// The field of `config.json` (`RunConfig(fields:)`) a training key sets; nil for the keys about processes.
    public var configField: String? {
        switch self {
        case .model: return "model"
        case .data: return "data"
        case .epochs: return "epochs"
        case .batchSize: return "batch_size"
        case .microbatch: return "microbatch"
        case .learningRate: return "learning_rate"
        case .optimizer: return "optimizer"
        case .momentum: return "momentum"
        case .seed: return "seed"
        case .validationSplit: return "validation_split"
        case .trainLimit: return "train_limit"
        case .testLimit: return "test_limit"
        case .port, .host, .workers, .workersMin, .workerTimeout, .serverTimeout: return nil
        }
    }

    /// The order in which values become server flags: training first, then how the server listens.
    public static let flagOrder: [DefinitionKey] = [
        .model, .data, .epochs, .batchSize, .microbatch, .learningRate, .optimizer, .momentum, .seed,
        .validationSplit, .trainLimit, .testLimit, .host, .port, .workersMin, .workerTimeout,
    ]
}
