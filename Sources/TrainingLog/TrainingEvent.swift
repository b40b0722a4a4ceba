/// Everything a training process reports, in one schema for every process.
///
/// Each event becomes one JSON Lines record: `{"time": …, "event": "<kind>", "process": …, …fields}`.
/// The field names are the same in the JSON Lines file, `history.csv` and `summary.json`.
public enum TrainingEvent: Sendable {
    /// A run began; `config` is the full run configuration, flattened.
    case runStarted(config: [(String, LogValue)], parameterCount: Int, trainSamples: Int, validationSamples: Int, testSamples: Int)
    /// One optimiser step finished.
    case step(StepRecord)
    /// One epoch finished (after validation).
    case epoch(EpochRecord)
    /// A checkpoint was written.
    case checkpoint(path: String, epoch: Int, step: Int)
    /// The test set was evaluated at the end of the run.
    case test(loss: Double, accuracy: Double, samples: Int)
    /// The run stopped because of an error.
    case failed(reason: String)
    /// The server is waiting for enough workers to start (or continue).
    case waitingForWorkers(have: Int, need: Int)
    /// A worker joined and was given an id.
    case workerJoined(worker: Int, name: String, pid: Int)
    /// A worker loaded its data and takes work from the next step on.
    case workerAdmitted(worker: Int, step: Int)
    /// A worker left cleanly.
    case workerLeft(worker: Int, reason: String)
    /// A worker was silent for too long and was dropped.
    case workerTimedOut(worker: Int, silentSeconds: Double)
    /// Microbatches a lost worker had not finished were handed to others.
    case reassigned(worker: Int, microbatches: Int, step: Int)
    /// A message was refused and dropped; `worker` is 0 when the sender is unknown.
    case messageRejected(worker: Int, reason: String)
    /// A worker finished its share of one step.
    case workerStep(WorkerStepRecord)
    /// The server did not know this worker any more (it restarted, or dropped the worker), so it joins again.
    case workerRejoining(worker: Int, reason: String)
    /// A checkpoint could not be written; the previous one is unchanged and training goes on.
    case checkpointFailed(path: String, reason: String)
    /// A message could not be sent to a worker (or, in a worker's log, to the server); `worker` is 0 for a peer that is not a member.
    case sendFailed(worker: Int, message: String, reason: String)
    /// After `epoch` (from 1), the monitored value had not improved for the plateau's patience: the rate drops.
    case learningRateReduced(epoch: Int, from: Double, to: Double)
    /// The monitored value improved at `epoch`; with `path`, the weights were written there (`best.safetensors`).
    case bestWeights(epoch: Int, monitor: String, value: Double, path: String?)
    /// Training ends after `epoch`, before its last epoch; `reason` is the sentence for people.
    case stoppedEarly(epoch: Int, reason: String)
    /// The weights of `epoch`, the best, replace the last ones before the test.
    case bestRestored(epoch: Int)

    /// The `event` field.
    public var kind: String {
        switch self {
        case .runStarted: return "run_started"
        case .step: return "step"
        case .epoch: return "epoch"
        case .checkpoint: return "checkpoint"
        case .test: return "test"
        case .failed: return "failed"
        case .waitingForWorkers: return "waiting_for_workers"
        case .workerJoined: return "worker_joined"
        case .workerAdmitted: return "worker_admitted"
        case .workerLeft: return "worker_left"
        case .workerTimedOut: return "worker_timed_out"
        case .reassigned: return "reassigned"
        case .messageRejected: return "message_rejected"
        case .workerStep: return "worker_step"
        case .workerRejoining: return "worker_rejoining"
        case .checkpointFailed: return "checkpoint_failed"
        case .sendFailed: return "send_failed"
        case .learningRateReduced: return "learning_rate_reduced"
        case .bestWeights: return "best_weights"
        case .stoppedEarly: return "stopped_early"
        case .bestRestored: return "best_restored"
        }
    }

