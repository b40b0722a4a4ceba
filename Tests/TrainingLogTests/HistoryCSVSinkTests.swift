import Foundation
import TrainingLog
import XCTest

final class HistoryCSVSinkTests: XCTestCase {
    private let header = "epoch,loss,accuracy,val_loss,val_accuracy,seconds,samples_per_second,learning_rate"

    func testHeaderThenOneRowPerEpochAndNothingElse() throws {
        let path = try temporaryDirectory(self) + "/history.csv"
        do {
            let sink = try HistoryCSVSink(path: path)
            for event in [SampleEvents.runStarted, SampleEvents.step, SampleEvents.epoch, SampleEvents.checkpoint,
                          SampleEvents.step, SampleEvents.epochWithoutValidation, SampleEvents.test, SampleEvents.failed] {
                sink.record(event)
            }
        }
        XCTAssertEqual(lines(of: try contents(of: path)), [
            header,
            "2,0.5,0.75,0.625,0.5,2.5,1000.0,0.001",
            "3,0.125,1.0,,,1.5,250.5,",
        ])
    }

    func testTheHeaderIsWrittenBeforeAnyEpoch() throws {
        let path = try temporaryDirectory(self) + "/history.csv"
        let sink = try HistoryCSVSink(path: path)
        XCTAssertEqual(lines(of: try contents(of: path)), [header])
        withExtendedLifetime(sink) {}
    }

    func testStartingAfreshReplacesAnOldFile() throws {
        let path = try temporaryDirectory(self) + "/history.csv"
        try Data("old,stuff\n1,2\n".utf8).write(to: URL(fileURLWithPath: path))
        do {
            let sink = try HistoryCSVSink(path: path)
            sink.record(SampleEvents.epoch)
        }
        XCTAssertEqual(lines(of: try contents(of: path)), [header, "2,0.5,0.75,0.625,0.5,2.5,1000.0,0.001"])
    }

    func testAppendingDoesNotRepeatTheHeader() throws {
        let path = try temporaryDirectory(self) + "/history.csv"
        do {
            let first = try HistoryCSVSink(path: path)
            first.record(SampleEvents.epoch)
        }
        do {
            let resumed = try HistoryCSVSink(path: path, append: true)
            resumed.record(SampleEvents.epochWithoutValidation)
        }
        XCTAssertEqual(lines(of: try contents(of: path)), [
            header,
            "2,0.5,0.75,0.625,0.5,2.5,1000.0,0.001",
            "3,0.125,1.0,,,1.5,250.5,",
        ])
    }

    func testAppendingToAMissingFileStillWritesTheHeader() throws {
        let path = try temporaryDirectory(self) + "/history.csv"
        do {
            let sink = try HistoryCSVSink(path: path, append: true)
            sink.record(SampleEvents.epoch)
        }
        XCTAssertEqual(lines(of: try contents(of: path)), [header, "2,0.5,0.75,0.625,0.5,2.5,1000.0,0.001"])
    }

    func testEveryRowHasOneCellPerColumn() throws {
        let path = try temporaryDirectory(self) + "/history.csv"
        do {
            let sink = try HistoryCSVSink(path: path)
            sink.record(SampleEvents.epoch)
            sink.record(SampleEvents.epochWithoutValidation)
        }
        let rows = lines(of: try contents(of: path))
        for row in rows {
            XCTAssertEqual(row.split(separator: ",", omittingEmptySubsequences: false).count, EpochRecord.columns.count, row)
        }
    }

    /// A resumed run keeps the rows through its checkpoint's epoch and drops the later ones, which it writes again.
    func testResumingDropsTheRowsAfterTheCheckpoint() throws {
        let path = try temporaryDirectory(self) + "/history.csv"
        do {
            let first = try HistoryCSVSink(path: path)
            first.record(SampleEvents.epoch)
            first.record(SampleEvents.epochWithoutValidation)
        }
        do {
            let resumed = try HistoryCSVSink(path: path, append: true, keepingEpochsThrough: 2)
            resumed.record(SampleEvents.epochWithoutValidation)
        }
        XCTAssertEqual(lines(of: try contents(of: path)), [header, "2,0.5,0.75,0.625,0.5,2.5,1000.0,0.001", "3,0.125,1.0,,,1.5,250.5,"])
    }

    /// A history.csv written before the learning_rate column, resumed: today's header, an empty cell
    /// for the old rows' unknown rate, and the rows after the checkpoint dropped.
    func testResumingAFileWithoutTheLearningRateColumnAddsIt() throws {
        let path = try temporaryDirectory(self) + "/history.csv"
        let old = "epoch,loss,accuracy,val_loss,val_accuracy,seconds,samples_per_second\n1,0.75,0.5,0.7,0.55,2.0,900.0\n2,0.6,0.6,,,2.0,900.0\n"
        try Data(old.utf8).write(to: URL(fileURLWithPath: path))
        do {
            let resumed = try HistoryCSVSink(path: path, append: true, keepingEpochsThrough: 1)
            resumed.record(SampleEvents.epoch)
        }
        let rows = lines(of: try contents(of: path))
        XCTAssertEqual(rows, [header, "1,0.75,0.5,0.7,0.55,2.0,900.0,", "2,0.5,0.75,0.625,0.5,2.5,1000.0,0.001"])
        for row in rows {
            XCTAssertEqual(row.split(separator: ",", omittingEmptySubsequences: false).count, EpochRecord.columns.count, row)
        }
    }

    /// Appending (no trimming) to a file without the learning_rate column rewrites it with the column, rows kept.
    func testAppendingToAFileWithoutTheLearningRateColumnAddsIt() throws {
        let path = try temporaryDirectory(self) + "/history.csv"
        let old = "epoch,loss,accuracy,val_loss,val_accuracy,seconds,samples_per_second\n1,0.75,0.5,0.7,0.55,2.0,900.0\n"
        try Data(old.utf8).write(to: URL(fileURLWithPath: path))
        do {
            let resumed = try HistoryCSVSink(path: path, append: true)
            resumed.record(SampleEvents.epoch)
        }
        XCTAssertEqual(lines(of: try contents(of: path)), [header, "1,0.75,0.5,0.7,0.55,2.0,900.0,", "2,0.5,0.75,0.625,0.5,2.5,1000.0,0.001"])
    }

    /// An empty file (created, never written) gets its header when appended to.
    func testAppendingToAnEmptyFileWritesTheHeader() throws {
        let path = try temporaryDirectory(self) + "/history.csv"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        do {
            let sink = try HistoryCSVSink(path: path, append: true)
            sink.record(SampleEvents.epoch)
        }
        XCTAssertEqual(lines(of: try contents(of: path)), [header, "2,0.5,0.75,0.625,0.5,2.5,1000.0,0.001"])
    }

    func testAnUnwritablePathThrowsNamingIt() throws {
        let path = try temporaryDirectory(self) + "/missing-directory/history.csv"
        XCTAssertThrowsError(try HistoryCSVSink(path: path)) { error in
            XCTAssertTrue("\(error)".contains(path), "the error does not name the path: \(error)")
        }
    }
}
