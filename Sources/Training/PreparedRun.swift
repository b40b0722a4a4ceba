import Datasets
import Foundation
import NeuralNet

/// A run's model and data, built from its config and checked against each other.
public struct PreparedRun: Sendable {
    public let config: RunConfig
    public let model: Model
    /// The name the model is shown by: the preset name, or `model` for a custom spec.
    public let modelName: String
    public let dataName: String
    public let train: ImageSet
    public let validation: ImageSet
    public let test: ImageSet
    public let plan: EpochPlan
    /// The classes' names, for an image folder (its class folders, sorted); nil for the other sources.
    public let classNames: [String]?
    /// For an image folder: the cache used and the files skipped.
    public let folderReport: FolderReport?
    /// How training images are changed, drawn from (seed, epoch, sample).
    public let augmentation: Augmentation

    /// Loads the data, builds the model for its image shape, and checks that they fit.
    /// Without `testSet` (a worker never tests), `test` is left empty.
    /// `modelSpec`, when given, is the model (a worker's, from its server); else `config.model`
    /// (a preset, spec or model file) is. `progress` hears how a first decode of an image folder goes.
    public init(config: RunConfig, testSet: Bool = true, modelSpec: String? = nil,
                progress: (@Sendable (DecodeProgress) -> Void)? = nil) throws {
        try config.validate()
        // A model file is read, and its mistakes reported, before the data is loaded.
        let spec = try modelSpec ?? ModelFile.resolve(config.model)
        var config = config
        let source = try DataSource(parsing: config.data)
        let dataset = try Dataset.load(source, trainLimit: config.trainLimit, testLimit: testSet ? config.testLimit : 0,
                                       images: config.imageFormat, seed: config.seed, progress: progress)
        if let report = dataset.folderReport { config.decoder = report.decoder }
        let (train, validation) = try dataset.splittingValidation(config.validationSplit)
        guard train.count > 0 else {
            throw TrainingError.badConfig("no training samples left after the validation split of \(config.validationSplit)")
        }
        let shape = Shape(height: train.height, width: train.width, channels: train.channels)
        var model = try ModelSpec.build(spec, inputShape: shape)
        model.labelSmoothing = Float(config.fit.labelSmoothing)
        try checkModel(model, named: config.model, fits: train.classCount, of: dataset.name)
        self.config = config
        self.model = model
        modelName = ModelSpec.presets.contains { $0.name == config.model } ? config.model
            : ModelFile.isFile(config.model) ? config.model : "model"
        dataName = dataset.name
        self.train = train
        self.validation = validation
        test = dataset.test
        plan = EpochPlan(sampleCount: train.count, batchSize: config.batchSize, microbatch: config.microbatch)
        classNames = dataset.classNames
        folderReport = dataset.folderReport
        augmentation = try config.augmentation
    }

    /// A fresh optimiser as the config asks: Keras's update, then (innermost first) decoupled weight
    /// decay, global-norm clipping, the moving statistics' update, and bfloat16 rounding of the step.
    public func makeOptimizer() -> any Optimizer {
        let lr = Float(config.effectiveLearningRate)
        let count = model.parameterCount
        var optimizer: any Optimizer = switch config.optimizer {
        case "sgd": SGD(parameterCount: count, learningRate: lr, momentum: Float(config.momentum))
        case "rmsprop": RMSprop(parameterCount: count, learningRate: lr)
        default: Adam(parameterCount: count, learningRate: lr)
        }
        let decay = config.fit.effectiveWeightDecay(optimizer: config.optimizer)
        if decay > 0 { optimizer = DecoupledWeightDecay(optimizer, rate: Float(decay), layout: model.layout) }
        if let norm = config.fit.clipNorm { optimizer = GlobalNormClip(optimizer, norm: norm, layout: model.layout) }
        if !model.layout.movingAverages.isEmpty { optimizer = MovingAverages(optimizer, layout: model.layout) }
        return config.bfloat16Updates ? BFloat16Steps(optimizer, parameterCount: count) : optimizer
    }

    /// The learning rate of every step, before plateaus: `--lr`, `--lr-schedule`, `--warmup-epochs`.
    public var schedule: LearningRateSchedule {
        LearningRateSchedule(base: config.effectiveLearningRate, kind: (try? LearningRateSchedule.Kind(parsing: config.fit.lrSchedule)) ?? .constant,
                             warmupEpochs: config.fit.warmupEpochs, stepsPerEpoch: plan.stepsPerEpoch, epochs: config.epochs)
    }

    /// Metadata recorded in checkpoints so a resume can check it continues the same run; for an image
    /// folder also what `backprop predict` needs: `class_names` (a JSON array), `image_size` and `color`.
    public var checkpointMetadata: [String: String] {
        var metadata = ["data": config.data, "batch_size": String(config.batchSize), "microbatch": String(config.microbatch),
                        "validation_split": String(config.validationSplit), "train_samples": String(train.count)]
        if let classNames {
            metadata["class_names"] = ClassNames.encode(classNames)
            metadata["image_size"] = "\(train.height)x\(train.width)"
            metadata["color"] = train.channels == 3 ? "rgb" : "grayscale"
        }
        if let augment = config.augment { metadata["augment"] = augment }
        return metadata
    }

    /// Throws unless `checkpoint` was written by a run with this run's seed, data and batching.
    public func checkResumable(_ checkpoint: Checkpoint, path: String) throws {
        var expected = checkpointMetadata
        expected["seed"] = String(config.seed)
        for key in expected.keys.sorted() where checkpoint.metadata[key] != expected[key] {
            throw TrainingError.checkpoint(
                path: path,
                reason: "cannot resume: the checkpoint has \(key) = \(checkpoint.metadata[key] ?? "nothing"), this run has \(expected[key] ?? "")")
        }
    }
}

/// Throws unless `model`'s outputs can classify `classes` classes: one sigmoid output for two classes, or one output per class.
public func checkModel(_ model: Model, named name: String, fits classes: Int, of dataName: String) throws {
    let outputs = model.outputShape.count
    guard outputs == classes || (outputs == 1 && classes == 2) else {
        let need = classes == 2 ? "1 output (sigmoid) or 2" : "\(classes) outputs"
        throw TrainingError.dataDoesNotFitModel(
            "model \(name) has \(outputs) output\(outputs == 1 ? "" : "s") but \(dataName) has \(classes) classes; it needs \(need) (try --model \(classes == 2 ? "seed-cnn" : "mnist-cnn"))")
    }
}

/// Class names as a checkpoint's metadata holds them: a JSON array of strings.
public enum ClassNames {
    public static func encode(_ names: [String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: names, options: [.withoutEscapingSlashes])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The names in `text`, or nil when it is not a JSON array of strings.
    public static func decode(_ text: String) -> [String]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String]
    }
}
