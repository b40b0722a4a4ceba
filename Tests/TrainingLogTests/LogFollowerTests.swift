import Foundation
import TrainingLog
import XCTest

final class LogFollowerTests: XCTestCase {
    private let t0 = ReferenceRun.t0

    func testPlainLinesAsTheRunGoesUntilItFinishes() throws {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run, through: 4)
        let follower = LogFollower(reader: try RunLogReader(directory: run.path), interactive: false, zone: ReferenceRun.utc, progressInterval: 0)

        XCTAssertEqual(try follower.tick(now: t0 + 15), """
            22:13:20  waiting for 2 workers
            22:13:21  worker 1 joined (alpha, pid 101)
            22:13:21  worker 2 joined (beta, pid 102)
            22:13:22  run started
            22:13:22  worker 1 admitted: computes from step 1
            22:13:22  worker 2 admitted: computes from step 1
            epoch 1/3 - 4.0s - loss: 0.7000 - accuracy: 0.5000 - val_loss: 0.6500 - val_accuracy: 0.6000 - 144 samples/s
            22:13:34  checkpoint after epoch 1 (step 4)
            epoch 1/3 step 4/4 (global step 4) - loss 0.8438 - accuracy 0.4531 (this epoch) - 33 samples/s - 2 workers

            """)
        XCTAssertNil(follower.finished)
        XCTAssertEqual(try follower.tick(now: t0 + 16), "", "nothing new, nothing printed")

        try ReferenceRun.write(run, from: 5, through: 12)
        let rest = try follower.tick(now: t0 + 25)
        let restLines = lines(of: rest)
        XCTAssertEqual(restLines.first, "22:13:35  worker 2 timed out after 6.0s of silence")
        XCTAssertTrue(restLines.contains("epoch 3/3 - 1m02s - loss: 0.3500 - accuracy: 0.8750 - val_loss: 0.4000 - val_accuracy: 0.8500 - 9 samples/s"), rest)
        XCTAssertTrue(restLines.contains("rejected messages: 4 so far; latest: assignment outside the training set"), rest)
        XCTAssertFalse(restLines.contains { $0.contains("test: accuracy") }, "the verdict says it")
        XCTAssertEqual(restLines.last, "verdict: finished with test accuracy 0.9000 (loss 0.3000, 100 samples) after 3 epochs, 12 steps in 23.0s")
        XCTAssertEqual(follower.finished?.state, .finished)
    }

    func testARunWhoseProcessDiesEndsTheFollowOnTheSecondLook() throws {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run, through: 6)
        run.close()
        try run.append(#"{"time":1700000017.0,"event":"st"#, to: "server.jsonl")
        let follower = LogFollower(reader: try RunLogReader(directory: run.path), interactive: false, zone: ReferenceRun.utc, progressInterval: 0)
        let first = try follower.tick(now: t0 + 30)
        XCTAssertNil(follower.finished, "one look is not enough: the writer may be between two files")
        XCTAssertFalse(first.contains("verdict"))
        let second = try follower.tick(now: t0 + 31.5)
        XCTAssertEqual(follower.finished?.state, .stopped)
        XCTAssertEqual(lines(of: second), [
            "skipped server.jsonl line 21: the last line is incomplete (32 bytes, no newline): torn by a crash or still being written; skipped",
            "verdict: stopped or crashed at epoch 2/3 step 2/4 (global step 6), last event 2023-11-14 22:13:36 UTC "
                + "(no test result, no summary.json, no process writing server.jsonl)",
        ])
    }

    func testTerminalScreenRedrawsTheWholeView() throws {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run, through: 4)
        let follower = LogFollower(reader: try RunLogReader(directory: run.path), interactive: true, zone: ReferenceRun.utc)
        let screen = try follower.tick(now: t0 + 15.6)
        XCTAssertTrue(screen.hasPrefix("\u{1B}[H"), screen)
        XCTAssertTrue(screen.hasSuffix("\u{1B}[K\n\u{1B}[J"), screen)
        let shown = lines(of: String(screen.dropFirst(3).dropLast(3)).replacingOccurrences(of: "\u{1B}[K", with: ""))
        XCTAssertEqual(shown.first, "\(run.path) - seed-cnn on synthetic - 22:13:35")
        XCTAssertTrue(shown.contains("epoch 1/3 [==============================] step 4/4 - global step 4"), screen)
        XCTAssertTrue(shown.contains("loss 0.8438 - accuracy 0.4531 (this epoch) - 33 samples/s - 2 workers"), screen)
        XCTAssertTrue(shown.contains("    1  0.7000    0.5000    0.6500        0.6000  4.0s        144"), screen)
        XCTAssertTrue(shown.contains { $0.hasPrefix("worker  name   state   steps") }, screen)
        XCTAssertEqual(shown.last, "still running at epoch 1/3 step 4/4 (global step 4), 2 workers, last event 1.0s ago")
    }

    func testWaitsForTheLogToAppear() throws {
        let directory = try temporaryDirectory(self)
        let follower = LogFollower(reader: try RunLogReader(directory: directory), interactive: false)
        XCTAssertEqual(try follower.tick(), "waiting for server.jsonl or train.jsonl in \(directory)\n")
        XCTAssertEqual(try follower.tick(), "")
        XCTAssertNil(follower.finished)
    }
}
