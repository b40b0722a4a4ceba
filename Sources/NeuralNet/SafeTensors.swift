import Foundation

/// One named Float32 tensor.
public struct NamedTensor: Equatable, Sendable {
    /// The tensor's key in a safetensors header, e.g. `dense_3.bias`.
    public var name: String
    /// Dimensions, outermost first; `[]` is a scalar holding one value.
    public var shape: [Int]
    /// Elements in row-major (C) order; `values.count` is the product of `shape`.
    public var values: [Float]

    /// Creates a tensor from row-major `values`, which must number the product of `shape`.
    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// The contents of a safetensors file holding Float32 tensors: free-form metadata and named tensors.
///
/// The format (https://github.com/huggingface/safetensors) is an 8-byte little-endian
/// header length `N`, `N` bytes of UTF-8 JSON describing each tensor's dtype, shape and
/// byte range, then the tensors' raw little-endian bytes. This type only converts to and
/// from bytes; reading and writing files is the caller's business.
public struct SafeTensorsFile: Equatable, Sendable {
    /// Free-form string pairs stored under the header's `__metadata__` key.
    public var metadata: [String: String]
    /// The tensors in file order, which is the order of their data offsets.
    public var tensors: [NamedTensor]

    /// Creates a file from metadata and tensors, kept in the order given.
    public init(metadata: [String: String], tensors: [NamedTensor]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    /// The tensor called `name`, if present.
    public func tensor(named name: String) -> NamedTensor? {
        tensors.first { $0.name == name }
    }
}

// MARK: - Encoding

extension SafeTensorsFile {
    /// Encodes to safetensors bytes, deterministic byte for byte for the same contents.
    ///
    /// The header is compact JSON: `__metadata__` first (keys sorted, omitted when empty),
    /// then one entry per tensor in `tensors` order, padded with trailing spaces so the
    /// data starts 8-byte aligned. Tensor data follows contiguously in the same order.
    ///
    /// - Precondition: every tensor has non-negative dimensions and `values.count` equal to
    ///   their product; names are unique and none is `__metadata__`.
    public func encoded() -> [UInt8] {
        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { Self.jsonString($0.key) + ":" + Self.jsonString($0.value) }
            members.append(Self.jsonString(Self.metadataKey) + ":{" + pairs.joined(separator: ",") + "}")
        }
        var seenNames = Set<String>()
        var dataSize = 0
        for tensor in tensors {
            let count = Self.elementCount(of: tensor.shape)
            precondition(count == tensor.values.count, "tensor \(String(reflecting: tensor.name)) has shape \(tensor.shape) but \(tensor.values.count) values")
            precondition(tensor.name != Self.metadataKey, "a tensor cannot be called \(Self.metadataKey)")
            precondition(seenNames.insert(tensor.name).inserted, "tensor name \(String(reflecting: tensor.name)) is used twice")
            let end = dataSize + count * MemoryLayout<Float>.size
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            members.append(Self.jsonString(tensor.name) + ":{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(dataSize),\(end)]}")
            dataSize = end
        }
        let header = "{" + members.joined(separator: ",") + "}"

        var headerBytes = Array(header.utf8)
        let padding = (Self.alignment - headerBytes.count % Self.alignment) % Self.alignment
        headerBytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))

        let lengthSize = MemoryLayout<UInt64>.size
        let total = lengthSize + headerBytes.count + dataSize
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initializedCount in
            let output = UnsafeMutableRawBufferPointer(buffer)
            output.storeBytes(of: UInt64(headerBytes.count).littleEndian, toByteOffset: 0, as: UInt64.self)
            var position = lengthSize
            headerBytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: output[position..<position + source.count]).copyMemory(from: source)
            }
            position += headerBytes.count
            for tensor in tensors {
                let byteCount = tensor.values.count * MemoryLayout<Float>.size
                Self.storeLittleEndian(tensor.values, into: UnsafeMutableRawBufferPointer(rebasing: output[position..<position + byteCount]))
                position += byteCount
            }
            initializedCount = total
        }
    }

    /// Copies `values` into `destination` as little-endian IEEE 754 bytes.
    private static func storeLittleEndian(_ values: [Float], into destination: UnsafeMutableRawBufferPointer) {
        #if _endian(little)
        values.withUnsafeBytes { destination.copyMemory(from: $0) }
        #else
        for (index, value) in values.enumerated() {
            destination.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * MemoryLayout<Float>.size, as: UInt32.self)
        }
        #endif
    }

    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped, the rest raw UTF-8.
    private static func jsonString(_ text: String) -> String {
        var literal = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": literal += "\\\""
            case "\\": literal += "\\\\"
            case "\n": literal += "\\n"
            case "\r": literal += "\\r"
            case "\t": literal += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                literal += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                literal.unicodeScalars.append(scalar)
            }
        }
        return literal + "\""
    }

    /// Product of `shape`, trapping on negative dimensions or overflow.
    private static func elementCount(of shape: [Int]) -> Int {
        var count = 1
        for dimension in shape {
            precondition(dimension >= 0, "tensor dimensions must be non-negative, got \(shape)")
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            precondition(!overflow, "tensor shape \(shape) has too many elements")
            count = product
        }
        return count
    }
}

