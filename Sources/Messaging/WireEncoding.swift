extension Message {
    /// Frames to send.
    ///
    /// Integer fields are written in their wire widths (UInt32 indices and counts, UInt64
    /// positions); values that do not fit are truncated and the receiver will reject them.
    /// `protocolVersion` other than this build's is for testing how peers of other versions are told off.
    public func encoded(protocolVersion: UInt16 = Message.protocolVersion) -> [[UInt8]] {
        var writer = FrameWriter()
        let payload = body.payload
        switch body {
        case .join(let name, let pid, let model):
            writer.writeBody(JoinJSON.encode(name: name, pid: pid, model: model))
        case .welcome(let text), .leave(let text), .shutdown(let text), .error(let text), .rejoin(let text):
            writer.writeBody(Array(text.utf8))
        case .ready(let sharedFile):
            writer.writeBody(Array((sharedFile ?? "").utf8))
        case .heartbeat:
            writer.writeBody([])
        case .assignment(let epoch, let microbatches, let form, _):
            writer.writeAssignmentBody(epoch: epoch, count: microbatches.count, form: form) { microbatches[$0] }
        case .gradients(let report):
            writer.writeGradientsBody(report.stats)
        case .report(let figures):
            writer.writeReportBody(figures)
        }
        writer.writeHeader(kind: body.kind, runID: runID, sender: sender, step: step, elementCount: payload.count,
                           protocolVersion: protocolVersion)
        if payload.isEmpty {
            return [writer.header, writer.body]
        }
        if case .assignment(_, _, .bfloat16Step, _) = body {
            return [writer.header, writer.body, BFloat16.bytes(payload)]
        }
        return [writer.header, writer.body, LittleEndianFloats.bytes(payload)]
    }
}

/// Writes a message's header and body frames into buffers it keeps, so the messages of every
/// step (assignments, gradients) are encoded without allocating once the buffers are large enough.
///
/// The frames are exactly those `Message.encoded()` gives for the same message; the payload
/// frame is the caller's (sent from its own buffer, see `PayloadBuffer`).
public struct FrameWriter: Sendable {
    /// The 48-byte header frame of the last message written.
    public private(set) var header: [UInt8]
    /// The body frame of the last message written.
    public private(set) var body: [UInt8]

    /// A writer with empty buffers (they grow to the largest message written, then stay).
    public init() {
        header = []
        header.reserveCapacity(WireHeader.size)
        body = []
    }

    /// An assignment of `count` microbatches (`microbatch(i)` gives the i-th) in `epoch`, with its weights in `form`,
    /// whose payload holds `elementCount` values.
    public mutating func assignment(runID: UInt64, step: UInt64, epoch: Int, count: Int, form: WeightsForm = .full, elementCount: Int,
                                    microbatch: (Int) -> MicrobatchRef) {
        writeAssignmentBody(epoch: epoch, count: count, form: form, microbatch: microbatch)
        writeHeader(kind: .assignment, runID: runID, sender: 0, step: step, elementCount: elementCount)
    }

    /// A gradients message from `sender`, whose payload holds `elementCount` gradient values.
    public mutating func gradients(runID: UInt64, sender: UInt32, step: UInt64, stats: GradientStats, elementCount: Int) {
        writeGradientsBody(stats)
        writeHeader(kind: .gradients, runID: runID, sender: sender, step: step, elementCount: elementCount)
    }

    /// A heartbeat (empty body, no payload).
    public mutating func heartbeat(runID: UInt64, sender: UInt32, step: UInt64) {
        body.removeAll(keepingCapacity: true)
        writeHeader(kind: .heartbeat, runID: runID, sender: sender, step: step, elementCount: 0)
    }

    // MARK: - Frames

    /// Writes the header for the body already written.
    mutating func writeHeader(kind: MessageKind, runID: UInt64, sender: UInt32, step: UInt64, elementCount: Int,
                              protocolVersion: UInt16 = Message.protocolVersion) {
        header.removeAll(keepingCapacity: true)
        header.appendLittleEndian(WireHeader.magic)
        header.appendLittleEndian(protocolVersion)
        header.appendLittleEndian(kind.rawValue)
        header.appendLittleEndian(runID)
        header.appendLittleEndian(sender)
        header.appendLittleEndian(UInt32(truncatingIfNeeded: body.count))
        header.appendLittleEndian(step)
        header.appendLittleEndian(UInt64(elementCount))
        header.appendLittleEndian(UInt64(0))
    }

    mutating func writeBody(_ bytes: [UInt8]) {
        body = bytes
    }

    mutating func writeReportBody(_ figures: StepFigures) {
        figures.write(into: &body)
    }

    /// epoch UInt32, count UInt32, weights form UInt32, pad UInt32 = 0, then count × (index UInt32, pad UInt32 = 0,
    /// start UInt64, end UInt64).
    mutating func writeAssignmentBody(epoch: Int, count: Int, form: WeightsForm, microbatch: (Int) -> MicrobatchRef) {
        body.removeAll(keepingCapacity: true)
        body.appendLittleEndian(UInt32(truncatingIfNeeded: epoch))
        body.appendLittleEndian(UInt32(truncatingIfNeeded: count))
        body.appendLittleEndian(form.rawValue)
        body.appendLittleEndian(UInt32(0))
        for entry in 0..<count {
            let ref = microbatch(entry)
            body.appendLittleEndian(UInt32(truncatingIfNeeded: ref.index))
            body.appendLittleEndian(UInt32(0))
            body.appendLittleEndian(UInt64(truncatingIfNeeded: ref.positions.lowerBound))
            body.appendLittleEndian(UInt64(truncatingIfNeeded: ref.positions.upperBound))
        }
    }

    /// index UInt32, samples UInt32, loss sum Float64, correct UInt32, microbatches UInt32, compute seconds Float64.
    mutating func writeGradientsBody(_ stats: GradientStats) {
        body.removeAll(keepingCapacity: true)
        body.appendLittleEndian(UInt32(truncatingIfNeeded: stats.microbatch))
        body.appendLittleEndian(UInt32(truncatingIfNeeded: stats.samples))
        body.appendLittleEndian(stats.lossSum)
        body.appendLittleEndian(UInt32(truncatingIfNeeded: stats.correct))
        body.appendLittleEndian(UInt32(truncatingIfNeeded: stats.microbatches))
        body.appendLittleEndian(stats.computeSeconds)
    }
}
