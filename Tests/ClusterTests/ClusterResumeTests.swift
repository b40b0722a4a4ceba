import Foundation
import TrainingLog
import XCTest

/// `scripts/cluster stop` then `resume` on real processes: the run goes on in its own directory and ends on the bits
/// of one never stopped; what status says about workers, spares, time left and a stop; and which run `backprop logs`
/// reads without one named.
final class ClusterResumeTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "backprop-resume-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let root = self.root
        addTeardownBlock {
            Self.killEverything(mentioning: root)
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    private var runs: String { root + "/runs" }

    private func script(_ arguments: [String], timeout: Double = 60) throws -> (Int32, String) {
        try runScript(arguments, environment: ["CLUSTER_RUNS": runs], outputPath: root + "/out-\(UUID().uuidString).log",
                      timeout: timeout, mentioning: root)
    }

    /// The run `runs/current` points at.
    private func current() throws -> String {
        try XCTUnwrap(ClusterSettingsProbe.canonical(runs + "/current"), "no runs/current")
    }

    /// Waits until the server of `run` has logged global step `step`.
    private func waitForStep(_ step: Int, in run: String, timeout: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if readEvents(run + "/server.jsonl").contains(where: { $0["event"] as? String == "step" && ($0["global_step"] as? Int ?? 0) >= step }) {
                return true
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    func testAStoppedRunResumesInPlaceAndEndsOnTheBitsOfAnUninterruptedRun() throws {
        let small = SmallRun(trainLimit: 6_000, epochs: 8)
        let (started, startOutput) = try script(["start", "--no-build", "--config", "cluster/quick.conf", "--port", "0", "--workers", "2", "--"] + small.flags)
        XCTAssertEqual(started, 0, startOutput)
        let run = try current()
        XCTAssertTrue(waitForStep(200, in: run), "the run did not reach step 200")

        let (stopped, stopOutput) = try script(["stop"])
        XCTAssertEqual(stopped, 0, stopOutput)
        XCTAssertEqual(Self.pgrep(root), "", "processes left running after scripts/cluster stop")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run + "/summary.json"), "the run finished before it was stopped; make it longer")

        // A stop on request is a stop: not a failure, in the status, its verdict and the server's own log.
        let (_, status) = try script(["status"])
        XCTAssertTrue(status.contains("state:    stopped by a signal at epoch "), status)
        XCTAssertTrue(status.contains("scripts/cluster resume (or backprop-server --resume RUN_DIR) continues it from its checkpoint of global step "), status)
        XCTAssertTrue(status.contains("  stopped by a signal after global step "), status)
        XCTAssertFalse(status.contains("failed"), status)
        let serverLog = try String(contentsOfFile: run + "/server.log", encoding: .utf8)
        XCTAssertFalse(serverLog.contains("failed: stopped") || serverLog.contains("error: stopped"), serverLog)
        let lastLine = serverLog.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(lastLine.hasPrefix("stopped by a signal at epoch ") && lastLine.contains("continues it from its checkpoint"), lastLine)

        // Resumed without naming it (runs/current) or repeating its settings: the definition's EPOCHS=1 is not the run's 8.
        let (resumed, resumeOutput) = try script(["resume", "--no-build"])
        XCTAssertEqual(resumed, 0, resumeOutput)
        XCTAssertTrue(resumeOutput.contains("cluster: resuming ") && resumeOutput.contains("with its own settings (config.json), 2 worker(s)"), resumeOutput)
        XCTAssertTrue(resumeOutput.contains("\n\(run)\n") || resumeOutput.hasSuffix("\n\(run)"), "resume names the run directory: \(resumeOutput)")
        let (waited, waitOutput) = try script(["wait"], timeout: 120)
        XCTAssertEqual(waited, 0, waitOutput)

        // In the same directory, with every epoch, and no other run made.
        XCTAssertEqual(try current(), run)
        let entries = try FileManager.default.contentsOfDirectory(atPath: runs).filter { $0 != "current" }
        XCTAssertEqual(entries, [(run as NSString).lastPathComponent], "resume made another run directory")
        let history = try String(contentsOfFile: run + "/history.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(history.count, 1 + 8, history.joined(separator: "\n"))
        XCTAssertTrue(try String(contentsOfFile: run + "/cluster.txt", encoding: .utf8).contains("resume_command="))
        let checkpoint = FileManager.default.contents(atPath: run + "/checkpoint.safetensors")
        XCTAssertNotNil(checkpoint)
        XCTAssertEqual(checkpoint, try referenceCheckpoint(small.config), "the resumed run's weights differ from an uninterrupted run's")
        let (_, finished) = try script(["status"])
        XCTAssertTrue(finished.contains("state:    finished with test accuracy"), finished)
        XCTAssertEqual(Self.pgrep(root), "")

        // Nothing to resume now.
        let (again, againOutput) = try script(["resume", "--no-build"])
        XCTAssertEqual(again, 1, againOutput)
        XCTAssertTrue(againOutput.contains("has finished; there is nothing to resume"), againOutput)
    }

    func testStatusAndScaleSayWhatTheWorkersDoAndWhenTrainingEnds() throws {
        let long = ["--", "--epochs", "50", "--train-limit", "3000", "--test-limit", "100"]
        let (started, startOutput) = try script(["start", "--no-build", "--config", "cluster/quick.conf", "--port", "0"] + long)
        XCTAssertEqual(started, 0, startOutput)
        let run = try current()
        XCTAssertTrue(waitForStep(20, in: run))

        let (_, status) = try script(["status"])
        XCTAssertTrue(status.contains("workers:  2 running; a step has 4 microbatches (batch 32 ÷ microbatch 8): 2 for each of the 2 workers"), status)
        XCTAssertTrue(status.contains("time:     elapsed ") && status.contains(" since the run started at "), status)
        XCTAssertTrue(status.contains(" left (") && status.contains("ms, the mean of the last "), status)

        let (scaled, scaleOutput) = try script(["scale", "6"])
        XCTAssertEqual(scaled, 0, scaleOutput)
        XCTAssertTrue(scaleOutput.contains("6 worker(s) running: worker-1 worker-2 worker-3 worker-4 worker-5 worker-6"), scaleOutput)
        XCTAssertTrue(scaleOutput.contains("a step has 4 microbatches (batch 32 ÷ microbatch 8), so 2 of the 6 workers are spares"), scaleOutput)
        let (_, spares) = try script(["status"])
        XCTAssertTrue(spares.contains("workers:  6 running; a step has 4 microbatches (batch 32 ÷ microbatch 8), so 2 of the 6 workers are spares"), spares)

        // The server's worker k is the cluster's worker-k: in its log, and so in status and backprop logs.
        let joins = readEvents(run + "/server.jsonl").filter { $0["event"] as? String == "worker_joined" }
        XCTAssertEqual(joins.count, 6, "\(joins)")
        for join in joins {
            XCTAssertEqual(join["name"] as? String, "worker-\(join["worker"] as? Int ?? 0)", "\(join)")
        }
        XCTAssertFalse(spares.contains("the server's worker"), spares)

        let (three, threeOutput) = try script(["scale", "3"])
        XCTAssertEqual(three, 0, threeOutput)
        XCTAssertTrue(threeOutput.contains("uneven shares of 1, 1 and 2 over 3 workers, and every step waits for the busiest; 1, 2 or 4 workers share it evenly"), threeOutput)

        // With no worker left, status says so instead of the last step's count.
        let (none, noneOutput) = try script(["scale", "0"])
        XCTAssertEqual(none, 0, noneOutput)
        var idle = ""
        for _ in 0..<50 {
            idle = try script(["status"]).1
            if idle.contains("state:    still running at epoch") && idle.contains("no worker computing") { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertTrue(idle.contains(", no worker computing: waiting for workers (0 live, 1 needed)"), idle)
        XCTAssertTrue(idle.contains("(0 worker process(es) running)"), idle)
        XCTAssertTrue(idle.contains("no time estimate while no worker computes"), idle)

        let (stopped, stopOutput) = try script(["stop"])
        XCTAssertEqual(stopped, 0, stopOutput)
        XCTAssertEqual(Self.pgrep(root), "")
    }

    func testLogsWithoutARunReadsTheNewestRunOfAnyKind() throws {
        let (ran, runOutput) = try script(["run", "--no-build", "--config", "cluster/quick.conf", "--port", "0", "--",
                                           "--train-limit", "600", "--test-limit", "100"], timeout: 120)
        XCTAssertEqual(ran, 0, runOutput)
        let cluster = (try current() as NSString).lastPathComponent
        let (before, beforeOutput) = try backprop(["logs"])
        XCTAssertEqual(before, 0, beforeOutput)
        XCTAssertTrue(beforeOutput.contains("logs: runs/\(cluster), the newest run under runs/"), beforeOutput)

        // A single-process run with the default run directory: no runs/current moves, and logs reads it.
        let (trained, trainOutput) = try backprop(["train", "--epochs", "1", "--train-limit", "300", "--test-limit", "100"])
        XCTAssertEqual(trained, 0, trainOutput)
        let train = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: runs).first { $0.hasPrefix("train-") }, "no runs/train-*")
        let (after, afterOutput) = try backprop(["logs"])
        XCTAssertEqual(after, 0, afterOutput)
        XCTAssertTrue(afterOutput.contains("logs: runs/\(train), the newest run under runs/"), afterOutput)
        XCTAssertFalse(afterOutput.contains("\nworkers\n"), "a cluster run's report, not the train run's: \(afterOutput)")
        XCTAssertEqual((try current() as NSString).lastPathComponent, cluster, "runs/current is the cluster commands' run")
    }

    /// Runs the built `backprop` with `arguments` from this test's directory (so `runs/` is its own); status and output.
    private func backprop(_ arguments: [String]) throws -> (Int32, String) {
        let program = try XCTUnwrap(executable("backprop"), "cannot find backprop; run swift build -c release")
        let outputPath = root + "/backprop-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try XCTUnwrap(FileHandle(forWritingAtPath: outputPath))
        defer { try? output.close() }
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self))
    }
}

/// Symbolic links resolved, as the cluster commands record paths.
private enum ClusterSettingsProbe {
    static func canonical(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
