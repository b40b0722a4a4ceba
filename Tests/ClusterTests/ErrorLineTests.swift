import Foundation
import XCTest

/// The cluster's processes and `scripts/cluster` say what is wrong in lines that start `error:`, with the exit codes
/// the README gives: 64 for a usage error of backprop-server and backprop-worker, 2 for one of the cluster script.
final class ErrorLineTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "backprop-errors-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let root = self.root
        addTeardownBlock {
            Self.killEverything(mentioning: root)
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    /// Runs `name` with `arguments` to the end; its exit code and its lines (stdout and stderr together).
    private func run(_ name: String, _ arguments: [String]) throws -> (Int32?, [String]) {
        let child = try Child(name, arguments, outputPath: root + "/\(name)-\(UUID().uuidString).log")
        let status = child.wait(timeout: 30)
        child.stop()
        return (status, child.output.split(separator: "\n").map(String.init))
    }

    func testServerAndWorkerUsageErrorsExit64WithLowerCaseErrors() throws {
        let pets = root + "/pets"
        try FileManager.default.createDirectory(atPath: pets + "/cat", withIntermediateDirectories: true)
        let cases: [(String, [String], String)] = [
            ("backprop-server", ["--port", "99999"], "error: --port must be in 0...65535, got 99999"),
            ("backprop-server", ["--epochs", "x"], "error: The value 'x' is invalid for '--epochs <epochs>'"),
            ("backprop-server", ["--data", pets, "--run-dir", root + "/run"], "error: --data \"\(pets)\" is a directory, but --data needs a scheme: did you mean --data folder:\(pets)?"),
            ("backprop-worker", ["--server", "localhost:5555"], "error: --server must be an address such as tcp://127.0.0.1:5555, got 'localhost:5555'"),
            ("backprop-worker", [], "error: Missing expected argument '--server <server>'"),
        ]
        for (name, arguments, expected) in cases {
            let (status, lines) = try run(name, arguments)
            XCTAssertEqual(status, 64, "\(name) \(arguments): \(lines)")
            XCTAssertTrue(lines.first?.hasPrefix(expected) == true, "\(name) \(arguments): \(lines)")
            XCTAssertFalse(lines.contains { $0.hasPrefix("Error") }, "\(lines)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/run"), "a refused server left its run directory")
    }

    private func script(_ arguments: [String]) throws -> (Int32, [String]) {
        let (status, output) = try runScript(arguments, environment: ["CLUSTER_RUNS": root + "/runs"],
                                             outputPath: root + "/out-\(UUID().uuidString).log", timeout: 60, mentioning: root)
        return (status, output.split(separator: "\n").map(String.init))
    }

    func testAnUnknownDefinitionKeySuggestsTheKeyMeant() throws {
        let cases = [("EPOCS=3", "EPOCHS"), ("batch_size=16", "BATCH_SIZE"), ("LEARNING_RATE=0.01", "LR"),
                     ("WORKER=2", "WORKERS"), ("NUM_GPUS=2", nil as String?)]
        for (line, meant) in cases {
            let definition = root + "/typo.conf"
            try Data("# a cluster with a typo\n\(line)\n".utf8).write(to: URL(fileURLWithPath: definition))
            let (status, lines) = try script(["start", "--no-build", "--config", definition])
            XCTAssertEqual(status, 2, "\(line): \(lines)")
            let name = String(line.prefix { $0 != "=" })
            if let meant {
                XCTAssertEqual(lines.first?.hasPrefix("error: \(definition):2: unknown key '\(name)'; did you mean \(meant)? (known: PORT, HOST, "), true,
                               "\(line): \(lines)")
            } else {
                // A key like no known one gets no guess.
                XCTAssertEqual(lines.first?.hasPrefix("error: \(definition):2: unknown key '\(name)' (known: "), true, "\(line): \(lines)")
                XCTAssertFalse(lines.joined().contains("did you mean"), "\(lines)")
            }
            XCTAssertEqual(lines.last, "run 'scripts/cluster help' for usage", "\(lines)")
        }
        // A flag's spelling is no KEY=VALUE line, but the key is plain.
        try Data("SERVER-TIMEOUT=5\n".utf8).write(to: URL(fileURLWithPath: root + "/dash.conf"))
        let (status, lines) = try script(["start", "--no-build", "--config", root + "/dash.conf"])
        XCTAssertEqual(status, 2, "\(lines)")
        XCTAssertEqual(lines.first, "error: \(root)/dash.conf:1: malformed line 'SERVER-TIMEOUT=5' (expected KEY=VALUE); did you mean SERVER_TIMEOUT?")
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: root + "/runs")) ?? [], [])
    }

    func testClusterUsageErrorsExit2AndFailuresExit1() throws {
        let (usage, usageLines) = try script(["start", "--no-build", "--bogus"])
        XCTAssertEqual(usage, 2, "\(usageLines)")
        XCTAssertEqual(usageLines.first, "error: Unknown option '--bogus'", "\(usageLines)")

        let (scale, scaleLines) = try script(["scale", "-1"])
        XCTAssertEqual(scale, 2, "\(scaleLines)")
        XCTAssertTrue(scaleLines.first?.hasPrefix("error: ") == true, "\(scaleLines)")

        let (failure, failureLines) = try script(["status", root + "/no-such-run"])
        XCTAssertNotEqual(failure, 0, "\(failureLines)")
        XCTAssertTrue(failureLines.first?.hasPrefix("error: ") == true, "\(failureLines)")
        for line in usageLines + scaleLines + failureLines {
            XCTAssertFalse(line.hasPrefix("Error") || line.hasPrefix("cluster: error"), line)
        }
    }
}
