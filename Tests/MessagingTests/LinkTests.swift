import Foundation
import Messaging
import XCTest

/// The server's and a worker's ends of the wire over real libzmq sockets on loopback: typed events
/// in, typed messages out, gradients held past the next receive, shared memory, bounded sends.
final class LinkTests: XCTestCase {
    private let parameterCount = 1_000
    private let runID: UInt64 = 0x5EED

    private func server() throws -> ServerLink {
        try ServerLink(endpoint: "tcp://127.0.0.1:*", localEndpoint: nil, runID: runID, parameterCount: parameterCount, curve: nil)
    }

    /// The next event within a few seconds, skipping nothing.
    private func next(_ link: ServerLink, file: StaticString = #filePath, line: UInt = #line) throws -> ServerEvent {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let event = try link.receive(timeoutMilliseconds: 100) { return event }
        }
        XCTFail("no event", file: file, line: line)
        throw CancellationError()
    }

    private func nextAssignment(_ link: WorkerLink) throws -> AssignmentArrival {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if case .assignment(let assignment) = try link.receive(timeoutMilliseconds: 100) { return assignment }
        }
        throw CancellationError()
    }

    /// A worker joined to `server` as member 7; returns it and its routing id as the server sees it.
    private func joinedWorker(_ server: ServerLink, endpoint: String? = nil) throws -> (WorkerLink, [UInt8]) {
        let worker = try WorkerLink(server: endpoint ?? server.endpoint, routingID: Array("w-\(UUID())".utf8), curve: nil)
        XCTAssertEqual(worker.sendJoin(name: "w", pid: 1, model: nil), .sent)
        guard case .control(let join, let peer) = try next(server), join.kind == .join else { throw CancellationError() }
        try worker.joined(runID: runID, id: 7, parameterCount: parameterCount)
        return (worker, peer.id)
    }

    func testAGradientIsHeldPastTheNextReceiveAndSummedFromItsValues() throws {
        let server = try server()
        let (worker, routing) = try joinedWorker(server)
        let weights = (0..<parameterCount).map { Float($0) * 0.5 }
        let ref = MicrobatchRef(index: 2, positions: 16..<24)
        XCTAssertEqual(server.sendAssignment(to: routing, step: 3, epoch: 1, count: 1, weights: weights, previousStep: nil) { _ in ref }, .sent)
        let assignment = try nextAssignment(worker)
        XCTAssertEqual(assignment.microbatches, [ref])
        XCTAssertEqual(assignment.header.step, 3)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: assignment.weights, count: parameterCount)), weights)

        let gradient = worker.gradientBuffer(for: ref.index)
        for index in 0..<parameterCount { gradient[index] = -Float(index) }
        let stats = GradientStats(microbatch: 2, samples: 8, lossSum: 1.5, correct: 6, computeSeconds: 0.01)
        XCTAssertEqual(worker.sendGradients(step: 3, stats: stats, patience: 1).outcome, .sent)
        guard case .gradient(let arrival, _) = try next(server) else { return XCTFail("expected gradients") }
        XCTAssertEqual(arrival.stats, stats)
        XCTAssertEqual(arrival.header, MessageHeader(kind: .gradients, runID: runID, sender: 7, step: 3))
        let held = HeldGradient()
        server.hold(arrival, in: held)
        // Another message arrives and is read: the held gradient is still there, whole.
        XCTAssertEqual(worker.send(.heartbeat, patience: 1), .sent)
        guard case .control(let heartbeat, _) = try next(server) else { return XCTFail("expected a heartbeat") }
        XCTAssertEqual(heartbeat.kind, .heartbeat)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: held.values(count: parameterCount), count: parameterCount)),
                       (0..<parameterCount).map { -Float($0) })
        held.release()
        XCTAssertFalse(held.isHolding)
    }

    func testAWorkerIsSentOnlyTheWeightsItLacks() throws {
        let server = try server()
        let (worker, routing) = try joinedWorker(server)
        let ref = MicrobatchRef(index: 0, positions: 0..<8)
        func assign(step: Int, _ weights: [Float], previousStep: [Float]?) throws -> (weights: [Float], bytes: Int) {
            XCTAssertEqual(server.sendAssignment(to: routing, step: step, epoch: 0, count: 1, weights: weights,
                                                 previousStep: previousStep) { _ in ref }, .sent)
            let assignment = try nextAssignment(worker)
            XCTAssertEqual(assignment.header.step, UInt64(step))
            return (Array(UnsafeBufferPointer(start: assignment.weights, count: parameterCount)), worker.lastMessageBytes)
        }
        let third = (0..<parameterCount).map { Float($0) * 0.37 - 5 }
        let full = try assign(step: 3, third, previousStep: nil)
        XCTAssertEqual(full.weights, third)
        XCTAssertGreaterThan(full.bytes, 4 * parameterCount)

        // Dealt again in the same step: nothing but the microbatches.
        let again = try assign(step: 3, third, previousStep: nil)
        XCTAssertEqual(again.weights, third)
        XCTAssertLessThan(again.bytes, 200)

        // The next step, from the weights it holds: the rounded step, 2 bytes a value, and the same Float32 subtraction.
        let step = (0..<parameterCount).map { BFloat16.round(Float($0 % 7) * 0.001 - 0.003) }
        let fourth = zip(third, step).map { $0 - $1 }
        let stepped = try assign(step: 4, fourth, previousStep: step)
        XCTAssertEqual(stepped.weights.map(\.bitPattern), fourth.map(\.bitPattern))
        XCTAssertLessThan(stepped.bytes, 2 * parameterCount + 200)
        XCTAssertGreaterThan(stepped.bytes, 2 * parameterCount)

        // A step from weights it was never sent (it holds step 4's): the weights in full.
        let sixth = fourth.map { $0 + 1 }
        let skipped = try assign(step: 6, sixth, previousStep: step)
        XCTAssertEqual(skipped.weights, sixth)
        XCTAssertGreaterThan(skipped.bytes, 4 * parameterCount)

        // An assignment that builds on weights the worker does not hold (a message lost on the way) is not computed.
        let lost = Message(runID: runID, sender: 0, step: 8, body: .assignment(epoch: 0, microbatches: [ref], form: .held, weights: []))
        XCTAssertEqual(server.send(lost, to: routing), .sent)
        let deadline = Date().addingTimeInterval(10)
        var missing: (UInt64, UInt64?)?
        while missing == nil, Date() < deadline {
            if case let .weightsMissing(step, held) = try worker.receive(timeoutMilliseconds: 100) { missing = (step, held) }
        }
        XCTAssertEqual(missing?.0, 8)
        XCTAssertEqual(missing?.1, 6)
    }

    func testRefusalsSayWhyAndWhoseMessageItWas() throws {
        let server = try server()
        let (worker, _) = try joinedWorker(server)
        let gradient = worker.gradientBuffer(for: 0)
        gradient.initialize(repeating: 0, count: parameterCount)
        gradient[17] = .nan
        let stats = GradientStats(microbatch: 0, samples: 8, lossSum: 1, correct: 0, computeSeconds: 0)
        XCTAssertEqual(worker.sendGradients(step: 9, stats: stats, patience: 1).outcome, .sent)
        guard case .refused(let refusal, let peer) = try next(server) else { return XCTFail("a NaN gradient was not refused") }
        XCTAssertEqual(refusal.error, .nonFiniteGradient(index: 17))
        XCTAssertEqual(refusal.header, MessageHeader(kind: .gradients, runID: runID, sender: 7, step: 9), "the server cannot tell whose it was")
        XCTAssertNotNil(peer)

        // Another protocol version is refused before anything else is read.
        let stranger = try WorkerLink(server: server.endpoint, routingID: Array("old".utf8), curve: nil)
        XCTAssertEqual(stranger.sendJoin(name: "old", pid: 2, model: nil, protocolVersion: 99), .sent)
        guard case .refused(let old, _) = try next(server) else { return XCTFail("a join of version 99 was not refused") }
        XCTAssertEqual(old.error, .versionMismatch(got: 99))
        XCTAssertNil(old.header)
    }

    func testAWorkerOnThisMachineSharesItsWeightsAndGradientsThroughMemory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("link-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try ServerLink(endpoint: "tcp://127.0.0.1:*", localEndpoint: "ipc://\(directory)/server.ipc", runID: runID,
                                    parameterCount: parameterCount, curve: nil)
        let local = try XCTUnwrap(server.localEndpoint)
        let (worker, routing) = try joinedWorker(server, endpoint: local)
        let file = try XCTUnwrap(worker.offerSharedMemory(name: "\(getpid())-linktests-\(UUID().uuidString.prefix(8))", slots: 3))
        defer { file.removeName() }
        try server.share(file.path, with: routing, slots: 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path), "the server removes the file's name once it has it open")

        let weights = (0..<parameterCount).map { Float($0) + 0.25 }
        XCTAssertEqual(server.sendAssignment(to: routing, step: 1, epoch: 0, count: 1, weights: weights, previousStep: nil) {
            _ in MicrobatchRef(index: 1, positions: 0..<8)
        }, .sent)
        let assignment = try nextAssignment(worker)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: assignment.weights, count: parameterCount)), weights)
        let gradient = worker.gradientBuffer(for: 1)
        for index in 0..<parameterCount { gradient[index] = Float(index) * 2 }
        let sent = worker.sendGradients(step: 1, stats: GradientStats(microbatch: 1, samples: 8, lossSum: 1, correct: 1, computeSeconds: 0),
                                        patience: 1)
        XCTAssertEqual(sent.outcome, .sent)
        XCTAssertLessThan(sent.bytes, 200, "the values went through the file, not the socket")
        guard case .gradient(let arrival, _) = try next(server) else { return XCTFail("expected gradients") }
        let held = HeldGradient()
        server.hold(arrival, in: held)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: held.values(count: parameterCount), count: parameterCount)),
                       (0..<parameterCount).map { Float($0) * 2 })

        // Once the server forgets the worker, value-less gradients from it have no values to hold.
        server.forget(routing)
        XCTAssertEqual(worker.sendGradients(step: 1, stats: arrival.stats, patience: 1).outcome, .sent)
        guard case .gradient(let orphan, _) = try next(server) else { return XCTFail("expected gradients") }
        XCTAssertFalse(orphan.hasValues)
    }

    /// A server that reads nothing: the worker's queue fills, and a gradient send gives up after its
    /// patience with `wouldBlock` instead of blocking for ever or dropping the gradient unsaid.
    func testAGradientThatCannotBeQueuedFailsLoudlyAfterItsPatience() throws {
        let server = try server()
        let worker = try WorkerLink(server: server.endpoint, routingID: Array("flood".utf8), curve: nil)
        try worker.joined(runID: runID, id: 1, parameterCount: parameterCount)
        let stats = GradientStats(microbatch: 0, samples: 1, lossSum: 0, correct: 0, computeSeconds: 0)
        var outcome = SendOutcome.sent
        var sent = 0
        while outcome == .sent && sent < 200_000 {
            worker.gradientBuffer(for: 0).initialize(repeating: 1, count: parameterCount)
            outcome = worker.sendGradients(step: 0, stats: stats, patience: 0.2).outcome
            if outcome == .sent { sent += 1 }
        }
        XCTAssertEqual(outcome, .wouldBlock, "after \(sent) gradients nothing was refused")
        XCTAssertGreaterThan(sent, 0)
    }

    /// A worker that says goodbye and closes at once: the goodbye still reaches the server, every time
    /// (sockets drop what is queued when they close, unless told to wait).
    func testAGoodbyeSentJustBeforeClosingArrives() throws {
        let server = try server()
        for attempt in 0..<30 {
            var worker: WorkerLink? = try WorkerLink(server: server.endpoint, routingID: Array("bye-\(attempt)".utf8), curve: nil)
            try worker?.joined(runID: runID, id: 1, parameterCount: parameterCount)
            XCTAssertEqual(worker?.leave(reason: "stopped by a signal", patience: 2), .sent)
            worker = nil
            guard case .control(let message, _) = try next(server), case .leave(let reason) = message.body else {
                return XCTFail("attempt \(attempt): the goodbye was lost")
            }
            XCTAssertEqual(reason, "stopped by a signal")
        }
    }

    /// In a run that sends bfloat16 gradients, a gradient of rounded values travels in half the bytes and arrives exact.
    func testABFloat16GradientTravelsInHalfTheBytesAndArrivesExact() throws {
        let server = try ServerLink(endpoint: "tcp://127.0.0.1:*", localEndpoint: nil, runID: runID, parameterCount: parameterCount,
                                    gradientValueBytes: BFloat16.size, curve: nil)
        let worker = try WorkerLink(server: server.endpoint, routingID: Array("bf16".utf8), curve: nil)
        try worker.joined(runID: runID, id: 3, parameterCount: parameterCount, gradientValueBytes: BFloat16.size)
        let gradient = worker.gradientBuffer(for: 0)
        let values = (0..<parameterCount).map { BFloat16.round(Float($0) * -0.013 + 1e-3) }
        for index in 0..<parameterCount { gradient[index] = values[index] }
        let stats = GradientStats(microbatch: 0, samples: 8, lossSum: 1, correct: 0, computeSeconds: 0)
        let sent = worker.sendGradients(step: 0, stats: stats, patience: 1)
        XCTAssertEqual(sent.outcome, .sent)
        XCTAssertEqual(sent.bytes, 48 + 32 + parameterCount * 2, "header, body, and two bytes a value")
        guard case .gradient(let arrival, _) = try next(server) else { return XCTFail("expected gradients") }
        let held = HeldGradient()
        server.hold(arrival, in: held)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: held.values(count: parameterCount), count: parameterCount)).map(\.bitPattern),
                       values.map(\.bitPattern))
    }

    func testBFloat16RoundsToNearestEven() {
        XCTAssertEqual(BFloat16.round(1.0), 1.0)
        XCTAssertEqual(BFloat16.round(Float(bitPattern: 0x3F80_8000)).bitPattern, 0x3F80_0000, "a tie goes to the even neighbour")
        XCTAssertEqual(BFloat16.round(Float(bitPattern: 0x3F81_8000)).bitPattern, 0x3F82_0000, "a tie goes to the even neighbour")
        XCTAssertEqual(BFloat16.round(Float(bitPattern: 0x3F80_8001)).bitPattern, 0x3F81_0000)
        XCTAssertEqual(BFloat16.round(-0.0).bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertEqual(BFloat16.round(.greatestFiniteMagnitude), .infinity, "past the largest bfloat16")
    }
}
