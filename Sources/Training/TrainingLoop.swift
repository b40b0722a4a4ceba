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

/// The weights, optimiser and first epoch a run starts from, read and checked before anything is written.
public struct StartingState: Sendable {
    public var parameters: [Float]
    public var optimizer: any Optimizer
    /// 0-based index of the first epoch to train.
    public var firstEpoch: Int
    /// 0-based index of the first step to take in that epoch (non-zero after a mid-epoch checkpoint).
    public var firstStep = 0
    /// Training metrics and seconds of the part of `firstEpoch` done before the checkpoint.
    public var epochSoFar = BatchMetrics()
    public var epochSecondsSoFar = 0.0
    /// The epoch decisions so far (best value, waits, the plateaus' scale), from the checkpoint on a resume.
    public var decisions = EpochDecisions()
    /// The best epoch's weights, for `--restore-best-weights` (from `best.safetensors` on a resume).
    public var bestParameters: [Float]?

    /// Loads what `start` names for `run`: checks that a checkpoint fits the model, and that a
    /// resumed run has the same seed, data and batching and still has epochs to train.
    public init(_ start: StartingPoint, for run: PreparedRun) throws {
        let model = run.model
        optimizer = run.makeOptimizer()
        firstEpoch = 0
        switch start {
        case .fresh:
            parameters = model.initialParameters(seed: run.config.seed)
        case .weights(let path):
            parameters = try CheckpointFile.read(path, fitting: model).parameters
        case .resume(let path):
            let checkpoint = try CheckpointFile.read(path, fitting: model)
            try run.checkResumable(checkpoint, path: path)
            guard checkpoint.epoch < run.config.epochs else {
                throw TrainingError.badConfig(
                    "the checkpoint has already completed \(checkpoint.epoch) epoch\(checkpoint.epoch == 1 ? "" : "s"); pass --epochs greater than \(checkpoint.epoch) to train more")
            }
            let stepInEpoch = checkpoint.step - checkpoint.epoch * run.plan.stepsPerEpoch
            guard (0..<run.plan.stepsPerEpoch).contains(stepInEpoch) else {
                throw TrainingError.checkpoint(path: path, reason: "step \(checkpoint.step) does not fall in epoch \(checkpoint.epoch + 1) of \(run.plan.stepsPerEpoch) steps")
            }
            try checkpoint.restore(into: &optimizer)
            parameters = checkpoint.parameters
            firstEpoch = checkpoint.epoch
            firstStep = stepInEpoch
            let partial = checkpoint.metadata
            epochSoFar = BatchMetrics(lossSum: Double(partial["epoch_loss_sum"] ?? "") ?? 0,
                                      correct: Int(partial["epoch_correct"] ?? "") ?? 0,
                                      count: Int(partial["epoch_samples"] ?? "") ?? 0)
            epochSecondsSoFar = Double(partial["epoch_seconds"] ?? "") ?? 0
            if let text = partial["decisions"] {
                guard let saved = EpochDecisions(encoded: text) else {
                    throw TrainingError.checkpoint(path: path, reason: "its metadata 'decisions' cannot be read")
                }
                decisions = saved
            }
            if let stopped = decisions.stopped {
                throw TrainingError.badConfig("the run has ended: \(stopped); there is nothing to resume")
            }
            if run.config.fit.restoreBestWeights, decisions.bestEpoch != nil {
                let best = URL(fileURLWithPath: CheckpointFile.location(of: path)).deletingLastPathComponent()
                    .appendingPathComponent(RunDirectory.bestName).path
                bestParameters = try CheckpointFile.read(best, fitting: model).parameters
            }
        }
    }
}

/// Produces the summed gradient of one step's microbatches: in this process, or from workers.
public protocol StepGradientSource: AnyObject {
    /// Sums the gradients of `microbatches` (positions into `order`) at `parameters` into `step`, in
    /// the `SumTree`'s order. `version` is the number of optimiser updates applied so far;
    /// `previousStep`, when the optimiser rounds its steps to bfloat16 and took the last one here,
    /// is that step: the weights of `version − 1` minus `parameters`.
    func accumulate(
        microbatches: [Range<Int>], epoch: Int, order: [Int], version: Int,
        parameters: [Float], previousStep: [Float]?, into step: inout StepGradient
    ) throws

    /// Workers whose gradients made up the last step (1 in a single process).
    var workersInLastStep: Int { get }

    /// Where the last step's time went, for a source that measures it (the parameter server).
    var lastStepTiming: StepTiming? { get }
}

extension StepGradientSource {
    public var lastStepTiming: StepTiming? { nil }
}

