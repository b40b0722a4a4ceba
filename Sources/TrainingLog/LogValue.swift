import Foundation

/// A value in a log record: the JSON scalars Backprop writes.
public enum LogValue: Sendable, Equatable {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)

    /// The value as JSON text. Non-finite numbers become `null`, which JSON requires.
    public var json: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return v.isFinite ? "\(v)" : "null"
        case .bool(let v): return v ? "true" : "false"
        case .string(let v): return jsonQuoted(v)
        }
    }

    /// The value as a CSV cell (numbers as they are, text quoted only when it must be).
    public var csv: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return v.isFinite ? "\(v)" : ""
        case .bool(let v): return v ? "true" : "false"
        case .string(let v):
            guard v.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return v }
            var quoted = "\""
            for scalar in v.unicodeScalars {
                if scalar == "\"" { quoted += "\"\"" } else { quoted.unicodeScalars.append(scalar) }
            }
            return quoted + "\""
        }
    }
}

/// `text` as a JSON string literal.
public func jsonQuoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// One JSON object, keys in the order given.
public func jsonObject(_ fields: [(String, LogValue)]) -> String {
    "{" + fields.map { jsonQuoted($0.0) + ":" + $0.1.json }.joined(separator: ",") + "}"
}

/// Log fields as a dictionary for `JSONSerialization` (non-finite numbers become null).
public func jsonDictionary(_ fields: [(String, LogValue)]) -> [String: Any] {
    var out: [String: Any] = [:]
    for (key, value) in fields {
        switch value {
        case .int(let v): out[key] = v
        case .double(let v): out[key] = v.isFinite ? v : NSNull()
        case .string(let v): out[key] = v
        case .bool(let v): out[key] = v
        }
    }
    return out
}