// MARK: - Decoding

extension SafeTensorsFile {
    /// Decodes and validates safetensors bytes holding only F32 tensors.
    ///
    /// Checks that the header length fits the buffer and the format's 100 MB limit, that
    /// the header is a UTF-8 JSON object starting with `{`, that every entry has dtype F32,
    /// a shape of non-negative integers and `data_offsets` spanning exactly 4 bytes per
    /// element, and that the tensors tile the data area from its first byte to its last
    /// with no overlap and no gap. Tensors come back ordered by data offset; zero-size
    /// tensors sharing an offset are ordered by name.
    ///
    /// - Throws: `SafeTensorsError` naming the first problem found.
    public init(decoding bytes: [UInt8]) throws {
        let lengthSize = MemoryLayout<UInt64>.size
        guard bytes.count >= lengthSize else {
            throw SafeTensorsError.truncatedHeaderLength(byteCount: bytes.count)
        }
        let headerLength = bytes[0..<lengthSize].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard headerLength <= Self.maximumHeaderLength else {
            throw SafeTensorsError.headerTooLarge(length: headerLength)
        }
        guard headerLength <= UInt64(bytes.count - lengthSize) else {
            throw SafeTensorsError.headerBeyondFile(length: headerLength, available: bytes.count - lengthSize)
        }
        let dataStart = lengthSize + Int(headerLength)
        let header = try Self.parseHeader(bytes[lengthSize..<dataStart])

        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (key, value) in header.sorted(by: { $0.key < $1.key }) {
            if key == Self.metadataKey {
                metadata = try Self.parseMetadata(value)
            } else {
                entries.append(try Self.parseEntry(named: key, value))
            }
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }

        let dataSize = bytes.count - dataStart
        var covered = 0
        var previousName: String?
        for entry in entries {
            guard entry.end >= entry.begin, entry.end - entry.begin == entry.byteCount else {
                throw SafeTensorsError.offsetsMismatchShape(tensor: entry.name, shape: entry.shape, begin: entry.begin, end: entry.end)
            }
            if entry.begin < covered, let previousName {
                throw SafeTensorsError.overlappingOffsets(tensor: entry.name, other: previousName)
            }
            guard entry.begin == covered else {
                throw SafeTensorsError.gapBeforeTensor(tensor: entry.name, begin: entry.begin, expected: covered)
            }
            guard entry.end <= dataSize else {
                throw SafeTensorsError.offsetsOutOfRange(tensor: entry.name, begin: entry.begin, end: entry.end, dataAreaSize: dataSize)
            }
            covered = entry.end
            previousName = entry.name
        }
        guard covered == dataSize else {
            throw SafeTensorsError.trailingData(coveredBytes: covered, dataAreaSize: dataSize)
        }

        let tensors = bytes.withUnsafeBytes { raw in
            entries.map { entry in
                let start = dataStart + entry.begin
                let source = UnsafeRawBufferPointer(rebasing: raw[start..<start + entry.byteCount])
                return NamedTensor(name: entry.name, shape: entry.shape, values: Self.loadLittleEndian(source))
            }
        }
        self.init(metadata: metadata, tensors: tensors)
    }

    /// One tensor's header entry, validated on its own.
    private struct Entry {
        var name: String
        var shape: [Int]
        var byteCount: Int
        var begin: Int
        var end: Int
    }

