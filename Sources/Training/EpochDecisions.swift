import Foundation
import TrainingLog

/// The decisions Keras's callbacks make after each epoch — ReduceLROnPlateau, EarlyStopping,
/// ModelCheckpoint(save_best_only) — made once, on the server, from the epoch's logged figures.
///
/// A value with no I/O: `TrainingLoop` feeds it each epoch's record and acts on what it returns.
/// Its whole state goes into the checkpoint's metadata (`encoded`), so a resumed run decides as an
/// uninterrupted one would.
public struct EpochDecisions: Codable, Equatable, Sendable {
    /// The best monitored value so far and its epoch (from 1).
    public private(set) var best: Double?
    public private(set) var bestEpoch: Int?
    /// Epochs since the last improvement (EarlyStopping's wait).
    public private(set) var wait = 0
    /// Epochs since the last improvement or reduction (ReduceLROnPlateau's wait).
    public private(set) var plateauWait = 0
    /// What plateaus have multiplied the schedule's rate by (1 until the first reduction).
    public private(set) var scale = 1.0
    /// Why training stopped early, once it has.
    public private(set) var stopped: String?

    public init() {}

    /// What one epoch's figures decided.
    public struct Outcome: Equatable, Sendable {
        /// The monitored value improved: this epoch's weights are the best so far.
        public var improved = false
        /// The new scale, when the rate was reduced.
        public var reducedTo: Double?
        /// The sentence saying why training stops here, when it does.
        public var stop: String?
    }

    /// The rate of step `step`: the schedule's, times the plateaus' scale, never below `minLR` once reduced.
    public func rate(_ schedule: LearningRateSchedule, step: Int, minLR: Double) -> Double {
        let rate = schedule.rate(step: step)
        return scale < 1 ? max(rate * scale, minLR) : rate
    }

    /// Takes the figures of `record` (epoch `record.epoch`, from 1), whose last step ran at `rate`.
    public mutating func decide(after record: EpochRecord, options: FitOptions, rate: Double) -> Outcome {
        var outcome = Outcome()
        guard options.watchesMonitor, let value = Self.monitored(options.monitor, in: record) else { return outcome }
        let better: Bool
        if let best {
            better = options.monitorRises ? value > best + options.minDelta : value < best - options.minDelta
        } else {
            better = value.isFinite
        }
        if better {
            best = value
            bestEpoch = record.epoch
            wait = 0
            plateauWait = 0
            outcome.improved = true
        } else {
            wait += 1
            plateauWait += 1
        }
        if let factor = options.reduceLROnPlateau, !better, plateauWait >= options.plateauPatience, rate > options.minLR {
            scale *= factor
            plateauWait = 0
            outcome.reducedTo = scale
        }
        if let patience = options.earlyStopping, !better, wait >= patience, let bestEpoch {
            let epochs = wait == 1 ? "1 epoch" : "\(wait) epochs"
            var reason = "early stopping at epoch \(record.epoch): \(options.monitor) has not improved for \(epochs) since epoch \(bestEpoch)"
            if options.restoreBestWeights { reason += "; weights of epoch \(bestEpoch) restored" }
            stopped = reason
            outcome.stop = reason
        }
        return outcome
    }

    /// The value `monitor` names in `record`, if the record has it.
    static func monitored(_ monitor: String, in record: EpochRecord) -> Double? {
        switch monitor {
        case "val_loss": return record.validationLoss
        case "val_accuracy": return record.validationAccuracy
        case "loss": return record.loss
        case "accuracy": return record.accuracy
        default: return nil
        }
    }

    /// The state as checkpoint metadata holds it (JSON, keys sorted: the same bytes for the same state).
    public var encoded: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The state `text` (checkpoint metadata) holds; nil when it is not such a state.
    public init?(encoded text: String) {
        guard let decoded = try? JSONDecoder().decode(EpochDecisions.self, from: Data(text.utf8)) else { return nil }
        self = decoded
    }
}
