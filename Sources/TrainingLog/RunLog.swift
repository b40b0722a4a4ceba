/// What a run's logs say, built up one event at a time so that a live run can be followed.
///
/// Feed it the events of `server.jsonl` or `train.jsonl` with `ingest(_:)` and those of each
/// `worker-<id>.jsonl` with `ingest(_:fromWorker:)`, in file order. It keeps numbers, not
/// lines: the history, one point per optimiser step, per-worker tallies and the membership
/// and fault timeline.
public struct RunLog: Sendable {
    /// The run's settings from its latest `run_started` event, in the order written.
    public private(set) var config: [(String, LogValue)] = []
    public private(set) var parameterCount: Int?
    public private(set) var trainSamples: Int?
    public private(set) var validationSamples: Int?
    public private(set) var testSamples: Int?
    /// How many times the run started (more than one: it was resumed).
    public private(set) var starts = 0

    /// One row per epoch, by epoch number; an epoch trained again after a resume replaces the old row.
    public private(set) var history: [EpochRecord] = []
    /// Every optimiser step in order of `global_step`; steps redone after a resume replace the old ones.
    public private(set) var steps: [TimedStep] = []
    /// The global step at the end of each epoch, by epoch number.
    public private(set) var epochEndSteps: [Int: Int] = [:]
    /// When each epoch's `epoch` event was written, by epoch number.
    public private(set) var epochTimes: [Int: Double] = [:]

    public private(set) var workers: [Int: WorkerLog] = [:]
    public private(set) var timeline: [TimelineEntry] = []
    public private(set) var rejections: [RejectionGroup] = []
    public private(set) var checkpoints: [CheckpointEntry] = []

    /// Learning-rate reductions on a plateau, by epoch; one that a resumed run made again replaces the old one.
    public private(set) var learningRateReductions: [LearningRateReduction] = []
    /// The latest improvement of the monitored value: the best epoch so far.
    public private(set) var best: BestWeights?
    /// Why training ended before its last epoch, once it has (`stopped_early`).
    public private(set) var earlyStop: EarlyStop?
    /// The epoch whose weights, the best, replaced the last ones before the test.
    public private(set) var restoredEpoch: Int?

    public private(set) var test: TestResult?
    public private(set) var failure: (reason: String, time: Double)?
    /// The latest `waiting_for_workers` while no step has followed it.
    public private(set) var waiting: (have: Int, need: Int)?

    /// Unix seconds of the first and last event read, from any file.
    public private(set) var firstTime: Double?
    public private(set) var lastTime: Double?
    /// The last event of the main log (server or trainer).
    public private(set) var lastMainTime: Double?

    public init() {}

    /// An optimiser step and when it ended.
    public struct TimedStep: Sendable, Equatable {
        public var time: Double
        public var record: StepRecord
    }

    public struct TestResult: Sendable, Equatable {
        public var loss: Double
        public var accuracy: Double
        public var samples: Int
        public var time: Double
    }

    public struct LearningRateReduction: Sendable, Equatable {
        public var time: Double
        /// The epoch (from 1) after which the rate dropped.
        public var epoch: Int
        public var from: Double
        public var to: Double
    }

    public struct BestWeights: Sendable, Equatable {
        public var time: Double
        public var epoch: Int
        /// `val_loss`, `val_accuracy`, `loss` or `accuracy`.
        public var monitor: String
        public var value: Double
        /// Where the weights were written (`best.safetensors`), when they were.
        public var path: String?
    }

    public struct EarlyStop: Sendable, Equatable {
        public var time: Double
        /// The last epoch trained.
        public var epoch: Int
        /// The sentence for people: `early stopping at epoch 7: val_loss has not improved for 3 epochs since epoch 4; …`.
        public var reason: String
    }

    public struct CheckpointEntry: Sendable, Equatable {
        public var time: Double
        public var path: String
        /// Epochs completed when it was written.
        public var epoch: Int
        public var step: Int
        /// Written at the end of an epoch (not mid-epoch, with `--checkpoint-every`).
        public var atEpochEnd: Bool
    }

    /// The settings value for `key` (`model`, `batch_size`, …).
    public func setting(_ key: String) -> LogValue? { config.first { $0.0 == key }?.1 }