    /// Parses the header bytes as a UTF-8 JSON object.
    private static func parseHeader(_ bytes: ArraySlice<UInt8>) throws -> [String: Any] {
        guard bytes.first == UInt8(ascii: "{") else {
            throw SafeTensorsError.invalidHeader(reason: "it does not start with '{'")
        }
        guard isValidUTF8(bytes) else {
            throw SafeTensorsError.invalidHeader(reason: "it is not valid UTF-8")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes))
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw SafeTensorsError.invalidHeader(reason: "it is not valid JSON: " + detail)
        }
        guard let dictionary = object as? [String: Any] else {
            throw SafeTensorsError.invalidHeader(reason: "it is not a JSON object")
        }
        return dictionary
    }

    /// Whether `bytes` decode as UTF-8 without error.
    private static func isValidUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// Parses the `__metadata__` value, which must be an object of strings.
    private static func parseMetadata(_ value: Any) throws -> [String: String] {
        guard let object = value as? [String: Any] else {
            throw SafeTensorsError.invalidMetadata(reason: "\(metadataKey) is not a JSON object")
        }
        var metadata: [String: String] = [:]
        for key in object.keys.sorted() {
            guard let text = object[key] as? String else {
                throw SafeTensorsError.invalidMetadata(reason: "the value for \(String(reflecting: key)) is not a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    /// Parses one tensor entry: dtype F32, a shape of non-negative integers, two integer offsets.
    private static func parseEntry(named name: String, _ value: Any) throws -> Entry {
        func invalid(_ reason: String) -> SafeTensorsError {
            SafeTensorsError.invalidTensorEntry(tensor: name, reason: reason)
        }
        guard let object = value as? [String: Any] else { throw invalid("its entry is not a JSON object") }
        guard let dtypeValue = object["dtype"] else { throw invalid("\"dtype\" is missing") }
        guard let dtype = dtypeValue as? String else { throw invalid("\"dtype\" is not a string") }
        guard dtype == "F32" else { throw SafeTensorsError.unsupportedDType(tensor: name, dtype: dtype) }

        guard let shapeValue = object["shape"] else { throw invalid("\"shape\" is missing") }
        guard let shapeArray = shapeValue as? [Any] else { throw invalid("\"shape\" is not an array") }
        var shape: [Int] = []
        var count = 1
        for dimensionValue in shapeArray {
            guard let dimension = nonNegativeInteger(dimensionValue) else {
                throw invalid("\"shape\" must hold non-negative integers")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw invalid("its shape has more elements than fit in memory") }
            shape.append(dimension)
            count = product
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Float>.size)
        guard !overflow else { throw invalid("its shape has more elements than fit in memory") }

        guard let offsetsValue = object["data_offsets"] else { throw invalid("\"data_offsets\" is missing") }
        guard let offsetsArray = offsetsValue as? [Any], offsetsArray.count == 2,
              let begin = nonNegativeInteger(offsetsArray[0]), let end = nonNegativeInteger(offsetsArray[1])
        else {
            throw invalid("\"data_offsets\" must be two non-negative integers")
        }
        return Entry(name: name, shape: shape, byteCount: byteCount, begin: begin, end: end)
    }

    /// `value` as an `Int` if it is a JSON integer ≥ 0 that fits; nil for booleans, fractions and the rest.
    private static func nonNegativeInteger(_ value: Any) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        // JSONSerialization hands back booleans ("c") and floats ("d") as NSNumber too.
        guard Self.integerTypeCodes.contains(String(cString: number.objCType)) else {
            return nil
        }
        guard let integer = value as? Int, integer >= 0 else { return nil }
        return integer
    }

    /// `source`'s little-endian IEEE 754 bytes as Floats.
    private static func loadLittleEndian(_ source: UnsafeRawBufferPointer) -> [Float] {
        let count = source.count / MemoryLayout<Float>.size
        var values = [Float](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
            initializedCount = count
        }
        #if _endian(big)
        for index in values.indices {
            values[index] = Float(bitPattern: UInt32(littleEndian: values[index].bitPattern))
        }
        #endif
        return values
    }
}

// MARK: - Format constants

extension SafeTensorsFile {
    /// The reserved header key holding free-form string metadata.
    static let metadataKey = "__metadata__"
    /// The largest header the reference implementation accepts.
    static let maximumHeaderLength: UInt64 = 100_000_000
    /// Alignment of the data area from the start of the file.
    static let alignment = 8
    /// NSNumber type encodings of integers.
    static let integerTypeCodes: Set<String> = ["s", "i", "l", "q", "S", "I", "L", "Q"]
}

// MARK: - Errors

/// Why bytes are not a valid safetensors file of Float32 tensors.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    /// The buffer is shorter than the 8-byte header length.
    case truncatedHeaderLength(byteCount: Int)
    /// The header length exceeds the format's 100 MB limit.
    case headerTooLarge(length: UInt64)
    /// The header length runs past the end of the buffer.
    case headerBeyondFile(length: UInt64, available: Int)
    /// The header is not a UTF-8 JSON object.
    case invalidHeader(reason: String)
    /// The `__metadata__` entry is not an object of strings.
    case invalidMetadata(reason: String)
    /// A tensor's entry is malformed: not an object, or a field missing or of the wrong kind.
    case invalidTensorEntry(tensor: String, reason: String)
    /// A tensor's dtype is not F32, the only one this codec reads.
    case unsupportedDType(tensor: String, dtype: String)
    /// A tensor's `data_offsets` do not span 4 bytes per element of its shape.
    case offsetsMismatchShape(tensor: String, shape: [Int], begin: Int, end: Int)
    /// A tensor's data starts inside the previous tensor's data.
    case overlappingOffsets(tensor: String, other: String)
    /// Bytes before a tensor's data belong to no tensor.
    case gapBeforeTensor(tensor: String, begin: Int, expected: Int)
    /// A tensor's data runs past the end of the data area, as in a truncated file.
    case offsetsOutOfRange(tensor: String, begin: Int, end: Int, dataAreaSize: Int)
    /// Bytes after the last tensor's data belong to no tensor.
    case trailingData(coveredBytes: Int, dataAreaSize: Int)

    /// One line naming the problem and, where there is one, the tensor.
    public var description: String {
        switch self {
        case .truncatedHeaderLength(let byteCount):
            return "safetensors: \(byteCount) bytes is too short for the 8-byte header length"
        case .headerTooLarge(let length):
            return "not a safetensors file? its header length \(length) exceeds the \(SafeTensorsFile.maximumHeaderLength)-byte limit"
        case .headerBeyondFile(let length, let available):
            return "safetensors: header length \(length) runs past the \(available) bytes that follow it"
        case .invalidHeader(let reason):
            return "safetensors: header is invalid: " + Self.oneLine(reason)
        case .invalidMetadata(let reason):
            return "safetensors: metadata is invalid: " + Self.oneLine(reason)
        case .invalidTensorEntry(let tensor, let reason):
            return "safetensors: tensor \(String(reflecting: tensor)) is invalid: " + Self.oneLine(reason)
        case .unsupportedDType(let tensor, let dtype):
            return "safetensors: tensor \(String(reflecting: tensor)) has dtype \(String(reflecting: dtype)); only F32 is supported"
        case .offsetsMismatchShape(let tensor, let shape, let begin, let end):
            return "safetensors: tensor \(String(reflecting: tensor)) has data_offsets [\(begin), \(end)] but shape \(shape) needs \(Self.byteCount(of: shape)) bytes"
        case .overlappingOffsets(let tensor, let other):
            return "safetensors: tensor \(String(reflecting: tensor)) overlaps tensor \(String(reflecting: other)) in the data area"
        case .gapBeforeTensor(let tensor, let begin, let expected):
            return "safetensors: tensor \(String(reflecting: tensor)) starts at byte \(begin) but the previous tensor ends at byte \(expected)"
        case .offsetsOutOfRange(let tensor, let begin, let end, let dataAreaSize):
            return "safetensors: tensor \(String(reflecting: tensor)) has data_offsets [\(begin), \(end)] past the end of the \(dataAreaSize)-byte data area (truncated file?)"
        case .trailingData(let coveredBytes, let dataAreaSize):
            return "safetensors: tensors cover \(coveredBytes) bytes of the \(dataAreaSize)-byte data area; the rest belongs to no tensor"
        }
    }

    /// Bytes a Float32 tensor of `shape` occupies, or a phrase when that overflows.
    private static func byteCount(of shape: [Int]) -> String {
        let (count, overflow) = shape.reduce((1, false)) { partial, dimension in
            let (product, overflow) = partial.0.multipliedReportingOverflow(by: dimension)
            return (product, partial.1 || overflow)
        }
        let (bytes, bytesOverflow) = count.multipliedReportingOverflow(by: MemoryLayout<Float>.size)
        return overflow || bytesOverflow ? "more than Int.max" : String(bytes)
    }

    /// `text` with line breaks replaced by spaces.
    private static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
