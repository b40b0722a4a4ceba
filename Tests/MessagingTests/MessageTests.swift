import Messaging
import XCTest

final class MessageTests: XCTestCase {
    // MARK: - Round trips and layout

    func testEveryKindRoundTrips() throws {
        XCTAssertEqual(Set(Samples.messages.map(\.kind)), Set(MessageKind.allCases))
        for message in Samples.messages {
            let frames = message.encoded()
            let hasPayload: Bool
            switch message.body {
            case .assignment(_, _, _, let weights): hasPayload = !weights.isEmpty
            case .gradients(let report): hasPayload = !report.values.isEmpty
            default: hasPayload = false
            }
            XCTAssertEqual(frames.count, hasPayload ? 3 : 2, "\(message)")
            XCTAssertEqual(frames[0].count, 48)
            let decoded = try Message(frames: frames, limits: MessageLimits(parameterCount: hasPayload ? 6 : nil))
            XCTAssertEqual(decoded, message)
            XCTAssertEqual(decoded.encoded(), frames)
        }
    }

    func testEmptyPayloadsSendTwoFrames() throws {
        let message = Message(runID: 5, sender: 0, step: 1, body: .assignment(epoch: 0, microbatches: [], weights: []))
        let frames = message.encoded()
        XCTAssertEqual(frames.count, 2)
        XCTAssertEqual(try Message(frames: frames, limits: MessageLimits()), message)
    }

    func testGoldenBytes() {
        let message = Message(
            runID: 0x0102_0304_0506_0708, sender: 7, step: 42,
            body: .gradients(GradientReport(
                microbatch: 3, samples: 16, lossSum: 2.5, correct: 9, computeSeconds: 0.5, values: [1.0, -2.0]
            ))
        )
        let header: [UInt8] = [
            0x42, 0x4B, 0x50, 0x52,                         // magic "BKPR"
            0x04, 0x00,                                     // version 4
            0x05, 0x00,                                     // kind 5 = gradients
            0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // run id
            0x07, 0x00, 0x00, 0x00,                         // sender 7
            0x20, 0x00, 0x00, 0x00,                         // body length 32
            0x2A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // step 42
            0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // element count 2
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // reserved
        ]
        let body: [UInt8] = [
            0x03, 0x00, 0x00, 0x00,                         // microbatch 3
            0x10, 0x00, 0x00, 0x00,                         // samples 16
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x40, // loss sum 2.5
            0x09, 0x00, 0x00, 0x00,                         // correct 9
            0x01, 0x00, 0x00, 0x00,                         // microbatches 1
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0x3F, // compute seconds 0.5
        ]
        let payload: [UInt8] = [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0] // 1.0, -2.0
        XCTAssertEqual(message.encoded(), [header, body, payload])
    }