    /// The last step, if training has begun.
    public var lastStep: TimedStep? { steps.last }

    /// Epochs the run was asked for.
    public var epochs: Int? {
        if case .int(let n) = setting("epochs") { return n }
        return nil
    }

    /// Worker ids in order.
    public var workerIDs: [Int] { workers.keys.sorted() }

    // MARK: - Reading events

    /// Adds an event of the main log (`server.jsonl` or `train.jsonl`).
    public mutating func ingest(_ logged: LoggedEvent) {
        let time = logged.time
        see(time)
        lastMainTime = max(lastMainTime ?? time, time)
        switch logged.event {
        case let .runStarted(config, parameterCount, train, validation, test):
            starts += 1
            // A resumed run starts over: an earlier attempt's failure or result no longer tells how it stands.
            failure = nil
            self.test = nil
            self.config = config
            self.parameterCount = parameterCount
            trainSamples = train
            validationSamples = validation
            testSamples = test
            if starts == 1 {
                note(time, .runStarted, nil, "run started")
            } else {
                let at = steps.last.map { " after epoch \($0.record.epoch) step \($0.record.step) (global step \($0.record.globalStep))" } ?? ""
                note(time, .resumed, nil, "run started again (resumed)\(at)")
            }
        case .step(let record):
            waiting = nil
            while let last = steps.last, last.record.globalStep >= record.globalStep { steps.removeLast() }
            steps.append(TimedStep(time: time, record: record))
            epochEndSteps[record.epoch] = record.globalStep
        case .epoch(let record):
            epochTimes[record.epoch] = time
            // Training went on past an early stop of an earlier attempt: that stop no longer tells how the run ends.
            if let stop = earlyStop, record.epoch > stop.epoch { earlyStop = nil }
            if let index = history.firstIndex(where: { $0.epoch >= record.epoch }) {
                if history[index].epoch == record.epoch { history[index] = record } else { history.insert(record, at: index) }
            } else {
                history.append(record)
            }
        case let .checkpoint(path, epoch, step):
            let atEpochEnd = epochEndSteps[epoch] == step || (epoch == 0 && step == 0)
            checkpoints.append(CheckpointEntry(time: time, path: path, epoch: epoch, step: step, atEpochEnd: atEpochEnd))
            note(time, .checkpoint, nil, atEpochEnd ? "checkpoint after epoch \(epoch) (step \(step))"
                                                    : "checkpoint at step \(step), in epoch \(epoch + 1)")
        case let .checkpointFailed(path, reason):
            note(time, .checkpointFailed, nil, "checkpoint NOT written (\(path)): \(reason)")
        case let .test(loss, accuracy, samples):
            test = TestResult(loss: loss, accuracy: accuracy, samples: samples, time: time)
            note(time, .test, nil, "test: accuracy \(fixed(accuracy)), loss \(fixed(loss)) (\(grouped(samples)) samples)")
        case .failed(let reason):
            failure = (reason, time)
            note(time, .failed, nil, "failed: \(reason)")
        case let .learningRateReduced(epoch, from, to):
            let reduction = LearningRateReduction(time: time, epoch: epoch, from: from, to: to)
            if let index = learningRateReductions.firstIndex(where: { $0.epoch >= epoch }) {
                if learningRateReductions[index].epoch == epoch { learningRateReductions[index] = reduction }
                else { learningRateReductions.insert(reduction, at: index) }
            } else {
                learningRateReductions.append(reduction)
            }
            note(time, .learningRateReduced, nil, "epoch \(epoch): learning rate reduced from \(significant(from)) to \(significant(to))")
        case let .bestWeights(epoch, monitor, value, path):
            best = BestWeights(time: time, epoch: epoch, monitor: monitor, value: value, path: path)
            note(time, .bestWeights, nil, "epoch \(epoch): \(monitor) improved to \(fixed(value)), the best so far"
                + (path.map { "; weights saved to \($0)" } ?? ""))
        case let .stoppedEarly(epoch, reason):
            earlyStop = EarlyStop(time: time, epoch: epoch, reason: reason)
            note(time, .stoppedEarly, nil, reason)
        case .bestRestored(let epoch):
            restoredEpoch = epoch
            note(time, .bestRestored, nil, "weights of epoch \(epoch), the best, restored")
        case let .waitingForWorkers(have, need):
            waiting = (have, need)
            let text = need > 1 ? "waiting for \(need) workers" : "waiting for a worker"
            if timeline.last?.kind != .waiting || timeline.last?.text != text { note(time, .waiting, nil, text) }
        case let .workerJoined(id, name, pid):
            update(id, time) {
                $0.name = name
                $0.pid = pid
                $0.joined = time
                $0.state = .joined
            }
            note(time, .joined, id, "worker \(id) joined (\(name), pid \(pid))")
        case let .workerAdmitted(id, step):
            update(id, time) {
                $0.admittedAtStep = step
                $0.state = .active
            }
            note(time, .admitted, id, "worker \(id) admitted: computes from step \(step + 1)")
        case let .workerLeft(id, reason):
            update(id, time) { $0.state = .left(reason) }
            note(time, .left, id, "worker \(id) left (\(reason))")
        case let .workerTimedOut(id, silent):
            update(id, time) { $0.state = .timedOut(silentSeconds: silent) }
            note(time, .timedOut, id, "worker \(id) timed out after \(fixed(silent, 1))s of silence")
        case let .reassigned(id, microbatches, step):
            update(id, time) { $0.reassignedMicrobatches += microbatches }
            note(time, .reassigned, id, "step \(step + 1): \(microbatches) microbatch\(microbatches == 1 ? "" : "es") of worker \(id) handed to others")
        case let .messageRejected(worker, reason):
            reject(time: time, source: "server", sender: worker, reason: reason)
        case .workerStep(let record):
            // The server does not write these; accept them anyway, attributed to the worker they name.
            ingestWorkerStep(record, time: time)
        case let .workerRejoining(id, reason):
            update(id, time) { _ in }
            note(time, .rejoining, id, "worker \(id) joins again: \(reason)")
        case let .sendFailed(id, message, reason):
            note(time, .sendFailed, id == 0 ? nil : id, "\(message) to \(id == 0 ? "a peer" : "worker \(id)") not sent: \(reason)")
        }
    }

