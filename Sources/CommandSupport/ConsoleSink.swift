import Foundation
import TrainingLog

/// Prints training progress for people: Keras-style epoch lines, membership changes, and a
/// live progress bar when standard output is a terminal.
public final class ConsoleSink: EventSink {
    private let interactive: Bool
    private let showSteps: Bool
    private let epochs: Int
    private var lastDraw = Date.distantPast
    private var runningLoss = 0.0, runningCorrect = 0.0, runningSamples = 0
    private var barShown = false
    private var rejected = 0

    public init(epochs: Int, showSteps: Bool = true, interactive: Bool = isatty(STDOUT_FILENO) == 1) {
        self.epochs = epochs
        self.showSteps = showSteps
        self.interactive = interactive
    }

    public func record(_ event: TrainingEvent) {
        switch event {
        case .step(let r):
            if r.step == 1 {
                runningLoss = 0; runningCorrect = 0; runningSamples = 0
                lastDraw = Date()
                if showSteps { say("Epoch \(r.epoch)/\(epochs)") }
            }
            runningLoss += r.loss * Double(r.samples)
            runningCorrect += r.accuracy * Double(r.samples)
            runningSamples += r.samples
            guard showSteps else { return }
            let now = Date()
            guard interactive else {
                // Not a terminal: a plain progress line every 10 s instead of a bar.
                if now.timeIntervalSince(lastDraw) >= 10 && r.step < r.stepsPerEpoch {
                    lastDraw = now
                    let n = Double(max(runningSamples, 1))
                    say("epoch \(r.epoch)/\(epochs) step \(r.step)/\(r.stepsPerEpoch) - loss: \(fixed(runningLoss / n)) - accuracy: \(fixed(runningCorrect / n)) - \(r.workers) worker\(r.workers == 1 ? "" : "s")")
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
                print("\r\(r.step)/\(r.stepsPerEpoch) [\(bar)] - loss: \(fixed(runningLoss / n)) - accuracy: \(fixed(runningCorrect / n))\(workers)", terminator: "")
                barShown = true
                fflush(nil)
            }
        case .epoch(let r):
            if !showSteps { say("Epoch \(r.epoch)/\(epochs)") }
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
