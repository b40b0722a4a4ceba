import Foundation
import XCTest

/// `scripts/cluster chaos`: workers killed, frozen and added and the server killed and restarted while a real
/// cluster trains; `backprop cluster chaos` then trains the same flags undisturbed and compares the checkpoints byte for byte.
final class ChaosTests: XCTestCase {
    /// The faults follow training steps, not the clock: the four (one of each kind) are due at 1/5, 2/5, 3/5 and 4/5 of the run's steps
    /// (72,000 samples: about 2,250 steps, the first checkpoint at step 20), so each falls inside training however fast
    /// the machine is, and the test checks that all four fired there.
    func testChaosEndsWithTheWeightsOfAnUndisturbedRun() throws {
        for name in ["backprop", "backprop-server", "backprop-worker"] {
            let path = repository.appendingPathComponent(".build/release/\(name)").path
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: path), "\(path) is missing; run swift build -c release --build-tests")
        }
        let root = NSTemporaryDirectory() + "backprop-chaos-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock {
            Self.killEverything(mentioning: root)
            try? FileManager.default.removeItem(atPath: root)
        }
        let runDirectory = root + "/run"
        let outputPath = root + "/chaos.out"

        let (status, output) = try runScript(
            ["chaos", "--no-build", "--config", "cluster/quick.conf", "--run-dir", runDirectory,
             "--events", "4", "--seed", "5", "--", "--train-limit", "10000", "--epochs", "8"],
            environment: ["CLUSTER_RUNS": root + "/runs"], outputPath: outputPath, timeout: 240, mentioning: root)
        print(output)

        XCTAssertEqual(status, 0, output)
        let faults = output.split(separator: "\n").filter { $0.hasPrefix("chaos: ") && $0.range(of: #"^chaos: \d\d:\d\d:\d\d "#, options: .regularExpression) != nil }
        XCTAssertTrue(faults.contains { $0.contains("killed worker-") && $0.contains("started worker-") }, "no worker was killed and replaced:\n\(output)")
        XCTAssertEqual(faults.filter { $0.contains("killed the server") }.count, 1, "the server must be killed exactly once:\n\(output)")
        XCTAssertTrue(faults.contains { $0.contains("killed the server") && $0.contains("restarted it") && $0.contains("--resume") },
                      "the server was not restarted:\n\(output)")
        // All four faults fired, each while training ran: after its first step and before its last.
        let injected = faults.filter { !$0.contains("woke worker-") }
        XCTAssertEqual(injected.count, 4, output)
        // Seed 5 draws one fault of each kind (FaultPlanTests checks the draw).
        XCTAssertTrue(output.contains("chaos: final weights identical to an undisturbed run (4 faults: 1 worker kill, 1 worker freeze, 1 extra worker, 1 server restart)"), output)
        XCTAssertTrue(faults.contains { $0.contains("froze worker-") } && faults.contains { $0.contains("woke worker-") }, output)
        XCTAssertTrue(faults.contains { $0.contains("started an extra worker-") }, output)
        let lastStep = readEvents(runDirectory + "/server.jsonl").compactMap { $0["event"] as? String == "step" ? $0["global_step"] as? Int : nil }.max() ?? 0
        for fault in injected {
            let step = fault.range(of: #"at step \d+"#, options: .regularExpression).flatMap { Int(fault[$0].dropFirst(8)) }
            XCTAssertNotNil(step, "a fault without its training step: \(fault)")
            XCTAssertTrue((1..<lastStep).contains(step ?? 0), "a fault outside training (last step \(lastStep)): \(fault)")
        }

        // The workers that were running when the server died rejoined the restarted one by themselves.
        let workerLogs = (try? FileManager.default.contentsOfDirectory(atPath: runDirectory))?
            .filter { $0.hasPrefix("worker-") && $0.hasSuffix(".log") }
            .map { (try? String(contentsOfFile: runDirectory + "/" + $0, encoding: .utf8)) ?? "" } ?? []
        XCTAssertTrue(workerLogs.contains { $0.contains("joining again") }, "no worker rejoined the restarted server")
        // The two checkpoints the script compared are there and equal.
        let cluster = FileManager.default.contents(atPath: runDirectory + "/checkpoint.safetensors")
        let reference = FileManager.default.contents(atPath: runDirectory + "/reference/checkpoint.safetensors")
        XCTAssertNotNil(cluster)
        XCTAssertEqual(cluster, reference)

        // Nothing of the run is left running: the script stopped what it started.
        XCTAssertEqual(Self.pgrep(root), "", "processes left running after scripts/cluster chaos")
        Self.killEverything(mentioning: root)
        try FileManager.default.removeItem(atPath: root)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root))
        XCTAssertEqual(Self.pgrep(root), "")
    }

    func testAClusterDefinitionWithATypoIsOneClearLine() throws {
        let root = NSTemporaryDirectory() + "backprop-conf-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let config = root + "/typo.conf"
        try "# a definition with one typo\nWORKERS=2\nEPOCS=3\n".write(toFile: config, atomically: true, encoding: .utf8)
        let (status, output) = try runScript(["start", "--no-build", "--config", config], environment: ["CLUSTER_RUNS": root + "/runs"],
                                             outputPath: root + "/out.log", timeout: 60, mentioning: root)
        XCTAssertEqual(status, 2, output)
        let first = output.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertTrue(first.contains("\(config):3: unknown key 'EPOCS'"), output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/runs/current"), "a run was started from a bad definition")
    }

    /// `scripts/cluster logs -f` ends with the run, and its exit code says whether training finished.
    func testFollowingLogsExitsZeroOnlyForAFinishedRun() throws {
        let root = NSTemporaryDirectory() + "backprop-follow-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (name, extra) in [("finished", [String]()), ("diverged", ["--lr", "1e30"])] {
            let (status, output) = try runScript(
                ["run", "--no-build", "--workers", "1", "--port", "0", "--run-dir", root + "/" + name, "--",
                 "--epochs", "2", "--train-limit", "300", "--test-limit", "50"] + extra,
                environment: ["CLUSTER_RUNS": root + "/runs"], outputPath: root + "/\(name).log", timeout: 120, mentioning: root)
            XCTAssertEqual(status, name == "finished" ? 0 : 1, output)
        }
        for (name, expected) in [("finished", Int32(0)), ("diverged", Int32(1))] {
            let (status, output) = try runScript(["logs", "-f", root + "/" + name], environment: [:],
                                                 outputPath: root + "/\(name)-logs.out", timeout: 60, mentioning: root)
            XCTAssertEqual(status, expected, output)
        }
    }
}