    /// Adds an event of `worker-<id>.jsonl`.
    public mutating func ingest(_ logged: LoggedEvent, fromWorker id: Int) {
        see(logged.time)
        switch logged.event {
        case .workerStep(let record):
            ingestWorkerStep(record, time: logged.time)
        case let .messageRejected(_, reason):
            update(id, logged.time) { _ in }
            reject(time: logged.time, source: "worker \(id)", sender: nil, reason: reason)
        case let .workerRejoining(_, reason):
            update(id, logged.time) { _ in }
            note(logged.time, .rejoining, id, "worker \(id) joins again: \(reason)")
        case let .sendFailed(_, message, reason):
            update(id, logged.time) { _ in }
            note(logged.time, .sendFailed, id, "worker \(id): \(message) to the server not sent: \(reason)")
        default:
            update(id, logged.time) { _ in }
        }
    }

    private mutating func ingestWorkerStep(_ record: WorkerStepRecord, time: Double) {
        update(record.worker, time) { worker in
            worker.steps += record.assignments
            worker.microbatches += record.microbatches
            worker.samples += record.samples
            worker.computeSeconds += record.computeSeconds
            worker.waitSeconds += record.waitSeconds
            worker.bytesSent += record.bytesSent
            worker.bytesReceived += record.bytesReceived
            if record.microbatches > 0 { worker.computePerMicrobatch.append(record.computeSeconds / Double(record.microbatches)) }
            if record.samples > 0 { worker.computePerSample.append(record.computeSeconds / Double(record.samples)) }
            worker.activity.append(WorkerLog.Activity(time: time, samples: record.samples))
        }
    }

    private mutating func see(_ time: Double) {
        firstTime = min(firstTime ?? time, time)
        lastTime = max(lastTime ?? time, time)
    }

