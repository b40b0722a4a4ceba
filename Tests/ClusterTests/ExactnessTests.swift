import Foundation
import XCTest

/// The headline property: the same seed gives bit-for-bit the same weights however the cluster changes.
final class ExactnessTests: XCTestCase {
    func testOneTwoAndThreeWorkersGiveTheWeightsOfBackpropTrain() throws {
        let run = SmallRun()
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        for count in 1...3 {
            let cluster = try TestCluster(self, workersMin: count, flags: run.flags)
            // With two or more, the last worker comes in through the server's Unix socket, the others over TCP.
            for k in 0..<count { try cluster.addWorker(local: count > 1 && k == count - 1) }
            XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
            for file in ["endpoint", "local-endpoint", "server.ipc"] {
                XCTAssertFalse(FileManager.default.fileExists(atPath: cluster.runDirectory + "/" + file), "\(file) outlived the server")
            }
            XCTAssertEqual(cluster.checkpoint, reference, "\(count) worker(s): final checkpoint differs from backprop train's")
            let steps = cluster.events().filter { $0["event"] as? String == "step" }
            XCTAssertEqual(steps.compactMap { $0["workers"] as? Int }.max(), count, "no step was shared by all \(count) workers")
            for worker in cluster.workers {
                XCTAssertEqual(worker.wait(timeout: 10), 0, worker.output)
            }
            // Without a writable /dev/shm, every worker falls back to payloads.
            if count > 1, FileManager.default.isWritableFile(atPath: "/dev/shm") { try assertOnlyTheLocalWorkerSharedMemory(cluster) }
        }
    }

    /// The worker on the Unix socket took its weights and gave its gradients through a shared-memory
    /// file (its messages carry no values), the TCP ones in payloads; no file is left in /dev/shm.
    private func assertOnlyTheLocalWorkerSharedMemory(_ cluster: TestCluster) throws {
        let joined = cluster.events().filter { $0["event"] as? String == "worker_joined" }
        let payloadBytes = 5_729 * 4  // seed-cnn's parameters
        for (k, worker) in cluster.workers.enumerated() {
            let id = try XCTUnwrap(joined.first { $0["pid"] as? Int == Int(worker.pid) }?["worker"] as? Int)
            let steps = cluster.events().filter { $0["event"] as? String == "worker_step" && $0["worker"] as? Int == id }
            XCTAssertFalse(steps.isEmpty, "worker \(id) logged no steps")
            let local = k == cluster.workers.count - 1
            // Each record adds up the assignments since the worker's last report.
            for step in steps {
                let sent = try XCTUnwrap(step["bytes_sent"] as? Int), received = try XCTUnwrap(step["bytes_received"] as? Int)
                let assignments = try XCTUnwrap(step["assignments"] as? Int)
                if local {
                    XCTAssertLessThan(sent + received, 1_000 * assignments, "the local worker sent or received values: \(step)")
                } else {
                    XCTAssertGreaterThan(sent, payloadBytes * assignments, "a TCP worker sent no gradient values: \(step)")
                }
            }
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").filter { name in
            cluster.workers.contains { name.hasPrefix("backprop-\($0.pid)-") }
        }
        XCTAssertEqual(left, [], "shared-memory files outlived their workers")
    }

    /// Gradients rounded to bfloat16 at the tree's nodes: half the bytes on the wire, and still the
    /// weights of `backprop train` with the same flags, from a TCP worker and a shared-memory one.
    func testBFloat16GradientsAreExactAndHalfTheBytes() throws {
        var run = SmallRun()
        run.gradientPrecision = "bfloat16"
        let reference = try reference(of: run, changedFrom: SmallRun())
        let cluster = try TestCluster(self, workersMin: 2, flags: run.flags)
        try cluster.addWorker()
        try cluster.addWorker(local: true)
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        XCTAssertEqual(cluster.checkpoint, reference, "bfloat16 gradients: the cluster's checkpoint differs from backprop train's")
        let tcpWorker = try XCTUnwrap(cluster.events().first { $0["event"] as? String == "worker_joined" && $0["pid"] as? Int == Int(cluster.workers[0].pid) }?["worker"] as? Int)
        let steps = cluster.events().filter { $0["event"] as? String == "worker_step" && $0["worker"] as? Int == tcpWorker }
        XCTAssertFalse(steps.isEmpty)
        for step in steps {
            let sent = try XCTUnwrap(step["bytes_sent"] as? Int), received = try XCTUnwrap(step["bytes_received"] as? Int)
            // Weights come as float32; each gradient block goes as bfloat16, about half as many bytes.
            XCTAssertLessThan(sent, received, "\(step)")
            XCTAssertGreaterThan(sent, 5_729 * 2 * (step["assignments"] as? Int ?? 1), "\(step)")
        }
    }