    /// The event's own fields, in a stable order.
    public var fields: [(String, LogValue)] {
        switch self {
        case let .runStarted(config, parameterCount, train, validation, test):
            return [("parameters", .int(parameterCount)), ("train_samples", .int(train)),
                    ("validation_samples", .int(validation)), ("test_samples", .int(test))]
                + config.map { ("config.\($0.0)", $0.1) }
        case .step(let r): return r.fields
        case .epoch(let r): return r.fields
        case let .checkpoint(path, epoch, step):
            return [("path", .string(path)), ("epoch", .int(epoch)), ("step", .int(step))]
        case let .test(loss, accuracy, samples):
            return [("test_loss", .double(loss)), ("test_accuracy", .double(accuracy)), ("samples", .int(samples))]
        case .failed(let reason):
            return [("reason", .string(reason))]
        case let .waitingForWorkers(have, need):
            return [("workers", .int(have)), ("workers_min", .int(need))]
        case let .workerJoined(worker, name, pid):
            return [("worker", .int(worker)), ("name", .string(name)), ("pid", .int(pid))]
        case let .workerAdmitted(worker, step):
            return [("worker", .int(worker)), ("global_step", .int(step))]
        case let .workerLeft(worker, reason):
            return [("worker", .int(worker)), ("reason", .string(reason))]
        case let .workerTimedOut(worker, silent):
            return [("worker", .int(worker)), ("silent_seconds", .double(silent))]
        case let .reassigned(worker, microbatches, step):
            return [("worker", .int(worker)), ("microbatches", .int(microbatches)), ("global_step", .int(step))]
        case let .messageRejected(worker, reason):
            return [("worker", .int(worker)), ("reason", .string(reason))]
        case .workerStep(let r):
            return r.fields
        case let .workerRejoining(worker, reason):
            return [("worker", .int(worker)), ("reason", .string(reason))]
        case let .checkpointFailed(path, reason):
            return [("path", .string(path)), ("reason", .string(reason))]
        case let .sendFailed(worker, message, reason):
            return [("worker", .int(worker)), ("message", .string(message)), ("reason", .string(reason))]
        case let .learningRateReduced(epoch, from, to):
            return [("epoch", .int(epoch)), ("from", .double(from)), ("to", .double(to))]
        case let .bestWeights(epoch, monitor, value, path):
            return [("epoch", .int(epoch)), ("monitor", .string(monitor)), ("value", .double(value))]
                + (path.map { [("path", .string($0))] } ?? [])
        case let .stoppedEarly(epoch, reason):
            return [("epoch", .int(epoch)), ("reason", .string(reason))]
        case .bestRestored(let epoch):
            return [("epoch", .int(epoch))]
        }
    }
}

/// One optimiser step. `epoch` counts from 1, `step` from 1 within the epoch; `global_step` never resets.
public struct StepRecord: Sendable, Equatable {
    public var epoch: Int
    public var step: Int
    public var stepsPerEpoch: Int
    public var globalStep: Int
    /// Mean loss and accuracy of this step's samples (before the update).
    public var loss: Double
    public var accuracy: Double
    public var samples: Int
    public var seconds: Double
    /// Workers that computed this step (1 for a single process).
    public var workers: Int
    /// Seconds spent averaging the summed gradient and applying the optimiser (`update_seconds`); nil in older logs.
    public var updateSeconds: Double?
    /// Where a parameter server's step went; nil for a single process and in older logs.
    public var timing: StepTiming?

    public init(epoch: Int, step: Int, stepsPerEpoch: Int, globalStep: Int, loss: Double, accuracy: Double, samples: Int, seconds: Double,
                workers: Int = 1, updateSeconds: Double? = nil, timing: StepTiming? = nil) {
        self.epoch = epoch
        self.step = step
        self.stepsPerEpoch = stepsPerEpoch
        self.globalStep = globalStep
        self.loss = loss
        self.accuracy = accuracy
        self.samples = samples
        self.seconds = seconds
        self.workers = workers
        self.updateSeconds = updateSeconds
        self.timing = timing
    }

    public var fields: [(String, LogValue)] {
        var fields: [(String, LogValue)] = [
            ("epoch", .int(epoch)), ("step", .int(step)), ("steps_per_epoch", .int(stepsPerEpoch)),
            ("global_step", .int(globalStep)), ("loss", .double(loss)), ("accuracy", .double(accuracy)),
            ("samples", .int(samples)), ("step_seconds", .double(seconds)), ("workers", .int(workers)),
        ]
        if let timing {
            fields += [("assign_seconds", .double(timing.assignSeconds)), ("wait_seconds", .double(timing.waitSeconds)),
                       ("sum_seconds", .double(timing.sumSeconds))]
        }
        if let updateSeconds { fields.append(("update_seconds", .double(updateSeconds))) }
        return fields
    }
}

/// Where a parameter server's step went, besides the optimiser update: the fields `assign_seconds`,
/// `wait_seconds` and `sum_seconds` of its `step` events.
public struct StepTiming: Sendable, Equatable {
    /// Copying the weights into the send buffer, encoding each worker's assignment and queueing it for libzmq.
    public var assignSeconds: Double
    /// Waiting for gradients to arrive: the network both ways and the workers' compute.
    public var waitSeconds: Double
    /// Checking the gradients (header, body, every value finite) and adding them up in microbatch order.
    public var sumSeconds: Double

