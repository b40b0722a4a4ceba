import Messaging
import XCTest

/// The no-copy decoding path (`Envelope`, `gradientStats()`, `AssignmentDecoder`) agrees with `Message(frames:)`.
final class EnvelopeTests: XCTestCase {
    func testEveryKindDecodesAsMessageDoes() throws {
        var assignments = AssignmentDecoder()
        for message in Samples.messages {
            let frames = message.encoded()
            let limits = MessageLimits(parameterCount: message.kind == .assignment || message.kind == .gradients ? 6 : nil)
            try withEnvelope(frames, limits: limits) { envelope in
                XCTAssertEqual(envelope.kind, message.kind)
                XCTAssertEqual(envelope.runID, message.runID)
                XCTAssertEqual(envelope.sender, message.sender)
                XCTAssertEqual(envelope.step, message.step)
                XCTAssertEqual(try Message(envelope), message)
                switch message.body {
                case .gradients(let report):
                    XCTAssertEqual(try envelope.gradientStats(), report.stats)
                    XCTAssertEqual(LittleEndianFloats.floats(envelope.payload), report.values)
                case let .assignment(epoch, refs, _, weights):
                    try assignments.decode(envelope)
                    XCTAssertEqual(assignments.epoch, epoch)
                    XCTAssertEqual(assignments.microbatches, refs)
                    XCTAssertEqual(envelope.elementCount, weights.count)
                default:
                    XCTAssertEqual(envelope.elementCount, 0)
                }
            }
        }
    }

    func testNonFiniteGradientsAreRefusedWithTheFirstIndex() throws {
        for (index, bad) in [(0, Float.nan), (4_095, .infinity), (4_096, -.infinity), (9_999, .signalingNaN)] {
            var values = [Float](repeating: 0.5, count: 10_000)
            values[index] = bad
            if index < 9_999 { values[9_999] = .nan }
            let frames = Message(runID: 1, sender: 1, step: 1, body: .gradients(GradientReport(Samples.report.stats, values: values))).encoded()
            try withEnvelope(frames, limits: MessageLimits()) { envelope in
                XCTAssertThrowsError(try envelope.gradientStats()) { XCTAssertEqual($0 as? WireError, .nonFiniteGradient(index: index)) }
            }
            assertRejects(frames, .nonFiniteGradient(index: index))
        }
    }

    func testFirstNonFiniteReadsUnalignedBytes() {
        let values: [Float] = [1, -2, .greatestFiniteMagnitude, -.leastNonzeroMagnitude, .infinity]
        let bytes = [0x55] + LittleEndianFloats.bytes(values)
        bytes.withUnsafeBytes { raw in
            let unaligned = UnsafeRawBufferPointer(rebasing: raw[1...])
            XCTAssertEqual(LittleEndianFloats.firstNonFinite(in: unaligned), 4)
            XCTAssertNil(LittleEndianFloats.firstNonFinite(in: UnsafeRawBufferPointer(rebasing: unaligned[0..<16])))
        }
        // Whole vectors of 16 values, one byte off alignment.
        var many = [Float](repeating: -.greatestFiniteMagnitude, count: 40)
        many[18] = -.nan
        let manyBytes = [0x55] + LittleEndianFloats.bytes(many)
        manyBytes.withUnsafeBytes { raw in
            let unaligned = UnsafeRawBufferPointer(rebasing: raw[1...])
            XCTAssertEqual(LittleEndianFloats.firstNonFinite(in: unaligned), 18)
            XCTAssertNil(LittleEndianFloats.firstNonFinite(in: UnsafeRawBufferPointer(rebasing: unaligned[0..<(16 * 4)])))
        }
    }

    /// Damaged frames: the fast path throws exactly what `Message(frames:)` throws, and accepts exactly what it accepts.
    func testDamagedFramesFailTheFastPathAsTheyFailMessage() {
        var random = XorShift64(seed: 0xFA57_0A7B)
        var assignments = AssignmentDecoder()
        var compared = 0
        for message in Samples.messages where message.kind == .assignment || message.kind == .gradients {
            for _ in 0..<2_000 {
                var frames = message.encoded()
                let frame = random.below(frames.count)
                if !frames[frame].isEmpty {
                    frames[frame][random.below(frames[frame].count)] ^= 1 << UInt8(random.below(8))
                }
                if random.below(8) == 0 { frames[frame].removeLast(random.below(frames[frame].count + 1)) }
                let limits = MessageLimits(parameterCount: random.below(2) == 0 ? nil : 6)
                let slow = Result { () throws(WireError) in try Message(frames: frames, limits: limits) }
                let fast = fastPath(frames, limits: limits, assignments: &assignments)
                switch (slow, fast) {
                case (.success(let decoded), .success(let kind)):
                    XCTAssertEqual(decoded.kind, kind)
                case (.failure(let slowError), .failure(let fastError)):
                    XCTAssertEqual(slowError, fastError)
                default:
                    XCTFail("Message(frames:) gives \(slow), the fast path \(fast)")
                }
                compared += 1
            }
        }
        XCTAssertEqual(compared, 2_000 * Samples.messages.filter { $0.kind == .assignment || $0.kind == .gradients }.count)
    }

    /// What the server and worker do with a step message: check the frames, then the body, without copying the payload.
    private func fastPath(_ frames: [[UInt8]], limits: MessageLimits, assignments: inout AssignmentDecoder) -> Result<MessageKind, WireError> {
        var result: Result<MessageKind, WireError> = .failure(.wrongFrameCount(expected: 2, got: 0))
        try? withEnvelope(frames, limits: limits) { envelope in
            result = Result { () throws(WireError) -> MessageKind in
                switch envelope.kind {
                case .gradients: _ = try envelope.gradientStats()
                case .assignment: try assignments.decode(envelope)
                default: _ = try Message(envelope)
                }
                return envelope.kind
            }
        } onFailure: { error in
            result = .failure(error)
        }
        return result
    }
}

/// Calls `body` with the envelope of `frames`; an envelope error fails the test (or goes to `onFailure`).
func withEnvelope(
    _ frames: [[UInt8]], limits: MessageLimits,
    _ body: (Envelope) throws -> Void, onFailure: (WireError) -> Void = { XCTFail("\($0)") }
) throws {
    func bytes(_ index: Int, _ next: (UnsafeRawBufferPointer) throws -> Void) throws {
        if index < frames.count {
            try frames[index].withUnsafeBytes { try next($0) }
        } else {
            try next(UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }
    try bytes(0) { header in
        try bytes(1) { bodyBytes in
            try bytes(2) { payload in
                do {
                    let envelope = try Envelope(frameCount: frames.count, header: header, body: bodyBytes, payload: payload, limits: limits)
                    try body(envelope)
                } catch let error as WireError {
                    onFailure(error)
                }
            }
        }
    }
}