/// One optimiser step: `source` sums the gradients of `microbatches` (positions into `order`) in
/// the `SumTree`'s order into `step`, the sum is divided by the step's samples, and `optimizer` applies it.
///
/// The step of `TrainingLoop`, public so that `backprop-bench --allocations` measures this very code.
/// Returns the seconds spent averaging and applying the optimiser.
@discardableResult
public func trainStep(
    microbatches: [Range<Int>], epoch: Int, order: [Int],
    parameters: inout [Float], optimizer: inout any Optimizer,
    step: inout StepGradient, source: any StepGradientSource
) throws -> Double {
    try source.accumulate(microbatches: microbatches, epoch: epoch, order: order, version: optimizer.step,
                          parameters: parameters, previousStep: (optimizer as? BFloat16Steps)?.step(leadingTo: optimizer.step),
                          into: &step)
    // A NaN or infinity anywhere stays in the sum: one check of the step's sum and loss covers every microbatch.
    if !step.metrics.lossSum.isFinite {
        throw TrainingError.diverged(step: optimizer.step + 1, what: "the loss")
    }
    if let index = step.firstNonFinite {
        throw TrainingError.diverged(step: optimizer.step + 1, what: "the gradient (value \(index))")
    }
    let updateStart = monotonicSeconds()
    step.average()
    optimizer.update(&parameters, gradients: step.values)
    return monotonicSeconds() - updateStart
}

/// The training recipe shared by `backprop train` and the parameter server.
///
/// For each epoch: draw the sample order from the seed; for each step, have the gradient source
/// sum the microbatch gradients in the `SumTree`'s order, divide by the step's samples, apply the
/// optimiser. Then validate, checkpoint, and after the last epoch test.
final class TrainingLoop {
    private let run: PreparedRun
    private let directory: RunDirectory
    private let sink: any EventSink

    init(run: PreparedRun, directory: RunDirectory, sink: any EventSink) {
        self.run = run
        self.directory = directory
        self.sink = sink
    }

    /// Trains every remaining epoch with `source`, then tests and writes `summary.json`; a failure is logged as a `failed` event.
    func train(from start: StartingState, using source: any StepGradientSource) throws -> RunResult {
        do {
            return try trainEpochs(from: start, using: source)
        } catch {
            sink.record(.failed(reason: "\(error)"))
            throw error
        }
    }

