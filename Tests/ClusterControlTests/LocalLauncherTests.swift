import ClusterControl
import Foundation
import XCTest

/// The launcher's bookkeeping, with stand-in programs: shell scripts named like the real ones.
final class LocalLauncherTests: XCTestCase {
    private var root = ""
    private var launcher: LocalLauncher!
    private var run: ClusterRun!

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "backprop-launcher-" + UUID().uuidString
        let binaries = root + "/bin"
        try FileManager.default.createDirectory(atPath: binaries, withIntermediateDirectories: true)
        for name in ["backprop-server", "backprop-worker"] {
            let path = binaries + "/" + name
            try "#!/bin/sh\necho \"$0 started\"\nwhile :; do sleep 0.1; done\n".write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
        }
        try FileManager.default.createDirectory(atPath: root + "/run", withIntermediateDirectories: true)
        launcher = LocalLauncher(binaries: binaries)
        run = ClusterRun(directory: root + "/run")
        try launcher.prepare(run)
    }

    override func tearDown() {
        for member in [ClusterMember.server] + (launcher?.recordedWorkers(in: run) ?? []).map(ClusterMember.worker) {
            if launcher?.signal(member, SIGKILL, in: run) == true { _ = launcher?.waitForExit(member, in: run, timeout: 5) }
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    func testLaunchedProcessesAreRecordedWatchedAndStopped() throws {
        XCTAssertTrue(launcher.holdsRecords(run))
        XCTAssertFalse(launcher.holdsRecords(ClusterRun(directory: root)))
        let server = try launcher.launch(.server, arguments: ["--run-dir", run.directory], in: run, appendingLog: false)
        for k in [1, 2, 10] {
            try launcher.launch(.worker(k), arguments: ["--log-dir", run.directory], in: run, appendingLog: false)
        }
        XCTAssertEqual(launcher.handle(of: .server, in: run), server)
        XCTAssertEqual(try String(contentsOfFile: run.file("pids/server.pid"), encoding: .utf8), server + "\n")
        XCTAssertEqual(launcher.recordedWorkers(in: run), [1, 2, 10])
        XCTAssertTrue(launcher.isRunning(.server, in: run))
        XCTAssertEqual(launcher.runningWorkers(in: run), [1, 2, 10])

        XCTAssertTrue(launcher.signal(.worker(2), SIGKILL, in: run))
        XCTAssertEqual(launcher.waitForExit(.worker(2), in: run, timeout: 5), 128 + SIGKILL)
        XCTAssertFalse(launcher.isRunning(.worker(2), in: run))
        XCTAssertFalse(launcher.signal(.worker(2), SIGTERM, in: run), "an ended process is not signalled again")
        XCTAssertEqual(launcher.runningWorkers(in: run), [1, 10])

        // The console log is the member's, in the run directory; an appended log keeps what was there.
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertTrue(try String(contentsOfFile: run.file("worker-1.log"), encoding: .utf8).contains("backprop-worker started"))
        XCTAssertTrue(launcher.signal(.server, SIGTERM, in: run))
        XCTAssertEqual(launcher.waitForExit(.server, in: run, timeout: 5), 128 + SIGTERM)
        try launcher.launch(.server, arguments: ["--run-dir", run.directory], in: run, appendingLog: true)
        Thread.sleep(forTimeInterval: 0.3)
        let log = try String(contentsOfFile: run.file("server.log"), encoding: .utf8)
        XCTAssertEqual(log.components(separatedBy: "backprop-server started").count, 3, log)
    }

    /// A pid file naming a process that is not this run's member (a recycled pid) is never signalled.
    func testAPidOfAnotherProcessIsNotTheMember() throws {
        try "\(getpid())\n".write(toFile: run.file("pids/worker-1.pid"), atomically: true, encoding: .utf8)
        XCTAssertFalse(launcher.isRunning(.worker(1), in: run))
        XCTAssertFalse(launcher.signal(.worker(1), SIGCONT, in: run))
        try "not a pid\n".write(toFile: run.file("pids/worker-2.pid"), atomically: true, encoding: .utf8)
        XCTAssertFalse(launcher.isRunning(.worker(2), in: run))
        XCTAssertEqual(launcher.recordedWorkers(in: run), [1, 2])
    }

    /// A process that must outlive its starter runs in a session of its own.
    func testLaunchedProcessesRunInTheirOwnSession() throws {
        let handle = try launcher.launch(.worker(1), arguments: ["--log-dir", run.directory], in: run, appendingLog: false)
        let pid = try XCTUnwrap(pid_t(handle))
        XCTAssertEqual(getsid(pid), pid)
        XCTAssertNotEqual(getsid(pid), getsid(0))
    }
}
