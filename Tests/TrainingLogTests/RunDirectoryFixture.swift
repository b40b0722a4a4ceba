import Foundation
import TrainingLog
import XCTest

/// The clock a fixture's sinks read: the time of the event being written.
final class FixtureClock {
    var now = 0.0
}

/// A run directory written by the real sinks with chosen times, for the reader to read back.
///
/// The sinks stay open (as a live server's do) until `close()`, so the run reads as running
/// until then.
final class RunDirectoryFixture {
    let path: String
    let clock = FixtureClock()
    private var main: JSONLinesSink?
    private var workers: [Int: JSONLinesSink] = [:]
    let mainName: String

    init(_ test: XCTestCase, kind: RunKind = .cluster) throws {
        path = try temporaryDirectory(test)
        mainName = kind == .cluster ? "server.jsonl" : "train.jsonl"
        let clock = self.clock
        main = try JSONLinesSink(path: (path as NSString).appendingPathComponent(mainName),
                                 process: kind == .cluster ? "server" : "trainer", clock: { clock.now })
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Writes `event` to the server's (or trainer's) log at `time`.
    func main(_ event: TrainingEvent, at time: Double) {
        clock.now = time
        main?.record(event)
    }

    /// Writes `event` to `worker-<id>.jsonl` at `time`.
    func worker(_ id: Int, _ event: TrainingEvent, at time: Double) throws {
        clock.now = time
        if workers[id] == nil {
            let clock = self.clock
            workers[id] = try JSONLinesSink(path: file("worker-\(id).jsonl"), process: "worker-\(id)", clock: { clock.now })
        }
        workers[id]?.record(event)
    }

    /// Appends raw bytes to a file of the run directory (a torn or damaged line).
    func append(_ text: String, to name: String) throws {
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: file(name)))
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
        try handle.close()
    }

    /// Closes every log, as a process that exits does.
    func close() {
        main = nil
        workers = [:]
    }
}

/// A three-epoch cluster run with known numbers: the reference for the table and export tests.
///
/// Workers 1 and 2 ("alpha", "beta") start; worker 2 falls silent in step 6 and is timed out,
/// its 2 microbatches go to worker 1, and two of its late gradients are rejected. Worker 3
/// ("gamma") joins and computes from step 7, four times slower per sample than the others.
/// Four steps per epoch of 32 samples (4 microbatches of 8), 12 steps in all, then the test.
enum ReferenceRun {
    /// 2023-11-14 22:13:20 UTC.
    static let t0 = 1_700_000_000.0
    static let utc = TimeZone(identifier: "UTC")!

    static let config: [(String, LogValue)] = [
        ("model", .string("seed-cnn")), ("data", .string("synthetic")), ("epochs", .int(3)), ("batch_size", .int(32)),
        ("microbatch", .int(8)), ("learning_rate", .double(0.001)), ("optimizer", .string("adam")), ("momentum", .double(0)),
        ("seed", .string("1")), ("validation_split", .double(0.1)), ("train_limit", .int(640)),
    ]

    static let history = [
        EpochRecord(epoch: 1, loss: 0.7, accuracy: 0.5, validationLoss: 0.65, validationAccuracy: 0.6, seconds: 4, samplesPerSecond: 144),
        EpochRecord(epoch: 2, loss: 0.5, accuracy: 0.75, validationLoss: 0.45, validationAccuracy: 0.8, seconds: 4.5, samplesPerSecond: 128),
        EpochRecord(epoch: 3, loss: 0.35, accuracy: 0.875, validationLoss: 0.4, validationAccuracy: 0.85, seconds: 62, samplesPerSecond: 9.25),
    ]

    static func stepTime(_ globalStep: Int) -> Double { t0 + 10 + Double(globalStep) }

    static func step(_ globalStep: Int) -> StepRecord {
        StepRecord(epoch: (globalStep - 1) / 4 + 1, step: (globalStep - 1) % 4 + 1, stepsPerEpoch: 4, globalStep: globalStep,
                   loss: 1.0 - 0.0625 * Double(globalStep), accuracy: 0.375 + 0.03125 * Double(globalStep), samples: 32,
                   seconds: 0.875, workers: globalStep == 6 ? 1 : 2)
    }

    /// A worker's share of the step computed on weights `version`.
    static func share(_ worker: Int, version: Int, compute: Double, wait: Double) -> TrainingEvent {
        .workerStep(WorkerStepRecord(worker: worker, epoch: version / 4 + 1, globalStep: version, microbatches: 2, samples: 16,
                                     computeSeconds: compute, waitSeconds: wait, bytesSent: 45992, bytesReceived: 23020))
    }

