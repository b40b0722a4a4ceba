import Foundation
import Training

/// A cluster definition: the `KEY=VALUE` file (`cluster/local.conf`) that says how a cluster starts.
///
/// The file is read, never executed. Each line is `KEY=VALUE`, a comment (`#`) or blank; a value may be quoted and
/// may be followed by ` # comment`; `KEY=` leaves the setting at its default. Each value's form (a number, yes or
/// no, …) is checked here; the training values' ranges and combinations by the code that reads `config.json`
/// (`RunConfig(fields:)` and `validate()`).
public struct ClusterDefinition: Sendable {
    /// The file as the user named it, for messages.
    public let file: String
    /// Each key given a value, as written.
    public private(set) var values: [DefinitionKey: String] = [:]
    /// The line each key is on, including keys left empty.
    public private(set) var lines: [DefinitionKey: Int] = [:]

    /// Parses `text`; throws the first problem with its line.
    public init(text: String, file: String) throws {
        self.file = file
        // "\r\n" is one Character in Swift: split on either line ending.
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            try take(line: raw, number: index + 1)
        }
        try checkTraining()
    }

    /// Reads and parses the file at `path`; `file` is how messages name it.
    public static func read(path: String, file: String) throws -> ClusterDefinition {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DefinitionError(file: file, line: nil, message: "cannot read the file")
        }
        return try ClusterDefinition(text: String(decoding: data, as: UTF8.self), file: file)
    }

    public subscript(key: DefinitionKey) -> String? { values[key] }

    /// The training settings the file gives, over the defaults, as `RunConfig` reads them.
    public var trainingConfig: RunConfig {
        (try? RunConfig(fields: trainingFields())) ?? RunConfig()
    }

    /// `backprop-server` flags for every key given a value, in `DefinitionKey.flagOrder`.
    public var serverFlags: [String] {
        DefinitionKey.flagOrder.flatMap { key in values[key].map(key.serverArguments) ?? [] }
    }

    // MARK: - Reading a line

    private mutating func take(line raw: Substring, number: Int) throws {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") { return }
        func fail(_ message: String) -> DefinitionError { DefinitionError(file: file, line: number, message: message) }
        guard let equals = line.firstIndex(of: "="),
              case let name = line[..<equals].trimmingCharacters(in: .whitespaces), Self.isIdentifier(name) else {
            throw fail("malformed line '\(line)' (expected KEY=VALUE)")
        }
        guard let key = DefinitionKey(rawValue: name) else {
            throw fail("unknown key '\(name)' (known: \(DefinitionKey.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let earlier = lines[key] { throw fail("duplicate key '\(name)' (already set on line \(earlier))") }
        lines[key] = number
        let value = try Self.value(of: line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)) {
            fail("malformed value for \(name): '\($0)' (no spaces or quotes inside a value)")
        }
        if value.isEmpty { return }
        if let problem = Self.problem(with: value, for: key) { throw fail(problem) }
        values[key] = value
    }

    /// The value of `text` (after `=`): quoted, or bare up to a ` #` comment.
    private static func value(of text: String, malformed: (String) -> DefinitionError) throws -> String {
        if let quote = text.first, quote == "\"" || quote == "'" {
            let rest = text.dropFirst()
            if let close = rest.firstIndex(of: quote) {
                let after = rest[rest.index(after: close)...].trimmingCharacters(in: .whitespaces)
                if after.isEmpty || after.hasPrefix("#") { return String(rest[..<close]) }
            }
            throw malformed(text)
        }
        var bare = Substring(text)
        if let comment = bare.indices.first(where: { bare[$0] == "#" && $0 > bare.startIndex && bare[bare.index(before: $0)].isWhitespace }) {
            bare = bare[..<comment]
        }
        let value = bare.trimmingCharacters(in: .whitespaces)
        if value.contains(where: { $0.isWhitespace || $0 == "\"" || $0 == "'" }) { throw malformed(value) }
        return value
    }

    private static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    /// What is wrong with `value` for `key`'s kind, or nil. Ranges of the training keys are `RunConfig`'s to check.
    private static func problem(with value: String, for key: DefinitionKey) -> String? {
        let name = key.rawValue
        switch key.kind {
        case .port:
            guard let port = wholeNumber(value), port <= 65535 else {
                return "PORT must be a port number 0-65535 (0 = any free port), got '\(value)'"
            }
        case .host:
            let allowed = value.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".:*_-".unicodeScalars.contains($0)) }
            if !allowed { return "HOST must be a host name or address, got '\(value)'" }
        case .whole:
            guard let number = wholeNumber(value) else { return "\(name) must be a whole number >= 0, got '\(value)'" }
            if key == .workersMin && number == 0 { return "WORKERS_MIN must be a whole number > 0, got '\(value)'" }
        case .number:
            guard let number = decimalNumber(value) else { return "\(name) must be a number, got '\(value)'" }
            if (key == .workerTimeout || key == .serverTimeout) && number <= 0 { return "\(name) must be a number > 0, got '\(value)'" }
        case .yesNo:
            if DefinitionKey.truth(value) == nil { return "\(name) must be yes or no (or true/false, 1/0), got '\(value)'" }
        case .text:
            break
        }
        return nil
    }

    static func wholeNumber(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return Int(text)
    }

    static func decimalNumber(_ text: String) -> Double? {
        guard let first = text.first, first.isNumber || first == ".",
              text.allSatisfy({ $0.isNumber || "eE.+-".contains($0) }), let number = Double(text), number.isFinite else { return nil }
        return number
    }

    // MARK: - Training settings

    /// The training values as `config.json` holds them.
    private func trainingFields() throws -> [String: Any] {
        var fields: [String: Any] = [:]
        for (key, value) in values {
            guard let field = key.configField else { continue }
            switch key.kind {
            case .whole where key != .seed: fields[field] = Int(value) ?? 0
            case .number: fields[field] = Double(value) ?? 0
            case .yesNo: fields[field] = DefinitionKey.truth(value) ?? false
            default: fields[field] = value
            }
        }
        return fields
    }

    /// `RunConfig`'s checks on the training values; a problem names the line of the first key it mentions (by its
    /// flag) that the file sets: `--microbatch (16) cannot be larger than --batch-size (8)` is MICROBATCH's.
    private func checkTraining() throws {
        do {
            try RunConfig(fields: trainingFields()).validate()
        } catch {
            let message = "\(error)"
            let flags = message.split(separator: " ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "()[],:;'")) }
            let key = flags.lazy.compactMap { flag in DefinitionKey.allCases.first { $0.serverFlag == flag && self.values[$0] != nil } }.first
            let prefix = key.map { "\($0.rawValue)=\(values[$0] ?? ""): " } ?? ""
            throw DefinitionError(file: file, line: key.flatMap { lines[$0] }, message: prefix + message)
        }
    }
}
