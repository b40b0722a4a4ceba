import Foundation
import Messaging
import XCTest

final class ZMQSocketTests: XCTestCase {
    private var context: ZMQContext!

    override func setUpWithError() throws {
        context = try ZMQContext()
    }

    override func tearDown() {
        context.close()
        context = nil
    }

    // MARK: - Round trips

    func testInprocRouterDealerRoundTripWithRoutingID() throws {
        let router = try ZMQSocket(context: context, kind: .router)
        try router.bind("inproc://round-trip")
        let dealer = try ZMQSocket(context: context, kind: .dealer)
        try dealer.setRoutingID(Array("worker-1".utf8))
        try dealer.connect("inproc://round-trip")

        XCTAssertTrue(try dealer.send([[1, 2, 3], [], Array(repeating: 7, count: 100_000)]))
        let received = try XCTUnwrap(router.receive(timeoutMilliseconds: 5_000))
        XCTAssertEqual(received, [Array("worker-1".utf8), [1, 2, 3], [], Array(repeating: 7, count: 100_000)])

        XCTAssertTrue(try router.send([Array("worker-1".utf8), [9], [8, 8]]))
        XCTAssertEqual(try dealer.receive(timeoutMilliseconds: 5_000), [[9], [8, 8]])
    }

    func testTCPRouterDealerRoundTripOnEphemeralPort() throws {
        let router = try ZMQSocket(context: context, kind: .router)
        let endpoint = try router.bind("tcp://127.0.0.1:*")
        XCTAssertTrue(endpoint.hasPrefix("tcp://127.0.0.1:"), endpoint)
        XCTAssertNotNil(Int(endpoint.split(separator: ":").last ?? ""), endpoint)

        let dealer = try ZMQSocket(context: context, kind: .dealer)
        try dealer.setRoutingID([0, 1, 2, 3])
        try dealer.setHighWaterMarks(send: 100, receive: 100)
        try dealer.setReconnectInterval(milliseconds: 50)
        try dealer.connect(endpoint)

        let message = Samples.message(.gradients)
        XCTAssertTrue(try dealer.send(message.encoded()))
        let received = try XCTUnwrap(router.receive(timeoutMilliseconds: 5_000))
        XCTAssertEqual(received.first, [0, 1, 2, 3])
        XCTAssertEqual(try Message(frames: Array(received.dropFirst()), limits: MessageLimits(parameterCount: 6)), message)

        let reply = Samples.message(.assignment)
        XCTAssertTrue(try router.send([[0, 1, 2, 3]] + reply.encoded()))
        let frames = try XCTUnwrap(dealer.receive(timeoutMilliseconds: 5_000))
        XCTAssertEqual(try Message(frames: frames, limits: MessageLimits(parameterCount: 6)), reply)
    }

    // MARK: - Timeouts and non-blocking sends

    func testReceiveTimeoutReturnsNil() throws {
        let socket = try ZMQSocket(context: context, kind: .pair)
        try socket.bind("inproc://quiet")
        let start = Date()
        XCTAssertNil(try socket.receive(timeoutMilliseconds: 150))
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.14)
        XCTAssertLessThan(elapsed, 2)

