/// A message checked as far as its frames go: the header's fields, the frame count, and the
/// body and payload sizes (checks 1–8 of docs/protocol.md). What the body says is checked by
/// `Message(_:)`, `gradientStats()` or `AssignmentDecoder` (check 9).
///
/// `body` and `payload` point into the frames the envelope was made from, and are valid only
/// as long as those are: decoding one costs no copy and no allocation.
public struct Envelope {
    public let kind: MessageKind
    /// The training run the message belongs to.
    public let runID: UInt64
    /// The sending worker's id (0 for the server).
    public let sender: UInt32
    /// The optimiser step (weights version) the message is about.
    public let step: UInt64
    /// The body frame.
    public let body: UnsafeRawBufferPointer
    /// The payload frame: 4 bytes per little-endian Float32 (2 per bfloat16 for gradients in a run
    /// that sends them so); empty when the message has none.
    public let payload: UnsafeRawBufferPointer
    /// Bytes per payload value: 4, or `BFloat16.size`.
    public let valueBytes: Int

    /// Payload values in the message.
    public var elementCount: Int { payload.count / valueBytes }

    /// Checks `frameCount` frames, of which `header`, `body` and `payload` are the first three (empty when absent).
    ///
    /// Checks, in order: magic, version, header size, kind, reserved field, element count
    /// (per kind and against `limits`), frame count, body length, payload size.
    public init(frameCount: Int, header: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer,
                payload: UnsafeRawBufferPointer, limits: MessageLimits) throws(WireError) {
        guard frameCount > 0 else {
            throw .wrongFrameCount(expected: 2, got: 0)
        }
        // Magic and version come before everything else, so a peer speaking another version is told so.
        guard header.count >= WireHeader.Offset.kind else { throw .headerSize(got: header.count) }
        var reader = ByteReader(header)
        let magic = reader.read(UInt32.self)
        guard magic == WireHeader.magic else { throw .badMagic(got: magic) }
        let version = reader.read(UInt16.self)
        guard version == Message.protocolVersion else { throw .versionMismatch(got: version) }
        guard header.count == WireHeader.size else { throw .headerSize(got: header.count) }

        let rawKind = reader.read(UInt16.self)
        let runID = reader.read(UInt64.self)
        let sender = reader.read(UInt32.self)
        let bodyLength = reader.read(UInt32.self)
        let step = reader.read(UInt64.self)
        let elementCount = reader.read(UInt64.self)
        let reserved = reader.read(UInt64.self)

        guard let kind = MessageKind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        guard reserved == 0 else { throw .nonZeroReserved(reserved) }

        let elements = try Self.checkedElementCount(elementCount, kind: kind, limits: limits)

        let expectedFrames = elements > 0 ? 3 : 2
        guard frameCount == expectedFrames else {
            throw .wrongFrameCount(expected: expectedFrames, got: frameCount)
        }

        guard Int(bodyLength) <= limits.maxBodyBytes else {
            throw .oversized(what: "body bytes", size: UInt64(bodyLength), limit: limits.maxBodyBytes)
        }
        guard Int(bodyLength) == body.count else {
            throw .bodyLengthMismatch(header: bodyLength, frame: body.count)
        }

        let width = switch kind {
        case .gradients: limits.gradientValueBytes
        case .assignment: Self.assignedWeightsForm(body)?.valueBytes ?? MemoryLayout<Float>.size
        default: MemoryLayout<Float>.size
        }
        let expectedBytes = elements * width
        guard payload.count == expectedBytes else {
            throw .payloadSizeMismatch(expected: expectedBytes, got: payload.count)
        }

        self.kind = kind
        self.runID = runID
        self.sender = sender
        self.step = step
        self.body = body
        self.payload = elements > 0 ? payload : UnsafeRawBufferPointer(start: nil, count: 0)
        valueBytes = width
    }

