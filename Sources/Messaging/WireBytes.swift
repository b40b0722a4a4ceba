/// Converts Float32 buffers to and from their little-endian wire bytes without per-element arrays.
public enum LittleEndianFloats {
    /// Packs `values` as little-endian IEEE-754 binary32, 4 bytes each (one memcpy on little-endian hosts).
    public static func bytes(_ values: [Float]) -> [UInt8] {
        let count = values.count * MemoryLayout<Float>.size
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let destination = UnsafeMutableRawBufferPointer(buffer)
            values.withUnsafeBytes { source in
                #if _endian(little)
                destination.copyMemory(from: source)
                #else
                for (index, value) in values.enumerated() {
                    destination.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
                }
                #endif
            }
            initialized = count
        }
    }

    /// Unpacks little-endian binary32 bytes (bit patterns preserved); nil unless the count is a multiple of 4.
    public static func floats(_ bytes: [UInt8]) -> [Float]? {
        guard bytes.count % MemoryLayout<Float>.size == 0 else { return nil }
        let count = bytes.count / MemoryLayout<Float>.size
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { source in
                #if _endian(little)
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
                #else
                for index in 0..<count {
                    let bits = source.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)
                    buffer[index] = Float(bitPattern: UInt32(littleEndian: bits))
                }
                #endif
            }
            initialized = count
        }
    }
}

/// Appends fixed-width little-endian fields to a frame being built.
struct ByteWriter {
    private(set) var bytes: [UInt8]

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func append<Value: FixedWidthInteger>(_ value: Value) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ value: Double) {
        append(value.bitPattern)
    }
}

/// Reads fixed-width little-endian fields from a frame whose size the caller has already checked.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    mutating func read<Value: FixedWidthInteger>(_: Value.Type = Value.self) -> Value {
        let size = MemoryLayout<Value>.size
        precondition(offset >= 0 && offset + size <= bytes.count, "ByteReader read past a frame it was told was long enough")
        let value = bytes.withUnsafeBytes { Value(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: Value.self)) }
        offset += size
        return value
    }

    mutating func readDouble() -> Double {
        Double(bitPattern: read(UInt64.self))
    }
}

/// The fixed 48-byte header: offsets and constants.
enum WireHeader {
    static let size = 48
    /// "BKPR" read as a little-endian UInt32.
    static let magic: UInt32 = 0x5250_4B42

    enum Offset {
        static let magic = 0
        static let version = 4
        static let kind = 6
        static let runID = 8
        static let sender = 16
        static let bodyLength = 20
        static let step = 24
        static let elementCount = 32
        static let reserved = 40
    }
}
