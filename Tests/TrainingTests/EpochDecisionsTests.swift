import Foundation
import Training
import TrainingLog
import XCTest

/// `EpochDecisions` against Keras's EarlyStopping and ReduceLROnPlateau, each case worked by hand:
/// an improvement is `value < best − min_delta` (or `> best + min_delta` for an accuracy); EarlyStopping
/// stops once its wait, counted since the last improvement, reaches the patience; ReduceLROnPlateau
/// multiplies the rate by its factor once its own wait reaches its patience, resets that wait, and does
/// nothing (its wait still counting) once the rate is at min_lr.
final class EpochDecisionsTests: XCTestCase {
    /// The base rate of the runs these cases imagine (a constant schedule).
    private let base = 0.1

    private func options(_ monitor: String = "val_loss", earlyStopping: Int? = nil, restore: Bool = false, minDelta: Double = 0,
                         plateau: Double? = nil, plateauPatience: Int = 10, minLR: Double = 0) -> FitOptions {
        var options = FitOptions()
        options.monitor = monitor
        options.earlyStopping = earlyStopping
        options.restoreBestWeights = restore
        options.minDelta = minDelta
        options.reduceLROnPlateau = plateau
        options.plateauPatience = plateauPatience
        options.minLR = minLR
        return options
    }

    /// An epoch's record with `value` in the monitored figure. The other three figures hold values
    /// that would decide otherwise (rising losses, falling accuracies), so reading the wrong one shows.
    private func record(_ epoch: Int, _ value: Double?, monitor: String) -> EpochRecord {
        let loss = 10 + Double(epoch), accuracy = 1 - Double(epoch) / 100
        var record = EpochRecord(epoch: epoch, loss: loss, accuracy: accuracy, validationLoss: loss, validationAccuracy: accuracy,
                                 seconds: 1, samplesPerSecond: 100)
        switch monitor {
        case "val_loss": record.validationLoss = value
        case "val_accuracy": record.validationAccuracy = value
        case "loss": record.loss = value ?? .nan
        default: record.accuracy = value ?? .nan
        }
        return record
    }

    /// Feeds `values` as epochs `firstEpoch`, `firstEpoch + 1`, … to `decisions`, each epoch at the rate
    /// the training loop would have used (the constant base, times the plateaus' scale, floored at min_lr).
    private func run(_ values: [Double?], _ options: FitOptions, on decisions: inout EpochDecisions, firstEpoch: Int = 1) -> (outcomes: [EpochDecisions.Outcome], rates: [Double]) {
        let constant = LearningRateSchedule(base: base, kind: .constant, warmupEpochs: 0, stepsPerEpoch: 10, epochs: 100)
        var outcomes: [EpochDecisions.Outcome] = [], rates: [Double] = []
        for (k, value) in values.enumerated() {
            let epoch = firstEpoch + k
            let rate = decisions.rate(constant, step: (epoch - 1) * 10 + 9, minLR: options.minLR)
            rates.append(rate)
            outcomes.append(decisions.decide(after: record(epoch, value, monitor: options.monitor), options: options, rate: rate))
        }
        return (outcomes, rates)
    }

    private func run(_ values: [Double?], _ options: FitOptions) -> (outcomes: [EpochDecisions.Outcome], rates: [Double], decisions: EpochDecisions) {
        var decisions = EpochDecisions()
        let (outcomes, rates) = run(values, options, on: &decisions)
        return (outcomes, rates, decisions)
    }

    /// Whether an outcome decided nothing.
    private func isEmpty(_ outcome: EpochDecisions.Outcome) -> Bool {
        !outcome.improved && outcome.reducedTo == nil && outcome.stop == nil
    }

    /// The epoch (from 1) of the first stop, if any.
    private func stopEpoch(_ outcomes: [EpochDecisions.Outcome]) -> Int? {
        outcomes.firstIndex { $0.stop != nil }.map { $0 + 1 }
    }

    // MARK: - EarlyStopping