        let pollStart = Date()
        XCTAssertNil(try socket.receive(timeoutMilliseconds: 0))
        XCTAssertLessThan(Date().timeIntervalSince(pollStart), 0.5)
    }

    /// A receive that watches first takes a message sent while it watches, one sent after it has
    /// gone to sleep, and still gives up at its timeout (a watch longer than the timeout included).
    func testReceiveThatWatchesFirstTakesMessagesAndKeepsItsTimeout() throws {
        let router = try ZMQSocket(context: context, kind: .router)
        let endpoint = try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context: context, kind: .dealer)
        try dealer.setRoutingID([7])
        try dealer.connect(endpoint)
        let frames = ReceivedFrames()
        for (k, delay) in [0.0, 0.0002, 0.02].enumerated() {
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: delay)
                _ = try? dealer.send([[UInt8(k)]])
            }
            XCTAssertTrue(try router.receive(into: frames, timeoutMilliseconds: 5_000, watch: .microseconds(500)), "sent after \(delay) s")
            XCTAssertEqual(frames.copies(), [[7], [UInt8(k)]])
        }
        let start = Date()
        XCTAssertFalse(try router.receive(into: frames, timeoutMilliseconds: 20, watch: .seconds(5)))
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
        XCTAssertFalse(try router.receive(into: frames, timeoutMilliseconds: 0, watch: .seconds(5)))
    }

    func testDontWaitWithoutPeerReturnsFalse() throws {
        let dealer = try ZMQSocket(context: context, kind: .dealer)
        XCTAssertFalse(try dealer.send([[1]], dontWait: true))
    }

    func testRouterMandatorySendToUnknownPeerReturnsFalse() throws {
        let router = try ZMQSocket(context: context, kind: .router)
        try router.setRouterMandatory(true)
        try router.bind("inproc://mandatory")
        XCTAssertFalse(try router.send([Array("nobody".utf8), [1]]))
        XCTAssertFalse(try router.send([Array("nobody".utf8), [1]], dontWait: true))
    }

    // MARK: - Errors

    func testBindToPortInUseThrows() throws {
        let first = try ZMQSocket(context: context, kind: .router)
        let endpoint = try first.bind("tcp://127.0.0.1:*")
        let second = try ZMQSocket(context: context, kind: .router)
        XCTAssertThrowsError(try second.bind(endpoint)) { error in
            guard let error = error as? ZMQError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.call, "zmq_bind")
            XCTAssertEqual(error.code, EADDRINUSE)
            XCTAssertTrue(error.description.contains("zmq_bind"), error.description)
            XCTAssertTrue(error.description.contains("Address already in use"), error.description)
        }
    }

    func testConnectToMalformedEndpointThrows() throws {
        let dealer = try ZMQSocket(context: context, kind: .dealer)
        for endpoint in ["not-an-endpoint", "tcp://", "bogus://127.0.0.1:5555"] {
            XCTAssertThrowsError(try dealer.connect(endpoint), endpoint) { error in
                XCTAssertEqual((error as? ZMQError)?.call, "zmq_connect")
                XCTAssertFalse((error as? ZMQError)?.message.isEmpty ?? true)
            }
        }
    }

    func testCloseIsIdempotentAndLaterCallsThrow() throws {
        let socket = try ZMQSocket(context: context, kind: .dealer)
        socket.close()
        socket.close()
        XCTAssertThrowsError(try socket.send([[1]])) { error in
            XCTAssertEqual((error as? ZMQError)?.code, ENOTSOCK)
        }
        XCTAssertThrowsError(try socket.receive(timeoutMilliseconds: 0))

        let other = try ZMQContext()
        other.close()
        other.close()
        XCTAssertThrowsError(try ZMQSocket(context: other, kind: .pair))
    }

    func testContextCloseClosesForgottenSockets() throws {
        let other = try ZMQContext()
        let socket = try ZMQSocket(context: other, kind: .router)
        try socket.bind("inproc://forgotten")
        other.close() // would hang in zmq_ctx_term if the socket stayed open
        XCTAssertThrowsError(try socket.receive(timeoutMilliseconds: 0))
    }

    func testContextCloseWakesABlockedReceive() throws {
        let other = try ZMQContext()
        let socket = try ZMQSocket(context: other, kind: .pair)
        try socket.bind("inproc://blocked")
        let failure = Box<ZMQError>()
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do {
                _ = try socket.receive(timeoutMilliseconds: -1)
            } catch {
                failure.value = error as? ZMQError
            }
            finished.signal()
        }
        Thread.sleep(forTimeInterval: 0.1)
        other.close()
        XCTAssertEqual(finished.wait(timeout: .now() + 5), .success)
        let error = try XCTUnwrap(failure.value)
        XCTAssertTrue(error.isContextTerminated || error.code == ENOTSOCK, "\(error)")
    }

    // MARK: - Size limits

    func testFrameOverMaxMessageSizeIsNeverDelivered() throws {
        let router = try ZMQSocket(context: context, kind: .router)
        try router.setMaxMessageSize(1_024)
        let endpoint = try router.bind("tcp://127.0.0.1:*")

        let big = try ZMQSocket(context: context, kind: .dealer)
        try big.setRoutingID(Array("big".utf8))
        try big.connect(endpoint)
        XCTAssertTrue(try big.send([[UInt8](repeating: 1, count: 4_096)]))
        XCTAssertNil(try router.receive(timeoutMilliseconds: 300))

        let small = try ZMQSocket(context: context, kind: .dealer)
        try small.setRoutingID(Array("small".utf8))
        try small.connect(endpoint)
        XCTAssertTrue(try small.send([[UInt8](repeating: 2, count: 1_024)]))
        let received = try XCTUnwrap(router.receive(timeoutMilliseconds: 5_000))
        XCTAssertEqual(received, [Array("small".utf8), [UInt8](repeating: 2, count: 1_024)])
        XCTAssertNil(try router.receive(timeoutMilliseconds: 200))
    }
}
