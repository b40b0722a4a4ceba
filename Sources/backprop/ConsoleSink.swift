import Foundation
import TrainingLog

/// Prints training progress for people: Keras-style epoch lines, and a live progress bar on a terminal.
final class ConsoleSink: EventSink {
    private let interactive: Bool
    private let epochs: Int
    private var lastDraw = Date.distantPast
    private var runningLoss = 0.0, runningCorrect = 0.0, runningSamples = 0

    init(epochs: Int, interactive: Bool = isatty(STDOUT_FILENO) == 1) {
        self.epochs = epochs
        self.interactive = interactive
    }

    func record(_ event: TrainingEvent) {
        switch event {
        case .step(let r):
            if r.step == 1 {
                runningLoss = 0; runningCorrect = 0; runningSamples = 0
                if interactive { print("Epoch \(r.epoch)/\(epochs)") }
            }
            runningLoss += r.loss * Double(r.samples)
            runningCorrect += r.accuracy * Double(r.samples)
            runningSamples += r.samples
            guard interactive else { return }
            let now = Date()
            if r.step == r.stepsPerEpoch || now.timeIntervalSince(lastDraw) > 0.1 {
                lastDraw = now
                let width = 30
                let done = width * r.step / r.stepsPerEpoch
                let bar = String(repeating: "=", count: max(done - 1, 0)) + (done < width ? ">" : "=") + String(repeating: ".", count: width - done)
                let n = Double(max(runningSamples, 1))
                print("\r\(r.step)/\(r.stepsPerEpoch) [\(bar)] - loss: \(fixed(runningLoss / n)) - accuracy: \(fixed(runningCorrect / n))", terminator: "")
                fflush(nil)
            }
        case .epoch(let r):
            if interactive { print("\r\u{1B}[K", terminator: "") } else { print("Epoch \(r.epoch)/\(epochs)") }
            var line = "epoch \(r.epoch)/\(epochs) - \(fixed(r.seconds, 1))s - loss: \(fixed(r.loss)) - accuracy: \(fixed(r.accuracy))"
            if let loss = r.validationLoss, let accuracy = r.validationAccuracy {
                line += " - val_loss: \(fixed(loss)) - val_accuracy: \(fixed(accuracy))"
            }
            line += " - \(Int(r.samplesPerSecond.rounded())) samples/s"
            print(line)
        case .checkpoint, .runStarted:
            break
        case let .test(loss, accuracy, samples):
            print("test: loss \(fixed(loss)) - accuracy \(fixed(accuracy)) (\(samples) samples)")
        case .failed(let reason):
            print("failed: \(reason)")
        default:
            break
        }
        fflush(nil)
    }
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int = 4) -> String {
    String(format: "%.\(digits)f", value)
}
