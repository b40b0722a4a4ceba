import Foundation
import XCTest

/// `scripts/cluster` (`backprop cluster`) driving real processes: they outlive `start`, `scale` and `stop` manage them,
/// a failed start leaves nothing behind, and an interrupted `run` stops what it started.
final class ClusterCommandTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "backprop-command-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let root = self.root
        addTeardownBlock {
            Self.killEverything(mentioning: root)
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    /// A long run: it is still training when the test stops it.
    private let longRun = ["--", "--epochs", "50", "--train-limit", "3000", "--test-limit", "100"]

    private func script(_ arguments: [String], runs: String? = nil, timeout: Double = 60) throws -> (Int32, String) {
        try runScript(arguments, environment: ["CLUSTER_RUNS": runs ?? root + "/runs"], outputPath: root + "/out-\(UUID().uuidString).log",
                      timeout: timeout, mentioning: root)
    }

    func testStartedProcessesOutliveStartAndStopEndsThem() throws {
        let run = root + "/run"
        let (started, output) = try script(["start", "--no-build", "--config", "cluster/quick.conf", "--run-dir", run] + longRun)
        XCTAssertEqual(started, 0, output)
        XCTAssertTrue(output.contains("cluster: started worker-1 (pid "), output)
        // `start` has exited; its server and two workers run on, detached.
        let running = Self.pgrep(run).split(separator: "\n")
        XCTAssertEqual(running.filter { $0.contains("backprop-server") }.count, 1, "\(running)")
        XCTAssertEqual(running.filter { $0.contains("backprop-worker") }.count, 2, "\(running)")

        let (status, report) = try script(["status", run])
        XCTAssertEqual(status, 0, report)
        XCTAssertTrue(report.contains("(2 worker process(es) running)"), report)
        XCTAssertTrue(report.contains("state:    still running"), report)

        let (scaled, scaleOutput) = try script(["scale", "3", run])
        XCTAssertEqual(scaled, 0, scaleOutput)
        XCTAssertTrue(scaleOutput.contains("3 worker(s) running: worker-1 worker-2 worker-3"), scaleOutput)

        let (stopped, stopOutput) = try script(["stop", run])
        XCTAssertEqual(stopped, 0, stopOutput)
        XCTAssertTrue(stopOutput.contains("server (pid ") && stopOutput.contains("): stopped"), stopOutput)
        XCTAssertEqual(Self.pgrep(root), "", "processes left running after scripts/cluster stop")
        let (waited, waitOutput) = try script(["wait", run])
        XCTAssertEqual(waited, 1, "a stopped run did not finish training: \(waitOutput)")
    }

    func testAStartOnATakenPortLeavesNothingBehind() throws {
        let first = root + "/first"
        let (started, output) = try script(["start", "--no-build", "--config", "cluster/quick.conf", "--workers", "0", "--run-dir", first] + longRun)
        XCTAssertEqual(started, 0, output)
        let endpoint = try String(contentsOfFile: first + "/endpoint", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let port = try XCTUnwrap(endpoint.split(separator: ":").last.map(String.init))

        let otherRuns = root + "/other-runs"
        let (status, failure) = try script(["start", "--no-build", "--config", "cluster/quick.conf", "--port", port], runs: otherRuns)
        XCTAssertEqual(status, 1, failure)
        XCTAssertTrue(failure.contains("port \(port) is taken; pick another with --port P"), failure)
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: otherRuns)) ?? [], [], "a failed start left files behind")

        let (stopped, stopOutput) = try script(["stop", first])
        XCTAssertEqual(stopped, 0, stopOutput)
        XCTAssertEqual(Self.pgrep(root), "")
    }

    func testInterruptingRunStopsTheCluster() throws {
        let run = root + "/run"
        let outputPath = root + "/run.out"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try XCTUnwrap(FileHandle(forWritingAtPath: outputPath))
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repository.appendingPathComponent("scripts/cluster").path, "run", "--no-build", "--config", "cluster/quick.conf",
                             "--run-dir", run] + longRun
        process.currentDirectoryURL = repository
        process.environment = ProcessInfo.processInfo.environment.merging(["CLUSTER_RUNS": root + "/runs"]) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && !readEvents(run + "/server.jsonl").contains(where: { $0["event"] as? String == "step" }) {
            Thread.sleep(forTimeInterval: 0.1)
        }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let text = String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 130, text)
        // While starting (the first second, when it checks on its workers) or while following: either way it stops them.
        XCTAssertTrue(text.contains("cluster: interrupted; stopping the cluster in") || text.contains("cluster: interrupted while starting; stopping what was started"), text)
        XCTAssertEqual(Self.pgrep(root), "", "processes left running after an interrupted scripts/cluster run")
    }
}
