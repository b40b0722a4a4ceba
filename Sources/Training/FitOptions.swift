import Foundation
import TrainingLog

/// What Keras's `fit` gets from its optimiser arguments and callbacks: weight decay, clipping,
/// label smoothing, a learning-rate schedule, and the decisions made after each epoch (reduce
/// the rate on a plateau, stop early, keep the best weights). Every decision is made once, on the
/// server, from the values it logs; see `EpochDecisions` and `LearningRateSchedule`.
public struct FitOptions: Codable, Equatable, Sendable {
    /// Decoupled weight decay (nil: none, or 0.004 with adamw, as Keras's AdamW).
    public var weightDecay: Double?
    /// Largest global norm of a step's mean gradient (Keras's `global_clipnorm`); nil = no clipping.
    public var clipNorm: Double?
    /// Keras's `label_smoothing` for the cross-entropies.
    public var labelSmoothing = 0.0
    /// `constant`, `cosine`, `step:EPOCHS:FACTOR` or `exponential:RATE`.
    public var lrSchedule = "constant"
    /// Epochs of linear warm-up at the start, per step.
    public var warmupEpochs = 0
    /// `val_loss`, `val_accuracy`, `loss` or `accuracy`.
    public var monitor = "val_loss"
    /// ReduceLROnPlateau's factor; nil = no reduction.
    public var reduceLROnPlateau: Double?
    public var plateauPatience = 10
    public var minLR = 0.0
    /// EarlyStopping's patience; nil = no early stopping.
    public var earlyStopping: Int?
    /// The least change of the monitored value that counts as an improvement.
    public var minDelta = 0.0
    public var restoreBestWeights = false
    /// Write `best.safetensors` whenever the monitored value improves.
    public var saveBest = false

    public init() {}

    /// Whether any epoch decision watches the monitored value.
    public var watchesMonitor: Bool { reduceLROnPlateau != nil || earlyStopping != nil || saveBest || restoreBestWeights }

    /// Whether the best weights are written to `best.safetensors`.
    public var keepsBest: Bool { saveBest || restoreBestWeights }

    /// Whether a larger monitored value is better.
    public var monitorRises: Bool { monitor.hasSuffix("accuracy") }

    /// The weight decay in effect: the flag's, or AdamW's default.
    public func effectiveWeightDecay(optimizer: String) -> Double {
        weightDecay ?? (optimizer == "adamw" ? 0.004 : 0)
    }

    /// Throws one line for a value that cannot be used; `learningRate` is the run's starting rate.
    func validate(learningRate: Double, validationSplit: Double) throws {
        func fail(_ why: String) -> TrainingError { .badConfig(why) }
        func factor(_ value: Double, _ flag: String) throws {
            guard value > 0, value < 1 else { throw fail("\(flag) must be a factor in (0, 1), got \(value)") }
        }
        if let decay = weightDecay, !(decay >= 0 && decay.isFinite) { throw fail("--weight-decay must be ≥ 0, got \(decay)") }
        if let norm = clipNorm, !(norm > 0 && norm.isFinite) { throw fail("--clip-norm must be a positive number, got \(norm)") }
        guard labelSmoothing >= 0, labelSmoothing < 1 else { throw fail("--label-smoothing must be in [0, 1), got \(labelSmoothing)") }
        _ = try LearningRateSchedule.Kind(parsing: lrSchedule)
        guard warmupEpochs >= 0 else { throw fail("--warmup-epochs must not be negative, got \(warmupEpochs)") }
        guard ["val_loss", "val_accuracy", "loss", "accuracy"].contains(monitor) else {
            throw fail("--monitor must be val_loss, val_accuracy, loss or accuracy, got '\(monitor)'")
        }
        if let plateau = reduceLROnPlateau { try factor(plateau, "--reduce-lr-on-plateau") }
        guard plateauPatience >= 0 else { throw fail("--plateau-patience must not be negative, got \(plateauPatience)") }
        if let patience = earlyStopping, patience < 0 { throw fail("--early-stopping must not be negative, got \(patience)") }
        guard minDelta >= 0, minDelta.isFinite else { throw fail("--min-delta must be ≥ 0, got \(minDelta)") }
        guard minLR >= 0, minLR <= learningRate else { throw fail("--min-lr (\(minLR)) must be in [0, --lr] (\(learningRate))") }
        if restoreBestWeights && earlyStopping == nil { throw fail("--restore-best-weights goes with --early-stopping PATIENCE") }
        if watchesMonitor && monitor.hasPrefix("val_") && validationSplit == 0 {
            throw fail("--monitor \(monitor) needs a validation set (--validation-split > 0), or monitor loss or accuracy")
        }
    }

    /// config.json's fields for the options given.
    var fields: [(String, LogValue)] {
        var out: [(String, LogValue)] = []
        if let weightDecay { out.append(("weight_decay", .double(weightDecay))) }
        if let clipNorm { out.append(("clip_norm", .double(clipNorm))) }
        if labelSmoothing != 0 { out.append(("label_smoothing", .double(labelSmoothing))) }
        if lrSchedule != "constant" { out.append(("lr_schedule", .string(lrSchedule))) }
        if warmupEpochs != 0 { out.append(("warmup_epochs", .int(warmupEpochs))) }
        if watchesMonitor { out.append(("monitor", .string(monitor))) }
        if let reduceLROnPlateau {
            out += [("reduce_lr_on_plateau", .double(reduceLROnPlateau)), ("plateau_patience", .int(plateauPatience)),
                    ("min_lr", .double(minLR))]
        }
        if let earlyStopping { out.append(("early_stopping", .int(earlyStopping))) }
        if watchesMonitor && minDelta != 0 { out.append(("min_delta", .double(minDelta))) }
        if restoreBestWeights { out.append(("restore_best_weights", .bool(true))) }
        if saveBest { out.append(("save_best", .bool(true))) }
        return out
    }

    /// The options `fields` (config.json) hold; keys it lacks keep their defaults.
    init(fields: [String: Any]) throws {
        func value<T>(_ key: String, _ type: T.Type) throws -> T? {
            guard let raw = fields[key] else { return nil }
            if T.self == Double.self, let int = raw as? Int { return Double(int) as? T }
            guard let typed = raw as? T else { throw TrainingError.badConfig("\(key) is \(raw)") }
            return typed
        }
        weightDecay = try value("weight_decay", Double.self)
        clipNorm = try value("clip_norm", Double.self)
        labelSmoothing = try value("label_smoothing", Double.self) ?? 0
        lrSchedule = try value("lr_schedule", String.self) ?? "constant"
        warmupEpochs = try value("warmup_epochs", Int.self) ?? 0
        monitor = try value("monitor", String.self) ?? "val_loss"
        reduceLROnPlateau = try value("reduce_lr_on_plateau", Double.self)
        plateauPatience = try value("plateau_patience", Int.self) ?? 10
        minLR = try value("min_lr", Double.self) ?? 0
        earlyStopping = try value("early_stopping", Int.self)
        minDelta = try value("min_delta", Double.self) ?? 0
        restoreBestWeights = try value("restore_best_weights", Bool.self) ?? false
        saveBest = try value("save_best", Bool.self) ?? false
    }
}
