import Foundation
import TrainingLog
import XCTest

final class JSONLinesSinkTests: XCTestCase {
    func testEachEventIsOneParseableLineWithTimeEventAndProcessFirst() throws {
        let path = try temporaryDirectory(self) + "/train.jsonl"
        do {
            let sink = try JSONLinesSink(path: path, process: "worker-3", clock: { 1_700_000_000.25 })
            for event in [SampleEvents.runStarted, SampleEvents.step, SampleEvents.epochWithoutValidation,
                          SampleEvents.checkpoint, SampleEvents.test, SampleEvents.failed] {
                sink.record(event)
            }
        }
        let records = lines(of: try contents(of: path))
        XCTAssertEqual(records.count, 6, "one line per event")
        let kinds = ["run_started", "step", "epoch", "checkpoint", "test", "failed"]
        for (line, kind) in zip(records, kinds) {
            let object = try jsonDictionary(line)
            XCTAssertEqual(object["time"] as? Double, 1_700_000_000.25, line)
            XCTAssertEqual(object["event"] as? String, kind, line)
            XCTAssertEqual(object["process"] as? String, "worker-3", line)
            XCTAssertEqual(Array(try keysInOrder(ofJSONLine: line).prefix(3)), ["time", "event", "process"], line)
        }
    }

    func testEventFieldsAreWrittenWithTheirNamesAndValues() throws {
        let path = try temporaryDirectory(self) + "/train.jsonl"
        do {
            let sink = try JSONLinesSink(path: path, process: "trainer", clock: { 5 })
            sink.record(SampleEvents.runStarted)
            sink.record(SampleEvents.step)
            sink.record(SampleEvents.epochWithoutValidation)
            sink.record(SampleEvents.test)
            sink.record(SampleEvents.failed)
        }
        let records = try lines(of: contents(of: path)).map { try jsonDictionary($0) }
        XCTAssertEqual(records.count, 5)

        let started = records[0]
        XCTAssertEqual(started["parameters"] as? Int, 5729)
        XCTAssertEqual(started["train_samples"] as? Int, 540)
        XCTAssertEqual(started["validation_samples"] as? Int, 60)
        XCTAssertEqual(started["test_samples"] as? Int, 200)
        XCTAssertEqual(started["config.model"] as? String, "seed-cnn")
        XCTAssertEqual(started["config.epochs"] as? Int, 2)
        XCTAssertEqual(started["config.learning_rate"] as? Double, 0.001)

        let step = records[1]
        XCTAssertEqual(step["epoch"] as? Int, 2)
        XCTAssertEqual(step["step"] as? Int, 3)
        XCTAssertEqual(step["steps_per_epoch"] as? Int, 17)
        XCTAssertEqual(step["global_step"] as? Int, 20)
        XCTAssertEqual(step["loss"] as? Double, 0.25)
        XCTAssertEqual(step["accuracy"] as? Double, 0.875)
        XCTAssertEqual(step["samples"] as? Int, 32)
        XCTAssertEqual(step["step_seconds"] as? Double, 0.5)

        let epoch = records[2]
        XCTAssertEqual(epoch["epoch"] as? Int, 3)
        XCTAssertEqual(epoch["loss"] as? Double, 0.125)
        XCTAssertTrue(epoch["val_loss"] is NSNull, "a missing validation loss is null, got \(String(describing: epoch["val_loss"]))")
        XCTAssertTrue(epoch["val_accuracy"] is NSNull)
        XCTAssertEqual(epoch["samples_per_second"] as? Double, 250.5)

        XCTAssertEqual(records[3]["test_loss"] as? Double, 0.375)
        XCTAssertEqual(records[3]["test_accuracy"] as? Double, 0.9)
        XCTAssertEqual(records[3]["samples"] as? Int, 200)

        // A reason with quotes, backslashes, a tab and a newline stays on its line and reads back intact.
        XCTAssertEqual(records[4]["reason"] as? String, "worker \"3\" said:\nC:\\tmp\tgone")
    }

    func testLinesHitTheFileAsTheyAreRecorded() throws {
        let path = try temporaryDirectory(self) + "/train.jsonl"
        let sink = try JSONLinesSink(path: path, process: "trainer", clock: { 1 })
        sink.record(SampleEvents.step)
        // The sink is still alive: a crash now must not lose the line.
        XCTAssertEqual(lines(of: try contents(of: path)).count, 1)
        sink.record(SampleEvents.test)
        XCTAssertEqual(lines(of: try contents(of: path)).count, 2)
        withExtendedLifetime(sink) {}
    }

    func testASecondSinkAppendsToTheSameFile() throws {
        let path = try temporaryDirectory(self) + "/train.jsonl"
        do {
            let first = try JSONLinesSink(path: path, process: "trainer", clock: { 1 })
            first.record(SampleEvents.step)
            first.record(SampleEvents.epoch)
        }
        let before = try contents(of: path)
        do {
            let second = try JSONLinesSink(path: path, process: "trainer", clock: { 2 })
            second.record(SampleEvents.test)
        }
        let after = try contents(of: path)
        XCTAssertTrue(after.hasPrefix(before), "the second sink changed what the first one wrote")
        let records = try lines(of: after).map { try jsonDictionary($0) }
        XCTAssertEqual(records.map { $0["event"] as? String }, ["step", "epoch", "test"])
        XCTAssertEqual(records.map { $0["time"] as? Double }, [1, 1, 2])
    }

    func testAppendsToAFileThatAlreadyHasLines() throws {
        let path = try temporaryDirectory(self) + "/server.jsonl"
        let existing = #"{"time":0,"event":"run_started","process":"server"}"# + "\n"
        try Data(existing.utf8).write(to: URL(fileURLWithPath: path))
        do {
            let sink = try JSONLinesSink(path: path, process: "server", clock: { 3 })
            sink.record(SampleEvents.checkpoint)
        }
        let text = try contents(of: path)
        XCTAssertTrue(text.hasPrefix(existing))
        let records = try lines(of: text).map { try jsonDictionary($0) }
        XCTAssertEqual(records.count, 2)
        XCTAssertEqual(records[1]["path"] as? String, "/runs/a/checkpoint.safetensors")
        XCTAssertEqual(records[1]["step"] as? Int, 34)
    }

    func testAnUnwritablePathThrowsNamingIt() throws {
        let path = try temporaryDirectory(self) + "/missing-directory/train.jsonl"
        XCTAssertThrowsError(try JSONLinesSink(path: path, process: "trainer")) { error in
            XCTAssertTrue("\(error)".contains(path), "the error does not name the path: \(error)")
        }
    }

    func testTheDefaultClockIsUnixTime() throws {
        let path = try temporaryDirectory(self) + "/train.jsonl"
        let before = Date().timeIntervalSince1970
        do {
            let sink = try JSONLinesSink(path: path, process: "trainer")
            sink.record(SampleEvents.test)
        }
        let after = Date().timeIntervalSince1970
        let time = try XCTUnwrap(jsonDictionary(lines(of: contents(of: path))[0])["time"] as? Double)
        XCTAssertTrue(time >= before && time <= after, "time \(time) is not between \(before) and \(after)")
    }
}
