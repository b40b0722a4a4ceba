import Messaging
import XCTest

/// Random damage to valid encodings: every result must be rejected with a `WireError`
/// or decode to a message that re-encodes to exactly the damaged frames.
final class MessageMutationTests: XCTestCase {
    func testRandomMutationsNeverCrashAndDecodeCanonically() {
        var random = XorShift64(seed: 0x5EED_BA5E_2024)
        let mutationsPerMessage = 3_000
        var accepted = 0
        var rejected: [String: Int] = [:]
        var failures: [String] = []

        for message in Samples.messages {
            let original = message.encoded()
            for round in 0..<mutationsPerMessage {
                var frames = original
                for _ in 0..<(1 + random.below(3)) {
                    mutate(&frames, &random)
                }
                var limits = MessageLimits(parameterCount: random.below(2) == 0 ? nil : Samples.weights.count)
                if random.below(4) == 0 {
                    limits.maxElements = 8
                    limits.maxBodyBytes = 64
                }
                do {
                    let decoded = try Message(frames: frames, limits: limits)
                    accepted += 1
                    if decoded.encoded() != frames, failures.count < 5 {
                        failures.append("\(message.kind) round \(round): \(decoded) re-encodes differently from \(frames)")
                    }
                } catch {
                    rejected[caseName(error), default: 0] += 1
                }
            }
        }

        XCTAssertEqual(failures, [])
        // The mutations must reach past the header checks, not only trip the magic.
        XCTAssertGreaterThan(accepted, 1_000)
        for expected in [
            "wrongFrameCount", "headerSize", "badMagic", "versionMismatch", "unknownKind", "nonZeroReserved",
            "bodyLengthMismatch", "payloadSizeMismatch", "elementCountMismatch", "unexpectedPayload",
            "oversized", "malformedBody", "nonFiniteGradient", "badText",
        ] {
            XCTAssertGreaterThan(rejected[expected, default: 0], 0, "no mutation produced \(expected): \(rejected)")
        }
    }

    private func caseName(_ error: WireError) -> String {
        String(String(describing: Mirror(reflecting: error).children.first?.label ?? "\(error)").prefix { $0 != "(" })
    }

    private func mutate(_ frames: inout [[UInt8]], _ random: inout XorShift64) {
        let frame = frames.isEmpty ? 0 : random.below(frames.count)
        switch random.below(10) {
        case 0, 1: // flip bits
            guard !frames.isEmpty, !frames[frame].isEmpty else { return }
            for _ in 0..<(1 + random.below(4)) {
                let byte = random.below(frames[frame].count)
                frames[frame][byte] ^= 1 << UInt8(random.below(8))
            }
        case 2: // truncate
            guard !frames.isEmpty else { return }
            frames[frame].removeLast(random.below(frames[frame].count + 1))
        case 3: // extend
            guard !frames.isEmpty else { return }
            frames[frame] += random.bytes(1 + random.below(8))
        case 4: // drop a frame
            guard !frames.isEmpty else { return }
            frames.remove(at: frame)
        case 5: // duplicate a frame
            guard !frames.isEmpty else { return }
            frames.insert(frames[frame], at: random.below(frames.count + 1))
        case 6: // insert a random frame
            frames.insert(random.bytes(random.below(64)), at: random.below(frames.count + 1))
        case 7: // swap two frames
            guard frames.count > 1 else { return }
            frames.swapAt(frame, random.below(frames.count))
        default: // overwrite an aligned field with a plausible value, to get past the checks
            guard !frames.isEmpty, frames[frame].count >= 4 else { return }
            let width = random.below(2) == 0 ? 4 : 8
            guard frames[frame].count >= width else { return }
            let offset = random.below((frames[frame].count - width) / 4 + 1) * 4
            let candidates: [UInt64] = [0, 1, 2, 3, 5, 6, 7, 8, 9, 16, 32, 48, 0xFFFF_FFFF, UInt64.max, random.next()]
            let value = candidates[random.below(candidates.count)]
            if width == 4 {
                frames[frame] = frames[frame].writing(UInt32(truncatingIfNeeded: value), at: offset)
            } else {
                frames[frame] = frames[frame].writing(value, at: offset)
            }
        }
    }
}
