import Foundation
import Messaging
import Training
import XCTest

/// Garbage on the server's socket: dropped and counted, never applied, never a crash.
final class HostileInputTests: XCTestCase {
    func testAFloodOfGarbageChangesNothing() throws {
        let run = SmallRun(trainLimit: 6_000, epochs: 3)
        let reference = try XCTUnwrap(try referenceCheckpoint(run.config))
        let cluster = try TestCluster(self, workersMin: 2, flags: run.flags, workerTimeout: 3)
        try cluster.addWorker()
        try cluster.addWorker()
        XCTAssertTrue(cluster.waitForStep(5))

        let context = try ZMQContext()
        defer { context.close() }
        let rogue = try ZMQSocket(context: context, kind: .dealer)
        defer { rogue.close() }
        try rogue.setHighWaterMarks(send: 100_000, receive: 100_000)
        try rogue.connect(cluster.endpoint)
        let parameters = 5_729
        var generator = SystemRandomNumberGenerator()
        var sent = 0, oversized = 0
        let started = Date()
        while cluster.server.isRunning && Date().timeIntervalSince(started) < 20 {
            let step = UInt64.random(in: 0...200, using: &generator)
            let frames: [[UInt8]]
            switch sent % 8 {
            case 0: // random bytes in 1–3 frames
                frames = (0..<Int.random(in: 1...3, using: &generator)).map { _ in
                    (0..<Int.random(in: 0...96, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                }
            case 1: // a valid message cut short
                var good = Message(runID: 1, sender: 1, step: step, body: .heartbeat).encoded()
                good[0] = Array(good[0].prefix(Int.random(in: 0..<48, using: &generator)))
                frames = good
            case 2: // another protocol version
                var good = Message(runID: 1, sender: 1, step: step, body: .heartbeat).encoded()
                good[0][4] = 9
                frames = good
            case 3: // gradients from no member, for the wrong run, as a replay would be
                let report = GradientReport(microbatch: 0, samples: 8, lossSum: 1, correct: 4, computeSeconds: 0.01,
                                            values: [Float](repeating: 0.5, count: parameters))
                frames = Message(runID: UInt64.random(in: 1...UInt64.max, using: &generator), sender: 1, step: step,
                                 body: .gradients(report)).encoded()
            case 4: // NaN-carrying gradients
                var values = [Float](repeating: 0, count: parameters)
                values[Int.random(in: 0..<parameters, using: &generator)] = .nan
                var good = Message(runID: 1, sender: 2, step: step, body: .gradients(GradientReport(
                    microbatch: 1, samples: 8, lossSum: 1, correct: 4, computeSeconds: 0.01, values: [Float](repeating: 0, count: parameters)))).encoded()
                good[2] = values.withUnsafeBytes { Array($0) }
                frames = good
            case 5: // gradients of the wrong size
                frames = Message(runID: 1, sender: 1, step: step, body: .gradients(GradientReport(
                    microbatch: 0, samples: 8, lossSum: 1, correct: 4, computeSeconds: 0.01, values: [1, 2, 3]))).encoded()
            case 6: // an assignment, which only the server may send
                frames = Message(runID: 1, sender: 0, step: step, body: .assignment(
                    epoch: 0, microbatches: [MicrobatchRef(index: 0, positions: 0..<8)], weights: [Float](repeating: 1, count: parameters))).encoded()
            default: // once in a while, a frame far larger than any message may be (libzmq drops the connection)
                if sent % 5_000 == 7 {
                    frames = [[UInt8](repeating: 7, count: 4 * parameters + (2 << 20))]
                    oversized += 1
                } else {
                    frames = [Array("BKPR".utf8) + [UInt8](repeating: 0xFF, count: 44), []]
                }
            }
            if try rogue.send(frames, dontWait: true) { sent += 1 }
            _ = try rogue.receive(timeoutMilliseconds: 0)
        }
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        XCTAssertEqual(cluster.checkpoint, reference, "garbage changed the weights")
        let rejected = cluster.events().filter { $0["event"] as? String == "message_rejected" }.count
        XCTAssertGreaterThan(sent, 500, "the flood was too small to mean anything")
        // "Sent" counts what the rogue's socket queued: an oversized frame drops the connection inside
        // libzmq with what was queued behind it, and the run may end before the queue drains.
        XCTAssertGreaterThan(rejected, 1_000, "sent \(sent), rejected \(rejected)")
        XCTAssertTrue(cluster.server.output.contains("messages rejected so far") || rejected < 1_000, "the console should summarise a flood")
        print("garbage flood: \(rejected) messages rejected and logged in \(String(format: "%.1f", seconds)) s of training (\(Int(Double(rejected) / seconds)) per second absorbed; \(sent) queued by the rogue, \(oversized) oversized frames)")
    }

    /// A member speaking the protocol by hand: a shared-memory file of the wrong size is refused
    /// (and left alone), so its weights come in payloads; its gradients without values, which only
    /// a member with a shared file may send, are rejected.
    func testAMemberCannotShareAnUnusableFileOrSendGradientsWithoutValues() throws {
        let cluster = try TestCluster(self, workersMin: 1, flags: SmallRun(trainLimit: 2_000, epochs: 1).flags)
        let context = try ZMQContext()
        defer { context.close() }
        let member = try ZMQSocket(context: context, kind: .dealer)
        defer { member.close() }
        try member.connect(cluster.endpoint)
        func next(_ kind: MessageKind) throws -> Message {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                if let frames = try member.receive(timeoutMilliseconds: 200),
                   let message = try? Message(frames: frames, limits: MessageLimits()), message.kind == kind {
                    return message
                }
            }
            throw NSError(domain: "HostileInputTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "no \(kind) from the server"])
        }
        _ = try member.send(Message(runID: 0, sender: 0, step: 0, body: .join(name: "by-hand", pid: Int(getpid()), model: nil)).encoded(), dontWait: true)
        let welcome = try next(.welcome)
        let (runID, id) = (welcome.runID, welcome.sender)

        let path = "/dev/shm/backprop-\(getpid())-hostile-\(UUID().uuidString)"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(count: 1_000)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try member.send(Message(runID: runID, sender: id, step: 0, body: .ready(sharedFile: path)).encoded(), dontWait: true)
        let assignment = try next(.assignment)
        guard case .assignment(_, let microbatches, _, let weights) = assignment.body else { return XCTFail("\(assignment)") }
        XCTAssertEqual(weights.count, 5_729, "the weights should come in the payload")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), "the server removed a file it refused")

        let first = try XCTUnwrap(microbatches.first)
        let report = GradientReport(microbatch: first.index, samples: first.positions.count, lossSum: 1, correct: 0,
                                    computeSeconds: 0.01, values: [])
        _ = try member.send(Message(runID: runID, sender: id, step: assignment.step, body: .gradients(report)).encoded(), dontWait: true)
        XCTAssertTrue(cluster.waitForEvent(timeout: 10) { ($0["reason"] as? String)?.contains("without values") == true },
                      "value-less gradients were not rejected: \(cluster.events())")
        let refusal = cluster.events().first { ($0["reason"] as? String)?.contains("cannot share memory") == true }
        XCTAssertTrue((refusal?["reason"] as? String)?.contains("has 1000 bytes, expected") == true, "\(String(describing: refusal))")
    }

