import NeuralNet
import TrainingLog

/// Trains a model in one process, Keras-style, with the cluster's exact step recipe.
///
/// Each microbatch's gradient is computed from zero in this process and the step sums them
/// in order — exactly what the parameter server does with gradients from its workers, so
/// the same seed and microbatch size give the same weights here and in a cluster.
public final class LocalTrainer: StepGradientSource {
    public let run: PreparedRun
    private let loop: TrainingLoop
    private let start: StartingState
    private let computer: GradientComputer
    private var microbatchGradient: [Float]

    public init(run: PreparedRun, directory: RunDirectory, start: StartingState, sink: any EventSink) {
        self.run = run
        self.start = start
        loop = TrainingLoop(run: run, directory: directory, sink: sink)
        computer = GradientComputer(model: run.model, data: run.train, microbatch: run.config.microbatch)
        microbatchGradient = [Float](repeating: 0, count: run.model.parameterCount)
    }

    /// Runs every remaining epoch, validates after each, checkpoints, tests at the end.
    public func train() throws -> RunResult {
        try loop.train(from: start, using: self)
    }

    public var workersInLastStep: Int { 1 }

    public func accumulate(
        microbatches: [Range<Int>], epoch: Int, order: [Int], version: Int,
        parameters: [Float], into step: inout StepGradient
    ) throws {
        for positions in microbatches {
            let metrics = computer.compute(order: order, positions: positions, parameters: parameters, gradient: &microbatchGradient)
            step.add(microbatchGradient, metrics: metrics)
        }
    }
}
