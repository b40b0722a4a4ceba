extension Message {
    /// Frames to send.
    ///
    /// Integer fields are written in their wire widths (UInt32 indices and counts, UInt64
    /// positions); values that do not fit are truncated and the receiver will reject them.
    public func encoded() -> [[UInt8]] {
        let bodyBytes = body.encodedBody()
        let payload = body.payload

        var header = ByteWriter(capacity: WireHeader.size)
        header.append(WireHeader.magic)
        header.append(Message.protocolVersion)
        header.append(body.kind.rawValue)
        header.append(runID)
        header.append(sender)
        header.append(UInt32(truncatingIfNeeded: bodyBytes.count))
        header.append(step)
        header.append(UInt64(payload.count))
        header.append(UInt64(0))

        if payload.isEmpty {
            return [header.bytes, bodyBytes]
        }
        return [header.bytes, bodyBytes, LittleEndianFloats.bytes(payload)]
    }
}

extension Body {
    /// The body frame's bytes.
    func encodedBody() -> [UInt8] {
        switch self {
        case .join(let name, let pid, let model):
            return JoinJSON.encode(name: name, pid: pid, model: model)
        case .welcome(let text), .leave(let text), .shutdown(let text), .error(let text), .rejoin(let text):
            return Array(text.utf8)
        case .ready, .heartbeat:
            return []
        case .assignment(let epoch, let microbatches, _):
            var writer = ByteWriter(capacity: 8 + 24 * microbatches.count)
            writer.append(UInt32(truncatingIfNeeded: epoch))
            writer.append(UInt32(truncatingIfNeeded: microbatches.count))
            for microbatch in microbatches {
                writer.append(UInt32(truncatingIfNeeded: microbatch.index))
                writer.append(UInt32(0))
                writer.append(UInt64(truncatingIfNeeded: microbatch.positions.lowerBound))
                writer.append(UInt64(truncatingIfNeeded: microbatch.positions.upperBound))
            }
            return writer.bytes
        case .gradients(let report):
            var writer = ByteWriter(capacity: 32)
            writer.append(UInt32(truncatingIfNeeded: report.microbatch))
            writer.append(UInt32(truncatingIfNeeded: report.samples))
            writer.append(report.lossSum)
            writer.append(UInt32(truncatingIfNeeded: report.correct))
            writer.append(UInt32(0))
            writer.append(report.computeSeconds)
            return writer.bytes
        }
    }
}
