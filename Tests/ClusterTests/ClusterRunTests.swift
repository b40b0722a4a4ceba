import Foundation
import TrainingLog
import XCTest

final class ClusterRunTests: XCTestCase {
    func testThreeWorkersLearnAndEveryLogParses() throws {
        var run = SmallRun(trainLimit: 6_000, epochs: 2)
        run.seed = 1
        let cluster = try TestCluster(self, workersMin: 3, flags: run.flags + ["--test-limit", "2000"])
        for _ in 0..<3 { try cluster.addWorker() }
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)

        let summaryData = try XCTUnwrap(FileManager.default.contents(atPath: cluster.runDirectory + "/summary.json"))
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: summaryData) as? [String: Any])
        let accuracy = try XCTUnwrap(summary["test_accuracy"] as? Double)
        XCTAssertGreaterThanOrEqual(accuracy, 0.90)

        let history = try String(contentsOfFile: cluster.runDirectory + "/history.csv", encoding: .utf8)
        XCTAssertEqual(history.split(separator: "\n").count, 3)
        let server = try String(contentsOfFile: cluster.runDirectory + "/server.jsonl", encoding: .utf8)
        for line in server.split(separator: "\n") {
            XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "server.jsonl: \(line)")
        }
        // Every step says where its time went, and the phases fit in the step.
        for step in cluster.events().filter({ $0["event"] as? String == "step" }) {
            let phases = ["assign_seconds", "wait_seconds", "sum_seconds", "update_seconds"].compactMap { step[$0] as? Double }
            XCTAssertEqual(phases.count, 4, "a step lacks its timing: \(step)")
            XCTAssertTrue(phases.allSatisfy { $0 >= 0 }, "\(step)")
            XCTAssertLessThanOrEqual(phases.reduce(0, +), (step["step_seconds"] as? Double ?? 0) + 1e-3, "\(step)")
        }
        let report = RunReport(reader: try RunLogReader.read(cluster.runDirectory))
        XCTAssertTrue(report.log.steps.allSatisfy { $0.record.timing != nil && $0.record.updateSeconds != nil }, "timing lost in reading the log back")
        let timingLine = try XCTUnwrap(report.stepTimingLine())
        XCTAssertTrue(report.render().contains(timingLine), report.render())
        let kinds = Set(cluster.events().compactMap { $0["event"] as? String })
        XCTAssertTrue(kinds.isSuperset(of: ["run_started", "worker_joined", "step", "epoch", "checkpoint", "test"]), "\(kinds)")
        // Each worker reports what it measured to the server, whose log holds it; the worker's own file does not.
        // A report adds up the assignments since the last one, and the reports add up to the run.
        let workerSteps = cluster.events().filter { $0["event"] as? String == "worker_step" }
        let stepEvents = cluster.events().filter { $0["event"] as? String == "step" }
        func total(_ events: [[String: Any]], _ key: String) -> Int { events.reduce(0) { $0 + ($1[key] as? Int ?? 0) } }
        XCTAssertEqual(total(workerSteps, "samples"), total(stepEvents, "samples"), "the workers' reports do not add up to the samples trained")
        XCTAssertGreaterThanOrEqual(total(workerSteps, "assignments"), stepEvents.count, "fewer assignments reported than steps")
        XCTAssertLessThan(workerSteps.count, total(workerSteps, "assignments"), "a report per assignment: they should be added up")
        for id in 1...3 {
            let events = cluster.events().filter { $0["event"] as? String == "worker_step" && $0["worker"] as? Int == id }
            XCTAssertFalse(events.isEmpty, "server.jsonl has no steps of worker \(id)")
            let record = try XCTUnwrap(events.first)
            for key in ["compute_seconds", "wait_seconds", "send_seconds", "bytes_sent", "bytes_received", "global_step", "samples",
                        "assignments"] {
                XCTAssertNotNil(record[key], "worker \(id)'s steps lack \(key)")
            }
            XCTAssertGreaterThan(record["bytes_received"] as? Int ?? 0, 5_729 * 4, "the weights arrive with each assignment")
            let own = readEvents(cluster.runDirectory + "/worker-\(id).jsonl")
            XCTAssertFalse(own.contains { $0["event"] as? String == "worker_step" }, "worker \(id) logged its steps twice")
            let logged = report.log.workers[id]
            XCTAssertEqual(logged?.steps, total(events, "assignments"), "backprop logs does not count worker \(id)'s steps once each")
        }
        XCTAssertTrue(cluster.server.output.contains("test: loss"), cluster.server.output)
    }

    func testAWorkerStartedBeforeTheServerWaitsForIt() throws {
        let root = NSTemporaryDirectory() + "backprop-early-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        // Find a free port by binding a server briefly would race; use a fixed high port unlikely to be taken instead.
        let port = 20_000 + Int(getpid() % 20_000)
        let worker = try Child("backprop-worker", ["--server", "tcp://127.0.0.1:\(port)", "--server-timeout", "20"], outputPath: root + "/worker.log")
        addTeardownBlock { worker.stop() }
        Thread.sleep(forTimeInterval: 1.5)
        let server = try Child("backprop-server", ["--port", String(port), "--run-dir", root + "/run", "--quiet"] + SmallRun(trainLimit: 300, epochs: 1).flags,
                               outputPath: root + "/server.log")
        addTeardownBlock { server.stop() }
        XCTAssertEqual(server.wait(timeout: 60), 0, server.output)
        XCTAssertEqual(worker.wait(timeout: 10), 0, worker.output)
    }

    func testAWorkerWithNoServerGivesUpClearly() throws {
        let root = NSTemporaryDirectory() + "backprop-alone-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let started = Date()
        let worker = try Child("backprop-worker", ["--server", "tcp://127.0.0.1:9", "--server-timeout", "1.5"], outputPath: root + "/worker.log")
        addTeardownBlock { worker.stop() }
        XCTAssertEqual(worker.wait(timeout: 20), 1)
        XCTAssertLessThan(Date().timeIntervalSince(started), 8)
        XCTAssertTrue(worker.output.contains("error: no answer from tcp://127.0.0.1:9"), worker.output)
        XCTAssertTrue(worker.output.contains("is the server running?"), worker.output)
    }

    /// An address no server can have fails at once, naming it, instead of being waited on.
    func testAWorkerAddressWithoutAUsablePortIsAUsageError() throws {
        let root = NSTemporaryDirectory() + "backprop-badport-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        for address in ["tcp://127.0.0.1:99999", "tcp://127.0.0.1", "tcp://127.0.0.1:0"] {
            let worker = try Child("backprop-worker", ["--server", address], outputPath: root + "/worker.log")
            addTeardownBlock { worker.stop() }
            XCTAssertEqual(worker.wait(timeout: 10), 64, worker.output)
            XCTAssertTrue(worker.output.contains("port from 1 to 65535") && worker.output.contains(address), worker.output)
        }
    }

    func testWorkersOfAnotherProtocolOrModelAreRefused() throws {
        let run = SmallRun(trainLimit: 600, epochs: 1)
        let cluster = try TestCluster(self, workersMin: 1, flags: run.flags)
        let oldProtocol = try cluster.addWorker(["--protocol-version", "1"])
        XCTAssertEqual(oldProtocol.wait(timeout: 20), 1, oldProtocol.output)
        XCTAssertTrue(oldProtocol.output.contains("error: refused by the server: protocol version 1 is not supported; this server speaks version 4"), oldProtocol.output)

        let otherModel = try cluster.addWorker(["--model", "mnist-cnn"])
        XCTAssertEqual(otherModel.wait(timeout: 20), 1, otherModel.output)
        XCTAssertTrue(otherModel.output.contains("this server trains seed-cnn"), otherModel.output)
        XCTAssertTrue(otherModel.output.contains("the worker wants mnist-cnn"), otherModel.output)

        // The refused workers never joined; a good worker still trains the run to the end.
        let good = try cluster.addWorker(["--model", "seed-cnn"])
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        XCTAssertEqual(good.wait(timeout: 10), 0, good.output)
        let events = cluster.events()
        XCTAssertEqual(events.filter { $0["event"] as? String == "worker_joined" }.count, 1)
        XCTAssertGreaterThanOrEqual(events.filter { $0["event"] as? String == "message_rejected" }.count, 2)
    }
}
