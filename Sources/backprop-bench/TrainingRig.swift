import Datasets
import NeuralNet
import Training

/// One model's training steps as `backprop train` takes them, on a slice of its built-in image set.
///
/// Each step is `trainStep` with a `LocalGradients` source: the microbatch gradients, their sum
/// in order, the average and Adam's update. Steps cycle through one epoch's order.
final class TrainingRig {
    let run: PreparedRun
    let threads: Int
    private let source: LocalGradients
    private var parameters: [Float]
    private var optimizer: any Optimizer
    private var step: StepGradient
    private let order: [Int]
    /// Every step's microbatches, cut once as `TrainingLoop` cuts them.
    private let microbatches: [[Range<Int>]]
    private var next = 0

    /// The preset `model` with `steps` whole batches of its built-in images (two classes for seed-cnn, ten otherwise).
    static func prepare(model: String, batchSize: Int, microbatch: Int, steps: Int) throws -> PreparedRun {
        var config = RunConfig()
        config.model = model
        config.data = model == "seed-cnn" ? "synthetic" : "synthetic10"
        config.batchSize = batchSize
        config.microbatch = microbatch
        config.validationSplit = 0
        config.trainLimit = steps * batchSize
        config.testLimit = 1
        return try PreparedRun(config: config)
    }

    init(run: PreparedRun, threads: Int) {
        self.run = run
        self.threads = threads
        source = LocalGradients(model: run.model, data: run.train, microbatch: run.config.microbatch, threads: threads)
        parameters = run.model.initialParameters(seed: run.config.seed)
        optimizer = run.makeOptimizer()
        step = StepGradient(parameterCount: run.model.parameterCount)
        order = EpochPlan.order(sampleCount: run.train.count, epoch: 0, seed: run.config.seed)
        microbatches = (0..<run.plan.stepsPerEpoch).map(run.plan.microbatches(ofStep:))
    }

    /// Takes the next step of the epoch, back to its first after the last.
    func takeStep() throws {
        try trainStep(microbatches: microbatches[next], epoch: 0, order: order,
                      parameters: &parameters, optimizer: &optimizer, step: &step, source: source)
        next = (next + 1) % microbatches.count
    }
}
