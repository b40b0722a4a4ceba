import Foundation
import Messaging
import XCTest

/// Payloads sent from a shared buffer, frames received into reused storage, frames held past the next receive.
final class PayloadBufferTests: XCTestCase {
    private var context: ZMQContext!

    override func setUpWithError() throws {
        context = try ZMQContext()
    }

    override func tearDown() {
        context.close()
        context = nil
    }

    func testOneBufferGoesToEveryPeerAndComesBackFree() throws {
        let router = try ZMQSocket(context: context, kind: .router)
        try router.setRouterMandatory(true)
        let endpoint = try router.bind("tcp://127.0.0.1:*")
        let dealers = try (1...3).map { id -> ZMQSocket in
            let dealer = try ZMQSocket(context: context, kind: .dealer)
            try dealer.setRoutingID([UInt8(id)])
            try dealer.connect(endpoint)
            try dealer.send([[0]])
            return dealer
        }
        for _ in dealers { XCTAssertNotNil(try router.receive(timeoutMilliseconds: 5_000)) }

        let assignment = Samples.message(.assignment)
        guard case let .assignment(epoch, refs, _, weights) = assignment.body else { return XCTFail("no assignment sample") }
        let pool = PayloadPool(elements: weights.count)
        var writer = FrameWriter()
        let inbox = ReceivedFrames()
        for round in 0..<5 {
            let buffer = pool.take()
            weights.withUnsafeBufferPointer { buffer.values.update(from: $0.baseAddress!, count: weights.count) }
            writer.assignment(runID: assignment.runID, step: assignment.step, epoch: epoch, count: refs.count, elementCount: weights.count) { refs[$0] }
            for id in 1...3 {
                XCTAssertTrue(try router.send(routing: [UInt8(id)], header: writer.header, body: writer.body, payload: buffer))
            }
            for dealer in dealers {
                XCTAssertTrue(try dealer.receive(into: inbox, timeoutMilliseconds: 5_000))
                XCTAssertEqual(inbox.copies(), assignment.encoded(), "round \(round)")
            }
            XCTAssertTrue(waitUntil { !buffer.isInFlight }, "libzmq never let go of the buffer")
        }
        XCTAssertEqual(pool.allocated, 1, "a free buffer was not reused")
    }

    func testABufferInFlightIsNotHandedOutAgain() {
        let pool = PayloadPool(elements: 4)
        let first = pool.take()
        XCTAssertFalse(first.isInFlight)
        XCTAssertTrue(pool.take() === first)
        XCTAssertEqual(first.count, 4)
    }

    func testAHeldFrameOutlivesTheNextReceive() throws {
        let a = try ZMQSocket(context: context, kind: .pair)
        try a.bind("inproc://held")
        let b = try ZMQSocket(context: context, kind: .pair)
        try b.connect("inproc://held")
        let big = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try a.send([[1], big])
        try a.send([[2], [9, 9]])

        let inbox = ReceivedFrames()
        let held = HeldFrame()
        XCTAssertTrue(try b.receive(into: inbox, timeoutMilliseconds: 5_000))
        inbox.move(1, to: held)
        XCTAssertTrue(held.isHolding)
        XCTAssertEqual(inbox[1].count, 0, "a moved frame leaves an empty one behind")
        XCTAssertTrue(try b.receive(into: inbox, timeoutMilliseconds: 5_000))
        XCTAssertEqual(inbox.copies(), [[2], [9, 9]])
        XCTAssertEqual(Array(held.bytes), big)
        held.release()
        XCTAssertFalse(held.isHolding)
        XCTAssertEqual(held.bytes.count, 0)
    }

    func testReceivedFramesGrowForLongMessages() throws {
        let a = try ZMQSocket(context: context, kind: .pair)
        try a.bind("inproc://long")
        let b = try ZMQSocket(context: context, kind: .pair)
        try b.connect("inproc://long")
        let frames = (0..<9).map { [UInt8](repeating: UInt8($0), count: $0 * 10) }
        try a.send(frames)
        let inbox = ReceivedFrames(capacity: 2)
        XCTAssertTrue(try b.receive(into: inbox, timeoutMilliseconds: 5_000))
        XCTAssertEqual(inbox.count, 9)
        XCTAssertEqual(inbox.byteCount, 360)
        XCTAssertEqual(inbox.copies(), frames)
        XCTAssertEqual(inbox[9].count, 0)
        XCTAssertFalse(try b.receive(into: inbox, timeoutMilliseconds: 0))
        XCTAssertEqual(inbox.count, 0)
    }

    private func waitUntil(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.001)
        }
        return condition()
    }
}