    /// Writes global steps `first` through `last`: with `first` 1 the start before them, with `last` 12
    /// the test and the goodbyes after them.
    static func write(_ run: RunDirectoryFixture, from first: Int = 1, through last: Int = 12) throws {
        if first == 1 {
            run.main(.waitingForWorkers(have: 0, need: 2), at: t0)
            run.main(.workerJoined(worker: 1, name: "alpha", pid: 101), at: t0 + 1)
            run.main(.workerJoined(worker: 2, name: "beta", pid: 102), at: t0 + 1.5)
            run.main(.runStarted(config: config, parameterCount: 5729, trainSamples: 576, validationSamples: 64, testSamples: 100), at: t0 + 2)
            run.main(.workerAdmitted(worker: 1, step: 0), at: t0 + 2.1)
            run.main(.workerAdmitted(worker: 2, step: 0), at: t0 + 2.1)
        }
        for globalStep in first...last {
            let version = globalStep - 1
            let time = stepTime(globalStep)
            try run.worker(1, share(1, version: version, compute: 0.032, wait: 0.5), at: time - 0.2)
            if globalStep <= 5 { try run.worker(2, share(2, version: version, compute: 0.032, wait: 0.5), at: time - 0.2) }
            if globalStep >= 7 { try run.worker(3, share(3, version: version, compute: 0.128, wait: 0.25), at: time - 0.2) }
            if globalStep == 6 {
                run.main(.workerTimedOut(worker: 2, silentSeconds: 6), at: t0 + 15.5)
                run.main(.reassigned(worker: 2, microbatches: 2, step: 5), at: t0 + 15.5)
                try run.worker(1, share(1, version: 5, compute: 0.096, wait: 0.5), at: t0 + 15.6)
                run.main(.workerJoined(worker: 3, name: "gamma", pid: 103), at: t0 + 15.7)
            }
            run.main(.step(step(globalStep)), at: time)
            if globalStep == 6 {
                run.main(.workerAdmitted(worker: 3, step: 6), at: t0 + 16.2)
                run.main(.messageRejected(worker: 2, reason: "stale gradients for step 5; the server is at step 6"), at: t0 + 16)
                run.main(.messageRejected(worker: 2, reason: "stale gradients for step 5; the server is at step 7"), at: t0 + 16.5)
            }
            if globalStep == 7 {
                run.main(.messageRejected(worker: 0, reason: "bad magic 0x1234"), at: t0 + 17.2)
                try run.worker(3, .messageRejected(worker: 0, reason: "assignment outside the training set"), at: t0 + 17.3)
            }
            if globalStep % 4 == 0 {
                let epoch = globalStep / 4
                run.main(.epoch(history[epoch - 1]), at: time + 0.5)
                run.main(.checkpoint(path: run.file("checkpoint.safetensors"), epoch: epoch, step: globalStep), at: time + 0.6)
            }
        }
        guard last == 12 else { return }
        run.main(.test(loss: 0.3, accuracy: 0.9, samples: 100), at: t0 + 23)
        run.main(.workerLeft(worker: 1, reason: "finished"), at: t0 + 23.5)
        run.main(.workerLeft(worker: 3, reason: "finished"), at: t0 + 23.6)
    }
}

/// A three-epoch single-process run fitted as Keras's callbacks would: a learning rate per epoch
/// (a decaying schedule), the best weights saved at epochs 1 and 2, and after epoch 3, whose
/// validation loss is worse, the rate halved on the plateau, an early stop, and epoch 2's weights restored.
enum EarlyStoppedRun {
    static let reason = "early stopping at epoch 3: val_loss has not improved for 1 epoch since epoch 2; weights of epoch 2 restored"

    static let history = [
        EpochRecord(epoch: 1, loss: 0.7, accuracy: 0.5, validationLoss: 0.65, validationAccuracy: 0.6, seconds: 4,
                    samplesPerSecond: 144, learningRate: 0.001),
        EpochRecord(epoch: 2, loss: 0.5, accuracy: 0.75, validationLoss: 0.45, validationAccuracy: 0.8, seconds: 4.5,
                    samplesPerSecond: 128, learningRate: 0.0008),
        EpochRecord(epoch: 3, loss: 0.35, accuracy: 0.875, validationLoss: 0.5, validationAccuracy: 0.75, seconds: 4,
                    samplesPerSecond: 144, learningRate: 0.0006),
    ]

    /// Writes the run and closes it. With `stop` false, patience outlasts the run: no reduction, no early
    /// stop, but the best weights are still restored at the end.
    static func write(_ run: RunDirectoryFixture, stop: Bool = true) {
        let t0 = ReferenceRun.t0
        run.main(.runStarted(config: ReferenceRun.config, parameterCount: 5729, trainSamples: 576, validationSamples: 64, testSamples: 100),
                 at: t0)
        for globalStep in 1...12 {
            var record = ReferenceRun.step(globalStep)
            record.workers = 1
            run.main(.step(record), at: ReferenceRun.stepTime(globalStep))
            guard globalStep % 4 == 0 else { continue }
            let epoch = globalStep / 4, end = ReferenceRun.stepTime(globalStep)
            run.main(.epoch(history[epoch - 1]), at: end + 0.5)
            if epoch < 3 {
                run.main(.bestWeights(epoch: epoch, monitor: "val_loss", value: history[epoch - 1].validationLoss ?? .nan,
                                      path: run.file("best.safetensors")), at: end + 0.6)
            } else if stop {
                run.main(.learningRateReduced(epoch: 3, from: 0.0006, to: 0.0003), at: end + 0.6)
                run.main(.stoppedEarly(epoch: 3, reason: reason), at: end + 0.6)
            }
            run.main(.checkpoint(path: run.file("checkpoint.safetensors"), epoch: epoch, step: globalStep), at: end + 0.7)
        }
        run.main(.bestRestored(epoch: 2), at: t0 + 22.8)
        run.main(.test(loss: 0.3, accuracy: 0.9, samples: 100), at: t0 + 23)
        run.close()
    }
}

/// Reads `directory` and reports it in UTC.
func report(_ directory: String, now: Double = ReferenceRun.t0 + 30) throws -> RunReport {
    RunReport(reader: try RunLogReader.read(directory), now: now, zone: ReferenceRun.utc)
}
