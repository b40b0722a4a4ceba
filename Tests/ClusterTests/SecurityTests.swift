import Foundation
import Messaging
import XCTest

/// CurveZMQ: only workers with an authorized key get in, and nothing else reaches training.
final class SecurityTests: XCTestCase {
    func testOnlyAuthorizedWorkersTrain() throws {
        let run = SmallRun(trainLimit: 1_500, epochs: 1)
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        let keys = NSTemporaryDirectory() + "backprop-keys-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: keys) }
        _ = try CurveKeys.generate(directory: keys + "/cluster", workers: 1)
        _ = try CurveKeys.generate(directory: keys + "/stranger", workers: 1)

        let cluster = try TestCluster(self, workersMin: 1, flags: run.flags + ["--keys", keys + "/cluster"])
        XCTAssertTrue(cluster.server.output.contains("CurveZMQ: 1 authorized worker keys"), cluster.server.output)
        let stranger = try cluster.addWorker(["--key", keys + "/stranger/worker-1.key", "--server-key", keys + "/cluster/server.pub",
                                              "--server-timeout", "3"])
        let keyless = try cluster.addWorker(["--server-timeout", "3"])
        XCTAssertEqual(stranger.wait(timeout: 20), 1, stranger.output)
        XCTAssertTrue(stranger.output.contains("is this worker's public key in its authorized_workers?"), stranger.output)
        XCTAssertEqual(keyless.wait(timeout: 20), 1, keyless.output)
        XCTAssertFalse(cluster.events().contains { $0["event"] as? String == "worker_joined" }, "an unauthorized worker joined")

        let member = try cluster.addWorker(["--key", keys + "/cluster/worker-1.key", "--server-key", keys + "/cluster/server.pub"])
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        XCTAssertEqual(member.wait(timeout: 10), 0, member.output)
        XCTAssertEqual(cluster.checkpoint, reference)
        let denials = cluster.events().filter {
            $0["event"] as? String == "message_rejected" && ($0["reason"] as? String ?? "").contains("not authorized")
        }
        XCTAssertFalse(denials.isEmpty, "the refused key was not logged")
    }

    func testListeningBeyondLoopbackNeedsKeysOrAnExplicitFlag() throws {
        let root = NSTemporaryDirectory() + "backprop-open-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let refused = try Child("backprop-server", ["--host", "0.0.0.0", "--port", "0", "--run-dir", root + "/a"], outputPath: root + "/a.log")
        XCTAssertNotEqual(refused.wait(timeout: 20), 0)
        XCTAssertTrue(refused.output.contains("--host 0.0.0.0 would let anyone who can reach the port join the run"), refused.output)

        let open = try Child("backprop-server", ["--host", "0.0.0.0", "--insecure", "--port", "0", "--run-dir", root + "/b", "--quiet"],
                             outputPath: root + "/b.log")
        addTeardownBlock { open.stop() }
        let deadline = Date().addingTimeInterval(20)
        while !open.output.contains("listening on") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(open.output.contains("warning: listening on 0.0.0.0 without --keys"), open.output)
        open.signal(SIGTERM)
        XCTAssertNotNil(open.wait(timeout: 10))
    }
}
