import ClusterControl
import Foundation
import XCTest

/// SlurmLauncher and SlurmScaler against stand-in Slurm tools that answer from a table of jobs.
final class SlurmLauncherTests: XCTestCase {
    /// A tiny Slurm: jobs by id with their states; sbatch adds a pending job, scancel marks one cancelled.
    final class FakeSlurm: @unchecked Sendable {
        var states: [String: String] = [:]
        var partitions: [String: String] = [:]
        var calls: [[String]] = []
        var next = 100
        private let lock = NSLock()

        var tools: SlurmTools {
            SlurmTools { [self] tool, arguments, environment in
                lock.lock()
                defer { lock.unlock() }
                calls.append([tool] + arguments)
                switch tool {
                case "sbatch":
                    XCTAssertNotNil(environment["BACKPROP_BIN"])
                    next += 1
                    states[String(next)] = "PENDING"
                    if let index = arguments.firstIndex(of: "--partition") { partitions[String(next)] = arguments[index + 1] }
                    return .init(status: 0, standardOutput: "\(next)\n")
                case "squeue":
                    let ids = arguments.last?.split(separator: ",").map(String.init) ?? []
                    let lines = ids.compactMap { id in states[id].map { "\(id)|\($0)|None|node1" } }
                    return .init(status: 0, standardOutput: lines.joined(separator: "\n") + "\n")
                case "scontrol":
                    let id = arguments.last ?? ""
                    guard let state = states[id] else { return .init(status: 1, standardOutput: "", standardError: "Invalid job id specified") }
                    return .init(status: 0, standardOutput: "JobId=\(id) JobName=x\n   JobState=\(state) Reason=None Dependency=(null)\n   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=\(state == "CANCELLED" ? "0:15" : "0:0")\n   StdOut=/runs/slurm-\(id).out\n")
                case "scancel":
                    if let id = arguments.last, states[id] != nil { states[id] = "CANCELLED" }
                    return .init(status: 0, standardOutput: "")
                default:
                    return .init(status: 127, standardOutput: "")
                }
            }
        }
    }

    private var root = ""
    private var run: ClusterRun!
    private var fake: FakeSlurm!
    private var launcher: SlurmLauncher!
    private var lines: [String] = []
    private var context: ClusterContext!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "backprop-slurm-launcher-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root + "/run", withIntermediateDirectories: true)
        run = ClusterRun(directory: root + "/run")
        run.record([("launcher", "slurm"), ("slurm_job", "42"), ("job_workers", "2"), ("worker_keys", "4")])
        fake = FakeSlurm()
        fake.states["42"] = "RUNNING"
        launcher = SlurmLauncher(binaries: "/opt/backprop/bin", workerScript: "/repo/cluster/slurm/worker.sbatch", tools: fake.tools)
        var settings = ClusterSettings(repository: root, workingDirectory: root)
        settings.stopTimeout = 1
        let console = ClusterConsole(progress: { [weak self] in self?.lines.append($0) }, result: { [weak self] in self?.lines.append($0) })
        context = ClusterContext(settings: settings, launcher: launcher, console: console, interrupted: { false })
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    func testParsesSlurmsAnswers() {
        XCTAssertEqual(SlurmJob.parseSubmitted("123\n"), "123")
        XCTAssertEqual(SlurmJob.parseSubmitted("77;cluster\n"), "77")
        XCTAssertNil(SlurmJob.parseSubmitted("sbatch: error: Batch job submission failed\n"))
        let queue = SlurmJob.parseQueue("12|RUNNING|None|node[1-2]\n13|PENDING|Resources|\n")
        XCTAssertEqual(queue["12"]?.text, "RUNNING on node[1-2]")
        XCTAssertEqual(queue["13"]?.text, "PENDING (Resources)")
        XCTAssertEqual(queue["13"]?.isActive, true)
        let shown = SlurmJob.parseShow("JobId=9 JobName=backprop\n   JobState=COMPLETED Reason=None\n   Restarts=1 ExitCode=0:0\n   NodeList=node1\n   StdOut=/x/slurm-9.out\n")
        XCTAssertEqual(shown?.exitCode, 0)
        XCTAssertEqual(shown?.restarts, 1)
        XCTAssertEqual(shown?.output, "/x/slurm-9.out")
        XCTAssertEqual(shown?.text, "COMPLETED (exit 0), requeued 1x")
        XCTAssertEqual(SlurmJob.parseShow("JobId=9 JobState=CANCELLED ExitCode=0:15")?.exitCode, 143)
    }

