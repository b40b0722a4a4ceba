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
    }

    /// history.csv writes the header from `columns` and the rows from `fields`: they must agree.
    func testEpochColumnsMatchTheFieldNames() {
        guard case .epoch(let record) = SampleEvents.epoch else { return XCTFail() }
        XCTAssertEqual(record.fields.map(\.0), EpochRecord.columns)
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
