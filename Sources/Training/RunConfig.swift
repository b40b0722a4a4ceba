import Datasets
import TrainingLog

/// Everything that defines a training run; the same flags drive `backprop train` and the cluster.
public struct RunConfig: Codable, Equatable, Sendable {
    /// A preset name or a model spec (see `ModelSpec`).
    public var model = "seed-cnn"
    /// `synthetic`, `synthetic10`, `idx:DIR` (see `DataSource`).
    public var data = "synthetic"
    public var epochs = 10
    /// The global batch: samples per optimiser step, whatever the number of workers.
    public var batchSize = 32
    /// Samples per microbatch, the unit of work whose gradient is always summed the same way.
    public var microbatch = 8
    /// nil: the optimiser's Keras default (Adam 0.001, SGD 0.01).
    public var learningRate: Double?
    /// `adam`, `adamw`, `rmsprop` or `sgd`.
    public var optimizer = "adam"
    /// SGD momentum (0 = none).
    public var momentum = 0.0
    public var seed: UInt64 = 1
    /// Fraction of the training set, taken from its end, kept for validation.
    public var validationSplit = 0.1
    /// Keep only the first N training / test samples (nil = all).
    public var trainLimit: Int?
    public var testLimit: Int?
    /// Also checkpoint every N optimiser steps (nil = only at the end of each epoch).
    public var checkpointEvery: Int?
    /// `float32`, or `bfloat16`: every node of a step's sum tree rounded to bfloat16, so workers send half the bytes.
    public var gradientPrecision = "float32"
    /// `float32`, or `bfloat16`: every optimiser step rounded to bfloat16, so the server sends workers 2 bytes per weight a step.
    public var updatePrecision = "float32"
    /// `folder:` data: the size images are resized to, `HxW` (nil = 28x28).
    public var imageSize: String?
    /// `folder:` data: `grayscale` or `rgb` (nil = grayscale).
    public var color: String?
    /// Training-time augmentation: a comma list of `flip`, `crop`, `rotate:F`, `zoom:F` (nil = none); see `Augmentation`.
    public var augment: String?
    /// `folder:` data: the image decoders and versions the run's image cache was made with, set when the run
    /// is prepared and sent to the workers with the rest of the config.
    public var decoder: String?
    /// Keras fit's optimiser options and callbacks.
    public var fit = FitOptions()

    public init() {}

    /// Whether gradients are rounded to, and sent as, bfloat16.
    public var bfloat16Gradients: Bool { gradientPrecision == "bfloat16" }

    /// Whether each optimiser step is rounded to bfloat16, and sent to workers so.
    public var bfloat16Updates: Bool { updatePrecision == "bfloat16" }

    /// The starting rate: `--lr`, or the optimiser's Keras default (0.01 for SGD, 0.001 for the others).
    public var effectiveLearningRate: Double { learningRate ?? (optimizer == "sgd" ? 0.01 : 0.001) }