    /// A server speaking by hand sends a worker process the bfloat16 step to weights it never had, as
    /// after a message lost with a broken connection: the worker computes nothing, says why in its
    /// goodbye, and joins again to be sent the weights in full.
    func testAWorkerSentAStepFromWeightsItNeverHadLeavesAndJoinsAgain() throws {
        var config = SmallRun(trainLimit: 300, epochs: 1).config
        config.updatePrecision = "bfloat16"
        let server = try HandServer(self, config: config)
        let join = try server.welcomeWorker()
        let step = [Float](repeating: BFloat16.round(0.001), count: server.parameterCount)
        try server.send(Message(runID: 9, sender: 0, step: 12, body: .assignment(
            epoch: 0, microbatches: [MicrobatchRef(index: 0, positions: 0..<8)], form: .bfloat16Step, weights: step)), to: join)

        guard case .leave(let reason) = try server.next(.leave).message.body else { return XCTFail("no goodbye") }
        XCTAssertTrue(reason.contains("the assignment of step 12 builds on weights this worker does not hold (it holds no"), reason)
        let again = try server.next(.join)
        XCTAssertEqual(again.routing, join, "the worker should join again as the same peer")
        server.worker.signal(SIGTERM)
        XCTAssertEqual(server.worker.wait(timeout: 10), 0, server.worker.output)
        XCTAssertTrue(server.worker.output.contains("joining again"), server.worker.output)
    }