    /// Optimiser steps rounded to bfloat16: a TCP worker that holds the last step's weights is sent
    /// the 2-byte step instead of the 4-byte weights, and every worker, one joining mid-run too,
    /// computes with the server's weights to the bit, so the weights are still `backprop train`'s.
    func testBFloat16StepsAreExactAndHalfTheWeightBytes() throws {
        var float32Steps = SmallRun(trainLimit: 3_000)
        float32Steps.gradientPrecision = "bfloat16"
        var run = float32Steps
        run.updatePrecision = "bfloat16"
        let reference = try reference(of: run, changedFrom: float32Steps)
        let cluster = try TestCluster(self, workersMin: 2, flags: run.flags)
        try cluster.addWorker()
        try cluster.addWorker(local: true)
        XCTAssertTrue(cluster.waitForStep(40), "training did not get going:\n\(cluster.server.output)")
        try cluster.addWorker()
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        XCTAssertEqual(cluster.checkpoint, reference, "bfloat16 steps: the cluster's checkpoint differs from backprop train's")

        let weightBytes = 5_729 * 4
        for worker in [cluster.workers[0], cluster.workers[2]] {
            let id = try XCTUnwrap(cluster.workerID(pid: worker.pid))
            // Each report adds up the worker's assignments since its last one.
            let reports = cluster.workerSteps(id)
            let assignments = reports.reduce(0) { $0 + ($1["assignments"] as? Int ?? 0) }
            let received = reports.compactMap { $0["bytes_received"] as? Int }
            XCTAssertGreaterThan(assignments, 10, "worker \(id) did few steps")
            // Its first assignment brings the weights; one that follows a step it took part in brings the step,
            // half as many bytes: on average under 5/8 of the weights' when fewer than 1 in 4 bring the weights.
            XCTAssertGreaterThan(received.first ?? 0, weightBytes, "worker \(id)")
            let perAssignment = received.reduce(0, +) / max(assignments, 1)
            XCTAssertGreaterThan(perAssignment, weightBytes / 2, "worker \(id): \(reports)")
            XCTAssertLessThan(perAssignment, weightBytes * 5 / 8, "worker \(id) was not sent the steps: \(reports)")
        }
    }

    /// `backprop train`'s checkpoint for `run`, a rounding of `unrounded`, which must end elsewhere.
    private func reference(of run: SmallRun, changedFrom unrounded: SmallRun) throws -> Data {
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        XCTAssertNotEqual(reference, try referenceCheckpoint(unrounded.config), "rounding changed nothing")
        return reference
    }