    func testTheServersJobIsTheServer() {
        XCTAssertTrue(launcher.holdsRecords(run))
        XCTAssertFalse(launcher.holdsRecords(ClusterRun(directory: root)))
        XCTAssertEqual(launcher.handle(of: .server, in: run), "42")
        XCTAssertTrue(launcher.isRunning(.server, in: run))
        XCTAssertEqual(launcher.state(of: .server, in: run), "RUNNING on node1")
        XCTAssertEqual(launcher.statusNotes(in: run), ["  worker-1..worker-2 run as tasks 1-2 of the server's job 42",
                                                       "  the job's own output: /runs/slurm-42.out"])
        XCTAssertThrowsError(try launcher.launch(.server, arguments: [], in: run, appendingLog: false))
    }

    func testScaleSubmitsAndCancelsWorkerJobs() throws {
        launcher.partition = "spot"
        try SlurmScaler(context, launcher: launcher).scale(run, to: 4)
        XCTAssertEqual(launcher.recordedWorkers(in: run), [3, 4], "worker jobs are numbered after the job's own workers")
        XCTAssertEqual(fake.partitions, ["101": "spot", "102": "spot"])
        let submit = try XCTUnwrap(fake.calls.first { $0.first == "sbatch" })
        XCTAssertEqual(Array(submit.suffix(3)), ["/repo/cluster/slurm/worker.sbatch", run.directory, "3"])
        XCTAssertTrue(submit.contains(run.file("worker-3.log")))
        XCTAssertTrue(lines.contains("cluster: submitted worker-3 (job 101), worker-4 (job 102) to partition spot"), "\(lines)")

        lines = []
        try SlurmScaler(context, launcher: launcher).scale(run, to: 4)
        XCTAssertTrue(lines.contains { $0.contains("nothing to change") }, "\(lines)")

        lines = []
        try SlurmScaler(context, launcher: launcher).scale(run, to: 3)
        XCTAssertEqual(fake.states["102"], "CANCELLED", "the latest worker job goes first")
        XCTAssertEqual(fake.states["101"], "PENDING")
        XCTAssertTrue(lines.contains("cluster: cancelling worker-4 (job 102) (SIGTERM: they leave cleanly)"), "\(lines)")
    }

    func testScaleRefusesWhatItCannotDo() throws {
        XCTAssertThrowsError(try SlurmScaler(context, launcher: launcher).scale(run, to: 1)) { error in
            XCTAssertEqual("\(error)", "the server's job 42 runs 2 worker(s) of its own, which end only with it; scale to 2 or more")
        }
        XCTAssertThrowsError(try SlurmScaler(context, launcher: launcher).scale(run, to: 5)) { error in
            XCTAssertTrue("\(error)".hasPrefix("worker-5 would need a key, and the job made 4"), "\(error)")
        }
        XCTAssertTrue(launcher.recordedWorkers(in: run).isEmpty, "a refused scale submitted nothing")
        fake.states["42"] = "COMPLETED"
        // A fresh launcher: one asks squeue at most every half second.
        let later = SlurmLauncher(binaries: "/opt/backprop/bin", workerScript: "/repo/cluster/slurm/worker.sbatch", tools: fake.tools)
        XCTAssertThrowsError(try SlurmScaler(context.with(launcher: later), launcher: later).scale(run, to: 3)) { error in
            XCTAssertTrue("\(error)".contains("is not queued or running (COMPLETED (exit 0))"), "\(error)")
        }
    }
}