    /// Best at epoch 4, three epochs without improvement: stops at 7 with the brief's very sentence.
    func testEarlyStoppingAfterPatienceEpochsWithTheStopSentence() {
        let values = [1.0, 0.8, 0.9, 0.7, 0.75, 0.71, 0.72]
        let (outcomes, _, decisions) = run(values, options(earlyStopping: 3, restore: true))
        XCTAssertEqual(outcomes.map(\.improved), [true, true, false, true, false, false, false])
        XCTAssertEqual(outcomes.map { $0.stop != nil }, [false, false, false, false, false, false, true])
        XCTAssertEqual(stopEpoch(outcomes), 7)
        let sentence = "early stopping at epoch 7: val_loss has not improved for 3 epochs since epoch 4; weights of epoch 4 restored"
        XCTAssertEqual(outcomes[6].stop, sentence)
        XCTAssertEqual(decisions.stopped, sentence)
        XCTAssertEqual(decisions.bestEpoch, 4)
        XCTAssertEqual(decisions.best, 0.7)
        XCTAssertEqual(decisions.wait, 3)
    }

    func testTheSentenceWithoutRestoringAndForOneEpoch() {
        let (outcomes, _, _) = run([1.0, 1.0], options(earlyStopping: 1))
        XCTAssertEqual(outcomes[1].stop, "early stopping at epoch 2: val_loss has not improved for 1 epoch since epoch 1")
        let (accuracy, _, _) = run([0.5, 0.6, 0.6, 0.55], options("val_accuracy", earlyStopping: 2, restore: true))
        XCTAssertEqual(accuracy[3].stop, "early stopping at epoch 4: val_accuracy has not improved for 2 epochs since epoch 2; weights of epoch 2 restored")
    }

    /// Patience 0 (Keras allows it): the first epoch without improvement stops; improving epochs never do.
    func testPatienceZero() {
        let (stops, _, _) = run([1.0, 0.9, 0.95, 0.5], options(earlyStopping: 0))
        XCTAssertEqual(stopEpoch(stops), 3)
        XCTAssertEqual(stops[2].stop, "early stopping at epoch 3: val_loss has not improved for 1 epoch since epoch 2")
        let (improving, _, _) = run([1.0, 0.9, 0.8, 0.7, 0.6], options(earlyStopping: 0))
        XCTAssertNil(stopEpoch(improving))
        XCTAssertTrue(improving.allSatisfy(\.improved))
    }

    /// An improvement resets the wait: two non-improving epochs on either side of one never stop with patience 3.
    func testAnImprovementResetsTheWait() {
        let values = [1.0, 1.1, 1.2, 0.9, 1.0, 1.0, 0.8, 0.9, 0.9, 0.9]
        let (outcomes, _, decisions) = run(values, options(earlyStopping: 3))
        XCTAssertEqual(stopEpoch(outcomes), 10)
        XCTAssertEqual(outcomes[9].stop, "early stopping at epoch 10: val_loss has not improved for 3 epochs since epoch 7")
        XCTAssertEqual(decisions.bestEpoch, 7)
        // Patience N stops exactly N epochs after the best, whatever came before it.
        for patience in 1...5 {
            let plateau = [2.0, 1.0] + [Double](repeating: 1.5, count: patience + 2)
            let (outcomes, _, _) = run(plateau, options(earlyStopping: patience))
            XCTAssertEqual(stopEpoch(outcomes), 2 + patience, "patience \(patience)")
        }
    }

