extension Message {
    /// Decodes and validates frames. `limits` bounds what is accepted.
    ///
    /// Checks, in order: magic, version, header size, kind, reserved field, element count
    /// (per kind and against `limits`), frame count, body length, payload size, then the body.
    /// Whatever is accepted re-encodes to exactly `frames`.
    public init(frames: [[UInt8]], limits: MessageLimits) throws(WireError) {
        guard let header = frames.first else {
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
        guard frames.count == expectedFrames else {
            throw .wrongFrameCount(expected: expectedFrames, got: frames.count)
        }

        let bodyBytes = frames[1]
        guard Int(bodyLength) <= limits.maxBodyBytes else {
            throw .oversized(what: "body bytes", size: UInt64(bodyLength), limit: limits.maxBodyBytes)
        }
        guard Int(bodyLength) == bodyBytes.count else {
            throw .bodyLengthMismatch(header: bodyLength, frame: bodyBytes.count)
        }

        var values: [Float] = []
        if elements > 0 {
            let payload = frames[2]
            let expectedBytes = elements * MemoryLayout<Float>.size
            guard payload.count == expectedBytes, let decoded = LittleEndianFloats.floats(payload) else {
                throw .payloadSizeMismatch(expected: expectedBytes, got: payload.count)
            }
            values = decoded
        }

        self.init(runID: runID, sender: sender, step: step, body: try Body(kind: kind, body: bodyBytes, payload: values))
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
        if let expected = limits.parameterCount, elements != expected {
            throw .elementCountMismatch(expected: expected, got: count)
        }
        return elements
    }
}

extension Body {
    /// Decodes and validates a body frame of `kind`, with its already-sized payload.
    init(kind: MessageKind, body: [UInt8], payload: [Float]) throws(WireError) {
        switch kind {
        case .join:
            let join = try JoinJSON.decode(body)
            self = .join(name: join.name, pid: join.pid, model: join.model)
        case .welcome:
            self = .welcome(configJSON: try Self.text(body, kind: kind))
        case .ready:
            try Self.requireEmpty(body, kind: kind)
            self = .ready
        case .heartbeat:
            try Self.requireEmpty(body, kind: kind)
            self = .heartbeat
        case .assignment:
            let (epoch, microbatches) = try Self.assignment(body)
            self = .assignment(epoch: epoch, microbatches: microbatches, weights: payload)
        case .gradients:
            self = .gradients(try Self.gradients(body, values: payload))
        case .leave:
            self = .leave(reason: try Self.text(body, kind: kind))
        case .shutdown:
            self = .shutdown(reason: try Self.text(body, kind: kind))
        case .error:
            self = .error(reason: try Self.text(body, kind: kind))
        case .rejoin:
            self = .rejoin(reason: try Self.text(body, kind: kind))
        }
    }

    /// The body as UTF-8 text, rejecting invalid sequences.
    static func text(_ body: [UInt8], kind: MessageKind) throws(WireError) -> String {
        let text = String(decoding: body, as: UTF8.self)
        guard text.utf8.elementsEqual(body) else {
            throw .badText("\(kind) body (\(body.count) bytes) is not valid UTF-8")
        }
        return text
    }

    private static func requireEmpty(_ body: [UInt8], kind: MessageKind) throws(WireError) {
        guard body.isEmpty else {
            throw .malformedBody("\(kind) body must be empty, got \(body.count) bytes")
        }
    }

    /// epoch UInt32, count UInt32, then count × (index UInt32, pad UInt32 = 0, start UInt64, end UInt64).
    private static func assignment(_ body: [UInt8]) throws(WireError) -> (epoch: Int, microbatches: [MicrobatchRef]) {
        guard body.count >= 8 else {
            throw .malformedBody("assignment body is \(body.count) bytes, needs at least 8")
        }
        var reader = ByteReader(body)
        let epoch = Int(reader.read(UInt32.self))
        let count = Int(reader.read(UInt32.self))
        let expected = 8 + 24 * count
        guard body.count == expected else {
            throw .malformedBody("assignment body is \(body.count) bytes, expected 8 + 24 × \(count) = \(expected)")
        }
        var microbatches: [MicrobatchRef] = []
        microbatches.reserveCapacity(count)
        var seen = Set<Int>(minimumCapacity: count)
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
        return (epoch, microbatches)
    }

    /// index UInt32, samples UInt32, loss sum Float64, correct UInt32, pad UInt32 = 0, compute seconds Float64.
    private static func gradients(_ body: [UInt8], values: [Float]) throws(WireError) -> GradientReport {
        guard body.count == 32 else {
            throw .malformedBody("gradients body is \(body.count) bytes, expected 32")
        }
        var reader = ByteReader(body)
        let microbatch = Int(reader.read(UInt32.self))
        let samples = Int(reader.read(UInt32.self))
        let lossSum = reader.readDouble()
        let correct = Int(reader.read(UInt32.self))
        let pad = reader.read(UInt32.self)
        let computeSeconds = reader.readDouble()

        guard samples >= 1 else {
            throw .malformedBody("gradients for microbatch \(microbatch): sample count is 0")
        }
        guard lossSum.isFinite, lossSum >= 0 else {
            throw .malformedBody("gradients for microbatch \(microbatch): loss sum \(lossSum) is not finite and ≥ 0")
        }
        guard correct <= samples else {
            throw .malformedBody("gradients for microbatch \(microbatch): \(correct) correct of \(samples) samples")
        }
        guard pad == 0 else {
            throw .malformedBody("gradients for microbatch \(microbatch): pad is \(pad), must be 0")
        }
        guard computeSeconds.isFinite, computeSeconds >= 0 else {
            throw .malformedBody("gradients for microbatch \(microbatch): compute seconds \(computeSeconds) is not finite and ≥ 0")
        }
        if let index = values.firstIndex(where: { !$0.isFinite }) {
            throw .nonFiniteGradient(index: index)
        }
        return GradientReport(
            microbatch: microbatch, samples: samples, lossSum: lossSum,
            correct: correct, computeSeconds: computeSeconds, values: values
        )
    }
}
