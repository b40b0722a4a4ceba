import Foundation
import TrainingLog
import XCTest

final class JSONLineParserTests: XCTestCase {
    func testScalarsInOrder() throws {
        let line = try LogLine.parse(#"{"a":1,"b":-2.5,"c":"x","d":true,"e":false,"f":null,"g":1e-05,"h":-0,"i":12345678901234567890}"#)
        XCTAssertEqual(line.fields.map(\.key), ["a", "b", "c", "d", "e", "f", "g", "h", "i"])
        XCTAssertEqual(line.fields.map(\.value), [.int(1), .double(-2.5), .string("x"), .bool(true), .bool(false), nil,
                                                  .double(1e-05), .int(0), .double(Double("12345678901234567890")!)])
        XCTAssertEqual(line["a"], .some(.int(1)))
        XCTAssertEqual(line["f"], .some(nil))
        XCTAssertTrue(line["zz"] == nil)
    }

    func testStringsWithEscapes() throws {
        let line = try LogLine.parse(#"{"s":"a\"b\\c\/d\n\t\u00e9\ud83d\ude00 ü"}"#)
        XCTAssertEqual(line["s"], .some(.string("a\"b\\c/d\n\té😀 ü")))
    }

    /// Whatever `jsonQuoted` writes, the parser reads back.
    func testReadsWhatTheWriterWrites() throws {
        let text = "worker \"3\" said:\nC:\\tmp\tgone \u{1} ☃"
        let line = try LogLine.parse(jsonObject([("reason", .string(text)), ("x", .double(0.1)), ("n", .int(-7))]))
        XCTAssertEqual(line.fields.map(\.value), [.string(text), .double(0.1), .int(-7)])
    }

    func testNestedValuesAreSkipped() throws {
        let line = try LogLine.parse(#"{"a":{"b":[1,{"c":"}"}]},"d":2, "e" : [ ] }"#)
        XCTAssertEqual(line.fields.map(\.key), ["d"])
    }

    func testBrokenLinesSayWhereAndWhy() {
        let cases: [(String, String)] = [
            (#"{"a":1"#, "the line ends early (expected ',' or '}') at column 7"),
            (#"{"a":"#, "the line ends before a value at column 6"),
            (#"{"a":"xy"#, "the line ends inside a string at column 9"),
            (#"{"a":tru}"#, "unexpected '}' at column 9"),
            (#"{"a":1} x"#, "text after the object at column 9"),
            (#"["a"]"#, "expected '{' at column 1"),
            (#"{"a":1.2.3}"#, "a bad number at column 6"),
            (#"{"a":1-2}"#, "a bad number at column 7"),
            ("{\"a\":\"\u{1}\"}", "a control character in a string at column 7"),
            ("", "the line ends early (expected '{') at column 1"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try LogLine.parse(text), text) { error in
                XCTAssertEqual("\(error)", reason, text)
            }
        }
    }
}

final class JSONLinesReaderTests: XCTestCase {
    private func collect(_ reader: JSONLinesReader) throws -> [String] {
        var lines: [String] = []
        try reader.readNewLines { number, bytes in
            XCTAssertEqual(number, reader.lineCount)
            lines.append(String(decoding: bytes, as: UTF8.self))
        }
        return lines
    }

    func testLinesAcrossChunkBoundaries() throws {
        let path = try temporaryDirectory(self) + "/log.jsonl"
        let lines = (0..<50).map { "{\"n\":\($0),\"pad\":\"\(String(repeating: "x", count: $0 % 7))\"}" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        for chunk in [1, 2, 7, 64, 1 << 20] {
            let reader = JSONLinesReader(path: path, chunkSize: chunk)
            XCTAssertEqual(try collect(reader), lines, "chunk size \(chunk)")
            XCTAssertEqual(reader.tailByteCount, 0)
        }
    }

    func testAGrowingFileIsReadIncrementallyAndTheTailWaits() throws {
        let path = try temporaryDirectory(self) + "/log.jsonl"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        let reader = JSONLinesReader(path: path, chunkSize: 4)
        XCTAssertEqual(try collect(reader), [])
        handle.write(Data("{\"a\":1}\n{\"b\":".utf8))
        XCTAssertEqual(try collect(reader), ["{\"a\":1}"])
        XCTAssertEqual(reader.tailByteCount, 5)
        var tail: String?
        reader.withTail { number, bytes in
            XCTAssertEqual(number, 2)
            tail = String(decoding: bytes, as: UTF8.self)
        }
        XCTAssertEqual(tail, "{\"b\":")
        handle.write(Data("2}\n".utf8))
        XCTAssertEqual(try collect(reader), ["{\"b\":2}"])
        XCTAssertEqual(reader.tailByteCount, 0)
        try handle.close()
    }

    func testAMissingFileReadsAsEmptyUntilItAppears() throws {
        let path = try temporaryDirectory(self) + "/later.jsonl"
        let reader = JSONLinesReader(path: path)
        XCTAssertFalse(try reader.readNewLines { _, _ in XCTFail() })
        try "{}\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try collect(reader), ["{}"])
    }

    /// A worker's report counts its assignments; a line written before reports were added up counts one.
    func testWorkerStepsCountTheirAssignments() throws {
        let old = #"{"time":5,"event":"worker_step","process":"server","worker":2,"epoch":1,"global_step":7,"microbatches":2,"samples":16,"compute_seconds":0.01,"wait_seconds":0.002,"bytes_sent":100,"bytes_received":200}"#
        let new = old.replacingOccurrences(of: #""global_step":7,"#, with: #""global_step":9,"assignments":3,"#)
        var log = RunLog()
        for line in [old, new] {
            log.ingest(try XCTUnwrap(try LoggedEvent(line: try LogLine.parse(line))))
        }
        XCTAssertEqual(log.workers[2]?.steps, 4)
        XCTAssertEqual(log.workers[2]?.samples, 32)
    }

    /// Every event kind survives the trip through `JSONLinesSink` and the reader.
    func testEveryEventKindRoundTrips() throws {
        let path = try temporaryDirectory(self) + "/events.jsonl"
        let events: [TrainingEvent] = [
            SampleEvents.runStarted, SampleEvents.step, SampleEvents.epoch, SampleEvents.epochWithoutValidation,
            SampleEvents.checkpoint, SampleEvents.test, SampleEvents.failed,
            .waitingForWorkers(have: 1, need: 3), .workerJoined(worker: 4, name: "host-9", pid: 77),
            .workerAdmitted(worker: 4, step: 12), .workerLeft(worker: 4, reason: "stopped by a signal"),
            .workerTimedOut(worker: 5, silentSeconds: 5.5), .reassigned(worker: 5, microbatches: 3, step: 40),
            .messageRejected(worker: 0, reason: "bad magic"),
            .workerRejoining(worker: 3, reason: "dropped after 5 s of silence"),
            .checkpointFailed(path: "/runs/x/checkpoint.safetensors", reason: "No space left on device"),
            .workerStep(WorkerStepRecord(worker: 2, epoch: 1, globalStep: 7, assignments: 4, microbatches: 8, samples: 64,
                                         computeSeconds: 0.01, waitSeconds: 0.002, bytesSent: 100, bytesReceived: 200)),
            SampleEvents.learningRateReduced, SampleEvents.bestWeights,
            .bestWeights(epoch: 5, monitor: "val_accuracy", value: 0.875, path: nil),
            SampleEvents.stoppedEarly, SampleEvents.bestRestored,
        ]
        var time = 1_700_000_000.25
        let sink = try JSONLinesSink(path: path, process: "server", clock: { time })
        for event in events {
            sink.record(event)
            time += 1
        }
        var read: [LoggedEvent] = []
        try JSONLinesReader(path: path).readNewLines { _, bytes in
            do {
                read.append(try XCTUnwrap(try LoggedEvent(line: try LogLine.parse(bytes))))
            } catch {
                XCTFail("\(error)")
            }
        }
        XCTAssertEqual(read.count, events.count)
        for (k, (got, want)) in zip(read, events).enumerated() {
            XCTAssertEqual(got.time, 1_700_000_000.25 + Double(k))
            XCTAssertEqual(got.process, "server")
            XCTAssertEqual(got.event.kind, want.kind)
            XCTAssertEqual(got.event.fields.map(\.0), want.fields.map(\.0), want.kind)
            XCTAssertEqual(got.event.fields.map(\.1.json), want.fields.map(\.1.json), want.kind)
        }
        guard case .epoch(let epoch) = read[2].event, case .epoch(let unknown) = read[3].event else { return XCTFail("not epochs") }
        XCTAssertEqual(epoch.learningRate, 0.001)
        XCTAssertNil(unknown.learningRate)
        guard case let .bestWeights(_, _, _, path) = read[read.count - 3].event else { return XCTFail("not best_weights") }
        XCTAssertNil(path)
    }

    /// An epoch line written before the learning rate was recorded reads with none; so does one whose rate is `null`.
    func testAnEpochWithoutALearningRateReadsAsUnknown() throws {
        let old = #"{"time":5,"event":"epoch","process":"trainer","epoch":1,"loss":0.5,"accuracy":0.75,"val_loss":0.625,"val_accuracy":0.5,"seconds":2.5,"samples_per_second":1000.0}"#
        let null = old.replacingOccurrences(of: "}", with: #","learning_rate":null}"#)
        let known = old.replacingOccurrences(of: "}", with: #","learning_rate":0.0005}"#)
        var rates: [Double?] = []
        for line in [old, null, known] {
            guard case .epoch(let record) = try XCTUnwrap(try LoggedEvent(line: try LogLine.parse(line))).event else { return XCTFail(line) }
            XCTAssertEqual(record.validationLoss, 0.625)
            rates.append(record.learningRate)
        }
        XCTAssertEqual(rates, [nil, nil, 0.0005])
    }

    /// A decision event without one of its fields is a damaged line, named as such.
    func testADecisionEventWithoutItsFieldsIsRefused() throws {
        let cases = [
            (#"{"time":5,"event":"learning_rate_reduced","epoch":3,"from":0.001}"#, #"learning_rate_reduced event without a number "to""#),
            (#"{"time":5,"event":"best_weights","epoch":3,"value":0.5}"#, #"best_weights event without a string "monitor""#),
            (#"{"time":5,"event":"stopped_early","epoch":3}"#, #"stopped_early event without a string "reason""#),
            (#"{"time":5,"event":"best_restored"}"#, #"best_restored event without an integer "epoch""#),
        ]
        for (line, reason) in cases {
            XCTAssertThrowsError(try LoggedEvent(line: try LogLine.parse(line)), line) { error in
                XCTAssertEqual("\(error)", reason, line)
            }
        }
    }
}
