import Foundation
import Training
import TrainingLog
import XCTest

/// `LearningRateSchedule`: each schedule's rate at the steps where it changes, worked by hand.
final class LearningRateScheduleTests: XCTestCase {
    private func schedule(_ text: String, base: Double = 0.1, warmupEpochs: Int = 0, stepsPerEpoch: Int = 5, epochs: Int = 6) throws -> LearningRateSchedule {
        LearningRateSchedule(base: base, kind: try LearningRateSchedule.Kind(parsing: text), warmupEpochs: warmupEpochs,
                             stepsPerEpoch: stepsPerEpoch, epochs: epochs)
    }

    func testTheFlagsParse() throws {
        XCTAssertEqual(try LearningRateSchedule.Kind(parsing: "constant"), .constant)
        XCTAssertEqual(try LearningRateSchedule.Kind(parsing: "cosine"), .cosine)
        XCTAssertEqual(try LearningRateSchedule.Kind(parsing: "step:3:0.5"), .step(epochs: 3, factor: 0.5))
        XCTAssertEqual(try LearningRateSchedule.Kind(parsing: "exponential:0.9"), .exponential(rate: 0.9))
    }

    func testBadSchedulesAreOneLineNamingTheFlag() {
        for text in ["", "linear", "cosine:2", "constant:1", "step", "step:2", "step:0:0.5", "step:-1:0.5", "step:2:1", "step:2:0",
                     "step:2:1.5", "step:x:0.5", "step:2:0.5:1", "exponential", "exponential:1", "exponential:0", "exponential:1.1",
                     "exponential:-0.5", "exponential:nan", "Cosine"] {
            XCTAssertThrowsError(try LearningRateSchedule.Kind(parsing: text), "'\(text)' was accepted") { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains("--lr-schedule"), message)
                XCTAssertTrue(message.contains("'\(text)'"), message)
                XCTAssertFalse(message.contains("\n"), message)
            }
        }
    }

    func testConstantIsTheBaseAtEveryStep() throws {
        let constant = try schedule("constant")
        for step in [0, 1, 4, 5, 29, 30, 1_000] { XCTAssertEqual(constant.rate(step: step), 0.1, "step \(step)") }
    }

    /// Warm-up is linear per step: step t of W warm-up steps has base · (t + 1) / W, so its last step has the base.
    func testWarmUpRisesLinearlyStepByStepToTheBase() throws {
        let warm = try schedule("constant", base: 0.2, warmupEpochs: 2, stepsPerEpoch: 5)
        XCTAssertEqual(warm.warmupSteps, 10)
        for step in 0..<10 {
            XCTAssertEqual(warm.rate(step: step), 0.2 * Double(step + 1) / 10, accuracy: 1e-17, "step \(step)")
        }
        XCTAssertEqual(warm.rate(step: 0), 0.02, accuracy: 1e-17)
        XCTAssertEqual(warm.rate(step: 4), 0.1, accuracy: 1e-17)
        XCTAssertEqual(warm.rate(step: 9), 0.2)
        XCTAssertEqual(warm.rate(step: 10), 0.2)
        // Strictly increasing through the warm-up, equal steps apart.
        let rates = (0..<10).map(warm.rate(step:))
        for (a, b) in zip(rates, rates.dropFirst()) { XCTAssertEqual(b - a, 0.02, accuracy: 1e-15) }
    }

    /// Keras's CosineDecay over the steps after the warm-up: the base at its first step, half at the
    /// middle, and 0 once every step has been taken (the last step's rate is the one before 0).
    func testCosineEndpointsAndMidpoint() throws {
        // 6 epochs of 4 steps, 1 of warm-up: 20 decay steps, from step 4 to 23.
        let cosine = try schedule("cosine", base: 0.1, warmupEpochs: 1, stepsPerEpoch: 4, epochs: 6)
        XCTAssertEqual(cosine.rate(step: 0), 0.025, accuracy: 1e-17)
        XCTAssertEqual(cosine.rate(step: 3), 0.1)
        XCTAssertEqual(cosine.rate(step: 4), 0.1, "the first step after the warm-up has the base rate")
        XCTAssertEqual(cosine.rate(step: 14), 0.05, accuracy: 1e-16, "midpoint: 10 of 20 decay steps")
        XCTAssertEqual(cosine.rate(step: 9), 0.1 * 0.5 * (1 + cos(Double.pi / 4)), accuracy: 1e-16, "a quarter of the way")
        XCTAssertEqual(cosine.rate(step: 23), 0.1 * 0.5 * (1 + cos(Double.pi * 19 / 20)), accuracy: 1e-17, "the last step")
        XCTAssertGreaterThan(cosine.rate(step: 23), 0)
        XCTAssertEqual(cosine.rate(step: 24), 0, accuracy: 1e-18, "after the last step")
        XCTAssertEqual(cosine.rate(step: 100), 0, accuracy: 1e-18, "past the end it stays at 0")
        // Symmetric about the midpoint: rate(mid - k) + rate(mid + k) = base.
        for k in 1...9 { XCTAssertEqual(cosine.rate(step: 14 - k) + cosine.rate(step: 14 + k), 0.1, accuracy: 1e-16, "k = \(k)") }
        // Never rising after the warm-up.
        let rates = (4...24).map(cosine.rate(step:))
        for (a, b) in zip(rates, rates.dropFirst()) { XCTAssertLessThan(b, a) }
    }

    func testCosineWithoutWarmUpStartsAtTheBase() throws {
        let cosine = try schedule("cosine", base: 0.5, stepsPerEpoch: 10, epochs: 2)
        XCTAssertEqual(cosine.rate(step: 0), 0.5)
        XCTAssertEqual(cosine.rate(step: 10), 0.25, accuracy: 1e-16)
        XCTAssertEqual(cosine.rate(step: 20), 0, accuracy: 1e-17)
    }

    /// `step:E:F` multiplies by F at each E-th epoch boundary, counted in optimiser steps.
    func testStepChangesExactlyAtEpochBoundaries() throws {
        let stepped = try schedule("step:2:0.5", base: 0.1, stepsPerEpoch: 3, epochs: 8)
        for step in 0...5 { XCTAssertEqual(stepped.rate(step: step), 0.1, "step \(step), epochs 1-2") }
        for step in 6...11 { XCTAssertEqual(stepped.rate(step: step), 0.05, "step \(step), epochs 3-4") }
        XCTAssertEqual(stepped.rate(step: 12), 0.025)
        XCTAssertEqual(stepped.rate(step: 23), 0.0125)
        // step:1:F changes every epoch.
        let halving = try schedule("step:1:0.5", base: 0.01, stepsPerEpoch: 3, epochs: 4)
        XCTAssertEqual((0..<12).map(halving.rate(step:)), [0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025, 0.0025, 0.0025, 0.00125, 0.00125, 0.00125])
    }

    /// The epochs of `step:E:F` are counted from the run's start, warm-up included.
    func testStepAfterWarmUpCountsEpochsFromTheStart() throws {
        let stepped = try schedule("step:2:0.5", base: 0.1, warmupEpochs: 1, stepsPerEpoch: 4, epochs: 6)
        XCTAssertEqual(stepped.rate(step: 0), 0.025, accuracy: 1e-17)
        XCTAssertEqual(stepped.rate(step: 3), 0.1)
        XCTAssertEqual(stepped.rate(step: 4), 0.1, "epoch 2: still the first interval of 2 epochs")
        XCTAssertEqual(stepped.rate(step: 7), 0.1)
        XCTAssertEqual(stepped.rate(step: 8), 0.05, "epoch 3")
    }

    func testExponentialMultipliesOncePerEpoch() throws {
        let decay = try schedule("exponential:0.9", base: 0.1, stepsPerEpoch: 4, epochs: 5)
        for step in 0...3 { XCTAssertEqual(decay.rate(step: step), 0.1, "epoch 1") }
        XCTAssertEqual(decay.rate(step: 4), 0.09, accuracy: 1e-16)
        XCTAssertEqual(decay.rate(step: 7), 0.09, accuracy: 1e-16)
        XCTAssertEqual(decay.rate(step: 8), 0.081, accuracy: 1e-16)
        XCTAssertEqual(decay.rate(step: 12), 0.0729, accuracy: 1e-16)
        XCTAssertEqual(decay.rate(step: 19), 0.06561, accuracy: 1e-16)
        // Exact powers of two stay exact.
        let halving = try schedule("exponential:0.5", base: 1, stepsPerEpoch: 2, epochs: 40)
        XCTAssertEqual(halving.rate(step: 2 * 30), 1.0 / Double(1 << 30))
    }

    /// The plateaus' scale multiplies the schedule's rate, floored at min_lr once the rate has been reduced.
    func testPlateauScaleAndMinLRFloorApplyOnlyAfterAReduction() throws {
        let constant = try schedule("constant", base: 0.1)
        let fresh = EpochDecisions()
        // No reduction yet: min_lr is no floor (Keras's ReduceLROnPlateau sets nothing until it reduces).
        XCTAssertEqual(fresh.rate(constant, step: 3, minLR: 0.5), 0.1)
        let warm = try schedule("constant", base: 0.1, warmupEpochs: 1)
        XCTAssertEqual(fresh.rate(warm, step: 0, minLR: 0.05), 0.02, accuracy: 1e-17, "a warm-up step below min_lr before any reduction")

        var options = FitOptions()
        options.reduceLROnPlateau = 0.25
        options.plateauPatience = 0
        options.minLR = 0.01
        var decisions = EpochDecisions()
        _ = decisions.decide(after: record(1, valLoss: 1), options: options, rate: 0.1)
        XCTAssertEqual(decisions.decide(after: record(2, valLoss: 2), options: options, rate: 0.1).reducedTo, 0.25)
        XCTAssertEqual(decisions.rate(constant, step: 10, minLR: 0.01), 0.025)
        XCTAssertEqual(decisions.decide(after: record(3, valLoss: 2), options: options, rate: 0.025).reducedTo, 0.0625)
        XCTAssertEqual(decisions.rate(constant, step: 15, minLR: 0.01), 0.01, "0.1 · 0.0625 is below min_lr")
        let cosine = try schedule("cosine", base: 0.1, stepsPerEpoch: 5, epochs: 6)
        XCTAssertEqual(decisions.rate(cosine, step: 30, minLR: 0.01), 0.01, "the cosine's 0 is floored too")
    }
}

/// An epoch's figures with only the monitored ones set.
func record(_ epoch: Int, loss: Double = 0.5, accuracy: Double = 0.5, valLoss: Double? = nil, valAccuracy: Double? = nil) -> EpochRecord {
    EpochRecord(epoch: epoch, loss: loss, accuracy: accuracy, validationLoss: valLoss, validationAccuracy: valAccuracy,
                seconds: 1, samplesPerSecond: 100)
}
