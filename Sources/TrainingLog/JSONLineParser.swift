#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why one line of a JSON Lines log could not be read.
public struct LogLineError: Error, CustomStringConvertible, Equatable {
    /// 1-based column (byte offset) where reading stopped.
    public let column: Int
    public let reason: String
    public var description: String { "\(reason) at column \(column)" }
}

/// One log line: a flat JSON object's keys and scalar values, in the order written (`nil` is JSON `null`).
///
/// Backprop's events are flat objects of scalars; a nested object or array (from a newer
/// writer) is skipped, not an error.
public struct LogLine {
    public var fields: [(key: String, value: LogValue?)] = []

    public init(fields: [(key: String, value: LogValue?)] = []) { self.fields = fields }

    /// The value of `key`: `nil` when absent, `.some(nil)` when it is `null`.
    public subscript(key: String) -> LogValue?? {
        for field in fields where field.key == key { return .some(field.value) }
        return nil
    }

    /// Reads one JSON object from `bytes`; nothing but whitespace may follow it.
    ///
    /// `bytes` must be followed in memory by a byte that cannot continue a number (a newline or a
    /// 0 sentinel): numbers are converted with `strtod`, which reads until it meets one.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws -> LogLine {
        var parser = FlatJSONParser(bytes: bytes)
        return try parser.object()
    }

    /// Reads one JSON object from a string; for tests and small tools.
    public static func parse(_ text: String) throws -> LogLine {
        var bytes = Array(text.utf8)
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { try parse(UnsafeBufferPointer(rebasing: $0.dropLast())) }
    }
}

/// A recursive-descent reader for one flat JSON object, byte by byte, with no intermediate strings.
private struct FlatJSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func object() throws -> LogLine {
        var line = LogLine()
        line.fields.reserveCapacity(16)
        skipSpace()
        try expect(UInt8(ascii: "{"), "expected '{'")
        skipSpace()
        if peek == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                guard peek == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let key = try string()
                skipSpace()
                try expect(UInt8(ascii: ":"), "expected ':'")
                skipSpace()
                if let value = try scalar() {
                    line.fields.append((key, value))
                }
                skipSpace()
                if peek == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "}"), "expected ',' or '}'")
                break
            }
        }
        skipSpace()
        guard index == bytes.count else { throw fail("text after the object") }
        return line
    }

    /// A scalar value; `.some(nil)` for null; `nil` for a nested object or array, which is skipped.
    private mutating func scalar() throws -> LogValue?? {
        guard let byte = peek else { throw fail("the line ends before a value") }
        switch byte {
        case UInt8(ascii: "\""): return .some(.string(try string()))
        case UInt8(ascii: "t"): try literal("true"); return .some(.bool(true))
        case UInt8(ascii: "f"): try literal("false"); return .some(.bool(false))
        case UInt8(ascii: "n"): try literal("null"); return .some(nil)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .some(try number())
        case UInt8(ascii: "{"), UInt8(ascii: "["): try skipNested(); return nil
        default: throw fail("unexpected '\(Unicode.Scalar(byte))'")
        }
    }

    private mutating func number() throws -> LogValue {
        let start = index
        var integral = true
        while let byte = peek, isNumberByte(byte) {
            if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+") {
                integral = false
            }
            index += 1
        }
        let length = index - start
        if integral && length <= 18 {
            var value = 0
            var position = start
            let negative = bytes[position] == UInt8(ascii: "-")
            if negative { position += 1 }
            guard position < index else { throw LogLineError(column: start + 1, reason: "a bad number") }
            while position < index {
                let digit = bytes[position] &- UInt8(ascii: "0")
                guard digit < 10 else { throw LogLineError(column: position + 1, reason: "a bad number") }
                value = value * 10 + Int(digit)
                position += 1
            }
            return .int(negative ? -value : value)
        }
        guard let base = bytes.baseAddress else { throw fail("a bad number") }
        var end: UnsafeMutablePointer<CChar>?
        let value = base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { pointer in
            strtod(pointer + start, &end)
        }
        let consumed = end.map { UnsafeRawPointer($0) - UnsafeRawPointer(base + start) } ?? 0
        guard consumed == length else { throw LogLineError(column: start + 1, reason: "a bad number") }
        return .double(value)
    }

    private func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"),
             UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return true
        default: return false
        }
    }

    private mutating func string() throws -> String {
        index += 1
        let start = index
        // Fast path: no escapes.
        while let byte = peek, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
            guard byte >= 0x20 else { throw fail("a control character in a string") }
            index += 1
        }
        guard let stop = peek else { throw fail("the line ends inside a string") }
        if stop == UInt8(ascii: "\"") {
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            index += 1
            return text
        }
        var scalars = Array(bytes[start..<index])
        while let byte = peek {
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: scalars, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escape = peek else { throw fail("the line ends inside a string") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), peek == UInt8(ascii: "\\"),
                       index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") {
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("a bad surrogate pair") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    scalars.append(contentsOf: Array(String(scalar).utf8))
                default:
                    throw fail("a bad escape")
                }
            default:
                guard byte >= 0x20 else { throw fail("a control character in a string") }
                scalars.append(byte)
            }
        }
        throw fail("the line ends inside a string")
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("the line ends inside a \\u escape") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("a bad \\u escape")
            }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("the line ends inside a literal") }
        for k in 0..<count where bytes[index + k] != word.utf8Start[k] {
            throw LogLineError(column: index + k + 1, reason: "unexpected '\(Unicode.Scalar(bytes[index + k]))'")
        }
        index += count
    }

    /// Skips a nested object or array, strings included.
    private mutating func skipNested() throws {
        var depth = 0
        while let byte = peek {
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1; index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                index += 1
                if depth == 0 { return }
            case UInt8(ascii: "\""): _ = try string()
            default: index += 1
            }
        }
        throw fail("the line ends inside a nested value")
    }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipSpace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A { index += 1 }
    }

    private mutating func expect(_ byte: UInt8, _ reason: String) throws {
        guard peek == byte else { throw fail(peek == nil ? "the line ends early (\(reason))" : reason) }
        index += 1
    }

    private func fail(_ reason: String) -> LogLineError { LogLineError(column: index + 1, reason: reason) }
}