    func testAssignmentAndJoinBodyBytes() {
        let assignment = Message(runID: 1, sender: 0, step: 3, body: .assignment(
            epoch: 2, microbatches: [MicrobatchRef(index: 5, positions: 10..<20)], weights: [1]
        ))
        XCTAssertEqual(assignment.encoded()[1], [
            0x02, 0, 0, 0, 0x01, 0, 0, 0,             // epoch 2, count 1
            0x00, 0, 0, 0, 0, 0, 0, 0,                // weights in full, pad
            0x05, 0, 0, 0, 0, 0, 0, 0,                // index 5, pad
            0x0A, 0, 0, 0, 0, 0, 0, 0,                // start 10
            0x14, 0, 0, 0, 0, 0, 0, 0,                // end 20
        ])
        let join = Message(runID: 0, sender: 0, step: 0, body: .join(name: "w\t1", pid: 12, model: "mlp"))
        XCTAssertEqual(String(decoding: join.encoded()[1], as: UTF8.self), #"{"model":"mlp","name":"w\t1","pid":12}"#)
    }

    func testDescriptionIsOneLineWithoutPayloadValues() {
        let line = Samples.message(.gradients).description
        XCTAssertEqual(line, "gradients run=3735928559 sender=2 step=17 microbatch=3 samples=16 elements=6")
        let join = Samples.messages[1].description
        XCTAssertFalse(join.contains("\n"), join)
        XCTAssertTrue(join.hasPrefix("join run=0 sender=0 step=0 name="), join)
        for message in Samples.messages {
            XCTAssertFalse(message.description.contains("\n"))
        }
    }

    // MARK: - Header and frames

    func testRejectsWrongFrameCounts() {
        let gradients = Samples.message(.gradients).encoded()
        assertRejects([], .wrongFrameCount(expected: 2, got: 0))
        assertRejects([gradients[0]], .wrongFrameCount(expected: 3, got: 1))
        assertRejects(Array(gradients.prefix(2)), .wrongFrameCount(expected: 3, got: 2))
        assertRejects(gradients + [[1, 2, 3]], .wrongFrameCount(expected: 3, got: 4))
        let heartbeat = Samples.message(.heartbeat).encoded()
        assertRejects(heartbeat + [[]], .wrongFrameCount(expected: 2, got: 3))
    }

    func testRejectsTruncatedOrLongHeader() {
        var frames = Samples.message(.ready).encoded()
        frames[0].removeLast()
        assertRejects(frames, .headerSize(got: 47))
        frames[0] = Array(frames[0].prefix(3))
        assertRejects(frames, .headerSize(got: 3))
        frames = Samples.message(.ready).encoded()
        frames[0].append(0)
        assertRejects(frames, .headerSize(got: 49))
    }

    func testRejectsWrongMagic() {
        var frames = Samples.message(.heartbeat).encoded()
        frames[0] = frames[0].writing(UInt32(0x5250_4B43), at: 0)
        assertRejects(frames, .badMagic(got: 0x5250_4B43))
    }

    func testVersionMismatchCarriesTheVersionAndComesFirst() {
        var frames = Samples.message(.join).encoded()
        frames[0] = frames[0].writing(UInt16(5), at: 4)
        assertRejects(frames, .versionMismatch(got: 5))
        // A future version may change everything after the version field; it is still named.
        assertRejects([Array(frames[0].prefix(12))], .versionMismatch(got: 5))
        XCTAssertEqual(WireError.versionMismatch(got: 3).description, "protocol version 3, expected 4")
    }

    func testRejectsUnknownKind() {
        var frames = Samples.message(.heartbeat).encoded()
        frames[0] = frames[0].writing(UInt16(0), at: 6)
        assertRejects(frames, .unknownKind(0))
        frames[0] = frames[0].writing(UInt16(12), at: 6)
        assertRejects(frames, .unknownKind(12))
    }

    func testRejectsNonZeroReserved() {
        var frames = Samples.message(.heartbeat).encoded()
        frames[0] = frames[0].writing(UInt64(1) << 40, at: 40)
        assertRejects(frames, .nonZeroReserved(UInt64(1) << 40))
    }

    func testRejectsBodyLengthMismatch() {
        var frames = Samples.message(.leave).encoded()
        frames[1].append(0x21)
        assertRejects(frames, .bodyLengthMismatch(header: 7, frame: 8))
        frames = Samples.message(.leave).encoded()
        frames[0] = frames[0].writing(UInt32(3), at: 20)
        assertRejects(frames, .bodyLengthMismatch(header: 3, frame: 7))
    }

    func testRejectsPayloadSizeMismatch() {
        var frames = Samples.message(.gradients).encoded()
        frames[2].removeLast()
        assertRejects(frames, .payloadSizeMismatch(expected: 24, got: 23))
        frames = Samples.message(.assignment).encoded()
        frames[2] += [0, 0, 0, 0]
        assertRejects(frames, .payloadSizeMismatch(expected: 24, got: 28))
    }

    func testRejectsPayloadOnKindsWithoutOne() {
        var frames = Samples.message(.heartbeat).encoded()
        frames[0] = frames[0].writing(UInt64(1), at: 32)
        frames.append([0, 0, 0, 0])
        assertRejects(frames, .unexpectedPayload(kind: .heartbeat, elements: 1))
    }

    func testElementCountMustMatchParameterCount() throws {
        let frames = Samples.message(.gradients).encoded()
        assertRejects(frames, limits: MessageLimits(parameterCount: 7), .elementCountMismatch(expected: 7, got: 6))
        assertRejects(
            Samples.message(.assignment).encoded(), limits: MessageLimits(parameterCount: 5),
            .elementCountMismatch(expected: 5, got: 6)
        )
        XCTAssertNoThrow(try Message(frames: frames, limits: MessageLimits(parameterCount: 6)))
        // No values at all is the other size allowed: they are in the sender's shared-memory file.
        let empty = Message(runID: 1, sender: 1, step: 1, body: .assignment(epoch: 0, microbatches: [], weights: []))
        XCTAssertEqual(try Message(frames: empty.encoded(), limits: MessageLimits(parameterCount: 6)), empty)
    }

    func testRejectsOversized() {
        var limits = MessageLimits()
        limits.maxElements = 5
        assertRejects(Samples.message(.gradients).encoded(), limits: limits, .oversized(what: "payload elements", size: 6, limit: 5))

        var frames = Samples.message(.gradients).encoded()
        frames[0] = frames[0].writing(UInt64.max, at: 32)
        assertRejects(frames, .oversized(what: "payload elements", size: UInt64.max, limit: 50_000_000))

        limits = MessageLimits()
        limits.maxBodyBytes = 10
        let welcome = Message(runID: 1, sender: 1, step: 0, body: .welcome(configJSON: "{\"a\":12345}"))
        assertRejects(welcome.encoded(), limits: limits, .oversized(what: "body bytes", size: 11, limit: 10))
    }

    // MARK: - Bodies

    func testRejectsNonFiniteGradients() {
        for (values, index) in [([1, .nan, 2, .infinity], 1), ([0, 0, .infinity], 2), ([-.infinity], 0)] as [([Float], Int)] {
            var report = Samples.report
            report.values = values
            let frames = Message(runID: 1, sender: 1, step: 1, body: .gradients(report)).encoded()
            assertRejects(frames, .nonFiniteGradient(index: index))
        }
        XCTAssertEqual(WireError.nonFiniteGradient(index: 1).description, "gradient value at index 1 is not finite")
    }

    func testRejectsBadGradientFields() {
        func frames(_ change: (inout GradientReport) -> Void) -> [[UInt8]] {
            var report = Samples.report
            change(&report)
            return Message(runID: 1, sender: 1, step: 1, body: .gradients(report)).encoded()
        }
        assertMalformed(frames { $0.samples = 0 })
        assertMalformed(frames { $0.lossSum = -1 })
        assertRejects(frames { $0.lossSum = .nan }, .nonFiniteLoss(microbatch: Samples.report.microbatch))
        assertRejects(frames { $0.lossSum = .infinity }, .nonFiniteLoss(microbatch: Samples.report.microbatch))
        assertMalformed(frames { $0.correct = 17 })
        assertMalformed(frames { $0.computeSeconds = -0.5 })
        assertMalformed(frames { $0.computeSeconds = .infinity })
        assertMalformed(frames { $0.microbatches = 0 })
        assertMalformed(frames { $0.microbatches = 17 })
        assertMalformed(rawFrames(kind: .gradients, body: [UInt8](repeating: 0, count: 31), payload: [1]))
        assertMalformed(rawFrames(kind: .gradients, body: [UInt8](repeating: 0, count: 33), payload: [1]))
    }

    func testRejectsMalformedAssignments() {
        func body(epoch: UInt32 = 0, count: UInt32, form: UInt32 = 0, pad: UInt32 = 0,
                  entries: [(UInt32, UInt32, UInt64, UInt64)]) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: 16 + 24 * entries.count)
                .writing(epoch, at: 0).writing(count, at: 4).writing(form, at: 8).writing(pad, at: 12)
            for (position, entry) in entries.enumerated() {
                let offset = 16 + 24 * position
                bytes = bytes.writing(entry.0, at: offset).writing(entry.1, at: offset + 4)
                    .writing(entry.2, at: offset + 8).writing(entry.3, at: offset + 16)
            }
            return bytes
        }
        let good = body(count: 2, entries: [(0, 0, 0, 8), (1, 0, 8, 16)])
        XCTAssertNoThrow(try Message(frames: rawFrames(kind: .assignment, body: good, payload: [1]), limits: MessageLimits()))

