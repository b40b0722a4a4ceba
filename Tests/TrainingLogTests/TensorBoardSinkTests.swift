import Foundation
import TrainingLog
import XCTest

final class TensorBoardSinkTests: XCTestCase {
    // MARK: - CRC-32C and framing

    func testCRC32CKnownVectors() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        // RFC 3720 (iSCSI), appendix B.4.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }), 0x113F_DB5C)
    }

    func testMaskedCRC() {
        let crc: UInt32 = 0xE306_9283
        XCTAssertEqual(CRC32C.masked(crc), ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
        XCTAssertEqual(CRC32C.masked(0), 0xA282_EAD8)
    }

    func testTFRecordFrame() {
        let data = Array("abc".utf8)
        let frame = TFRecord.frame(data)
        XCTAssertEqual(frame.count, 8 + 4 + 3 + 4)
        XCTAssertEqual(Array(frame[0..<8]), [3, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(frame[8..<12]), littleEndian(CRC32C.masked(CRC32C.checksum(frame[0..<8]))))
        XCTAssertEqual(Array(frame[12..<15]), data)
        XCTAssertEqual(Array(frame[15..<19]), littleEndian(CRC32C.masked(CRC32C.checksum(data))))
    }

    func testEventProtobufBytes() {
        // wall_time 1.0, step 3, summary { value { tag "loss" simple_value 0.5 } }
        XCTAssertEqual(TensorBoardEvent.scalars([("loss", 0.5)], step: 3, wallTime: 1), [
            0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F,
            0x10, 0x03,
            0x2A, 0x0D, 0x0A, 0x0B, 0x0A, 0x04, 0x6C, 0x6F, 0x73, 0x73, 0x15, 0, 0, 0, 0x3F,
        ])
        XCTAssertEqual(TensorBoardEvent.fileVersion(wallTime: 0),
                       [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x1A, 0x0D] + Array("brain.Event:2".utf8))
        // A step past 127 takes a two-byte varint.
        XCTAssertEqual(Array(TensorBoardEvent.scalars([], step: 300, wallTime: 0)[9..<12]), [0x10, 0xAC, 0x02])
    }

    private func littleEndian(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    // MARK: - The sink

    /// The events the sink is fed in the tests below: two epochs of two steps and the test.
    private func writeRun(into directory: String, start: Double = 1_700_000_000) throws -> TensorBoardSink {
        var now = start
        let sink = try TensorBoardSink(directory: directory, clock: { now }, hostname: "testhost")
        let steps: [(Double, Double, Int)] = [(0.75, 0.5, 2), (0.625, 0.5625, 2), (0.5, 0.6875, 1), (0.375, 0.8125, 2)]
        for (k, (loss, accuracy, workers)) in steps.enumerated() {
            now = start + Double(k + 1)
            if k == 0 {
                // A worker's report of its share of the first step (the server logs it before the step ends).
                sink.record(.workerStep(WorkerStepRecord(worker: 3, epoch: 1, globalStep: 0, microbatches: 2, samples: 16,
                                                         computeSeconds: 0.008, waitSeconds: 0.25, bytesSent: 100, bytesReceived: 924)))
            }
            sink.record(.step(StepRecord(epoch: k / 2 + 1, step: k % 2 + 1, stepsPerEpoch: 2, globalStep: k + 1,
                                         loss: loss, accuracy: accuracy, samples: 32, seconds: 0.5, workers: workers)))
            if k % 2 == 1 {
                now += 0.5
                let epoch = k / 2 + 1
                sink.record(.epoch(EpochRecord(epoch: epoch, loss: loss, accuracy: accuracy,
                                               validationLoss: epoch == 1 ? 0.7 : nil, validationAccuracy: epoch == 1 ? 0.55 : nil,
                                               seconds: 2, samplesPerSecond: 32 * Double(epoch), learningRate: 0.001 / Double(epoch))))
            }
        }
        now = start + 10
        sink.record(.checkpoint(path: "/x", epoch: 2, step: 4))
        sink.record(.test(loss: 0.4, accuracy: 0.875, samples: 100))
        return sink
    }

    func testFileNameAndFraming() throws {
        let directory = try temporaryDirectory(self)
        let sink = try writeRun(into: directory)
        XCTAssertEqual((sink.path as NSString).lastPathComponent, "events.out.tfevents.1700000000.testhost")
        // A second writer in the same second gets its own file.
        let second = try TensorBoardSink(directory: directory, clock: { 1_700_000_000.5 }, hostname: "testhost")
        XCTAssertEqual((second.path as NSString).lastPathComponent, "events.out.tfevents.1700000000.testhost.1")

        // Walk the records: every length and CRC checks out.
        let bytes = [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: sink.path)))
        var offset = 0, records = 0
        while offset < bytes.count {
            let length = bytes[offset..<offset + 8].reversed().reduce(0) { $0 << 8 | Int($1) }
            let lengthCRC = bytes[offset + 8..<offset + 12].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            XCTAssertEqual(lengthCRC, CRC32C.masked(CRC32C.checksum(bytes[offset..<offset + 8])))
            let data = bytes[offset + 12..<offset + 12 + length]
            let dataCRC = bytes[offset + 12 + length..<offset + 16 + length].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            XCTAssertEqual(dataCRC, CRC32C.masked(CRC32C.checksum(data)))
            if records == 0 { XCTAssertEqual(Array(data), TensorBoardEvent.fileVersion(wallTime: 1_700_000_000)) }
            offset += 16 + length
            records += 1
        }
        XCTAssertEqual(offset, bytes.count)
        // file_version, a worker's report, 4 steps, 2 epochs, the test.
        XCTAssertEqual(records, 9)
    }

    /// TensorBoard's own reader reads back every scalar at its step and wall time.
    func testTensorBoardReadsTheScalarsBack() throws {
        let python = try pythonWithTensorBoard()
        let directory = try temporaryDirectory(self)
        _ = try writeRun(into: directory)
        let script = """
            import json, sys
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
            accumulator.Reload()
            out = {tag: [[e.step, e.value, e.wall_time] for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}
            print(json.dumps(out))
            """
        let (status, output, errors) = try runProcess(python, ["-c", script, directory])
        XCTAssertEqual(status, 0, errors)
        let scalars = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [[Double]]], output)
        let t = 1_700_000_000.0
        let expected: [String: [[Double]]] = [
            "loss": [[1, 0.75, t + 1], [2, 0.625, t + 2], [3, 0.5, t + 3], [4, 0.375, t + 4]],
            "accuracy": [[1, 0.5, t + 1], [2, 0.5625, t + 2], [3, 0.6875, t + 3], [4, 0.8125, t + 4]],
            "workers": [[1, 2, t + 1], [2, 2, t + 2], [3, 1, t + 3], [4, 2, t + 4]],
            "val_loss": [[2, 0.7, t + 2.5]],
            "val_accuracy": [[2, 0.55, t + 2.5]],
            "samples_per_second": [[2, 32, t + 2.5], [4, 64, t + 4.5]],
            "learning_rate": [[2, 0.001, t + 2.5], [4, 0.0005, t + 4.5]],
            "test_loss": [[4, 0.4, t + 10]],
            "test_accuracy": [[4, 0.875, t + 10]],
            "worker_3/ms_per_sample": [[0, 0.5, t + 1]],
            "worker_3/wait_seconds": [[0, 0.25, t + 1]],
            "worker_3/bytes": [[0, 1024, t + 1]],
        ]
        XCTAssertEqual(Set(scalars.keys), Set(expected.keys))
        for (tag, want) in expected {
            let got = try XCTUnwrap(scalars[tag], tag)
            XCTAssertEqual(got.count, want.count, tag)
            for (g, w) in zip(got, want) {
                XCTAssertEqual(g[0], w[0], "\(tag) step")
                // TensorBoard stores float32; the JSON round trip may cost the last bit of the double it prints.
                XCTAssertEqual(g[1], Double(Float(w[1])), accuracy: 1e-12, "\(tag) value at step \(w[0])")
                XCTAssertEqual(g[2], w[2], accuracy: 1e-6, "\(tag) wall time at step \(w[0])")
            }
        }
    }

    /// An epoch whose learning rate is unknown (an old record) writes no `learning_rate` scalar, not a zero.
    func testAnUnknownLearningRateWritesNoScalar() throws {
        let directory = try temporaryDirectory(self)
        let sink = try TensorBoardSink(directory: directory, clock: { 1_700_000_000 }, hostname: "testhost")
        sink.record(SampleEvents.step)
        sink.record(SampleEvents.epochWithoutValidation)
        sink.record(SampleEvents.epoch)
        let bytes = [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: sink.path)))
        let tag = Array("learning_rate".utf8)
        let count = (0...(bytes.count - tag.count)).filter { Array(bytes[$0..<$0 + tag.count]) == tag }.count
        XCTAssertEqual(count, 1, "one learning_rate scalar, for the epoch that has a rate")
    }

    /// `python3` if it can import TensorBoard's event reader; skips the test otherwise.
    private func pythonWithTensorBoard() throws -> String {
        let python = "/usr/bin/env"
        let probe = try? runProcess(python, ["python3", "-c", "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator"])
        guard let probe, probe.status == 0 else {
            throw XCTSkip("python3 with the tensorboard package is not available (pip install tensorboard); "
                          + "cannot check the event files with TensorBoard's reader")
        }
        return "python3"
    }

    private func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        if executable.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        let scratch = try temporaryDirectory(self)
        let outPath = scratch + "/out", errPath = scratch + "/err"
        XCTAssertTrue(FileManager.default.createFile(atPath: outPath, contents: nil))
        XCTAssertTrue(FileManager.default.createFile(atPath: errPath, contents: nil))
        let out = try XCTUnwrap(FileHandle(forWritingAtPath: outPath)), err = try XCTUnwrap(FileHandle(forWritingAtPath: errPath))
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        return (process.terminationStatus, try contents(of: outPath), try contents(of: errPath))
    }
}