    /// min_delta: a change of exactly min_delta is not an improvement (strict, as Keras); more is.
    /// The values are exact in binary, so the boundary is exact.
    func testMinDeltaBoundaryFallingAndRising() {
        // 1.75 = 2 − 0.25 is not an improvement; 1.5 is; 1.375 is not (1.5 − 0.25 = 1.25); 1.125 is.
        let (falling, _, fallingState) = run([2.0, 1.75, 1.5, 1.375, 1.125], options(earlyStopping: 5, minDelta: 0.25))
        XCTAssertEqual(falling.map(\.improved), [true, false, true, false, true])
        XCTAssertEqual(fallingState.best, 1.125)
        XCTAssertEqual(fallingState.bestEpoch, 5)
        // 0.5 = 0.25 + 0.25 is not an improvement; 0.625 is; 0.75 is not (0.625 + 0.25 = 0.875).
        let (rising, _, risingState) = run([0.25, 0.5, 0.625, 0.75, 0.5], options("val_accuracy", earlyStopping: 5, minDelta: 0.25))
        XCTAssertEqual(rising.map(\.improved), [true, false, true, false, false])
        XCTAssertEqual(risingState.best, 0.625)
        XCTAssertEqual(risingState.wait, 2)
        // Small steps below min_delta are measured from the best, not from the last epoch: 0.7 < 1.0 − 0.25 improves.
        let (creeping, _, creepingState) = run([1.0, 0.9, 0.8, 0.7], options(earlyStopping: 5, minDelta: 0.25))
        XCTAssertEqual(creeping.map(\.improved), [true, false, false, true])
        XCTAssertEqual(creepingState.best, 0.7)
        XCTAssertEqual(creepingState.wait, 0)
        // With patience 2 the same steps stop at epoch 3; without min_delta they never do.
        XCTAssertEqual(stopEpoch(run([1.0, 0.9, 0.8], options(earlyStopping: 2, minDelta: 0.25)).outcomes), 3)
        XCTAssertNil(stopEpoch(run([1.0, 0.9, 0.8], options(earlyStopping: 2)).outcomes))
    }

    /// The same numbers are improvements for an accuracy and the opposite for a loss; each monitor reads its own figure.
    func testRisingAndFallingMonitors() {
        let values = [0.5, 0.6, 0.45, 0.7, 0.65, 0.4]
        for monitor in ["val_accuracy", "accuracy"] {
            let (outcomes, _, decisions) = run(values, options(monitor, earlyStopping: 2))
            XCTAssertEqual(outcomes.map(\.improved), [true, true, false, true, false, false], monitor)
            XCTAssertEqual(decisions.best, 0.7, monitor)
            XCTAssertEqual(stopEpoch(outcomes), 6, monitor)
        }
        for monitor in ["val_loss", "loss"] {
            let (outcomes, _, decisions) = run(values, options(monitor, earlyStopping: 2))
            XCTAssertEqual(outcomes.map(\.improved), [true, false, true, false, false, true], monitor)
            XCTAssertEqual(decisions.best, 0.4, monitor)
            XCTAssertEqual(stopEpoch(outcomes), 5, monitor)
            XCTAssertEqual(outcomes[4].stop, "early stopping at epoch 5: \(monitor) has not improved for 2 epochs since epoch 3")
        }
    }

    /// A first value that is not finite is not a best (Keras's best starts at ±inf, and NaN < inf is false);
    /// with no best there is nothing to stop at or restore.
    func testANonFiniteFirstValueIsNoBest() {
        let (outcomes, _, decisions) = run([.nan, 1.0, 1.2], options(earlyStopping: 0))
        XCTAssertEqual(outcomes.map(\.improved), [false, true, false])
        XCTAssertNil(outcomes[0].stop)
        XCTAssertEqual(stopEpoch(outcomes), 3)
        XCTAssertEqual(decisions.bestEpoch, 2)
        let (infinite, _, _) = run([.infinity, 2.0], options(earlyStopping: 3))
        XCTAssertEqual(infinite.map(\.improved), [false, true])
        // A NaN after a best is a non-improving epoch.
        let (later, _, _) = run([1.0, .nan], options(earlyStopping: 1))
        XCTAssertEqual(stopEpoch(later), 2)
    }

