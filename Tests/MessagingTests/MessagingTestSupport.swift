import Foundation
import Messaging
import XCTest

/// A small deterministic generator (xorshift64) so random tests replay exactly.
struct XorShift64 {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
    }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// A value in `0..<bound` (bound > 0).
    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}

/// One valid message of every kind, with small payloads.
enum Samples {
    static let weights: [Float] = [0.5, -1.25, 3.0, 0, -0.0, 1e-30]

    static let report = GradientReport(
        microbatch: 3, samples: 16, lossSum: 9.75, correct: 11, computeSeconds: 0.125,
        values: [0.01, -0.02, 0.03, -0.04, 0.05, 1e-8]
    )

    static let messages: [Message] = [
        Message(runID: 0, sender: 0, step: 0, body: .join(name: "worker-1", pid: 4242, model: nil)),
        Message(runID: 0, sender: 0, step: 0, body: .join(name: "wörker \"two\"\n", pid: 7, model: "cnn-small")),
        Message(runID: 0xDEAD_BEEF, sender: 2, step: 0, body: .welcome(configJSON: #"{"model":"mlp","batch":64}"#)),
        Message(runID: 0xDEAD_BEEF, sender: 2, step: 0, body: .ready(sharedFile: nil)),
        Message(runID: 0xDEAD_BEEF, sender: 2, step: 0, body: .ready(sharedFile: "/dev/shm/backprop-42-deadbeef-2-x")),
        Message(runID: 0xDEAD_BEEF, sender: 0, step: 17, body: .assignment(
            epoch: 1,
            microbatches: [
                MicrobatchRef(index: 0, positions: 64..<80),
                MicrobatchRef(index: 2, positions: 96..<112),
            ],
            weights: weights
        )),
        Message(runID: 0xDEAD_BEEF, sender: 2, step: 17, body: .gradients(report)),
        Message(runID: 0xDEAD_BEEF, sender: 2, step: 17, body: .heartbeat),
        Message(runID: 0xDEAD_BEEF, sender: 2, step: 18, body: .leave(reason: "SIGTERM")),
        Message(runID: 0xDEAD_BEEF, sender: 0, step: 99, body: .shutdown(reason: "training finished")),
        Message(runID: 0xDEAD_BEEF, sender: 0, step: 0, body: .error(reason: "")),
        Message(runID: 0xDEAD_BEEF, sender: 0, step: 0, body: .rejoin(reason: "this server does not know worker 3")),
        Message(runID: 0xDEAD_BEEF, sender: 2, step: 17, body: .report(StepFigures(
            epoch: 2, assignments: 3, microbatches: 3, samples: 48, computeSeconds: 0.03, waitSeconds: 0.001, sendSeconds: 0.0002,
            bytesSent: 96, bytesReceived: 4_800_123))),
        // Weights and gradients in a shared-memory file: no payload frame.
        Message(runID: 0xDEAD_BEEF, sender: 0, step: 17, body: .assignment(
            epoch: 1, microbatches: [MicrobatchRef(index: 1, positions: 80..<96)], weights: [])),
        // Weights the worker holds already: no payload; a bfloat16 step from the previous weights: 2 bytes a value.
        Message(runID: 0xDEAD_BEEF, sender: 0, step: 17, body: .assignment(
            epoch: 1, microbatches: [MicrobatchRef(index: 3, positions: 112..<128)], form: .held, weights: [])),
        Message(runID: 0xDEAD_BEEF, sender: 0, step: 18, body: .assignment(
            epoch: 1, microbatches: [MicrobatchRef(index: 0, positions: 0..<16)], form: .bfloat16Step,
            weights: [0.5, -0.00390625, 0, 3, BFloat16.round(-1.5e-5), -2])),
        Message(runID: 0xDEAD_BEEF, sender: 2, step: 17, body: .gradients(GradientReport(
            microbatch: 1, samples: 16, lossSum: 3.5, correct: 9, computeSeconds: 0.01, values: []))),
    ]

    static func message(_ kind: MessageKind) -> Message {
        messages.first { $0.kind == kind }!
    }
}

extension Array where Element == UInt8 {
    /// A copy with `value` written little-endian at `offset`.
    func writing<Value: FixedWidthInteger>(_ value: Value, at offset: Int) -> [UInt8] {
        var copy = self
        Swift.withUnsafeBytes(of: value.littleEndian) { bytes in
            for (index, byte) in bytes.enumerated() { copy[offset + index] = byte }
        }
        return copy
    }
}

/// Asserts that decoding `frames` throws exactly `expected`.
func assertRejects(
    _ frames: [[UInt8]],
    limits: MessageLimits = MessageLimits(),
    _ expected: WireError,
    file: StaticString = #filePath,
    line: UInt = #line
) {
    do {
        let message = try Message(frames: frames, limits: limits)
        XCTFail("decoded \(message), expected \(expected)", file: file, line: line)
    } catch {
        XCTAssertEqual(error, expected, file: file, line: line)
    }
}

/// Asserts that decoding `frames` throws a `.malformedBody` (any reason).
func assertMalformed(
    _ frames: [[UInt8]],
    limits: MessageLimits = MessageLimits(),
    file: StaticString = #filePath,
    line: UInt = #line
) {
    do {
        let message = try Message(frames: frames, limits: limits)
        XCTFail("decoded \(message), expected malformedBody", file: file, line: line)
    } catch {
        guard case .malformedBody = error else {
            return XCTFail("got \(error), expected malformedBody", file: file, line: line)
        }
    }
}

/// Frames for a message of `kind` with a hand-made body and, optionally, payload.
func rawFrames(kind: MessageKind, body: [UInt8], payload: [Float] = []) -> [[UInt8]] {
    var header = Message(runID: 1, sender: 1, step: 1, body: .heartbeat).encoded()[0]
    header = header.writing(kind.rawValue, at: 6)
        .writing(UInt32(body.count), at: 20)
        .writing(UInt64(payload.count), at: 32)
    return payload.isEmpty ? [header, body] : [header, body, LittleEndianFloats.bytes(payload)]
}

/// A thread-safe slot for a result produced on another thread.
final class Box<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?

    var value: Value? {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
