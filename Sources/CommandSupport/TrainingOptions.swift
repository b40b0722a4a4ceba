import ArgumentParser
import Training

/// The flags that define a training run, shared by every command that trains.
public struct TrainingOptions: ParsableArguments {
    public init() {}

    @Option(help: "Model: a preset (seed-cnn, mnist-cnn, large-cnn) or a spec such as conv32x3-relu,maxpool2,flatten,dense1-sigmoid (default: seed-cnn).")
    var model: String?

    @Option(help: "Data: synthetic (2 classes), synthetic10 (10 classes), idx:DIR for MNIST-layout IDX files, or folder:DIR for JPEG/PNG images in one subfolder per class (default: synthetic).")
    var data: String?

    @Option(parsing: .unconditional, help: "Passes over the training set (default: 10).")
    var epochs: Int?

    @Option(parsing: .unconditional, help: "Global batch: samples per optimiser step (default: 32).")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Samples per microbatch, the unit of work whose gradient is summed the same way everywhere (default: 8).")
    var microbatch: Int?

    @Option(name: .customLong("lr"), parsing: .unconditional, help: "Learning rate (default: 0.001 for adam, 0.01 for sgd).")
    var learningRate: Double?

    @Option(help: "Optimiser, as Keras's: adam, adamw (adam with weight decay 0.004 unless --weight-decay), rmsprop or sgd (default: adam).")
    var optimizer: String?

    @Option(parsing: .unconditional, help: "Momentum for sgd (default: 0, none).")
    var momentum: Double?

    @Option(parsing: .unconditional, help: "Seed for the initial weights and the sample order (default: 1).")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "Fraction of the training set, from its end, held out for validation (default: 0.1).")
    var validationSplit: Double?

    @Option(parsing: .unconditional, help: "Use only the first N training samples.")
    var trainLimit: Int?

    @Option(parsing: .unconditional, help: "Use only the first N test samples.")
    var testLimit: Int?

    @Option(parsing: .unconditional, help: "Also write the checkpoint every N optimiser steps (default: after each epoch only).")
    var checkpointEvery: Int?

    @Option(help: "float32, or bfloat16: round every node of a step's gradient sum to bfloat16, so workers send half the bytes; exact for any number of workers (default: float32).")
    var gradientPrecision: String?

    @Option(help: "float32, or bfloat16: round every optimiser step to bfloat16, so the server sends each worker 2 bytes per weight a step instead of the 4-byte weights; exact for any number of workers (default: float32).")
    var updatePrecision: String?

    @Option(help: ArgumentHelp("folder: data: the size images are resized to, with antialiased bilinear interpolation (default: 28x28).", valueName: "HxW"))
    var imageSize: String?

    @Option(help: "folder: data: grayscale (1 channel) or rgb (3 channels) (default: grayscale).")
    var color: String?

    @Option(help: ArgumentHelp("Augment training images, a comma list of: flip (horizontal), crop (shift by up to 2 pixels), rotate:F (up to F of a turn), zoom:F (by 1 ± F), as Keras RandomRotation and RandomZoom; the same for a sample wherever it is computed (default: none).", valueName: "KINDS"))
    var augment: String?

    @Option(parsing: .unconditional, help: "Decoupled weight decay, as Keras's weight_decay and AdamW: each step shrinks every trainable weight by weight · W · lr (default: 0; 0.004 with adamw).")
    var weightDecay: Double?

    @Option(parsing: .unconditional, help: "Scale a step's mean gradient down to this global norm when it is larger (Keras's global_clipnorm; default: no clipping).")
    var clipNorm: Double?

    @Option(parsing: .unconditional, help: "Label smoothing E of the cross-entropies, as Keras's label_smoothing (default: 0).")
    var labelSmoothing: Double?

    @Option(help: ArgumentHelp("Learning-rate schedule: constant, cosine (to 0 at the last step), step:EPOCHS:FACTOR (times FACTOR every EPOCHS epochs) or exponential:RATE (times RATE each epoch) (default: constant).", valueName: "SCHEDULE"))
    var lrSchedule: String?

    @Option(parsing: .unconditional, help: "Linear warm-up of the learning rate over the first N epochs, step by step (default: 0).")
    var warmupEpochs: Int?

    @Option(help: "The value the epoch decisions watch: val_loss, val_accuracy, loss or accuracy (default: val_loss).")
    var monitor: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Keras's ReduceLROnPlateau: multiply the learning rate by FACTOR when the monitored value has not improved for --plateau-patience epochs.", valueName: "FACTOR"))
    var reduceLrOnPlateau: Double?

    @Option(parsing: .unconditional, help: "Epochs without improvement before the learning rate is reduced (default: 10).")
    var plateauPatience: Int?

    @Option(parsing: .unconditional, help: "The learning rate a plateau never reduces below (default: 0).")
    var minLr: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Keras's EarlyStopping: stop when the monitored value has not improved for PATIENCE epochs.", valueName: "PATIENCE"))
    var earlyStopping: Int?

    @Option(parsing: .unconditional, help: "The least change of the monitored value that counts as an improvement (default: 0).")
    var minDelta: Double?

    @Flag(help: "With --early-stopping: end with the weights of the best epoch, however the run ends.")
    var restoreBestWeights = false

    @Flag(help: "Write best.safetensors in the run directory whenever the monitored value improves.")
    var saveBest = false

    /// The run configuration these flags describe, with the defaults for the flags not given.
    public var config: RunConfig { config(over: RunConfig()) }

    /// `base` with every flag given put in its place: a resumed run keeps the settings it was started with but for those.
    public func config(over base: RunConfig) -> RunConfig {
        var config = base
        if let model { config.model = model }
        if let data { config.data = data }
        if let epochs { config.epochs = epochs }
        if let batchSize { config.batchSize = batchSize }
        if let microbatch { config.microbatch = microbatch }
        if let learningRate { config.learningRate = learningRate }
        if let optimizer { config.optimizer = optimizer }
        if let momentum { config.momentum = momentum }
        if let seed { config.seed = seed }
        if let validationSplit { config.validationSplit = validationSplit }
        if let trainLimit { config.trainLimit = trainLimit }
        if let testLimit { config.testLimit = testLimit }
        if let checkpointEvery { config.checkpointEvery = checkpointEvery }
        if let gradientPrecision { config.gradientPrecision = gradientPrecision }
        if let updatePrecision { config.updatePrecision = updatePrecision }
        if let imageSize { config.imageSize = imageSize }
        if let color { config.color = color }
        if let augment { config.augment = augment }
        if let weightDecay { config.fit.weightDecay = weightDecay }
        if let clipNorm { config.fit.clipNorm = clipNorm }
        if let labelSmoothing { config.fit.labelSmoothing = labelSmoothing }
        if let lrSchedule { config.fit.lrSchedule = lrSchedule }
        if let warmupEpochs { config.fit.warmupEpochs = warmupEpochs }
        if let monitor { config.fit.monitor = monitor }
        if let reduceLrOnPlateau { config.fit.reduceLROnPlateau = reduceLrOnPlateau }
        if let plateauPatience { config.fit.plateauPatience = plateauPatience }
        if let minLr { config.fit.minLR = minLr }
        if let earlyStopping { config.fit.earlyStopping = earlyStopping }
        if let minDelta { config.fit.minDelta = minDelta }
        if restoreBestWeights { config.fit.restoreBestWeights = true }
        if saveBest { config.fit.saveBest = true }
        return config
    }

    public func validate() throws {
        do {
            try config.validate()
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