    public init(assignSeconds: Double, waitSeconds: Double, sumSeconds: Double) {
        self.assignSeconds = assignSeconds
        self.waitSeconds = waitSeconds
        self.sumSeconds = sumSeconds
    }
}

/// One epoch, as in Keras's History: training metrics are the mean over the epoch's samples.
public struct EpochRecord: Sendable, Equatable {
    public var epoch: Int
    public var loss: Double
    public var accuracy: Double
    /// nil when the run has no validation split.
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var seconds: Double
    public var samplesPerSecond: Double
    /// The learning rate of the epoch's last step (nil in logs written before it was recorded).
    public var learningRate: Double?

    public init(epoch: Int, loss: Double, accuracy: Double, validationLoss: Double?, validationAccuracy: Double?, seconds: Double,
                samplesPerSecond: Double, learningRate: Double? = nil) {
        self.epoch = epoch
        self.loss = loss
        self.accuracy = accuracy
        self.validationLoss = validationLoss
        self.validationAccuracy = validationAccuracy
        self.seconds = seconds
        self.samplesPerSecond = samplesPerSecond
        self.learningRate = learningRate
    }

    /// The columns of `history.csv`, in order. `learning_rate` came last, so readers of the first seven keep working.
    public static let columns = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds", "samples_per_second", "learning_rate"]

    /// The `epoch` event's fields: those of `columns`, with `learning_rate` only when it is known.
    public var fields: [(String, LogValue)] {
        var fields: [(String, LogValue)] = [
            ("epoch", .int(epoch)), ("loss", .double(loss)), ("accuracy", .double(accuracy)),
            ("val_loss", .double(validationLoss ?? .nan)), ("val_accuracy", .double(validationAccuracy ?? .nan)),
            ("seconds", .double(seconds)), ("samples_per_second", .double(samplesPerSecond)),
        ]
        if let learningRate { fields.append(("learning_rate", .double(learningRate))) }
        return fields
    }

    /// One value per column of `columns`, for tables: an unknown number is NaN (an empty CSV cell, JSON `null`).
    public var row: [LogValue] {
        let fields = fields
        return Self.columns.map { column in fields.first { $0.0 == column }?.1 ?? .double(.nan) }
    }
}

/// A worker's shares of one or more consecutive steps of an epoch, as the worker saw them: what it
/// reported to the server, the figures of its `assignments` added up.
public struct WorkerStepRecord: Sendable, Equatable {
    public var worker: Int
    public var epoch: Int
    /// The weights version (optimiser steps applied) the last of the assignments was computed at.
    public var globalStep: Int
    /// Assignments (the worker's shares of a step) counted; 1 in logs written before reports were added up.
    public var assignments: Int
    public var microbatches: Int
    public var samples: Int
    /// Time spent computing gradients.
    public var computeSeconds: Double
    /// Time between finishing each assignment and receiving the next one.
    public var waitSeconds: Double
    public var bytesSent: Int
    public var bytesReceived: Int
    /// Time spent encoding the gradients messages and queueing them for libzmq (`send_seconds`); nil in older logs.
    public var sendSeconds: Double?

    public init(worker: Int, epoch: Int, globalStep: Int, assignments: Int = 1, microbatches: Int, samples: Int,
                computeSeconds: Double, waitSeconds: Double, bytesSent: Int, bytesReceived: Int, sendSeconds: Double? = nil) {
        self.worker = worker
        self.epoch = epoch
        self.globalStep = globalStep
        self.assignments = assignments
        self.microbatches = microbatches
        self.samples = samples
        self.computeSeconds = computeSeconds
        self.waitSeconds = waitSeconds
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.sendSeconds = sendSeconds
    }

    public var fields: [(String, LogValue)] {
        var fields: [(String, LogValue)] = [
            ("worker", .int(worker)), ("epoch", .int(epoch)), ("global_step", .int(globalStep)),
            ("assignments", .int(assignments)), ("microbatches", .int(microbatches)), ("samples", .int(samples)),
            ("compute_seconds", .double(computeSeconds)), ("wait_seconds", .double(waitSeconds)),
            ("bytes_sent", .int(bytesSent)), ("bytes_received", .int(bytesReceived)),
        ]
        if let sendSeconds { fields.append(("send_seconds", .double(sendSeconds))) }
        return fields
    }
}