    /// A worker assigned samples past its training set (its copy of the data is not the server's)
    /// cannot take part: it says why in its goodbye, so its share can go to others, and exits 1
    /// with one error line, instead of leaving the step waiting for it.
    func testAWorkerAssignedSamplesItDoesNotHaveLeavesAndFails() throws {
        let server = try HandServer(self, config: SmallRun(trainLimit: 300, epochs: 1).config)
        let join = try server.welcomeWorker()
        let weights = [Float](repeating: 0.01, count: server.parameterCount)
        try server.send(Message(runID: 9, sender: 0, step: 0, body: .assignment(
            epoch: 0, microbatches: [MicrobatchRef(index: 0, positions: 296..<304)], weights: weights)), to: join)

        guard case .leave(let reason) = try server.next(.leave).message.body else { return XCTFail("no goodbye") }
        XCTAssertTrue(reason.contains("microbatch 0 reaches sample 304, past this worker's 270 training samples"), reason)
        XCTAssertEqual(server.worker.wait(timeout: 10), 1, server.worker.output)
        let lines = server.worker.output.split(separator: "\n").filter { $0.hasPrefix("error: ") }
        XCTAssertEqual(lines, ["error: cannot compute the server's assignment: microbatch 0 reaches sample 304, past this worker's "
                               + "270 training samples; does it read the same data as the server?"], server.worker.output)
    }

    func testBadServerInputGivesOneClearLine() throws {
        let run = SmallRun(trainLimit: 300, epochs: 1)
        let busy = try TestCluster(self, workersMin: 1, flags: run.flags)
        let port = try XCTUnwrap(busy.endpoint.split(separator: ":").last.map(String.init))
        let root = busy.root
        func server(_ arguments: [String], _ name: String) throws -> Child {
            try Child("backprop-server", arguments, outputPath: root + "/\(name).log")
        }
        let cases: [(arguments: [String], mentions: String)] = [
            (["--port", port, "--run-dir", root + "/second"] + run.flags, "cannot listen on tcp://127.0.0.1:\(port): Address already in use"),
            (["--port", "0", "--data", "idx:" + root + "/nowhere", "--run-dir", root + "/nodata"], "\(root)/nowhere: no such directory"),
            (["--port", "0", "--model", "conv8x3-relu,dense2", "--run-dir", root + "/badmodel"], "dense needs a vector input"),
            (["--port", "0", "--resume", root + "/missing"] + run.flags, "\(root)/missing: no such file"),
        ]
        for (index, testCase) in cases.enumerated() {
            let child = try server(testCase.arguments, "case-\(index)")
            XCTAssertEqual(child.wait(timeout: 30), 1, child.output)
            let lines = child.output.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, child.output)
            XCTAssertTrue(child.output.hasPrefix("error: ") && child.output.contains(testCase.mentions), child.output)
        }
        // A server that could not listen left nothing, not even the run directory it made.
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/second"), "a server that never listened left its run directory")
    }
}

/// A server speaking the protocol by hand to a real `backprop-worker` process, over a ROUTER on loopback.
private final class HandServer {
    let worker: Child
    let parameterCount: Int
    private let config: RunConfig
    private let spec: String
    private let context: ZMQContext
    private let socket: ZMQSocket
    private let root: String

    init(_ test: XCTestCase, config: RunConfig) throws {
        let run = try PreparedRun(config: config, testSet: false)
        self.config = config
        (spec, parameterCount) = (run.model.spec, run.model.parameterCount)
        context = try ZMQContext()
        socket = try ZMQSocket(context: context, kind: .router)
        let endpoint = try socket.bind("tcp://127.0.0.1:*")
        root = FileManager.default.temporaryDirectory.appendingPathComponent("hand-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        worker = try Child("backprop-worker", ["--server", endpoint, "--log-dir", root], outputPath: root + "/worker.log")
        test.addTeardownBlock { [self] in
            worker.stop()
            socket.close()
            context.close()
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    /// The next message of `kind` from the worker, with its routing id.
    func next(_ kind: MessageKind) throws -> (routing: [UInt8], message: Message) {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let frames = try socket.receive(timeoutMilliseconds: 200), frames.count > 1,
               let message = try? Message(frames: Array(frames.dropFirst()), limits: MessageLimits()), message.kind == kind {
                return (frames[0], message)
            }
        }
        XCTFail("no \(kind) from the worker:\n\(worker.output)")
        throw CancellationError()
    }

    /// Takes the worker's join, welcomes it as worker 4 of run 9 and waits for it to be ready; its routing id.
    func welcomeWorker() throws -> [UInt8] {
        let join = try next(.join)
        let info: [String: Any] = [
            "config": try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)), "modelSpec": spec,
            "parameterCount": parameterCount, "runDirectory": root, "heartbeatInterval": 0.5,
        ]
        let welcome = String(decoding: try JSONSerialization.data(withJSONObject: info), as: UTF8.self)
        try send(Message(runID: 9, sender: 4, step: 0, body: .welcome(configJSON: welcome)), to: join.routing)
        _ = try next(.ready)
        return join.routing
    }

    func send(_ message: Message, to routing: [UInt8]) throws {
        XCTAssertTrue(try socket.send([routing] + message.encoded()))
    }
}
