import Foundation
import TrainingLog
import XCTest

final class RunReportTests: XCTestCase {
    private func finishedRun() throws -> RunDirectoryFixture {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run)
        run.close()
        return run
    }

    func testConfigBlock() throws {
        let run = try finishedRun()
        let lines = try report(run.path).configLines()
        XCTAssertEqual(lines.map(\.label), ["run", "model", "data", "training", "workers", "started"])
        XCTAssertEqual(lines.map(\.text), [
            "\(run.path) (cluster: server.jsonl, 3 workers)",
            "seed-cnn, 5,729 parameters",
            "synthetic: 576 train, 64 validation, 100 test samples (train limit 640)",
            "3 epochs × 4 steps, batch 32, microbatch 8, adam lr 0.001, seed 1",
            "3 joined, at most 2 computing at once",
            "2023-11-14 22:13:20 UTC; last event 23.6s later",
        ])
    }

    func testHistoryTable() throws {
        let table = try report(try finishedRun().path).historyTable()
        XCTAssertEqual(table.header, ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "time", "samples/s"])
        XCTAssertEqual(table.rows, [
            ["1", "0.7000", "0.5000", "0.6500", "0.6000", "4.0s", "144"],
            ["2", "0.5000", "0.7500", "0.4500", "0.8000", "4.5s", "128"],
            ["3", "0.3500", "0.8750", "0.4000", "0.8500", "1m02s", "9"],
        ])
        XCTAssertEqual(table.lines(), [
            "epoch    loss  accuracy  val_loss  val_accuracy   time  samples/s",
            "    1  0.7000    0.5000    0.6500        0.6000   4.0s        144",
            "    2  0.5000    0.7500    0.4500        0.8000   4.5s        128",
            "    3  0.3500    0.8750    0.4000        0.8500  1m02s          9",
        ])
    }

    func testWorkerTable() throws {
        let table = try report(try finishedRun().path).workerTable()
        XCTAssertEqual(table.header, ["worker", "name", "state", "steps", "microbatches", "samples", "compute p50", "compute p95",
                                      "wait", "sent", "received", "last seen"])
        XCTAssertEqual(table.rows, [
            ["1", "alpha", "left", "13", "26", "208", "16.0ms", "28.8ms", "6.5s", "597.9 kB", "299.3 kB", "22:13:43"],
            ["2", "beta", "timed out", "5", "10", "80", "16.0ms", "16.0ms", "2.5s", "230.0 kB", "115.1 kB", "22:13:36"],
            ["3", "gamma", "left", "6", "12", "96", "64.0ms", "64.0ms", "1.5s", "276.0 kB", "138.1 kB", "22:13:43"],
        ])
    }

    func testWorkerRowsKeepTheNumbersAndWhy() throws {
        let rows = try report(try finishedRun().path).workerRows()
        XCTAssertEqual(rows.map(\.stateDetail), ["finished", "6.0s silent", "finished"])
        XCTAssertEqual(rows.map(\.pid), [101, 102, 103])
        XCTAssertEqual(rows[1].rejectedMessages, 2)
        XCTAssertEqual(rows[1].reassignedMicrobatches, 2)
        XCTAssertEqual(rows[0].computeP95, 0.0288, accuracy: 1e-12)
        XCTAssertEqual(rows[2].secondsPerSample, 0.008, accuracy: 1e-12)
    }

    func testTheSlowWorkerIsNamedAStraggler() throws {
        let report = try report(try finishedRun().path)
        let stragglers = report.stragglers()
        XCTAssertEqual(stragglers.map(\.worker), [3])
        XCTAssertEqual(try XCTUnwrap(stragglers.first).ratio, 4, accuracy: 1e-9)
        XCTAssertEqual(report.stragglerLine(stragglers[0]),
                       "straggler: worker 3 (gamma) computes a sample in 8.0ms, 4.0× the other workers' median 2.0ms")
    }

    func testEvenWorkersHaveNoStraggler() throws {
        let run = try RunDirectoryFixture(self)
        for version in 0..<5 {
            try run.worker(1, ReferenceRun.share(1, version: version, compute: 0.030, wait: 0), at: ReferenceRun.t0 + Double(version))
            try run.worker(2, ReferenceRun.share(2, version: version, compute: 0.040, wait: 0), at: ReferenceRun.t0 + Double(version))
        }
        run.main(.step(ReferenceRun.step(1)), at: ReferenceRun.t0 + 5)
        XCTAssertEqual(try report(run.path).stragglers(), [])
    }

    func testTimeline() throws {
        XCTAssertEqual(try report(try finishedRun().path).timelineLines(), [
            "22:13:20  waiting for 2 workers",
            "22:13:21  worker 1 joined (alpha, pid 101)",
            "22:13:21  worker 2 joined (beta, pid 102)",
            "22:13:22  run started",
            "22:13:22  worker 1 admitted: computes from step 1",
            "22:13:22  worker 2 admitted: computes from step 1",
            "22:13:34  checkpoint after epoch 1 (step 4)",
            "22:13:35  worker 2 timed out after 6.0s of silence",
            "22:13:35  step 6: 2 microbatches of worker 2 handed to others",
            "22:13:35  worker 3 joined (gamma, pid 103)",
            "22:13:36  worker 3 admitted: computes from step 7",
            "22:13:38  checkpoints after epochs 2–3 (2, last at step 12)",
            "22:13:43  test: accuracy 0.9000, loss 0.3000 (100 samples)",
            "22:13:43  worker 1 left (finished)",
            "22:13:43  worker 3 left (finished)",
        ])
    }

    func testRejectedMessagesAreCountedByReason() throws {
        XCTAssertEqual(try report(try finishedRun().path).rejectionLines(), [
            "2× stale gradients for step N; the server is at step N from worker 2, 22:13:36",
            "1× bad magic 0x1234, 22:13:37",
            "1× assignment outside the training set (dropped by worker 3), 22:13:37",
        ])
    }

    func testVerdictOfAFinishedRun() throws {
        let verdict = try report(try finishedRun().path).verdict
        XCTAssertEqual(verdict.state, .finished)
        XCTAssertEqual(verdict.text, "finished with test accuracy 0.9000 (loss 0.3000, 100 samples) after 3 epochs, 12 steps in 23.0s")
    }

    func testARunStillWritingIsRunning() throws {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run, through: 6)
        // The fixture's sinks still hold server.jsonl open for writing, as a live server does.
        let report = try report(run.path, now: ReferenceRun.t0 + 18.5)
        XCTAssertEqual(report.verdict.state, .running)
        XCTAssertEqual(report.verdict.text, "still running at epoch 2/3 step 2/4 (global step 6), 1 worker, last event 2.0s ago")
        XCTAssertEqual(report.workerTable().cell(0, "state"), "active")
    }

    func testARunWhoseProcessIsGoneStoppedOrCrashed() throws {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run, through: 6)
        run.close()
        let report = try report(run.path)
        XCTAssertEqual(report.verdict.state, .stopped)
        XCTAssertEqual(report.verdict.text,
                       "stopped or crashed at epoch 2/3 step 2/4 (global step 6), last event 2023-11-14 22:13:36 UTC "
                       + "(no test result, no summary.json, no process writing server.jsonl)")
        XCTAssertEqual(report.workerTable().cell(0, "state"), "active at end")
    }

    func testAFailedEventGivesTheReason() throws {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run, through: 5)
        run.main(.failed(reason: "no workers left"), at: ReferenceRun.t0 + 20)
        XCTAssertEqual(try report(run.path).verdict.text, "failed at epoch 2/3 step 1/4 (global step 5): no workers left")
    }

    func testAStopOnRequestIsStoppedNotFailed() throws {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run, through: 5)
        run.main(.failed(reason: "stopped by a signal"), at: ReferenceRun.t0 + 20)
        let verdict = try report(run.path).verdict
        XCTAssertEqual(verdict.state, .stopped)
        XCTAssertEqual(verdict.text, "stopped by a signal at epoch 2/3 step 1/4 (global step 5); --resume continues it from its last checkpoint")
    }

    func testSummaryJSONAloneMeansFinished() throws {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run, through: 12)
        run.close()
        // Drop the test event, as if its line had been lost; summary.json still says how it ended.
        let text = try contents(of: run.file("server.jsonl"))
        try lines(of: text).filter { !$0.contains(#""event":"test""#) }.map { $0 + "\n" }.joined()
            .write(toFile: run.file("server.jsonl"), atomically: true, encoding: .utf8)
        try #"{"test_accuracy": 0.5, "test_loss": 0.75}"#.write(toFile: run.file("summary.json"), atomically: true, encoding: .utf8)
        let verdict = try report(run.path).verdict
        XCTAssertEqual(verdict.state, .finished)
        XCTAssertEqual(verdict.text, "finished with test accuracy 0.5000 (loss 0.7500, from summary.json) after 3 epochs, 12 steps")
    }

    func testATornLastLineIsSkippedAndReported() throws {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run, through: 8)
        run.close()
        let torn = #"{"time":1700000019.0,"event":"step","process":"server","epoch":3,"st"#
        try run.append(torn, to: "server.jsonl")
        let reader = try RunLogReader.read(run.path)
        XCTAssertEqual(reader.log.steps.count, 8)
        XCTAssertEqual(reader.log.history.count, 2)
        let lineCount = lines(of: try contents(of: run.file("server.jsonl")) + "\n").count
        XCTAssertEqual(reader.problems, [LogProblem(
            file: "server.jsonl", line: lineCount,
            reason: "the last line is incomplete (\(torn.utf8.count) bytes, no newline): torn by a crash or still being written; skipped")])
        let text = RunReport(reader: reader, zone: ReferenceRun.utc).render()
        XCTAssertTrue(text.contains("skipped log lines: 1\n  server.jsonl line \(lineCount): the last line is incomplete"), text)
        XCTAssertTrue(text.contains("verdict: stopped or crashed at epoch 2/3 step 4/4 (global step 8)"), text)
    }

    func testADamagedLineInTheMiddleIsSkipped() throws {
        let run = try RunDirectoryFixture(self)
        run.main(.runStarted(config: ReferenceRun.config, parameterCount: 5729, trainSamples: 576, validationSamples: 64, testSamples: 100),
                 at: ReferenceRun.t0)
        try run.append("{\"time\": oops}\n{\"time\":1,\"event\":\"step\"}\n", to: "server.jsonl")
        run.main(.step(ReferenceRun.step(1)), at: ReferenceRun.t0 + 1)
        run.main(.checkpoint(path: "/runs/x/checkpoint.safetensors", epoch: 1, step: 1), at: ReferenceRun.t0 + 2)
        let reader = try RunLogReader.read(run.path)
        XCTAssertEqual(reader.log.steps.map(\.record.globalStep), [1])
        XCTAssertEqual(reader.log.checkpoints.map(\.epoch), [1])
        XCTAssertEqual(reader.problems.map(\.line), [2, 3])
        XCTAssertEqual(reader.problems.map(\.reason), ["unexpected 'o' at column 10; skipped", "step event without an integer \"epoch\"; skipped"])
        XCTAssertEqual(reader.unknownEvents, 0)
    }

    func testUnknownEventKindsAreIgnored() throws {
        let run = try RunDirectoryFixture(self)
        run.main(.step(ReferenceRun.step(1)), at: ReferenceRun.t0)
        try run.append(#"{"time":1700000001.5,"event":"gpu_temperature","process":"server","celsius":71}"# + "\n", to: "server.jsonl")
        let reader = try RunLogReader.read(run.path)
        XCTAssertEqual(reader.unknownEvents, 1)
        XCTAssertEqual(reader.problems, [])
    }

    func testResumedRunKeepsOneRowPerEpochAndOneStepPerGlobalStep() throws {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run, through: 6)
        // The server died in step 6 and was resumed from the epoch-1 checkpoint: steps 5 and 6 run again.
        run.main(.runStarted(config: ReferenceRun.config, parameterCount: 5729, trainSamples: 576, validationSamples: 64, testSamples: 100),
                 at: ReferenceRun.t0 + 100)
        for globalStep in 5...8 {
            var record = ReferenceRun.step(globalStep)
            record.loss = 0.25
            run.main(.step(record), at: ReferenceRun.t0 + 100 + Double(globalStep))
        }
        run.main(.epoch(ReferenceRun.history[1]), at: ReferenceRun.t0 + 109)
        let report = try report(run.path)
        XCTAssertEqual(report.log.steps.map(\.record.globalStep), Array(1...8))
        XCTAssertEqual(report.log.steps.suffix(4).map(\.record.loss), [0.25, 0.25, 0.25, 0.25])
        XCTAssertEqual(report.historyTable().rows.map { $0[0] }, ["1", "2"])
        XCTAssertTrue(report.timelineLines().contains("22:15:00  run started again (resumed) after epoch 2 step 2 (global step 6)"))
        XCTAssertEqual(report.configLines().last?.text, "2023-11-14 22:13:20 UTC, resumed 1 time; last event 1m49s later")
    }

    func testMidEpochCheckpointsRejoinsAndFailedCheckpointsAreInTheTimeline() throws {
        let run = try RunDirectoryFixture(self)
        let t0 = ReferenceRun.t0
        for globalStep in 1...6 { run.main(.step(ReferenceRun.step(globalStep)), at: ReferenceRun.stepTime(globalStep)) }
        run.main(.checkpoint(path: run.file("checkpoint.safetensors"), epoch: 1, step: 6), at: t0 + 16.1)
        run.main(.checkpointFailed(path: run.file("checkpoint.safetensors"), reason: "No space left on device"), at: t0 + 16.2)
        try run.worker(2, .workerRejoining(worker: 2, reason: "dropped after 5 s of silence"), at: t0 + 16.3)
        run.main(.checkpoint(path: run.file("checkpoint.safetensors"), epoch: 1, step: 7), at: t0 + 17.1)
        run.main(.checkpoint(path: run.file("checkpoint.safetensors"), epoch: 1, step: 8), at: t0 + 18.1)
        run.close()
        XCTAssertEqual(try report(run.path).timelineLines(), [
            "22:13:36  checkpoint at step 6, in epoch 2",
            "22:13:36  checkpoint NOT written (\(run.file("checkpoint.safetensors"))): No space left on device",
            "22:13:36  worker 2 joins again: dropped after 5 s of silence",
            "22:13:37  2 checkpoints, steps 7–8",
        ])
    }

    func testSingleProcessRun() throws {
        let run = try RunDirectoryFixture(self, kind: .single)
        run.main(.runStarted(config: ReferenceRun.config, parameterCount: 5729, trainSamples: 576, validationSamples: 64, testSamples: 100),
                 at: ReferenceRun.t0)
        for globalStep in 1...4 {
            var record = ReferenceRun.step(globalStep)
            record.workers = 1
            run.main(.step(record), at: ReferenceRun.stepTime(globalStep))
        }
        run.main(.epoch(ReferenceRun.history[0]), at: ReferenceRun.t0 + 15)
        run.main(.test(loss: 0.3, accuracy: 0.9, samples: 100), at: ReferenceRun.t0 + 16)
        run.close()
        let report = try report(run.path)
        XCTAssertEqual(report.kind, .single)
        XCTAssertEqual(report.configLines().first?.text, "\(run.path) (single process: train.jsonl)")
        XCTAssertFalse(report.configLines().contains { $0.label == "workers" })
        XCTAssertEqual(report.historyTable().rows, [["1", "0.7000", "0.5000", "0.6500", "0.6000", "4.0s", "144"]])
        let text = report.render()
        XCTAssertFalse(text.contains("\nworkers\n"), text)
        XCTAssertTrue(text.hasSuffix("verdict: finished with test accuracy 0.9000 (loss 0.3000, 100 samples) after 1 epoch, 4 steps in 16.0s\n"), text)
    }

    func testRenderedReportHasEverySection() throws {
        let run = try finishedRun()
        let text = try report(run.path).render()
        let expected = """
            history
              epoch    loss  accuracy  val_loss  val_accuracy   time  samples/s
                  1  0.7000    0.5000    0.6500        0.6000   4.0s        144
            """
        XCTAssertTrue(text.contains(expected), text)
        XCTAssertTrue(text.contains("\nworkers\n  worker  name   state      steps  microbatches"), text)
        XCTAssertTrue(text.contains("\n  straggler: worker 3 (gamma) computes a sample in 8.0ms"), text)
        XCTAssertTrue(text.contains("\ntimeline\n  22:13:20  waiting for 2 workers\n"), text)
        XCTAssertTrue(text.contains("\nrejected messages: 4\n  2× stale gradients"), text)
        XCTAssertFalse(text.contains("skipped log lines"), text)
        XCTAssertTrue(text.hasSuffix("\nverdict: finished with test accuracy 0.9000 (loss 0.3000, 100 samples) after 3 epochs, 12 steps in 23.0s\n"), text)
    }

    // MARK: - Keras fit's decisions

    private func earlyStoppedRun(stop: Bool = true) throws -> RunDirectoryFixture {
        let run = try RunDirectoryFixture(self, kind: .single)
        EarlyStoppedRun.write(run, stop: stop)
        return run
    }

    /// Logs without learning rates (the reference run's) have no `lr` column; see `testHistoryTable`.
    func testTheHistoryTableShowsTheLearningRateWhenTheEpochsHaveOne() throws {
        let table = try report(try earlyStoppedRun().path).historyTable()
        XCTAssertEqual(table.header, ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "time", "samples/s", "lr"])
        XCTAssertEqual(table.lines(), [
            "epoch    loss  accuracy  val_loss  val_accuracy  time  samples/s      lr",
            "    1  0.7000    0.5000    0.6500        0.6000  4.0s        144   0.001",
            "    2  0.5000    0.7500    0.4500        0.8000  4.5s        128  0.0008",
            "    3  0.3500    0.8750    0.5000        0.7500  4.0s        144  0.0006",
        ])
        XCTAssertEqual(try report(try finishedRun().path).historyTable().cell(0, "lr"), nil)
    }

    /// A resumed run whose old epochs were logged before the rate was recorded: those show `-`; a
    /// schedule's rate shows in 6 significant digits, as the console prints a reduced one.
    func testEpochsWithoutALearningRateShowADash() throws {
        let run = try RunDirectoryFixture(self, kind: .single)
        run.main(.epoch(ReferenceRun.history[0]), at: ReferenceRun.t0)
        var cosine = EarlyStoppedRun.history[1]
        cosine.learningRate = 0.000987654321
        run.main(.epoch(cosine), at: ReferenceRun.t0 + 1)
        run.close()
        XCTAssertEqual(try report(run.path).historyTable().rows.map { $0.last }, ["-", "0.000987654"])
    }

    func testDecisionsAreRecorded() throws {
        let log = try report(try earlyStoppedRun().path).log
        XCTAssertEqual(log.history.map(\.learningRate), [0.001, 0.0008, 0.0006])
        XCTAssertEqual(log.learningRateReductions.map(\.epoch), [3])
        XCTAssertEqual(log.learningRateReductions.first?.from, 0.0006)
        XCTAssertEqual(log.learningRateReductions.first?.to, 0.0003)
        XCTAssertEqual(log.best?.epoch, 2)
        XCTAssertEqual(log.best?.monitor, "val_loss")
        XCTAssertEqual(log.best?.value, 0.45)
        XCTAssertEqual(log.earlyStop?.epoch, 3)
        XCTAssertEqual(log.earlyStop?.reason, EarlyStoppedRun.reason)
        XCTAssertEqual(log.restoredEpoch, 2)
    }

    /// The timeline has the reduction, the stop and the restore, and of the improvements only the best;
    /// every improvement stays in the log's timeline (a live `--follow` prints each).
    func testDecisionsAreInTheTimeline() throws {
        let run = try earlyStoppedRun()
        let report = try report(run.path)
        XCTAssertEqual(report.timelineLines(), [
            "22:13:20  run started",
            "22:13:34  checkpoint after epoch 1 (step 4)",
            "22:13:38  epoch 2: val_loss improved to 0.4500, the best so far; weights saved to \(run.file("best.safetensors"))",
            "22:13:38  checkpoint after epoch 2 (step 8)",
            "22:13:42  epoch 3: learning rate reduced from 0.0006 to 0.0003",
            "22:13:42  \(EarlyStoppedRun.reason)",
            "22:13:42  checkpoint after epoch 3 (step 12)",
            "22:13:42  weights of epoch 2, the best, restored",
            "22:13:43  test: accuracy 0.9000, loss 0.3000 (100 samples)",
        ])
        XCTAssertEqual(report.log.timeline.filter { $0.kind == .bestWeights }.count, 2)
        XCTAssertEqual(report.log.timeline.map(\.kind.rawValue).filter { ["learning_rate_reduced", "stopped_early", "best_restored"].contains($0) },
                       ["learning_rate_reduced", "stopped_early", "best_restored"])
    }

    func testTheVerdictOfARunThatStoppedEarlySaysWhy() throws {
        let report = try report(try earlyStoppedRun().path)
        XCTAssertEqual(report.verdict.state, .finished)
        XCTAssertEqual(report.verdict.text, "finished with test accuracy 0.9000 (loss 0.3000, 100 samples) after 3 epochs, 12 steps in 23.0s; "
                       + EarlyStoppedRun.reason)
        XCTAssertTrue(report.render().hasSuffix("\nverdict: \(report.verdict.text)\n"))
    }

    func testTheVerdictOfARunWhoseBestWeightsWereRestoredSaysWhich() throws {
        let verdict = try report(try earlyStoppedRun(stop: false).path).verdict
        XCTAssertEqual(verdict.text, "finished with test accuracy 0.9000 (loss 0.3000, 100 samples) after 3 epochs, 12 steps in 23.0s; "
                       + "weights of epoch 2, the best, restored")
    }

    /// The stop also ends a verdict read from summary.json when the test event is lost.
    func testTheSummaryVerdictSaysWhyToo() throws {
        let run = try earlyStoppedRun()
        let text = try contents(of: run.file("train.jsonl"))
        try lines(of: text).filter { !$0.contains(#""event":"test""#) }.map { $0 + "\n" }.joined()
            .write(toFile: run.file("train.jsonl"), atomically: true, encoding: .utf8)
        try #"{"test_accuracy": 0.5, "test_loss": 0.75}"#.write(toFile: run.file("summary.json"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try report(run.path).verdict.text,
                       "finished with test accuracy 0.5000 (loss 0.7500, from summary.json) after 3 epochs, 12 steps; " + EarlyStoppedRun.reason)
    }

    /// A resumed run that decides again logs the same decisions: one reduction per epoch, the latest best;
    /// a stop of an earlier attempt that training then went past is forgotten.
    func testDecisionsMadeAgainAfterAResumeReplaceTheOldOnes() throws {
        let run = try RunDirectoryFixture(self, kind: .single)
        let t0 = ReferenceRun.t0
        run.main(.learningRateReduced(epoch: 3, from: 0.001, to: 0.0005), at: t0)
        run.main(.stoppedEarly(epoch: 3, reason: "early stopping at epoch 3"), at: t0 + 1)
        run.main(.runStarted(config: ReferenceRun.config, parameterCount: 5729, trainSamples: 576, validationSamples: 64, testSamples: 100),
                 at: t0 + 2)
        run.main(.learningRateReduced(epoch: 2, from: 0.001, to: 0.0005), at: t0 + 3)
        run.main(.learningRateReduced(epoch: 3, from: 0.0005, to: 0.00025), at: t0 + 4)
        run.main(.epoch(EarlyStoppedRun.history[2]), at: t0 + 5)
        XCTAssertNotNil(try report(run.path).log.earlyStop, "epoch 3 itself does not go past a stop at epoch 3")
        var fourth = EarlyStoppedRun.history[2]
        fourth.epoch = 4
        run.main(.epoch(fourth), at: t0 + 6)
        run.close()
        let log = try report(run.path).log
        XCTAssertEqual(log.learningRateReductions.map(\.epoch), [2, 3])
        XCTAssertEqual(log.learningRateReductions.map(\.to), [0.0005, 0.00025])
        XCTAssertNil(log.earlyStop)
    }

    func testADirectoryWithoutLogsIsRefused() throws {
        let path = try temporaryDirectory(self)
        XCTAssertThrowsError(try RunLogReader.read(path)) { error in
            XCTAssertEqual("\(error)", "\(path): no server.jsonl or train.jsonl: not a Backprop run directory")
        }
        XCTAssertThrowsError(try RunLogReader.read(path + "/missing")) { error in
            XCTAssertEqual("\(error)", "\(path)/missing: no such run directory")
        }
    }
}