    /// Without a decision that watches the monitor, nothing is tracked; without the figure (no validation set), nothing is decided.
    func testNothingIsDecidedWithoutAWatcherOrAFigure() {
        let (outcomes, _, decisions) = run([1.0, 2.0, 3.0, 4.0], FitOptions())
        XCTAssertTrue(outcomes.allSatisfy(isEmpty), "\(outcomes)")
        XCTAssertEqual(decisions, EpochDecisions())
        let (missing, _, missingState) = run([nil, nil, nil], options(earlyStopping: 0, plateau: 0.5, plateauPatience: 0))
        XCTAssertTrue(missing.allSatisfy(isEmpty), "\(missing)")
        XCTAssertEqual(missingState, EpochDecisions())
        // --save-best alone watches: it tracks the best, and never stops or reduces.
        var saveBest = FitOptions()
        saveBest.saveBest = true
        let (saved, _, savedState) = run([1.0, 0.5, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7], saveBest)
        XCTAssertEqual(saved.map(\.improved), [true, true] + [Bool](repeating: false, count: 11))
        XCTAssertTrue(saved.allSatisfy { $0.stop == nil && $0.reducedTo == nil })
        XCTAssertEqual(savedState.bestEpoch, 2)
    }

    // MARK: - ReduceLROnPlateau

    /// Factor 0.5, patience 2, min_lr 0.01 from 0.1: reductions at epochs 3, 5, 7 and 9 (the last one
    /// floored: 0.0125 · 0.5 < 0.01), then none at the floor, while the plateau's wait keeps counting.
    func testPlateauReductionsDownToMinLRAndNoneBelowIt() {
        let values = [Double](repeating: 1.0, count: 12) + [0.5]
        let (outcomes, rates, decisions) = run(values, options(plateau: 0.5, plateauPatience: 2, minLR: 0.01))
        XCTAssertEqual(outcomes.map(\.reducedTo), [nil, nil, 0.5, nil, 0.25, nil, 0.125, nil, 0.0625, nil, nil, nil, nil])
        XCTAssertEqual(rates, [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125, 0.01, 0.01, 0.01, 0.01])
        XCTAssertEqual(outcomes.map(\.improved), [true] + [Bool](repeating: false, count: 11) + [true])
        XCTAssertTrue(outcomes.allSatisfy { $0.stop == nil })
        XCTAssertEqual(decisions.scale, 0.0625)
        XCTAssertEqual(decisions.plateauWait, 0, "reset by the improvement at epoch 13")
        // Before epoch 13 the wait had counted on past the patience at the floor.
        let (_, _, atFloor) = run(Array(values.prefix(12)), options(plateau: 0.5, plateauPatience: 2, minLR: 0.01))
        XCTAssertEqual(atFloor.plateauWait, 3)
    }

    /// A min_lr of 0 never floors; patience 0 reduces at every epoch without improvement.
    func testPlateauPatienceZeroReducesEveryNonImprovingEpoch() {
        let (outcomes, rates, _) = run([1.0, 1.0, 0.5, 0.6, 0.6], options(plateau: 0.1, plateauPatience: 0))
        XCTAssertEqual(outcomes.map(\.reducedTo), [nil, 0.1, nil, 0.1 * 0.1, 0.1 * 0.1 * 0.1])
        XCTAssertEqual(rates[2], base * 0.1)
        XCTAssertEqual(rates[4], base * (0.1 * 0.1))
    }

    /// Both waits reset on an improvement; a reduction resets the plateau's wait only, so EarlyStopping
    /// still stops `patience` epochs after the best.
    func testWaitsResetOnImprovementAndAReductionResetsOnlyThePlateausWait() {
        let values = [1.0, 1.5, 0.9, 1.2, 1.3]
        let (outcomes, _, decisions) = run(values, options(earlyStopping: 2, plateau: 0.5, plateauPatience: 2))
        XCTAssertEqual(outcomes.map(\.reducedTo), [nil, nil, nil, nil, 0.5], "not at epoch 4: the improvement at 3 reset the wait")
        XCTAssertEqual(stopEpoch(outcomes), 5)
        XCTAssertEqual(outcomes[4].stop, "early stopping at epoch 5: val_loss has not improved for 2 epochs since epoch 3")
        XCTAssertEqual(decisions.wait, 2)
        XCTAssertEqual(decisions.plateauWait, 0)

        let (both, rates, _) = run([1.0, 2.0, 2.0, 2.0], options(earlyStopping: 3, plateau: 0.5, plateauPatience: 1))
        XCTAssertEqual(both.map(\.reducedTo), [nil, 0.5, 0.25, 0.125])
        XCTAssertEqual(rates, [0.1, 0.1, 0.05, 0.025])
        XCTAssertEqual(stopEpoch(both), 4)
        XCTAssertEqual(both[3].stop, "early stopping at epoch 4: val_loss has not improved for 3 epochs since epoch 1")
    }

