import Datasets
import Foundation
import NeuralNet
import TrainingLog

/// What a finished run reports: the figures `summary.json` holds.
public struct RunResult: Sendable {
    public var history: [EpochRecord]
    public var testLoss: Double
    public var testAccuracy: Double
    public var samplesPerSecond: Double
    public var seconds: Double
    public var parameters: [Float]
}

/// Where a run's weights come from.
public enum StartingPoint: Sendable {
    /// Fresh Glorot weights from the seed.
    case fresh
    /// Weights only, from a checkpoint (`--init`): training starts at epoch 1 with a fresh optimiser.
    case weights(from: String)
    /// Everything, from a checkpoint or run directory (`--resume`): training continues where it stopped.
    case resume(from: String)
}

/// Trains a model in one process, Keras-style, with the cluster's exact step recipe.
///
/// Each step cuts the global batch into microbatches, computes each one's gradient from
/// zero, sums them in order, divides by the step's sample count and applies the optimiser —
/// exactly what the parameter server does with gradients from its workers.
public final class LocalTrainer {
    public let run: PreparedRun
    private let directory: RunDirectory
    private let sink: any EventSink
    private let start: StartingPoint

    public init(run: PreparedRun, directory: RunDirectory, start: StartingPoint, sink: any EventSink) {
        self.run = run
        self.directory = directory
        self.start = start
        self.sink = sink
    }

    /// Runs every remaining epoch, validates after each, checkpoints, tests at the end.
    public func train() throws -> RunResult {
        let model = run.model
        let config = run.config
        var optimizer = run.makeOptimizer()
        var parameters = model.initialParameters(seed: config.seed)
        var firstEpoch = 0
        switch start {
        case .fresh: break
        case .weights(let path):
            parameters = try CheckpointFile.read(path, fitting: model).parameters
        case .resume(let path):
            let checkpoint = try CheckpointFile.read(path, fitting: model)
            try run.checkResumable(checkpoint, path: path)
            try checkpoint.restore(into: &optimizer)
            parameters = checkpoint.parameters
            firstEpoch = checkpoint.epoch
        }
        sink.record(.runStarted(config: config.fields, parameterCount: model.parameterCount,
                                trainSamples: run.train.count, validationSamples: run.validation.count, testSamples: run.test.count))

        let computer = GradientComputer(model: model, data: run.train, microbatch: config.microbatch)
        let evaluation = Workspace(model: model, capacity: 256)
        var microbatchGradient = [Float](repeating: 0, count: model.parameterCount)
        var step = StepGradient(parameterCount: model.parameterCount)
        var history: [EpochRecord] = []
        var trainedSamples = 0
        var trainingSeconds = 0.0
        let runStart = Date()

        for epoch in firstEpoch..<config.epochs {
            let epochStart = Date()
            let order = EpochPlan.order(sampleCount: run.train.count, epoch: epoch, seed: config.seed)
            var epochMetrics = BatchMetrics()
            for stepIndex in 0..<run.plan.stepsPerEpoch {
                let stepStart = Date()
                step.reset()
                for positions in run.plan.microbatches(ofStep: stepIndex) {
                    let metrics = parameters.withUnsafeBufferPointer { p in
                        microbatchGradient.withUnsafeMutableBufferPointer { g in
                            computer.compute(order: order, positions: positions, parameters: p.baseAddress!, gradient: g.baseAddress!)
                        }
                    }
                    microbatchGradient.withUnsafeBufferPointer { step.add($0.baseAddress!, metrics: metrics) }
                }
                step.average()
                optimizer.update(&parameters, gradients: step.values)
                epochMetrics += step.metrics
                sink.record(.step(StepRecord(
                    epoch: epoch + 1, step: stepIndex + 1, stepsPerEpoch: run.plan.stepsPerEpoch,
                    globalStep: optimizer.step, loss: step.metrics.meanLoss, accuracy: step.metrics.accuracy,
                    samples: step.metrics.count, seconds: Date().timeIntervalSince(stepStart))))
            }
            let epochSeconds = Date().timeIntervalSince(epochStart)
            trainedSamples += epochMetrics.count
            trainingSeconds += epochSeconds
            let validation = run.validation.count > 0
                ? evaluate(model: model, parameters: parameters, on: run.validation, workspace: evaluation) : nil
            let record = EpochRecord(
                epoch: epoch + 1, loss: epochMetrics.meanLoss, accuracy: epochMetrics.accuracy,
                validationLoss: validation?.meanLoss, validationAccuracy: validation?.accuracy,
                seconds: Date().timeIntervalSince(epochStart), samplesPerSecond: Double(epochMetrics.count) / max(epochSeconds, 1e-9))
            history.append(record)
            sink.record(.epoch(record))
            let checkpoint = Checkpoint(model: model, parameters: parameters, optimizer: optimizer, epoch: epoch + 1,
                                        seed: config.seed, extra: run.checkpointMetadata)
            try CheckpointFile.write(checkpoint, for: model, to: directory.checkpoint)
            sink.record(.checkpoint(path: directory.checkpoint, epoch: epoch + 1, step: optimizer.step))
        }

        let test = evaluate(model: model, parameters: parameters, on: run.test, workspace: evaluation)
        sink.record(.test(loss: test.meanLoss, accuracy: test.accuracy, samples: test.count))
        let result = RunResult(
            history: history, testLoss: test.meanLoss, testAccuracy: test.accuracy,
            samplesPerSecond: trainingSeconds > 0 ? Double(trainedSamples) / trainingSeconds : 0,
            seconds: Date().timeIntervalSince(runStart), parameters: parameters)
        try writeSummary(result)
        return result
    }

    private func writeSummary(_ result: RunResult) throws {
        var summary: [String: Any] = [
            "test_loss": result.testLoss,
            "test_accuracy": result.testAccuracy,
            "epochs": run.config.epochs,
            "epochs_trained": result.history.count,
            "samples_per_second": result.samplesPerSecond,
            "seconds": result.seconds,
            "parameters": run.model.parameterCount,
            "model_spec": run.model.spec,
            "data": run.dataName,
            "checkpoint": directory.checkpoint,
            "config": jsonValue(run.config.fields),
        ]
        if let last = result.history.last {
            summary["final_epoch"] = jsonValue(last.fields)
        }
        try directory.writeJSON(summary, to: "summary.json")
    }
}
