import Foundation

/// How a run stands, in one line: finished with its test accuracy, still running, failed, or gone.
public struct RunVerdict: Sendable, Equatable {
    public enum State: String, Sendable {
        /// The test event (or `summary.json`) is there.
        case finished
        /// A `failed` event says why it stopped.
        case failed
        /// The writing process is alive.
        case running
        /// No result, no failure, and no process writing the log: stopped by a signal, killed, or crashed.
        case stopped
    }

    /// How a run stopped on request (SIGINT or SIGTERM) words its `failed` event; such a run is stopped, not failed.
    public static let signalStop = "stopped by a signal"

    public var state: State
    public var text: String
    public var testAccuracy: Double?
    public var testLoss: Double?

    /// Judges `log`. `writerAlive` is asked only when the logs alone cannot tell (no result, no failure).
    public init(log: RunLog, kind: RunKind, summary: (testLoss: Double, testAccuracy: Double)?,
                writerAlive: () -> Bool, now: Double, zone: TimeZone = .current) {
        let epochs = log.history.count
        let steps = log.lastStep?.record.globalStep ?? 0
        if let test = log.test {
            state = .finished
            testAccuracy = test.accuracy
            testLoss = test.loss
            let span = log.firstTime.map { test.time - $0 }
            text = "finished with test accuracy \(fixed(test.accuracy)) (loss \(fixed(test.loss)), \(grouped(test.samples)) samples) "
                + "after \(Self.count(epochs, "epoch")), \(Self.count(steps, "step"))" + (span.map { " in \(duration($0))" } ?? "")
                + Self.ending(log)
        } else if let summary {
            state = .finished
            testAccuracy = summary.testAccuracy
            testLoss = summary.testLoss
            text = "finished with test accuracy \(fixed(summary.testAccuracy)) (loss \(fixed(summary.testLoss)), from summary.json) "
                + "after \(Self.count(epochs, "epoch")), \(Self.count(steps, "step"))" + Self.ending(log)
        } else if let failure = log.failure, failure.reason.hasPrefix(Self.signalStop) {
            state = .stopped
            text = "\(failure.reason) \(Self.position(log)); --resume continues it from its last checkpoint"
        } else if let failure = log.failure {
            state = .failed
            text = "failed \(Self.position(log)): \(failure.reason)"
        } else if writerAlive() {
            state = .running
            let ago = log.lastTime.map { ", last event \(duration(max(now - $0, 0))) ago" } ?? ""
            if let last = log.lastStep {
                let workers = kind == .cluster ? ", \(Self.count(last.record.workers, "worker"))" : ""
                text = "still running \(Self.position(log))\(workers)\(ago)"
            } else if let waiting = log.waiting {
                text = "still running: waiting for workers (need \(waiting.need))\(ago)"
            } else {
                text = "still running: starting\(ago)"
            }
        } else {
            state = .stopped
            let file = kind == .cluster ? RunLogReader.serverLog : RunLogReader.trainerLog
            let last = log.lastTime.map { ", last event \(dateTime($0, zone))" } ?? ""
            text = "stopped or crashed \(Self.position(log))\(last) (no test result, no summary.json, no process writing \(file))"
        }
    }

    /// `at epoch 2/10 step 40/85 (global step 125)`, or `before training started`.
    static func position(_ log: RunLog) -> String {
        guard let last = log.lastStep?.record else { return "before training started" }
        let epochs = log.epochs.map { "/\($0)" } ?? ""
        return "at epoch \(last.epoch)\(epochs) step \(last.step)/\(last.stepsPerEpoch) (global step \(last.globalStep))"
    }

    /// How training ended, when not after its last epoch with its last weights:
    /// `; early stopping at epoch 7: …` (the stop's own sentence), or `; weights of epoch 4, the best, restored`.
    static func ending(_ log: RunLog) -> String {
        if let stop = log.earlyStop { return "; " + stop.reason }
        if let epoch = log.restoredEpoch { return "; weights of epoch \(epoch), the best, restored" }
        return ""
    }

    static func count(_ n: Int, _ noun: String) -> String { "\(grouped(n)) \(noun)\(n == 1 ? "" : "s")" }
}