        assertMalformed(rawFrames(kind: .assignment, body: [0, 0, 0, 0], payload: [1]))                           // too short
        assertMalformed(rawFrames(kind: .assignment, body: Array(good.prefix(8)), payload: [1]))                  // version 2's prefix
        let one = [(UInt32(0), UInt32(0), UInt64(0), UInt64(8))]
        assertMalformed(rawFrames(kind: .assignment, body: body(count: 1, form: 3, entries: one), payload: [1]))  // unknown form
        assertMalformed(rawFrames(kind: .assignment, body: body(count: 1, pad: 1, entries: one), payload: [1]))   // form's pad
        assertMalformed(rawFrames(kind: .assignment, body: body(count: 1, form: 1, entries: one), payload: [1]))  // held, with values
        assertMalformed(rawFrames(kind: .assignment, body: body(count: 1, form: 2, entries: one)))                // a step, without
        XCTAssertNoThrow(try Message(frames: rawFrames(kind: .assignment, body: body(count: 1, form: 1, entries: one)), limits: MessageLimits()))
        assertMalformed(rawFrames(kind: .assignment, body: body(count: 3, entries: [(0, 0, 0, 8), (1, 0, 8, 16)]), payload: [1]))
        assertMalformed(rawFrames(kind: .assignment, body: body(count: 1, entries: [(0, 0, 0, 8), (1, 0, 8, 16)]), payload: [1]))
        assertMalformed(rawFrames(kind: .assignment, body: body(count: 1, entries: [(0, 0, 8, 8)]), payload: [1])) // empty
        assertMalformed(rawFrames(kind: .assignment, body: body(count: 1, entries: [(0, 0, 9, 8)]), payload: [1])) // reversed
        assertMalformed(rawFrames(kind: .assignment, body: body(count: 1, entries: [(0, 1, 0, 8)]), payload: [1])) // pad
        assertMalformed(rawFrames(kind: .assignment, body: body(count: 2, entries: [(4, 0, 0, 8), (4, 0, 8, 16)]), payload: [1]))
        assertMalformed(rawFrames(kind: .assignment, body: body(count: 1, entries: [(0, 0, 0, UInt64.max)]), payload: [1]))
        XCTAssertEqual(
            WireError.malformedBody("assignment body is 4 bytes, needs at least 16").description,
            "malformed body: assignment body is 4 bytes, needs at least 16"
        )
    }

    func testReportsCountTheirAssignments() throws {
        let figures = StepFigures(epoch: 2, assignments: 31, microbatches: 62, samples: 992, computeSeconds: 0.04,
                                  waitSeconds: 0.02, sendSeconds: 0.001, bytesSent: 3_000, bytesReceived: 4_000)
        let frames = Message(runID: 1, sender: 1, step: 40, body: .report(figures)).encoded()
        XCTAssertEqual(Array(frames[1][12..<16]), [31, 0, 0, 0], "the count is at offset 12")
        XCTAssertEqual(try Message(frames: frames, limits: MessageLimits()).body, .report(figures))
        assertMalformed([frames[0], frames[1].writing(UInt32(0), at: 12)])                  // no assignment
        assertMalformed([frames[0], frames[1].writing((-1.0).bitPattern, at: 24)])         // negative wait
        assertMalformed(rawFrames(kind: .report, body: [UInt8](repeating: 0, count: 55)))
    }

    func testRejectsBodiesOnEmptyKinds() {
        // A ready body is empty or an absolute path.
        assertMalformed(rawFrames(kind: .ready, body: [1]))
        assertMalformed(rawFrames(kind: .ready, body: Array("dev/shm/backprop-1".utf8)))
        assertMalformed(rawFrames(kind: .ready, body: Array("/dev/shm/a\u{0}b".utf8)))
        assertMalformed(rawFrames(kind: .ready, body: [UInt8(ascii: "/")] + [UInt8](repeating: UInt8(ascii: "a"), count: 4096)))
        assertMalformed(rawFrames(kind: .heartbeat, body: [0, 0]))
    }

    func testRejectsInvalidUTF8Text() {
        for kind in [MessageKind.welcome, .leave, .shutdown, .error, .join] {
            do {
                _ = try Message(frames: rawFrames(kind: kind, body: [0x61, 0xFF, 0x62]), limits: MessageLimits())
                XCTFail("\(kind) accepted invalid UTF-8")
            } catch {
                guard case .badText = error else { return XCTFail("\(kind): \(error)") }
            }
        }
    }

    func testRejectsBadJoinJSON() {
        func join(_ text: String) -> [[UInt8]] { rawFrames(kind: .join, body: Array(text.utf8)) }
        func assertBadText(_ text: String, line: UInt = #line) {
            do {
                _ = try Message(frames: join(text), limits: MessageLimits())
                XCTFail("accepted \(text)", line: line)
            } catch {
                guard case .badText = error else { return XCTFail("\(text): \(error)", line: line) }
            }
        }
        assertBadText("")
        assertBadText("hello")
        assertBadText(#"["name","pid"]"#)
        assertBadText(#""worker""#)
        assertBadText(#"{"name":"w","pid":1"#)

        XCTAssertNoThrow(try Message(frames: join(#"{"name":"w","pid":1}"#), limits: MessageLimits()))
        assertMalformed(join(#"{"pid":1}"#))                          // no name
        assertMalformed(join(#"{"name":"w"}"#))                       // no pid
        assertMalformed(join(#"{"name":3,"pid":1}"#))                 // name not a string
        assertMalformed(join(#"{"name":"w","pid":"1"}"#))             // pid not a number
        assertMalformed(join(#"{"name":"w","pid":1.5}"#))             // pid not an integer
        assertMalformed(join(#"{"name":"w","pid":true}"#))            // pid a boolean
        assertMalformed(join(#"{"model":7,"name":"w","pid":1}"#))     // model not a string
        assertMalformed(join(#"{"name": "w", "pid": 1}"#))            // whitespace
        assertMalformed(join(#"{"pid":1,"name":"w"}"#))               // keys unsorted
        assertMalformed(join(#"{"extra":0,"name":"w","pid":1}"#))     // unknown key
        assertMalformed(join(#"{"name":"\u0077","pid":1}"#))          // needless escape
    }

    func testCustomLimitsAcceptExactlyTheParameterCount() throws {
        var limits = MessageLimits(parameterCount: 6)
        limits.maxElements = 6
        limits.maxBodyBytes = 64
        XCTAssertEqual(try Message(frames: Samples.message(.assignment).encoded(), limits: limits), Samples.message(.assignment))
    }

    /// Found by scripts/fuzz: describing an accepted assignment whose ranges add up past Int.max trapped.
    func testDescribingAHugeAssignmentDoesNotTrap() throws {
        let huge = Message(runID: 7, sender: 0, step: 3, body: .assignment(epoch: 1, microbatches: [
            MicrobatchRef(index: 0, positions: 0..<Int.max), MicrobatchRef(index: 1, positions: 1..<Int.max),
        ], weights: [1]))
        let decoded = try Message(frames: huge.encoded(), limits: MessageLimits())
        XCTAssertTrue(decoded.description.contains("samples=\(Int.max)"), decoded.description)
    }
}
