import Foundation
import XCTest

/// A real `backprop-worker` whose server does not answer says so at once and then every few seconds, as torchrun
/// reports its rendezvous retries, instead of being silent until it gives up.
final class WorkerRetryTests: XCTestCase {
    /// A loopback TCP port nobody listens on: bound by the kernel's choice, then closed.
    private func unusedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        XCTAssertTrue(bound, "cannot bind a loopback port: \(String(cString: strerror(errno)))")
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func testAWorkerWithoutAServerSaysItIsRetryingAndReportsProgress() throws {
        let root = NSTemporaryDirectory() + "backprop-retry-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let server = "tcp://127.0.0.1:\(try unusedPort())"
        let started = Date()
        let worker = try Child("backprop-worker", ["--server", server, "--server-timeout", "11", "--name", "w1"],
                               outputPath: root + "/worker.log")
        addTeardownBlock { worker.stop() }

        // Within a couple of seconds it says that it is retrying, and when it will give up.
        let retrying = "worker w1: no answer from \(server) yet; retrying every 1 s, giving up after 11 s (--server-timeout)"
        while !worker.output.contains(retrying) && Date().timeIntervalSince(started) < 3 { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertTrue(worker.output.contains(retrying), "nothing said after \(Date().timeIntervalSince(started)) s:\n\(worker.output)")

        XCTAssertEqual(worker.wait(timeout: 30), 1, worker.output)
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThanOrEqual(elapsed, 11)
        XCTAssertLessThan(elapsed, 20)
        let lines = worker.output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, [
            "worker w1: joining \(server)",
            retrying,
            "worker w1: still trying \(server): 5 s of 11",
            "worker w1: still trying \(server): 10 s of 11",
            "error: no answer from \(server) for 11 s; is the server running?",
        ])
    }

    /// A worker whose server comes up while it waits joins, having said only that it was retrying.
    func testAWorkerThatJoinsLateSaysNoMore() throws {
        let root = NSTemporaryDirectory() + "backprop-late-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let port = try unusedPort()
        let worker = try Child("backprop-worker", ["--server", "tcp://127.0.0.1:\(port)", "--server-timeout", "30", "--name", "w1"],
                               outputPath: root + "/worker.log")
        addTeardownBlock { worker.stop() }
        Thread.sleep(forTimeInterval: 1.6)
        let server = try Child("backprop-server", ["--port", String(port), "--run-dir", root + "/run", "--quiet"] + SmallRun(trainLimit: 300, epochs: 1).flags,
                               outputPath: root + "/server.log")
        addTeardownBlock { server.stop() }
        XCTAssertEqual(server.wait(timeout: 60), 0, server.output)
        XCTAssertEqual(worker.wait(timeout: 10), 0, worker.output)
        let said = worker.output.split(separator: "\n").filter { $0.contains("no answer") || $0.contains("still trying") }
        XCTAssertEqual(said.count, 1, worker.output)
        XCTAssertTrue(worker.output.contains("worker w1: done (training finished)"), worker.output)
    }
}
