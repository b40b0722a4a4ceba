import Foundation
import Messaging
import Training
import XCTest

/// The faults real clusters have: each must leave the final weights exactly as an undisturbed run's.
final class FaultTests: XCTestCase {
    func testAServerKilledAndRestartedEndsAsAnUninterruptedRun() throws {
        let run = SmallRun(trainLimit: 6_000, epochs: 3)
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        let flags = run.flags + ["--checkpoint-every", "10"]
        let first = try TestCluster(self, workersMin: 2, flags: flags)
        try first.addWorker()
        try first.addWorker()
        XCTAssertTrue(first.waitForStep(55), first.server.output)
        first.server.signal(SIGKILL)
        XCTAssertNotNil(first.server.wait(timeout: 10))
        let port = try XCTUnwrap(first.endpoint.split(separator: ":").last.map(String.init))
        // What the resumed server starts from is the checkpoint file, not the log: a kill can land after
        // a checkpoint's rename and before its line in server.jsonl.
        let checkpointed = try XCTUnwrap(Int(try CheckpointFile.metadata(first.runDirectory + "/checkpoint.safetensors")["step"] ?? ""))

        let restartedAt = Date()
        let second = try TestCluster(self, workersMin: 2, flags: flags + ["--resume", first.runDirectory, "--port", port],
                                     runDirectory: first.runDirectory, explicitPort: true)
        XCTAssertEqual(second.waitForServer(), 0, second.server.output)
        XCTAssertEqual(second.checkpoint, reference, "the resumed run's weights differ from an uninterrupted run's")
        // The workers that were running reconnected by themselves and finished cleanly.
        for worker in first.workers {
            XCTAssertEqual(worker.wait(timeout: 15), 0, worker.output)
            XCTAssertTrue(worker.output.contains("joining again"), worker.output)
        }
        // server.jsonl holds both servers' events; the second begins at its run_started.
        let all = second.events()
        let secondStart = try XCTUnwrap(all.lastIndex { $0["event"] as? String == "run_started" })
        let events = all[secondStart...]
        let resumedSteps = events.filter { $0["event"] as? String == "step" }.compactMap { $0["global_step"] as? Int }
        XCTAssertEqual(resumedSteps.first, checkpointed + 1, "the resumed server should start right after the last checkpoint")
        XCTAssertEqual(checkpointed % 10, 0)
        let logged = all[..<secondStart].last { $0["event"] as? String == "checkpoint" }?["step"] as? Int
        XCTAssertTrue(logged == checkpointed || logged == checkpointed - 10, "the log's last checkpoint, \(logged ?? -1), is not the file's \(checkpointed) or the one before")
        XCTAssertEqual(resumedSteps.last, run.epochs * Int((Double(run.trainLimit) * 0.9 / 32).rounded(.up)))
        let history = try String(contentsOfFile: first.runDirectory + "/history.csv", encoding: .utf8)
        XCTAssertEqual(history.split(separator: "\n").map { $0.prefix(2) }, ["ep", "1,", "2,", "3,"])
        print("server restart: \(String(format: "%.2f", Date().timeIntervalSince(restartedAt))) s from restart to the end of the run")
    }

    /// A scheduler's warning before preemption (SIGTERM): the server keeps the weights of the step
    /// boundary it stopped at, says it was stopped, and `--resume` ends as an undisturbed run.
    func testAServerStoppedMidEpochCheckpointsItsStepAndResumesExactly() throws {
        let run = SmallRun(trainLimit: 6_000, epochs: 2)
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        let first = try TestCluster(self, workersMin: 1, flags: run.flags)
        try first.addWorker()
        XCTAssertTrue(first.waitForStep(30), first.server.output)
        first.server.signal(SIGTERM)
        XCTAssertEqual(first.server.wait(timeout: 15), 1, first.server.output)
        XCTAssertTrue(first.server.output.contains("stopped by a signal"), first.server.output)
        let events = first.events()
        let lastStep = try XCTUnwrap(events.last { $0["event"] as? String == "step" }?["global_step"] as? Int)
        let checkpoint = try XCTUnwrap(events.last { $0["event"] as? String == "checkpoint" })
        XCTAssertEqual(checkpoint["step"] as? Int, lastStep, "the checkpoint is not at the step the server stopped after")
        XCTAssertEqual(checkpoint["epoch"] as? Int, 0, "it stopped mid-epoch, before the first epoch's end")

        let second = try TestCluster(self, workersMin: 1, flags: run.flags + ["--resume", first.runDirectory],
                                     runDirectory: first.runDirectory)
        try second.addWorker()
        XCTAssertEqual(second.waitForServer(), 0, second.server.output)
        XCTAssertEqual(second.checkpoint, reference, "the resumed run's weights differ from an uninterrupted run's")
    }

    func testAFrozenWorkerIsDroppedAndRejoinsWithoutStaleGradients() throws {
        // Long enough that the other worker is still training when the frozen one is dropped and wakes.
        let run = SmallRun(trainLimit: 8_000, epochs: 12)
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        let cluster = try TestCluster(self, workersMin: 2, flags: run.flags)
        try cluster.addWorker()
        // On the Unix socket, through a shared-memory file: woken, it goes on writing gradients of a
        // step the server has given to the other worker, into a file the server no longer reads.
        let frozen = try cluster.addWorker(local: true)
        XCTAssertTrue(cluster.waitForStep(20))
        frozen.signal(SIGSTOP)
        // Woken as soon as the server has dropped it (after the 1 s worker timeout).
        let dropped = cluster.waitForEvent(timeout: 30) { $0["event"] as? String == "worker_timed_out" }
        frozen.signal(SIGCONT)
        XCTAssertTrue(dropped, "the server did not drop the frozen worker")
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        XCTAssertEqual(cluster.checkpoint, reference)
        XCTAssertEqual(frozen.wait(timeout: 15), 0, frozen.output)

        let events = cluster.events()
        let frozenID = events.first { $0["event"] as? String == "worker_joined" && $0["pid"] as? Int == Int(frozen.pid) }?["worker"] as? Int
        XCTAssertTrue(events.contains { $0["event"] as? String == "worker_timed_out" && $0["worker"] as? Int == frozenID },
                      "the frozen worker was not dropped")
        let joins = events.filter { $0["event"] as? String == "worker_joined" && $0["pid"] as? Int == Int(frozen.pid) }
        XCTAssertEqual(joins.count, 2, "the frozen worker should join again after it wakes")
        XCTAssertTrue(frozen.output.contains("joining again: dropped after"), frozen.output)
    }