    /// The plateau compares the rate actually used (Keras's optimizer.learning_rate) with min_lr.
    func testNoReductionWhenTheRateIsAlreadyAtMinLR() {
        var decisions = EpochDecisions()
        let options = options(plateau: 0.5, plateauPatience: 0, minLR: 0.01)
        _ = decisions.decide(after: record(1, 1.0, monitor: "val_loss"), options: options, rate: 0.01)
        XCTAssertNil(decisions.decide(after: record(2, 1.0, monitor: "val_loss"), options: options, rate: 0.01).reducedTo)
        XCTAssertNil(decisions.decide(after: record(3, 1.0, monitor: "val_loss"), options: options, rate: 0.005).reducedTo)
        XCTAssertEqual(decisions.decide(after: record(4, 1.0, monitor: "val_loss"), options: options, rate: 0.0100001).reducedTo, 0.5)
        XCTAssertEqual(decisions.scale, 0.5)
    }

    // MARK: - Checkpoint metadata

    /// Encoding after any epoch and decoding gives a state that decides the rest exactly as the uninterrupted one.
    func testEncodedStateDecidesTheRestAsTheUninterruptedOne() throws {
        // Awkward doubles: 0.1 + 0.2 as the best, and a scale of 0.1⁵ after five reductions.
        let values = [1.0, 0.1 + 0.2, 0.4, 0.5, 0.6, 0.31, 0.3]
        let options = options(earlyStopping: 5, restore: true, minDelta: 0.001, plateau: 0.1, plateauPatience: 1, minLR: 1e-9)
        var whole = EpochDecisions()
        let (expected, expectedRates) = run(values, options, on: &whole)
        XCTAssertEqual(stopEpoch(expected), 7, "the case should reach a stop")
        XCTAssertTrue(expected.contains { $0.reducedTo != nil })
        for cut in 0...values.count {
            var first = EpochDecisions()
            let (before, beforeRates) = run(Array(values.prefix(cut)), options, on: &first)
            let text = first.encoded
            XCTAssertFalse(text.contains("\n"), "metadata is one line")
            XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
            var restored = try XCTUnwrap(EpochDecisions(encoded: text), text)
            XCTAssertEqual(restored, first, "after epoch \(cut): \(text)")
            // The same state is the same bytes, so checkpoints written by any process are byte-equal.
            XCTAssertEqual(restored.encoded, text, "after epoch \(cut)")
            let (after, afterRates) = run(Array(values.dropFirst(cut)), options, on: &restored, firstEpoch: cut + 1)
            XCTAssertEqual(before + after, expected, "cut after epoch \(cut)")
            XCTAssertEqual(beforeRates + afterRates, expectedRates, "cut after epoch \(cut)")
            XCTAssertEqual(restored, whole, "cut after epoch \(cut)")
        }
        XCTAssertEqual(whole.best, 0.1 + 0.2)
        XCTAssertEqual(whole.scale, 0.1 * 0.1 * 0.1 * 0.1 * 0.1)
        XCTAssertEqual(whole.stopped, "early stopping at epoch 7: val_loss has not improved for 5 epochs since epoch 2; weights of epoch 2 restored")
    }

    func testAFreshStateRoundTripsAndGarbageDoesNot() {
        XCTAssertEqual(EpochDecisions(encoded: EpochDecisions().encoded), EpochDecisions())
        for text in ["", "{", "[]", "null", "{\"wait\": \"two\"}", "early stopping"] {
            XCTAssertNil(EpochDecisions(encoded: text), text)
        }
    }
}
