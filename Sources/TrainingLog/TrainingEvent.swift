/// Everything a training process reports, in one schema for every process.
///
/// Each event becomes one JSON Lines record: `{"time": …, "event": "<kind>", "process": …, …fields}`.
/// The field names are the same in the JSON Lines file, `history.csv` and `summary.json`.
public enum TrainingEvent: Sendable {
    /// A run began; `config` is the full run configuration, flattened.
    case runStarted(config: [(String, LogValue)], parameterCount: Int, trainSamples: Int, validationSamples: Int, testSamples: Int)
    /// One optimiser step finished.
    case step(StepRecord)
    /// One epoch finished (after validation).
    case epoch(EpochRecord)
    /// A checkpoint was written.
    case checkpoint(path: String, epoch: Int, step: Int)
    /// The test set was evaluated at the end of the run.
    case test(loss: Double, accuracy: Double, samples: Int)
    /// The run stopped because of an error.
    case failed(reason: String)

    /// The `event` field.
    public var kind: String {
        switch self {
        case .runStarted: return "run_started"
        case .step: return "step"
        case .epoch: return "epoch"
        case .checkpoint: return "checkpoint"
        case .test: return "test"
        case .failed: return "failed"
        }
    }

    /// The event's own fields, in a stable order.
    public var fields: [(String, LogValue)] {
        switch self {
        case let .runStarted(config, parameterCount, train, validation, test):
            return [("parameters", .int(parameterCount)), ("train_samples", .int(train)),
                    ("validation_samples", .int(validation)), ("test_samples", .int(test))]
                + config.map { ("config.\($0.0)", $0.1) }
        case .step(let r): return r.fields
        case .epoch(let r): return r.fields
        case let .checkpoint(path, epoch, step):
            return [("path", .string(path)), ("epoch", .int(epoch)), ("step", .int(step))]
        case let .test(loss, accuracy, samples):
            return [("test_loss", .double(loss)), ("test_accuracy", .double(accuracy)), ("samples", .int(samples))]
        case .failed(let reason):
            return [("reason", .string(reason))]
        }
    }
}

/// One optimiser step. `epoch` counts from 1, `step` from 1 within the epoch; `global_step` never resets.
public struct StepRecord: Sendable, Equatable {
    public var epoch: Int
    public var step: Int
    public var stepsPerEpoch: Int
    public var globalStep: Int
    /// Mean loss and accuracy of this step's samples (before the update).
    public var loss: Double
    public var accuracy: Double
    public var samples: Int
    public var seconds: Double

    public init(epoch: Int, step: Int, stepsPerEpoch: Int, globalStep: Int, loss: Double, accuracy: Double, samples: Int, seconds: Double) {
        self.epoch = epoch
        self.step = step
        self.stepsPerEpoch = stepsPerEpoch
        self.globalStep = globalStep
        self.loss = loss
        self.accuracy = accuracy
        self.samples = samples
        self.seconds = seconds
    }

    public var fields: [(String, LogValue)] {
        [("epoch", .int(epoch)), ("step", .int(step)), ("steps_per_epoch", .int(stepsPerEpoch)),
         ("global_step", .int(globalStep)), ("loss", .double(loss)), ("accuracy", .double(accuracy)),
         ("samples", .int(samples)), ("step_seconds", .double(seconds))]
    }
}

/// One epoch, as in Keras's History: training metrics are the mean over the epoch's samples.
public struct EpochRecord: Sendable, Equatable {
    public var epoch: Int
    public var loss: Double
    public var accuracy: Double
    /// nil when the run has no validation split.
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var seconds: Double
    public var samplesPerSecond: Double

    public init(epoch: Int, loss: Double, accuracy: Double, validationLoss: Double?, validationAccuracy: Double?, seconds: Double, samplesPerSecond: Double) {
        self.epoch = epoch
        self.loss = loss
        self.accuracy = accuracy
        self.validationLoss = validationLoss
        self.validationAccuracy = validationAccuracy
        self.seconds = seconds
        self.samplesPerSecond = samplesPerSecond
    }

    /// The columns of `history.csv`, in order.
    public static let columns = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "samples_per_second"]

    public var fields: [(String, LogValue)] {
        [("epoch", .int(epoch)), ("loss", .double(loss)), ("accuracy", .double(accuracy)),
         ("val_loss", .double(validationLoss ?? .nan)), ("val_accuracy", .double(validationAccuracy ?? .nan)),
         ("seconds", .double(seconds)), ("samples_per_second", .double(samplesPerSecond))]
    }
}