    /// A diverging model's gradients are not finite on every worker: the server stops with one clear
    /// line instead of waiting for a gradient it would accept, and the workers are told why.
    func testADivergingRunStopsTheServerInsteadOfHanging() throws {
        let run = SmallRun(trainLimit: 2_000, epochs: 2, learningRate: 1e30)
        let cluster = try TestCluster(self, workersMin: 2, flags: run.flags)
        let workers = [try cluster.addWorker(), try cluster.addWorker(local: true)]
        XCTAssertEqual(cluster.waitForServer(timeout: 60), 1, cluster.server.output)
        XCTAssertTrue(cluster.server.output.contains("error: training diverged at step "), cluster.server.output)
        let failed = cluster.events().first { $0["event"] as? String == "failed" }
        XCTAssertTrue((failed?["reason"] as? String)?.contains("is not finite") == true, "\(String(describing: failed))")
        for worker in workers {
            XCTAssertEqual(worker.wait(timeout: 15), 0, worker.output)
            XCTAssertTrue(worker.output.contains("training diverged"), worker.output)
        }
    }

    func testASlowWorkerOnlySlowsTheRun() throws {
        let run = SmallRun(trainLimit: 2_000, epochs: 1)
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        let cluster = try TestCluster(self, workersMin: 2, flags: run.flags, workerTimeout: 2)
        try cluster.addWorker()
        let slow = try cluster.addWorker()
        // Freeze the worker for 0.2 s of every 0.3 s: slow, but never silent for the timeout.
        let done = DispatchSemaphore(value: 0)
        let pid = slow.pid
        Thread.detachNewThread {
            while done.wait(timeout: .now() + 0.1) == .timedOut {
                kill(pid, SIGSTOP)
                usleep(200_000)
                kill(pid, SIGCONT)
            }
            kill(pid, SIGCONT)
        }
        let status = cluster.waitForServer()
        done.signal()
        XCTAssertEqual(status, 0, cluster.server.output)
        XCTAssertEqual(cluster.checkpoint, reference)
        XCTAssertFalse(cluster.events().contains { $0["event"] as? String == "worker_timed_out" })
    }

    func testAFailedCheckpointWriteKeepsThePreviousOneAndTrainingGoesOn() throws {
        let run = SmallRun(trainLimit: 6_000, epochs: 3)
        let cluster = try TestCluster(self, workersMin: 1, flags: run.flags + ["--checkpoint-every", "5"])
        // Workers are not started yet, so no checkpoint can be written before the blocker is in place.
        let path = cluster.runDirectory + "/checkpoint.safetensors"
        try cluster.addWorker()
        XCTAssertTrue(cluster.waitForStep(12))
        let before = try XCTUnwrap(FileManager.default.contents(atPath: path))
        // A directory where the server's temporary file would go makes every later write fail. The
        // server may be writing at this moment; its temporary file is renamed away within moments.
        let blocker = path + ".tmp-\(cluster.server.pid)"
        let deadline = Date().addingTimeInterval(10)
        while (try? FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)) == nil {
            XCTAssertLessThan(Date(), deadline, "could not place the blocker at \(blocker)")
            if Date() >= deadline { return }
            usleep(1_000)
        }
        let snapshot = try XCTUnwrap(FileManager.default.contents(atPath: path))
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        let failures = cluster.events().filter { $0["event"] as? String == "checkpoint_failed" }
        XCTAssertFalse(failures.isEmpty)
        XCTAssertTrue((failures.first?["reason"] as? String ?? "").contains("the previous checkpoint is unchanged"))
        XCTAssertTrue(cluster.server.output.contains("checkpoint NOT written"), cluster.server.output)
        XCTAssertEqual(FileManager.default.contents(atPath: path), snapshot, "a failed write changed the checkpoint")
        XCTAssertGreaterThanOrEqual(snapshot.count, before.count / 2)
        XCTAssertNotNil(FileManager.default.contents(atPath: cluster.runDirectory + "/summary.json"), "training did not finish")
    }

    func testATornCheckpointIsRefusedOnResume() throws {
        let run = SmallRun(trainLimit: 600, epochs: 1)
        let cluster = try TestCluster(self, workersMin: 1, flags: run.flags)
        try cluster.addWorker()
        XCTAssertEqual(cluster.waitForServer(), 0)
        let path = cluster.runDirectory + "/checkpoint.safetensors"
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        let resumed = try Child("backprop-server", ["--port", "0", "--resume", cluster.runDirectory] + SmallRun(trainLimit: 600, epochs: 2).flags,
                                outputPath: cluster.root + "/resume.log")
        XCTAssertEqual(resumed.wait(timeout: 30), 1)
        let lines = resumed.output.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, resumed.output)
        XCTAssertTrue(resumed.output.hasPrefix("error: \(path): "), resumed.output)
        XCTAssertTrue(resumed.output.contains("truncated file?"), resumed.output)
    }
}
