import Foundation
import TrainingLog

/// Prints training progress for people: Keras-style epoch lines, membership changes, and a
/// live progress bar with an ETA when standard output is a terminal. Off a terminal (a log file)
/// an epoch is one line, its result, with a progress line every 10 s in between.
public final class ConsoleSink: EventSink {
    private let interactive: Bool
    private let showSteps: Bool
    private let epochs: Int
    private var lastDraw = Date.distantPast
    private var runningLoss = 0.0, runningCorrect = 0.0, runningSamples = 0
    private var barShown = false
    /// Where the epoch's step times are measured from: the step before the first one seen, and when it ended.
    private var timedFrom: (step: Int, at: Date)?
    private var rejected = 0

    public init(epochs: Int, showSteps: Bool = true, interactive: Bool = isatty(STDOUT_FILENO) == 1) {
        self.epochs = epochs
        self.showSteps = showSteps
        self.interactive = interactive
    }

    public func record(_ event: TrainingEvent) {
        switch event {
        case .step(let r):
            if r.step == 1 || timedFrom == nil {
                runningLoss = 0; runningCorrect = 0; runningSamples = 0
                lastDraw = Date()
                timedFrom = (r.step - 1, lastDraw.addingTimeInterval(-r.seconds))
                // The header heads a progress bar; without one the epoch's result line says it all.
                if showSteps && interactive { say("Epoch \(r.epoch)/\(epochs)") }
            }
            runningLoss += r.loss * Double(r.samples)
            runningCorrect += r.accuracy * Double(r.samples)
            runningSamples += r.samples
            guard showSteps else { return }
            let now = Date()
            let eta = r.step < r.stepsPerEpoch ? " - ETA: \(Self.duration(remainingSeconds(after: r, now: now)))" : ""
            guard interactive else {
                // Not a terminal: a plain progress line every 10 s instead of a bar.
                if now.timeIntervalSince(lastDraw) >= 10 && r.step < r.stepsPerEpoch {
                    lastDraw = now
                    let n = Double(max(runningSamples, 1))
                    say("epoch \(r.epoch)/\(epochs) step \(r.step)/\(r.stepsPerEpoch)\(eta) - loss: \(fixed(runningLoss / n)) - accuracy: \(fixed(runningCorrect / n)) - \(r.workers) worker\(r.workers == 1 ? "" : "s")")
                }
                return
            }
            if r.step == r.stepsPerEpoch || now.timeIntervalSince(lastDraw) > 0.1 {
                lastDraw = now
                let width = 30
                let done = width * r.step / r.stepsPerEpoch
                let bar = String(repeating: "=", count: max(done - 1, 0)) + (done < width ? ">" : "=") + String(repeating: ".", count: width - done)
                let n = Double(max(runningSamples, 1))
                let workers = r.workers > 1 ? " - \(r.workers) workers" : ""
                print("\r\(r.step)/\(r.stepsPerEpoch) [\(bar)]\(eta) - loss: \(fixed(runningLoss / n)) - accuracy: \(fixed(runningCorrect / n))\(workers)", terminator: "")
                barShown = true
                fflush(nil)
            }
        case .epoch(let r):
            timedFrom = nil
            var line = "epoch \(r.epoch)/\(epochs) - \(fixed(r.seconds, 1))s - loss: \(fixed(r.loss)) - accuracy: \(fixed(r.accuracy))"
            if let loss = r.validationLoss, let accuracy = r.validationAccuracy {
                line += " - val_loss: \(fixed(loss)) - val_accuracy: \(fixed(accuracy))"
            }
            say(line + " - \(Int(r.samplesPerSecond.rounded())) samples/s")
        case let .test(loss, accuracy, samples):
            say(samples == 0 ? "test: no test set" : "test: loss \(fixed(loss)) - accuracy \(fixed(accuracy)) (\(samples) samples)")
        case .failed(let reason):
            say("failed: \(reason)")
        case let .learningRateReduced(epoch, from, to):
            say("epoch \(epoch): reducing the learning rate from \(String(format: "%.6g", from)) to \(String(format: "%.6g", to))")
        case let .bestWeights(epoch, monitor, value, path):
            if let path { say("epoch \(epoch): \(monitor) improved to \(fixed(value)), weights saved to \(path)") }
        case .stoppedEarly(_, let reason):
            say(reason)
        case .bestRestored(let epoch):
            say("weights of epoch \(epoch), the best, restored")
        case let .waitingForWorkers(have, need):
            say(need > 1 ? "waiting for \(need) workers" : "waiting for a worker (have \(have))")
        case let .workerJoined(worker, name, pid):
            say("worker \(worker) joined (\(name), pid \(pid))")
        case let .workerAdmitted(worker, step):
            say("worker \(worker) computing from step \(step + 1)")
        case let .workerLeft(worker, reason):
            say("worker \(worker) left (\(reason))")
        case let .workerTimedOut(worker, silent):
            say("worker \(worker) timed out after \(fixed(silent, 1)) s of silence")
        case let .reassigned(worker, microbatches, step):
            say("step \(step + 1): \(microbatches) microbatch\(microbatches == 1 ? "" : "es") of worker \(worker) handed to others")
        case let .messageRejected(worker, reason):
            // A flood must not drown the console: the first few, then a count now and then.
            rejected += 1
            if rejected <= 5 {
                say("rejected a message\(worker == 0 ? "" : " from worker \(worker)"): \(reason)")
            } else if rejected.isMultiple(of: 1000) {
                say("\(rejected) messages rejected so far (each is in the JSON Lines log)")
            }
        case let .checkpointFailed(path, reason):
            say("checkpoint NOT written: \(reason) (\(path)); the previous checkpoint is unchanged, training goes on")
        case let .workerRejoining(worker, reason):
            say("worker \(worker) joins again: \(reason)")
        case let .sendFailed(worker, message, reason):
            say("\(message) to \(worker == 0 ? "a peer" : "worker \(worker)") not sent: \(reason)")
        case .checkpoint, .runStarted, .workerStep:
            break
        }
    }