    private mutating func update(_ id: Int, _ time: Double, _ change: (inout WorkerLog) -> Void) {
        // In place: copying a worker out and back would copy its per-step arrays every time.
        change(&workers[id, default: WorkerLog(id: id)])
        let seen = workers[id]?.lastSeen ?? time
        workers[id]?.lastSeen = max(seen, time)
    }

    private mutating func note(_ time: Double, _ kind: TimelineEntry.Kind, _ worker: Int?, _ text: String) {
        timeline.append(TimelineEntry(time: time, kind: kind, worker: worker, text: text))
    }

    private mutating func reject(time: Double, source: String, sender: Int?, reason: String) {
        let pattern = RejectionGroup.pattern(of: reason)
        if let sender, sender != 0 {
            update(sender, time) { $0.rejectedMessages += 1 }
        }
        if let index = rejections.firstIndex(where: { $0.source == source && $0.pattern == pattern }) {
            rejections[index].count += 1
            rejections[index].last = time
            if let sender, sender != 0 { rejections[index].senders.insert(sender) }
        } else {
            var group = RejectionGroup(source: source, pattern: pattern, example: reason, count: 1, first: time, last: time)
            if let sender, sender != 0 { group.senders.insert(sender) }
            rejections.append(group)
        }
    }
}

/// One worker as the logs tell it: membership from the server, work from its own log.
public struct WorkerLog: Sendable {
    public enum State: Sendable, Equatable {
        /// Joined (loading its data, or ready and waiting for the next step); not computing yet.
        case joined
        case active
        case left(String)
        case timedOut(silentSeconds: Double)
        /// Known only from its own log (the server's log does not name it).
        case unknown
    }

    public struct Activity: Sendable, Equatable {
        public var time: Double
        public var samples: Int
    }

    public let id: Int
    public var name: String?
    public var pid: Int?
    public var joined: Double?
    /// The weights version (optimiser steps applied) it was admitted at.
    public var admittedAtStep: Int?
    public var state: State = .unknown
    /// Assignments computed (the worker's share of one step each).
    public var steps = 0
    public var microbatches = 0
    public var samples = 0
    public var computeSeconds = 0.0
    public var waitSeconds = 0.0
    public var bytesSent = 0
    public var bytesReceived = 0
    public var reassignedMicrobatches = 0
    public var rejectedMessages = 0
    /// The last event about this worker, in any log.
    public var lastSeen: Double?
    /// Compute seconds per microbatch and per sample, one entry per report (the mean over the assignments it counts).
    public var computePerMicrobatch: [Double] = []
    public var computePerSample: [Double] = []
    /// When each report was logged and how many samples its assignments had.
    public var activity: [Activity] = []

    public init(id: Int) { self.id = id }
}

/// One line of the membership and fault timeline.
public struct TimelineEntry: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case runStarted = "run_started", resumed, waiting = "waiting_for_workers"
        case joined = "worker_joined", admitted = "worker_admitted", left = "worker_left", timedOut = "worker_timed_out"
        case reassigned, checkpoint, test, failed
        case checkpointFailed = "checkpoint_failed", rejoining = "worker_rejoining", sendFailed = "send_failed"
        case learningRateReduced = "learning_rate_reduced", bestWeights = "best_weights", stoppedEarly = "stopped_early"
        case bestRestored = "best_restored"
    }

    public var time: Double
    public var kind: Kind
    public var worker: Int?
    public var text: String
}

/// Rejected messages with the same reason (numbers aside), from the same side.
public struct RejectionGroup: Sendable, Equatable {
    /// `server`, or `worker <id>` for messages a worker dropped.
    public var source: String
    /// The reason with every run of digits replaced by `N`.
    public var pattern: String
    /// The first reason seen, verbatim.
    public var example: String
    public var count: Int
    public var first: Double
    public var last: Double
    /// Ids of the workers that sent the rejected messages, when known.
    public var senders: Set<Int> = []

    static func pattern(of reason: String) -> String {
        var out = ""
        var inDigits = false
        for scalar in reason.unicodeScalars {
            if ("0"..."9").contains(scalar) {
                if !inDigits { out += "N" }
                inDigits = true
            } else {
                out.unicodeScalars.append(scalar)
                inDigits = false
            }
        }
        return out
    }
}
