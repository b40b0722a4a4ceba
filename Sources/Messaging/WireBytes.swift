/// Converts Float32 buffers to and from their little-endian wire bytes without per-element arrays.
public enum LittleEndianFloats {
    /// Packs `values` as little-endian IEEE-754 binary32, 4 bytes each (one memcpy on little-endian hosts).
    public static func bytes(_ values: [Float]) -> [UInt8] {
        let count = values.count * MemoryLayout<Float>.size
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            values.withUnsafeBufferPointer { source in
                store(source, into: UnsafeMutableRawBufferPointer(buffer))
            }
            initialized = count
        }
    }

    /// Unpacks little-endian binary32 bytes (bit patterns preserved); nil unless the count is a multiple of 4.
    public static func floats(_ bytes: [UInt8]) -> [Float]? {
        bytes.withUnsafeBytes { floats($0) }
    }

    /// Unpacks little-endian binary32 bytes (bit patterns preserved); nil unless the count is a multiple of 4.
    public static func floats(_ bytes: UnsafeRawBufferPointer) -> [Float]? {
        guard bytes.count % MemoryLayout<Float>.size == 0 else { return nil }
        let count = bytes.count / MemoryLayout<Float>.size
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            load(bytes, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
            initialized = count
        }
    }

    /// Writes `values` as little-endian binary32 into `destination` (at least 4 bytes per value, any alignment).
    public static func store(_ values: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count >= values.count * MemoryLayout<Float>.size, "destination too small for the values")
        #if _endian(little)
        destination.copyMemory(from: UnsafeRawBufferPointer(values))
        #else
        for (index, value) in values.enumerated() {
            destination.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
        }
        #endif
    }

    /// Reads `destination.count` little-endian binary32 values from `bytes` (any alignment).
    public static func load(_ bytes: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(bytes.count >= destination.count * MemoryLayout<Float>.size, "too few bytes for the values")
        #if _endian(little)
        UnsafeMutableRawBufferPointer(destination).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<destination.count * 4]))
        #else
        for index in destination.indices {
            destination[index] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
        }
        #endif
    }

    /// The index of the first NaN or infinity among the little-endian binary32 values in `bytes`, or nil.
    ///
    /// A value is not finite when its magnitude bits are at least the infinity pattern `0x7F800000`;
    /// the scan keeps a block's largest magnitude (branch-free, 16 values at a time) and looks for
    /// the index only in a block that has one.
    public static func firstNonFinite(in bytes: UnsafeRawBufferPointer) -> Int? {
        let count = bytes.count / MemoryLayout<Float>.size
        let infinity: UInt32 = 0x7F80_0000
        var blockStart = 0
        while blockStart < count {
            let blockEnd = min(blockStart + 4_096, count)
            var index = blockStart
            #if _endian(little)
            var lanes = SIMD16<UInt32>()
            while index + 16 <= blockEnd {
                lanes = pointwiseMax(lanes, bytes.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<UInt32>.self) & 0x7FFF_FFFF)
                index += 16
            }
            var largest = lanes.max()
            #else
            var largest: UInt32 = 0
            #endif
            while index < blockEnd {
                largest = max(largest, magnitude(bytes, index))
                index += 1
            }
            if largest >= infinity {
                return (blockStart..<blockEnd).first { magnitude(bytes, $0) >= infinity }
            }
            blockStart = blockEnd
        }
        return nil
    }

    /// The bits of value `index` without its sign.
    @inline(__always)
    private static func magnitude(_ bytes: UnsafeRawBufferPointer, _ index: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)) & 0x7FFF_FFFF
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` in little-endian byte order (a frame being built).
    mutating func appendLittleEndian<Value: FixedWidthInteger>(_ value: Value) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    /// Appends `value`'s IEEE-754 bits in little-endian byte order.
    mutating func appendLittleEndian(_ value: Double) {
        appendLittleEndian(value.bitPattern)
    }
}

/// Reads fixed-width little-endian fields from a frame whose size the caller has already checked.
struct ByteReader {
    private let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    mutating func read<Value: FixedWidthInteger>(_: Value.Type = Value.self) -> Value {
        let size = MemoryLayout<Value>.size
        precondition(offset >= 0 && offset + size <= bytes.count, "ByteReader read past a frame it was told was long enough")
        let value = Value(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Value.self))
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