    func testAWorkerKilledMidRunChangesNothing() throws {
        let run = SmallRun(trainLimit: 8_000, epochs: 3)
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        let cluster = try TestCluster(self, workersMin: 3, flags: run.flags)
        for _ in 0..<3 { try cluster.addWorker() }
        XCTAssertTrue(cluster.waitForStep(40), "training did not get going:\n\(cluster.server.output)")
        let victim = cluster.workers[1]
        let killedAt = Date().timeIntervalSince1970
        victim.signal(SIGKILL)
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        XCTAssertEqual(cluster.checkpoint, reference, "the final weights differ from an undisturbed run")

        let events = cluster.events()
        // The server notices either by the worker's silence or because its connection is gone.
        let victimID = events.first { $0["event"] as? String == "worker_joined" && $0["pid"] as? Int == Int(victim.pid) }?["worker"] as? Int
        let lost = try XCTUnwrap(events.first { ["worker_timed_out", "worker_left"].contains($0["event"] as? String) && $0["worker"] as? Int == victimID },
                                 "the loss of the worker was not logged: \(events.compactMap { $0["event"] as? String })")
        let detectedAt = try XCTUnwrap(lost["time"] as? Double)
        XCTAssertLessThan(detectedAt - killedAt, 4, "the dead worker was noticed only after \(detectedAt - killedAt) s")
        // No step was skipped: every global step from 1 to the last appears once.
        let steps = events.filter { $0["event"] as? String == "step" }.compactMap { $0["global_step"] as? Int }
        XCTAssertEqual(steps, Array(1...steps.count))
        XCTAssertEqual(steps.count, run.epochs * Int((Double(run.trainLimit) * 0.9 / 32).rounded(.up)))
    }

    func testAWorkerJoiningMidRunChangesNothing() throws {
        let run = SmallRun(trainLimit: 8_000, epochs: 3)
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        let cluster = try TestCluster(self, workersMin: 1, flags: run.flags)
        try cluster.addWorker()
        XCTAssertTrue(cluster.waitForStep(30), "training did not get going:\n\(cluster.server.output)")
        try cluster.addWorker()
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        XCTAssertEqual(cluster.checkpoint, reference, "the final weights differ from a run with one worker throughout")

        let events = cluster.events()
        let joined = events.filter { $0["event"] as? String == "worker_joined" }.compactMap { $0["worker"] as? Int }
        XCTAssertEqual(joined, [1, 2])
        let admitted = try XCTUnwrap(events.first { $0["event"] as? String == "worker_admitted" && $0["worker"] as? Int == 2 })
        XCTAssertGreaterThanOrEqual(admitted["global_step"] as? Int ?? 0, 30)
        XCTAssertEqual(events.filter { $0["event"] as? String == "step" }.compactMap { $0["workers"] as? Int }.max(), 2)
        for worker in cluster.workers {
            XCTAssertEqual(worker.wait(timeout: 10), 0, worker.output)
        }
    }

    func testAWorkerStoppedBySIGTERMLeavesCleanly() throws {
        let run = SmallRun(trainLimit: 8_000, epochs: 3)
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        let cluster = try TestCluster(self, workersMin: 2, flags: run.flags)
        try cluster.addWorker()
        let leaving = try cluster.addWorker()
        XCTAssertTrue(cluster.waitForStep(20))
        leaving.signal(SIGTERM)
        XCTAssertEqual(leaving.wait(timeout: 10), 0, leaving.output)
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        XCTAssertEqual(cluster.checkpoint, reference)
        let left = cluster.events().filter { $0["event"] as? String == "worker_left" }
        XCTAssertEqual(left.first?["reason"] as? String, "stopped by a signal")
        XCTAssertTrue(cluster.events().filter { $0["event"] as? String == "worker_timed_out" }.isEmpty)
    }

    func testAServerResumedFromItsCheckpointEndsAsAnUninterruptedRun() throws {
        var run = SmallRun(trainLimit: 1_500, epochs: 3)
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        run.epochs = 1
        let first = try TestCluster(self, workersMin: 1, flags: run.flags)
        try first.addWorker()
        XCTAssertEqual(first.waitForServer(), 0, first.server.output)

        run.epochs = 3
        let resumed = try TestCluster(self, workersMin: 2, flags: run.flags + ["--resume", first.runDirectory], runDirectory: first.runDirectory)
        try resumed.addWorker()
        try resumed.addWorker()
        XCTAssertEqual(resumed.waitForServer(), 0, resumed.server.output)
        XCTAssertEqual(resumed.checkpoint, reference)
        let history = try String(contentsOfFile: first.runDirectory + "/history.csv", encoding: .utf8)
        XCTAssertEqual(history.split(separator: "\n").map { $0.prefix(2) }, ["ep", "1,", "2,", "3,"])
    }
}