    /// Checks values that do not depend on the data or model; throws one clear line.
    public func validate() throws {
        func fail(_ why: String) -> TrainingError { .badConfig(why) }
        guard epochs >= 1 else { throw fail("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw fail("--batch-size must be at least 1, got \(batchSize)") }
        guard microbatch >= 1 else { throw fail("--microbatch must be at least 1, got \(microbatch)") }
        guard microbatch <= batchSize else {
            throw fail("--microbatch (\(microbatch)) cannot be larger than --batch-size (\(batchSize))")
        }
        if let lr = learningRate {
            guard lr > 0, lr.isFinite else { throw fail("--lr must be a positive number, got \(lr)") }
        }
        guard ["adam", "adamw", "rmsprop", "sgd"].contains(optimizer) else {
            throw fail("--optimizer must be adam, adamw, rmsprop or sgd, got '\(optimizer)'")
        }
        guard momentum >= 0, momentum < 1 else { throw fail("--momentum must be in [0, 1), got \(momentum)") }
        guard momentum == 0 || optimizer == "sgd" else { throw fail("--momentum applies to --optimizer sgd only") }
        guard validationSplit >= 0, validationSplit < 1 else {
            throw fail("--validation-split must be in [0, 1), got \(validationSplit)")
        }
        if let n = trainLimit, n < 1 { throw fail("--train-limit must be at least 1, got \(n)") }
        if let n = testLimit, n < 1 { throw fail("--test-limit must be at least 1, got \(n)") }
        if let n = checkpointEvery, n < 1 { throw fail("--checkpoint-every must be at least 1 step, got \(n)") }
        guard ["float32", "bfloat16"].contains(gradientPrecision) else {
            throw fail("--gradient-precision must be float32 or bfloat16, got '\(gradientPrecision)'")
        }
        guard ["float32", "bfloat16"].contains(updatePrecision) else {
            throw fail("--update-precision must be float32 or bfloat16, got '\(updatePrecision)'")
        }
        if (imageSize != nil || color != nil) && !data.hasPrefix("folder:") {
            throw fail("--image-size and --color apply to --data folder:DIR only")
        }
        _ = try imageFormat
        _ = try augmentation
        try fit.validate(learningRate: effectiveLearningRate, validationSplit: validationSplit)
    }

    /// The size and colour images are decoded at (`--image-size`, `--color`).
    public var imageFormat: ImageFormat {
        get throws {
            guard let format = ImageFormat(size: imageSize ?? "28x28", color: color ?? "grayscale") else {
                if let color, ImageFormat.Color(rawValue: color) == nil {
                    throw TrainingError.badConfig("--color must be grayscale or rgb, got '\(color)'")
                }
                throw TrainingError.badConfig(
                    "--image-size must look like 28x28 (HxW, each side 1...\(ImageFormat.maximumSide)), got '\(imageSize ?? "")'")
            }
            return format
        }
    }

    /// The augmentation `--augment` asks for (none without it).
    public var augmentation: Augmentation {
        get throws {
            guard let augment else { return Augmentation() }
            guard let parsed = Augmentation(parsing: augment) else {
                throw TrainingError.badConfig("--augment takes a comma list of flip, crop, rotate:F (0 < F <= 1) and zoom:F (0 < F < 1), e.g. flip,rotate:0.1,zoom:0.2, got '\(augment)'")
            }
            return parsed
        }
    }

    /// The configuration `fields` wrote (as `config.json` holds it); keys it lacks keep their defaults.
    public init(fields: [String: Any]) throws {
        func value<T>(_ key: String, _ type: T.Type) throws -> T? {
            guard let raw = fields[key] else { return nil }
            guard let typed = raw as? T else { throw TrainingError.badConfig("\(key) is \(raw)") }
            return typed
        }
        if let model = try value("model", String.self) { self.model = model }
        if let data = try value("data", String.self) { self.data = data }
        if let epochs = try value("epochs", Int.self) { self.epochs = epochs }
        if let batch = try value("batch_size", Int.self) { batchSize = batch }
        if let microbatch = try value("microbatch", Int.self) { self.microbatch = microbatch }
        if let rate = try value("learning_rate", Double.self) { learningRate = rate }
        if let optimizer = try value("optimizer", String.self) { self.optimizer = optimizer }
        if let momentum = try value("momentum", Double.self) { self.momentum = momentum }
        if let seed = try value("seed", String.self) {
            guard let parsed = UInt64(seed) else { throw TrainingError.badConfig("seed is \(seed)") }
            self.seed = parsed
        }
        if let split = try value("validation_split", Double.self) { validationSplit = split }
        trainLimit = try value("train_limit", Int.self)
        testLimit = try value("test_limit", Int.self)
        checkpointEvery = try value("checkpoint_every", Int.self)
        if let precision = try value("gradient_precision", String.self) { gradientPrecision = precision }
        if let precision = try value("update_precision", String.self) { updatePrecision = precision }
        imageSize = try value("image_size", String.self)
        color = try value("color", String.self)
        augment = try value("augment", String.self)
        decoder = try value("decoder", String.self)
        fit = try FitOptions(fields: fields)
    }

    /// The configuration as flat log fields, in a stable order.
    public var fields: [(String, LogValue)] {
        var out: [(String, LogValue)] = [
            ("model", .string(model)), ("data", .string(data)), ("epochs", .int(epochs)),
            ("batch_size", .int(batchSize)), ("microbatch", .int(microbatch)),
            ("learning_rate", .double(effectiveLearningRate)), ("optimizer", .string(optimizer)),
            ("momentum", .double(momentum)), ("seed", .string(String(seed))),
            ("validation_split", .double(validationSplit)),
        ]
        if let n = trainLimit { out.append(("train_limit", .int(n))) }
        if let n = testLimit { out.append(("test_limit", .int(n))) }
        if let n = checkpointEvery { out.append(("checkpoint_every", .int(n))) }
        if bfloat16Gradients { out.append(("gradient_precision", .string(gradientPrecision))) }
        if bfloat16Updates { out.append(("update_precision", .string(updatePrecision))) }
        if let imageSize { out.append(("image_size", .string(imageSize))) }
        if let color { out.append(("color", .string(color))) }
        if let augment { out.append(("augment", .string(augment))) }
        if let decoder { out.append(("decoder", .string(decoder))) }
        return out + fit.fields
    }
}

/// Why a run could not start or continue; each description is one line for people.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case badConfig(String)
    case dataDoesNotFitModel(String)
    case checkpoint(path: String, reason: String)
    case runDirectory(path: String, reason: String)
    /// A step's loss or gradient is no longer finite; its update was not applied.
    case diverged(step: Int, what: String)

    public var description: String {
        switch self {
        case .badConfig(let why): return why
        case .dataDoesNotFitModel(let why): return why
        case let .checkpoint(path, reason): return "\(path): \(reason)"
        case let .runDirectory(path, reason): return "run directory \(path): \(reason)"
        case let .diverged(step, what):
            return "training diverged at step \(step): \(what) is not finite, so the step was not applied (try a lower --lr)"
        }
    }
}
