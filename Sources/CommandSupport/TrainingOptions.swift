import ArgumentParser
import Training

/// The flags that define a training run, shared by every command that trains.
public struct TrainingOptions: ParsableArguments {
    public init() {}

    @Option(help: "Model: a preset (seed-cnn, mnist-cnn, large-cnn) or a spec such as conv32x3-relu,maxpool2,flatten,dense1-sigmoid.")
    var model = "seed-cnn"

    @Option(help: "Data: synthetic (2 classes), synthetic10 (10 classes), or idx:DIR for MNIST-layout IDX files.")
    var data = "synthetic"

    @Option(parsing: .unconditional, help: "Passes over the training set.")
    var epochs = 10

    @Option(parsing: .unconditional, help: "Global batch: samples per optimiser step.")
    var batchSize = 32

    @Option(parsing: .unconditional, help: "Samples per microbatch, the unit of work whose gradient is summed the same way everywhere.")
    var microbatch = 8

    @Option(name: .customLong("lr"), parsing: .unconditional, help: "Learning rate (default: 0.001 for adam, 0.01 for sgd).")
    var learningRate: Double?

    @Option(help: "Optimiser: adam or sgd.")
    var optimizer = "adam"

    @Option(parsing: .unconditional, help: "Momentum for sgd (0 = none).")
    var momentum = 0.0

    @Option(parsing: .unconditional, help: "Seed for the initial weights and the sample order.")
    var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: "Fraction of the training set, from its end, held out for validation.")
    var validationSplit = 0.1

    @Option(parsing: .unconditional, help: "Use only the first N training samples.")
    var trainLimit: Int?

    @Option(parsing: .unconditional, help: "Use only the first N test samples.")
    var testLimit: Int?

    @Option(parsing: .unconditional, help: "Also write the checkpoint every N optimiser steps (default: after each epoch only).")
    var checkpointEvery: Int?

    /// The run configuration these flags describe.
    public var config: RunConfig {
        var config = RunConfig()
        config.model = model
        config.data = data
        config.epochs = epochs
        config.batchSize = batchSize
        config.microbatch = microbatch
        config.learningRate = learningRate
        config.optimizer = optimizer
        config.momentum = momentum
        config.seed = seed
        config.validationSplit = validationSplit
        config.trainLimit = trainLimit
        config.testLimit = testLimit
        config.checkpointEvery = checkpointEvery
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
