/// Why a set of frames is not a valid message; each description is one line with the numbers.
public enum WireError: Error, Equatable, CustomStringConvertible {
    /// The message has the wrong number of frames (2 without a payload, 3 with one).
    case wrongFrameCount(expected: Int, got: Int)
    /// The header frame is not 48 bytes.
    case headerSize(got: Int)
    /// The header does not start with "BKPR".
    case badMagic(got: UInt32)
    /// The peer speaks another protocol version; checked right after the magic.
    case versionMismatch(got: UInt16)
    /// The kind field is not a `MessageKind`.
    case unknownKind(UInt16)
    /// The reserved header field is not 0.
    case nonZeroReserved(UInt64)
    /// The header's body length differs from the body frame's size.
    case bodyLengthMismatch(header: UInt32, frame: Int)
    /// The payload frame is not 4 bytes per element.
    case payloadSizeMismatch(expected: Int, got: Int)
    /// The element count differs from the model's parameter count.
    case elementCountMismatch(expected: Int, got: UInt64)
    /// A kind that carries no payload has a non-zero element count.
    case unexpectedPayload(kind: MessageKind, elements: UInt64)
    /// A size exceeds its `MessageLimits` bound.
    case oversized(what: String, size: UInt64, limit: Int)
    /// The body frame does not fit its kind's layout or rules.
    case malformedBody(String)
    /// A gradient value is NaN or infinite; `index` is the first such value.
    case nonFiniteGradient(index: Int)
    /// A gradients message's loss sum is NaN or infinite.
    case nonFiniteLoss(microbatch: Int)
    /// A text body is not valid UTF-8, or a join body is not the JSON object it must be.
    case badText(String)

    /// One line naming the problem, with the numbers.
    public var description: String {
        switch self {
        case .wrongFrameCount(let expected, let got):
            "wrong frame count: expected \(expected), got \(got)"
        case .headerSize(let got):
            "header frame is \(got) bytes, expected \(WireHeader.size)"
        case .badMagic(let got):
            "bad magic 0x\(Self.hex(got)), expected 0x\(Self.hex(WireHeader.magic)) (\"BKPR\")"
        case .versionMismatch(let got):
            "protocol version \(got), expected \(Message.protocolVersion)"
        case .unknownKind(let raw):
            "unknown message kind \(raw)"
        case .nonZeroReserved(let value):
            "reserved header field is 0x\(Self.hex(value)), must be 0"
        case .bodyLengthMismatch(let header, let frame):
            "header body length \(header) bytes, body frame \(frame) bytes"
        case .payloadSizeMismatch(let expected, let got):
            "payload frame is \(got) bytes, expected \(expected) (4 per element)"
        case .elementCountMismatch(let expected, let got):
            "payload has \(got) elements, the model has \(expected) parameters"
        case .unexpectedPayload(let kind, let elements):
            "\(kind) carries no payload, but the header counts \(elements) elements"
        case .oversized(let what, let size, let limit):
            "\(what) \(size) exceeds the limit \(limit)"
        case .malformedBody(let reason):
            "malformed body: \(reason)"
        case .nonFiniteGradient(let index):
            "gradient value at index \(index) is not finite"
        case .nonFiniteLoss(let microbatch):
            "the loss sum of microbatch \(microbatch) is not finite"
        case .badText(let reason):
            "bad text: \(reason)"
        }
    }

    private static func hex<Value: BinaryInteger>(_ value: Value) -> String {
        String(value, radix: 16, uppercase: true)
    }
}
