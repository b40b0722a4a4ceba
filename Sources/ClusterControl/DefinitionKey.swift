/// A key of a cluster definition file (`cluster/*.conf`): what kind of value it takes and where the value goes.
///
/// `entry` is the one table: each key's kind, the `backprop-server` flag it becomes and the `config.json` field
/// it sets, one line a key.
public enum DefinitionKey: String, CaseIterable, Sendable {
    case port = "PORT", host = "HOST", workers = "WORKERS", workersMin = "WORKERS_MIN"
    case model = "MODEL", data = "DATA", epochs = "EPOCHS", batchSize = "BATCH_SIZE", microbatch = "MICROBATCH"
    case learningRate = "LR", optimizer = "OPTIMIZER", momentum = "MOMENTUM", seed = "SEED"
    case validationSplit = "VALIDATION_SPLIT", trainLimit = "TRAIN_LIMIT", testLimit = "TEST_LIMIT"
    case weightDecay = "WEIGHT_DECAY", clipNorm = "CLIP_NORM", labelSmoothing = "LABEL_SMOOTHING"
    case lrSchedule = "LR_SCHEDULE", warmupEpochs = "WARMUP_EPOCHS", monitor = "MONITOR"
    case reduceLROnPlateau = "REDUCE_LR_ON_PLATEAU", plateauPatience = "PLATEAU_PATIENCE", minLR = "MIN_LR"
    case earlyStopping = "EARLY_STOPPING", minDelta = "MIN_DELTA"
    case restoreBestWeights = "RESTORE_BEST_WEIGHTS", saveBest = "SAVE_BEST"
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
        /// Text the server checks itself (a model spec, a data source, an optimiser name, a schedule).
        case text
        /// `yes`/`no` (or `true`/`false`, `1`/`0`, in any case): yes becomes the server flag, which takes no value.
        case yesNo
    }

    /// One key's row of the table.
    public struct Entry: Sendable {
        public let kind: Kind
        /// The `backprop-server` flag the value becomes; nil for keys the cluster command uses itself.
        public let serverFlag: String?
        /// The field of `config.json` (`RunConfig(fields:)`) a training key sets; nil for the keys about processes.
        public let configField: String?

        init(_ kind: Kind, _ serverFlag: String?, _ configField: String?) {
            self.kind = kind
            self.serverFlag = serverFlag
            self.configField = configField
        }
    }

    /// The table: the switch is exhaustive, so a new key cannot be left out.
    public var entry: Entry {
        switch self {
        // Processes: how the server listens, and what the cluster command starts.
        case .host: return Entry(.host, "--host", nil)
        case .port: return Entry(.port, "--port", nil)
        case .workers: return Entry(.whole, nil, nil)
        case .workersMin: return Entry(.whole, "--workers-min", nil)
        case .workerTimeout: return Entry(.number, "--worker-timeout", nil)
        case .serverTimeout: return Entry(.number, nil, nil)
        // Training: the flags of `backprop train`.
        case .model: return Entry(.text, "--model", "model")
        case .data: return Entry(.text, "--data", "data")
        case .epochs: return Entry(.whole, "--epochs", "epochs")
        case .batchSize: return Entry(.whole, "--batch-size", "batch_size")
        case .microbatch: return Entry(.whole, "--microbatch", "microbatch")
        case .learningRate: return Entry(.number, "--lr", "learning_rate")
        case .optimizer: return Entry(.text, "--optimizer", "optimizer")
        case .momentum: return Entry(.number, "--momentum", "momentum")
        case .seed: return Entry(.whole, "--seed", "seed")
        case .validationSplit: return Entry(.number, "--validation-split", "validation_split")
        case .trainLimit: return Entry(.whole, "--train-limit", "train_limit")
        case .testLimit: return Entry(.whole, "--test-limit", "test_limit")
        // Training: Keras fit's options and callbacks (`FitOptions`).
        case .weightDecay: return Entry(.number, "--weight-decay", "weight_decay")
        case .clipNorm: return Entry(.number, "--clip-norm", "clip_norm")
        case .labelSmoothing: return Entry(.number, "--label-smoothing", "label_smoothing")
        case .lrSchedule: return Entry(.text, "--lr-schedule", "lr_schedule")
        case .warmupEpochs: return Entry(.whole, "--warmup-epochs", "warmup_epochs")
        case .monitor: return Entry(.text, "--monitor", "monitor")
        case .reduceLROnPlateau: return Entry(.number, "--reduce-lr-on-plateau", "reduce_lr_on_plateau")
        case .plateauPatience: return Entry(.whole, "--plateau-patience", "plateau_patience")
        case .minLR: return Entry(.number, "--min-lr", "min_lr")
        case .earlyStopping: return Entry(.whole, "--early-stopping", "early_stopping")
        case .minDelta: return Entry(.number, "--min-delta", "min_delta")
        case .restoreBestWeights: return Entry(.yesNo, "--restore-best-weights", "restore_best_weights")
        case .saveBest: return Entry(.yesNo, "--save-best", "save_best")
        }
    }

    public var kind: Kind { entry.kind }
    public var serverFlag: String? { entry.serverFlag }
    public var configField: String? { entry.configField }

    /// The server arguments `value` becomes: `[flag, value]`, for a yes/no key `[flag]` or nothing; `[]` for keys
    /// without a server flag.
    public func serverArguments(_ value: String) -> [String] {
        guard let flag = serverFlag else { return [] }
        if kind == .yesNo { return Self.truth(value) == true ? [flag] : [] }
        return [flag, value]
    }

    /// `yes`/`true`/`1` → true, `no`/`false`/`0` → false (any case); nil for anything else.
    public static func truth(_ value: String) -> Bool? {
        switch value.lowercased() {
        case "yes", "true", "1": return true
        case "no", "false", "0": return false
        default: return nil
        }
    }

    /// The order in which values become server flags: training first (in the order of `allCases`), then how the
    /// server listens.
    public static let flagOrder: [DefinitionKey] =
        allCases.filter { $0.configField != nil } + [.host, .port, .workersMin, .workerTimeout]
}
