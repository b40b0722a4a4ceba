import TrainingLog
import XCTest

final class TrainingEventTests: XCTestCase {
    func testKinds() {
        XCTAssertEqual(SampleEvents.runStarted.kind, "run_started")
        XCTAssertEqual(SampleEvents.step.kind, "step")
        XCTAssertEqual(SampleEvents.epoch.kind, "epoch")
        XCTAssertEqual(SampleEvents.checkpoint.kind, "checkpoint")
        XCTAssertEqual(SampleEvents.test.kind, "test")
        XCTAssertEqual(SampleEvents.failed.kind, "failed")
        XCTAssertEqual(SampleEvents.learningRateReduced.kind, "learning_rate_reduced")
        XCTAssertEqual(SampleEvents.bestWeights.kind, "best_weights")
        XCTAssertEqual(SampleEvents.stoppedEarly.kind, "stopped_early")
        XCTAssertEqual(SampleEvents.bestRestored.kind, "best_restored")
    }

    func testDecisionFields() {
        XCTAssertEqual(SampleEvents.learningRateReduced.fields.map(\.0), ["epoch", "from", "to"])
        XCTAssertEqual(SampleEvents.bestWeights.fields.map(\.0), ["epoch", "monitor", "value", "path"])
        XCTAssertEqual(TrainingEvent.bestWeights(epoch: 4, monitor: "loss", value: 0.5, path: nil).fields.map(\.0), ["epoch", "monitor", "value"])
        XCTAssertEqual(SampleEvents.stoppedEarly.fields.map(\.0), ["epoch", "reason"])
        XCTAssertEqual(SampleEvents.bestRestored.fields.map(\.0), ["epoch"])
    }

    /// history.csv's header is `columns`; an epoch whose learning rate is known has a field for every one, in order.
    func testEpochColumnsMatchTheFieldNames() {
        guard case .epoch(let record) = SampleEvents.epoch else { return XCTFail() }
        XCTAssertEqual(record.fields.map(\.0), EpochRecord.columns)
        XCTAssertEqual(EpochRecord.columns.last, "learning_rate")
        XCTAssertEqual(record.row.map(\.csv), ["2", "0.5", "0.75", "0.625", "0.5", "2.5", "1000.0", "0.001"])
    }

    /// An unknown learning rate is left out of the event (as logs written before it was recorded have it),
    /// but a table row still has its column: an empty cell, JSON `null`.
    func testAnUnknownLearningRateIsNotAFieldButIsACell() {
        guard case .epoch(let record) = SampleEvents.epochWithoutValidation else { return XCTFail() }
        XCTAssertNil(record.learningRate)
        XCTAssertFalse(record.fields.contains { $0.0 == "learning_rate" })
        XCTAssertEqual(record.row.count, EpochRecord.columns.count)
        XCTAssertEqual(record.row.last?.csv, "")
        XCTAssertEqual(record.row.last?.json, "null")
    }

    func testRunStartedPrefixesConfigFields() {
        XCTAssertEqual(SampleEvents.runStarted.fields.map(\.0), [
            "parameters", "train_samples", "validation_samples", "test_samples",
            "config.model", "config.epochs", "config.learning_rate",
        ])
    }

    func testMissingValidationIsNaNNotZero() {
        guard case .epoch(let record) = SampleEvents.epochWithoutValidation else { return XCTFail() }
        let fields = Dictionary(uniqueKeysWithValues: record.fields)
        XCTAssertEqual(fields["val_loss"]?.json, "null")
        XCTAssertEqual(fields["val_accuracy"]?.csv, "")
    }
}
