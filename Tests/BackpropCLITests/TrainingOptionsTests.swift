import Foundation
import XCTest

/// Bad flags to `backprop train`: each fails with one clear message naming the problem, never a crash.
final class TrainingOptionsTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = try temporaryDirectory(self)
    }

    /// `backprop train` on a tiny run with `flags` added, in a fresh run directory.
    private func train(_ flags: [String], file: StaticString = #filePath, line: UInt = #line) -> (status: Int32, stdout: String, stderr: String) {
        backprop(tinyRun(root + "/run-\(UUID().uuidString)", extra: flags), in: root, file: file, line: line)
    }

    func testZeroEpochs() {
        assertUsageError(train(["--epochs", "0"]), naming: "--epochs")
    }

    func testThreadsOutsideOneToSixtyFour() {
        for threads in ["0", "65"] {
            let result = train(["--threads", threads])
            assertUsageError(result, naming: "--threads")
            XCTAssertTrue(result.stderr.contains("between 1 and 64, got \(threads)"), result.stderr)
        }
    }

    func testAMicrobatchLargerThanTheBatch() {
        let result = train(["--batch-size", "8", "--microbatch", "16"])
        assertUsageError(result, naming: "--microbatch")
        XCTAssertTrue(nonEmptyLines(result.stderr).first?.contains("--batch-size") == true, result.stderr)
    }

    func testAnUnknownLayer() {
        assertOneLineError(train(["--model", "conv32x3-tanh"]), mentions: ["tanh"])
    }

    func testAnIDXDirectoryThatDoesNotExist() {
        assertOneLineError(train(["--data", "idx:/nonexistent"]), mentions: ["/nonexistent"])
    }

    func testAnUnknownDataSource() {
        assertOneLineError(train(["--data", "nonsense"]), mentions: ["nonsense", "synthetic"])
    }

    func testAnUnknownOptimizer() {
        assertUsageError(train(["--optimizer", "adagrad"]), naming: "--optimizer")
    }

    func testAMissingInitCheckpoint() {
        assertOneLineError(train(["--init", "/nonexistent.safetensors"]), mentions: ["/nonexistent.safetensors"])
    }

    func testAValidationSplitOutsideTheUnitInterval() {
        assertUsageError(train(["--validation-split", "1.5"]), naming: "--validation-split")
        assertUsageError(train(["--validation-split", "-0.1"]), naming: "--validation-split")
    }

    func testAValidationSplitThatLeavesNoTrainingSamples() {
        // 500 samples, 99.9 % held out: nothing left to train on.
        let result = train(["--validation-split", "0.999"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(nonEmptyLines(result.stderr).count, 1, result.stderr)
    }

    func testNonPositiveLearningRatesAndLimits() {
        assertUsageError(train(["--lr", "0"]), naming: "--lr")
        assertUsageError(train(["--lr", "nan"]), naming: "--lr")
        assertUsageError(train(["--train-limit", "0"]), naming: "--train-limit")
        assertUsageError(train(["--batch-size", "0"]), naming: "--batch-size")
        assertUsageError(train(["--momentum", "0.9"]), naming: "--momentum")
    }

    /// A negative number is the option's value, so the message names what is wrong with it, not a missing value.
    func testNegativeNumbersAreValuesThatFailTheirRangeCheck() {
        for (flag, value, message) in [("--lr", "-1", "positive"), ("--epochs", "-3", "at least 1"),
                                       ("--validation-split", "-0.1", "-0.1"), ("--seed", "-1", "'-1' is invalid")] {
            let result = train([flag, value])
            assertUsageError(result, naming: flag)
            XCTAssertTrue(result.stderr.contains(message), "\(flag) \(value): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("Missing value"), "\(flag) \(value): \(result.stderr)")
        }
    }

    /// A learning rate that blows the weights up: one line naming the step, before a non-finite update.
    func testADivergingRunStopsWithOneLine() {
        let result = train(["--lr", "1e30"])
        XCTAssertNotEqual(result.status, 0)
        let lines = nonEmptyLines(result.stderr)
        XCTAssertEqual(lines.count, 1, result.stderr)
        XCTAssertTrue(lines.first?.contains("training diverged at step ") == true, result.stderr)
        XCTAssertTrue(lines.first?.contains("try a lower --lr") == true, result.stderr)
    }

    func testAModelThatDoesNotFitTheData() {
        assertOneLineError(train(["--model", "mnist-cnn"]), mentions: ["10 outputs", "2 classes"])
    }

    func testFlagsThatDoNotParse() {
        assertUsageError(train(["--epochs", "two"]), naming: "two")
        assertUsageError(train(["--no-such-flag"]), naming: "--no-such-flag")
    }

    func testNoRunDirectoryIsLeftBehindByAFlagError() throws {
        let run = root + "/never"
        _ = backprop(tinyRun(run, extra: ["--optimizer", "adagrad"]))
        _ = backprop(tinyRun(run, extra: ["--data", "nonsense"]))
        XCTAssertFalse(FileManager.default.fileExists(atPath: run), "a run that never started created its directory")
    }
}
