import Foundation

/// The join body: a JSON object in one canonical spelling, so every join has exactly one encoding.
///
/// Canonical means `{"model":…,"name":…,"pid":…}`: keys sorted, "model" omitted when absent, no
/// whitespace, `pid` a plain decimal integer, and strings escaping only `"`, `\` and the control
/// characters (`\b \t \n \f \r`, otherwise `\u00xx`) — Python's
/// `json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
enum JoinJSON {
    static func encode(name: String, pid: Int, model: String?) -> [UInt8] {
        var json = "{"
        if let model {
            json += "\"model\":" + quoted(model) + ","
        }
        json += "\"name\":" + quoted(name) + ",\"pid\":" + String(pid) + "}"
        return Array(json.utf8)
    }

    static func decode(_ body: UnsafeRawBufferPointer) throws(WireError) -> (name: String, pid: Int, model: String?) {
        _ = try Body.text(body, kind: .join)
        let parsed = try? JSONSerialization.jsonObject(with: Data(body))
        guard let object = parsed as? [String: Any] else {
            throw .badText("join body is not a JSON object")
        }
        guard let name = object["name"] as? String else {
            throw .malformedBody("join body needs a string \"name\"")
        }
        // Booleans and fractions that bridge to Int fail the canonical comparison below.
        guard let pid = object["pid"] as? Int else {
            throw .malformedBody("join body needs an integer \"pid\"")
        }
        var model: String?
        if let value = object["model"] {
            guard let text = value as? String else {
                throw .malformedBody("join \"model\" must be a string")
            }
            model = text
        }
        guard encode(name: name, pid: pid, model: model).elementsEqual(body) else {
            throw .malformedBody("join body is not canonical JSON (only model/name/pid, keys sorted, no whitespace)")
        }
        return (name, pid, model)
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{08}": out += "\\b"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\u{0C}": out += "\\f"
            case "\r": out += "\\r"
            case "\u{00}"..."\u{1F}":
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