    /// The weights form an assignment body names, when it is long enough to name a known one
    /// (`AssignmentDecoder` refuses the body otherwise).
    private static func assignedWeightsForm(_ body: UnsafeRawBufferPointer) -> WeightsForm? {
        guard body.count >= 12 else { return nil }
        return WeightsForm(rawValue: UInt32(littleEndian: body.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
    }

    /// The header's element count as an Int, after the per-kind and `limits` checks.
    private static func checkedElementCount(
        _ count: UInt64, kind: MessageKind, limits: MessageLimits
    ) throws(WireError) -> Int {
        guard kind.carriesPayload else {
            guard count == 0 else { throw .unexpectedPayload(kind: kind, elements: count) }
            return 0
        }
        let maxElements = max(limits.maxElements, 0)
        guard count <= UInt64(maxElements) else {
            throw .oversized(what: "payload elements", size: count, limit: maxElements)
        }
        let elements = Int(count)
        // None at all: the values are in the sender's shared-memory file.
        if let expected = limits.parameterCount, elements != expected, elements != 0 {
            throw .elementCountMismatch(expected: expected, got: count)
        }
        return elements
    }

    /// A gradients message's statistics, after checking its body and that every payload value is finite.
    ///
    /// The gradient itself stays in `payload`; nothing is copied.
    public func gradientStats() throws(WireError) -> GradientStats {
        precondition(kind == .gradients, "gradientStats() of a \(kind) message")
        guard body.count == 32 else {
            throw .malformedBody("gradients body is \(body.count) bytes, expected 32")
        }
        var reader = ByteReader(body)
        let microbatch = Int(reader.read(UInt32.self))
        let samples = Int(reader.read(UInt32.self))
        let lossSum = reader.readDouble()
        let correct = Int(reader.read(UInt32.self))
        let microbatches = Int(reader.read(UInt32.self))
        let computeSeconds = reader.readDouble()

        guard samples >= 1 else {
            throw .malformedBody("gradients for microbatch \(microbatch): sample count is 0")
        }
        guard lossSum.isFinite else { throw .nonFiniteLoss(microbatch: microbatch) }
        guard lossSum >= 0 else {
            throw .malformedBody("gradients for microbatch \(microbatch): loss sum \(lossSum) is negative")
        }
        guard correct <= samples else {
            throw .malformedBody("gradients for microbatch \(microbatch): \(correct) correct of \(samples) samples")
        }
        guard microbatches >= 1, microbatches <= samples else {
            throw .malformedBody("gradients for microbatch \(microbatch): \(microbatches) microbatches summed over \(samples) samples")
        }
        guard computeSeconds.isFinite, computeSeconds >= 0 else {
            throw .malformedBody("gradients for microbatch \(microbatch): compute seconds \(computeSeconds) is not finite and ≥ 0")
        }
        let bad = valueBytes == BFloat16.size ? BFloat16.firstNonFinite(in: payload) : LittleEndianFloats.firstNonFinite(in: payload)
        if let index = bad {
            throw .nonFiniteGradient(index: index)
        }
        return GradientStats(microbatch: microbatch, microbatches: microbatches, samples: samples, lossSum: lossSum, correct: correct,
                             computeSeconds: computeSeconds)
    }
}

/// Decodes assignment bodies into storage it keeps: no allocation once it has held the largest assignment.
public struct AssignmentDecoder {
    /// The epoch of the last assignment decoded.
    public private(set) var epoch = 0
    /// The microbatches of the last assignment decoded, in the order sent.
    public private(set) var microbatches: [MicrobatchRef] = []
    /// How the last assignment decoded gives its weights.
    public private(set) var form = WeightsForm.full
    private var seen = Set<Int>()

    /// Empty storage.
    public init() {}

    /// Decodes and checks an assignment's body (check 9); on a throw the previous contents are gone.
    ///
    /// epoch UInt32, count UInt32, weights form UInt32, pad UInt32 = 0, then count × (index UInt32,
    /// pad UInt32 = 0, start UInt64, end UInt64): exactly 16 + 24·count bytes, a known form that
    /// agrees with the payload (held: none; a bfloat16 step: one), every pad 0, every range non-empty
    /// and within Int, indices unique.
    public mutating func decode(_ envelope: Envelope) throws(WireError) {
        precondition(envelope.kind == .assignment, "AssignmentDecoder.decode of a \(envelope.kind) message")
        try decode(body: envelope.body, hasPayload: !envelope.payload.isEmpty)
    }

    mutating func decode(body: UnsafeRawBufferPointer, hasPayload: Bool) throws(WireError) {
        microbatches.removeAll(keepingCapacity: true)
        seen.removeAll(keepingCapacity: true)
        guard body.count >= 16 else {
            throw .malformedBody("assignment body is \(body.count) bytes, needs at least 16")
        }
        var reader = ByteReader(body)
        epoch = Int(reader.read(UInt32.self))
        let count = Int(reader.read(UInt32.self))
        let rawForm = reader.read(UInt32.self)
        let formPad = reader.read(UInt32.self)
        guard let form = WeightsForm(rawValue: rawForm) else {
            throw .malformedBody("assignment weights form \(rawForm) is unknown")
        }
        guard formPad == 0 else {
            throw .malformedBody("assignment pad is \(formPad), must be 0")
        }
        switch form {
        case .held where hasPayload:
            throw .malformedBody("assignment of held weights with a payload")
        case .bfloat16Step where !hasPayload:
            throw .malformedBody("assignment of a bfloat16 step without a payload")
        default:
            break
        }
        self.form = form
        let expected = 16 + 24 * count
        guard body.count == expected else {
            throw .malformedBody("assignment body is \(body.count) bytes, expected 16 + 24 × \(count) = \(expected)")
        }
        microbatches.reserveCapacity(count)
        seen.reserveCapacity(count)
        for entry in 0..<count {
            let index = Int(reader.read(UInt32.self))
            let pad = reader.read(UInt32.self)
            let start = reader.read(UInt64.self)
            let end = reader.read(UInt64.self)
            guard pad == 0 else {
                throw .malformedBody("assignment entry \(entry): pad is \(pad), must be 0")
            }
            guard start < end else {
                throw .malformedBody("assignment entry \(entry): empty range \(start)..<\(end)")
            }
            guard end <= UInt64(Int.max) else {
                throw .malformedBody("assignment entry \(entry): end \(end) out of range")
            }
            guard seen.insert(index).inserted else {
                throw .malformedBody("assignment entry \(entry): microbatch \(index) listed twice")
            }
            microbatches.append(MicrobatchRef(index: index, positions: Int(start)..<Int(end)))
        }
    }
}

extension Message {
    /// Decodes and validates frames. `limits` bounds what is accepted.
    ///
    /// Checks, in order: magic, version, header size, kind, reserved field, element count
    /// (per kind and against `limits`), frame count, body length, payload size, then the body.
    /// Whatever is accepted re-encodes to exactly `frames`.
    public init(frames: [[UInt8]], limits: MessageLimits) throws(WireError) {
        let decoded = Self.withFirstFrames(frames) { header, body, payload in
            Result { () throws(WireError) -> Message in
                try Message(Envelope(frameCount: frames.count, header: header, body: body, payload: payload, limits: limits))
            }
        }
        self = try decoded.get()
    }

    /// Decodes the body of a checked envelope (check 9), copying text and payload out of the frames.
    public init(_ envelope: Envelope) throws(WireError) {
        self.init(runID: envelope.runID, sender: envelope.sender, step: envelope.step, body: try Body(envelope))
    }

    /// Calls `body` with the first three frames' bytes (empty for those absent).
    private static func withFirstFrames<Value>(
        _ frames: [[UInt8]],
        _ use: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Value
    ) -> Value {
        func bytes(_ index: Int, _ next: (UnsafeRawBufferPointer) -> Value) -> Value {
            index < frames.count ? frames[index].withUnsafeBytes(next) : next(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        return bytes(0) { header in bytes(1) { body in bytes(2) { payload in use(header, body, payload) } } }
    }
}

extension Body {
    /// Decodes and validates the body frame of a checked envelope, with its already-sized payload.
    init(_ envelope: Envelope) throws(WireError) {
        let kind = envelope.kind
        let body = envelope.body
        switch kind {
        case .join:
            let join = try JoinJSON.decode(body)
            self = .join(name: join.name, pid: join.pid, model: join.model)
        case .welcome:
            self = .welcome(configJSON: try Self.text(body, kind: kind))
        case .ready:
            // Empty, or an absolute path (no NUL, at most 4096 bytes).
            let path = try Self.text(body, kind: kind)
            guard path.isEmpty || (path.hasPrefix("/") && !path.utf8.contains(0) && body.count <= 4096) else {
                throw .malformedBody("ready body must be empty or an absolute path, got \(body.count) bytes")
            }
            self = .ready(sharedFile: path.isEmpty ? nil : path)
        case .heartbeat:
            try Self.requireEmpty(body, kind: kind)
            self = .heartbeat
        case .assignment:
            var decoder = AssignmentDecoder()
            try decoder.decode(body: body, hasPayload: !envelope.payload.isEmpty)
            self = .assignment(epoch: decoder.epoch, microbatches: decoder.microbatches, form: decoder.form,
                               weights: Self.floats(envelope.payload, valueBytes: envelope.valueBytes))
        case .gradients:
            self = .gradients(GradientReport(try envelope.gradientStats(), values: Self.floats(envelope.payload, valueBytes: envelope.valueBytes)))
        case .leave:
            self = .leave(reason: try Self.text(body, kind: kind))
        case .shutdown:
            self = .shutdown(reason: try Self.text(body, kind: kind))
        case .error:
            self = .error(reason: try Self.text(body, kind: kind))
        case .rejoin:
            self = .rejoin(reason: try Self.text(body, kind: kind))
        case .report:
            self = .report(try StepFigures(body: body))
        }
    }

    /// The payload's values; the envelope has already checked that it holds whole values of `valueBytes` each.
    private static func floats(_ payload: UnsafeRawBufferPointer, valueBytes: Int) -> [Float] {
        guard valueBytes == BFloat16.size else { return LittleEndianFloats.floats(payload) ?? [] }
        let count = payload.count / BFloat16.size
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            BFloat16.load(payload, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
            initialized = count
        }
    }

    /// The body as UTF-8 text, rejecting invalid sequences.
    static func text(_ body: UnsafeRawBufferPointer, kind: MessageKind) throws(WireError) -> String {
        let text = String(decoding: body, as: UTF8.self)
        guard text.utf8.elementsEqual(body) else {
            throw .badText("\(kind) body (\(body.count) bytes) is not valid UTF-8")
        }
        return text
    }

    private static func requireEmpty(_ body: UnsafeRawBufferPointer, kind: MessageKind) throws(WireError) {
        guard body.isEmpty else {
            throw .malformedBody("\(kind) body must be empty, got \(body.count) bytes")
        }
    }
}
