import Foundation

/// The learning rate of every step, a function of the step's index alone (and the run's settings):
/// a linear warm-up over the first `warmupEpochs`, then the schedule.
///
/// - `constant`: the base rate.
/// - `cosine`: Keras's `CosineDecay` from the base rate to 0 over the steps after the warm-up.
/// - `step:E:F`: multiplied by F every E epochs (the epochs after the warm-up counted from the run's start).
/// - `exponential:R`: multiplied by R each epoch.
///
/// During warm-up, step t (from 0) of W warm-up steps has `base · (t + 1) / W`.
public struct LearningRateSchedule: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case constant
        case cosine
        case step(epochs: Int, factor: Double)
        case exponential(rate: Double)

        /// Reads `--lr-schedule`; throws one line for anything else.
        public init(parsing text: String) throws {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            func fail() -> TrainingError {
                .badConfig("--lr-schedule must be constant, cosine, step:EPOCHS:FACTOR or exponential:RATE (FACTOR and RATE in (0, 1)), got '\(text)'")
            }
            switch parts[0] {
            case "constant" where parts.count == 1: self = .constant
            case "cosine" where parts.count == 1: self = .cosine
            case "step" where parts.count == 3:
                guard let epochs = Int(parts[1]), epochs > 0, let factor = Double(parts[2]), factor > 0, factor < 1 else { throw fail() }
                self = .step(epochs: epochs, factor: factor)
            case "exponential" where parts.count == 2:
                guard let rate = Double(parts[1]), rate > 0, rate < 1 else { throw fail() }
                self = .exponential(rate: rate)
            default: throw fail()
            }
        }
    }

    public let base: Double
    public let kind: Kind
    public let warmupSteps: Int
    public let stepsPerEpoch: Int
    public let totalSteps: Int

    public init(base: Double, kind: Kind, warmupEpochs: Int, stepsPerEpoch: Int, epochs: Int) {
        self.base = base
        self.kind = kind
        self.stepsPerEpoch = stepsPerEpoch
        warmupSteps = warmupEpochs * stepsPerEpoch
        totalSteps = epochs * stepsPerEpoch
    }

    /// The rate of step `step` (0-based, counted over the whole run).
    public func rate(step: Int) -> Double {
        if step < warmupSteps { return base * Double(step + 1) / Double(warmupSteps) }
        let epoch = step / max(stepsPerEpoch, 1)
        switch kind {
        case .constant:
            return base
        case .cosine:
            let span = max(totalSteps - warmupSteps, 1)
            let progress = min(Double(step - warmupSteps) / Double(span), 1)
            return base * 0.5 * (1 + cos(Double.pi * progress))
        case let .step(epochs, factor):
            return base * power(factor, epoch / epochs)
        case let .exponential(rate):
            return base * power(rate, epoch)
        }
    }

    /// `x` to the whole power `n`, by repeated multiplication (the same bits everywhere).
    private func power(_ x: Double, _ n: Int) -> Double {
        var result = 1.0
        for _ in 0..<max(n, 0) { result *= x }
        return result
    }
}