    /// The epoch's remaining steps times its mean step time so far (wall clock, so the time between steps counts).
    private func remainingSeconds(after r: StepRecord, now: Date) -> Double {
        guard let timedFrom, r.step > timedFrom.step else { return 0 }
        let perStep = now.timeIntervalSince(timedFrom.at) / Double(r.step - timedFrom.step)
        return perStep * Double(r.stepsPerEpoch - r.step)
    }

    /// Keras's ETA format: `12s`, `1:02` (minutes and seconds), `1:02:03`.
    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        if whole < 60 { return "\(whole)s" }
        let (hours, minutes, rest) = (whole / 3600, whole / 60 % 60, whole % 60)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return hours > 0 ? "\(hours):\(two(minutes)):\(two(rest))" : "\(minutes):\(two(rest))"
    }

    /// Prints a line, first clearing a progress bar drawn on the same line.
    private func say(_ line: String) {
        if barShown {
            print("\r\u{1B}[K", terminator: "")
            barShown = false
        }
        CommandSupport.say(line)
    }
}

/// Prints a worker's noteworthy events: rejected messages and rejoins (its steps go to its JSON Lines log).
public final class WorkerConsole: EventSink {
    public init() {}

    public func record(_ event: TrainingEvent) {
        switch event {
        case let .messageRejected(_, reason): say("rejected a message: \(reason)")
        case let .workerRejoining(_, reason): say("joining again: \(reason)")
        case let .sendFailed(_, message, reason): say("\(message) to the server not sent: \(reason)")
        default: break
        }
    }
}

/// Prints a line and flushes it at once, so a log file shows it even if the process is killed next.
public func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// `value` with `digits` decimals.
public func fixed(_ value: Double, _ digits: Int = 4) -> String {
    String(format: "%.\(digits)f", value)
}