    private func trainEpochs(from start: StartingState, using source: any StepGradientSource) throws -> RunResult {
        let model = run.model
        let config = run.config
        let fit = config.fit
        let schedule = run.schedule
        var parameters = start.parameters
        var optimizer = start.optimizer
        var decisions = start.decisions
        var bestParameters = start.bestParameters
        // The rate of the last step taken (the schedule's, times the plateaus').
        var rate = config.effectiveLearningRate
        let firstEpoch = start.firstEpoch
        sink.record(.runStarted(config: config.fields, parameterCount: model.parameterCount,
                                trainSamples: run.train.count, validationSamples: run.validation.count, testSamples: run.test.count))
        // Up to 256 samples at once, in at most 256 MB.
        let evaluation = Workspace(model: model, capacity: Workspace.capacity(for: model, fitting: 256 << 20, limit: 256), gradients: false)
        var step = StepGradient(parameterCount: model.parameterCount)
        var history: [EpochRecord] = []
        var trainedSamples = 0
        var trainingSeconds = 0.0
        // Cut once, so that a step hands its microbatches on without building the list.
        let microbatches = (0..<run.plan.stepsPerEpoch).map(run.plan.microbatches(ofStep:))
        let runStart = Date()

        for epoch in firstEpoch..<config.epochs {
            let resuming = epoch == firstEpoch
            let epochStart = Date().addingTimeInterval(resuming ? -start.epochSecondsSoFar : 0)
            let order = EpochPlan.order(sampleCount: run.train.count, epoch: epoch, seed: config.seed)
            var epochMetrics = resuming ? start.epochSoFar : BatchMetrics()
            for stepIndex in (resuming ? start.firstStep : 0)..<run.plan.stepsPerEpoch {
                let stepStart = Date()
                let updateSeconds: Double
                rate = decisions.rate(schedule, step: optimizer.step, minLR: fit.minLR)
                optimizer.learningRate = Float(rate)
                do {
                    updateSeconds = try trainStep(
                        microbatches: microbatches[stepIndex], epoch: epoch, order: order,
                        parameters: &parameters, optimizer: &optimizer, step: &step, source: source)
                } catch let stop as ClusterError where stop.isStop {
                    // Asked to stop (SIGTERM, or a scheduler's warning before preemption): the step was not
                    // applied, so the weights are those of the step boundary; keep them, and --resume goes on exactly.
                    if stepIndex > 0 || epoch > firstEpoch || start.firstStep > 0 {
                        saveCheckpoint(parameters, optimizer, decisions, completedEpochs: epoch, partial: epochMetrics,
                                       seconds: Date().timeIntervalSince(epochStart))
                    }
                    throw stop
                }
                epochMetrics += step.metrics
                sink.record(.step(StepRecord(
                    epoch: epoch + 1, step: stepIndex + 1, stepsPerEpoch: run.plan.stepsPerEpoch,
                    globalStep: optimizer.step, loss: step.metrics.meanLoss, accuracy: step.metrics.accuracy,
                    samples: step.metrics.count, seconds: Date().timeIntervalSince(stepStart), workers: source.workersInLastStep,
                    updateSeconds: updateSeconds, timing: source.lastStepTiming)))
                if let every = config.checkpointEvery, optimizer.step % every == 0, stepIndex + 1 < run.plan.stepsPerEpoch {
                    saveCheckpoint(parameters, optimizer, decisions, completedEpochs: epoch, partial: epochMetrics,
                                   seconds: Date().timeIntervalSince(epochStart))
                }
            }
            let epochSeconds = Date().timeIntervalSince(epochStart)
            trainedSamples += epochMetrics.count
            trainingSeconds += epochSeconds
            let validation = run.validation.count > 0
                ? evaluate(model: model, parameters: parameters, on: run.validation, workspace: evaluation) : nil
            let record = EpochRecord(
                epoch: epoch + 1, loss: epochMetrics.meanLoss, accuracy: epochMetrics.accuracy,
                validationLoss: validation?.meanLoss, validationAccuracy: validation?.accuracy,
                seconds: Date().timeIntervalSince(epochStart), samplesPerSecond: Double(epochMetrics.count) / max(epochSeconds, 1e-9),
                learningRate: rate)
            history.append(record)
            sink.record(.epoch(record))
            let outcome = decisions.decide(after: record, options: fit, rate: rate)
            if outcome.improved {
                if fit.restoreBestWeights { bestParameters = parameters }
                let path = fit.keepsBest ? saveBest(parameters, optimizer, decisions, completedEpochs: epoch + 1) : nil
                sink.record(.bestWeights(epoch: epoch + 1, monitor: fit.monitor, value: decisions.best ?? .nan, path: path))
            }
            if outcome.reducedTo != nil {
                let next = decisions.rate(schedule, step: optimizer.step, minLR: fit.minLR)
                sink.record(.learningRateReduced(epoch: epoch + 1, from: rate, to: next))
            }
            saveCheckpoint(parameters, optimizer, decisions, completedEpochs: epoch + 1, partial: BatchMetrics(), seconds: 0)
            if let reason = outcome.stop {
                sink.record(.stoppedEarly(epoch: epoch + 1, reason: reason))
                break
            }
        }
        // Keras restores the best weights only when it stopped early; here, however the run ends.
        if fit.restoreBestWeights, let best = bestParameters, let bestEpoch = decisions.bestEpoch, bestEpoch != history.last?.epoch {
            parameters = best
            if decisions.stopped == nil { sink.record(.bestRestored(epoch: bestEpoch)) }
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

    /// Writes the checkpoint; a failure is logged and training goes on, the previous checkpoint intact.
    ///
    /// `partial` and `seconds` describe the epoch in progress (empty at an epoch's end), so that a
    /// resumed run reports the same epoch metrics.
    private func saveCheckpoint(_ parameters: [Float], _ optimizer: any Optimizer, _ decisions: EpochDecisions,
                                completedEpochs: Int, partial: BatchMetrics, seconds: Double) {
        var extra = run.checkpointMetadata
        extra["epoch_loss_sum"] = "\(partial.lossSum)"
        extra["epoch_correct"] = String(partial.correct)
        extra["epoch_samples"] = String(partial.count)
        extra["epoch_seconds"] = "\(seconds)"
        extra["decisions"] = decisions.encoded
        let checkpoint = Checkpoint(model: run.model, parameters: parameters, optimizer: optimizer, epoch: completedEpochs,
                                    seed: run.config.seed, extra: extra)
        do {
            try CheckpointFile.write(checkpoint, for: run.model, to: directory.checkpoint)
            sink.record(.checkpoint(path: directory.checkpoint, epoch: completedEpochs, step: optimizer.step))
        } catch {
            sink.record(.checkpointFailed(path: directory.checkpoint, reason: "\(error)"))
        }
    }

    /// Writes `best.safetensors` (a checkpoint of the best epoch's weights); returns its path, or nil when it failed (logged).
    private func saveBest(_ parameters: [Float], _ optimizer: any Optimizer, _ decisions: EpochDecisions, completedEpochs: Int) -> String? {
        var extra = run.checkpointMetadata
        extra["decisions"] = decisions.encoded
        let checkpoint = Checkpoint(model: run.model, parameters: parameters, optimizer: optimizer, epoch: completedEpochs,
                                    seed: run.config.seed, extra: extra)
        let path = directory.file(RunDirectory.bestName)
        do {
            try CheckpointFile.write(checkpoint, for: run.model, to: path)
            return path
        } catch {
            sink.record(.checkpointFailed(path: path, reason: "\(error)"))
            return nil
        }
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
            "config": jsonDictionary(run.config.fields),
        ]
        if let last = result.history.last {
            summary["final_epoch"] = jsonDictionary(last.fields)
        }
        try directory.writeJSON(summary, to: "summary.json")
    }
}
