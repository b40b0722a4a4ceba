/// bfloat16, the upper half of a binary32: 8 exponent bits like Float32, 7 mantissa bits.
///
/// Gradients may travel in it (`--gradient-precision bfloat16`): half the bytes. A value rounded
/// to bfloat16 is exact as a Float32, so rounding is done in Float32 buffers and packing then
/// drops the low half without loss.
public enum BFloat16 {
    /// Bytes per value on the wire.
    public static let size = 2

    /// `value` rounded to the nearest bfloat16, ties to even (a finite value past the largest one becomes infinite).
    @inline(__always)
    public static func round(_ value: Float) -> Float {
        let bits = value.bitPattern
        return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
    }

    /// Rounds `count` values in place.
    public static func round(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { values[i] = round(values[i]) }
    }

    /// Writes `count` values, already rounded, as little-endian bfloat16 into the first `2·count`
    /// bytes of their own memory (each value's bytes are read before any write reaches them).
    public static func packInPlace(_ values: UnsafeMutablePointer<Float>, count: Int) {
        let bytes = UnsafeMutableRawPointer(values)
        for i in 0..<count {
            let half = UInt16(truncatingIfNeeded: values[i].bitPattern >> 16)
            bytes.storeBytes(of: half.littleEndian, toByteOffset: i * 2, as: UInt16.self)
        }
    }

    /// `values`, already rounded, as little-endian bfloat16 bytes.
    public static func bytes(_ values: [Float]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * size)
        for value in values {
            let half = UInt16(truncatingIfNeeded: value.bitPattern >> 16)
            bytes.append(UInt8(truncatingIfNeeded: half))
            bytes.append(UInt8(truncatingIfNeeded: half >> 8))
        }
        return bytes
    }

    /// Reads `destination.count` little-endian bfloat16 values from `bytes` (any alignment) as Float32s: exact.
    public static func load(_ bytes: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(bytes.count >= destination.count * size, "too few bytes for the values")
        for i in destination.indices {
            let half = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: i * size, as: UInt16.self))
            destination[i] = Float(bitPattern: UInt32(half) << 16)
        }
    }

    /// Subtracts the little-endian bfloat16 values in `bytes` (any alignment) from `destination`, one
    /// Float32 subtraction each.
    public static func subtract(_ bytes: UnsafeRawBufferPointer, from destination: UnsafeMutableBufferPointer<Float>) {
        precondition(bytes.count >= destination.count * size, "too few bytes for the values")
        for i in destination.indices {
            let half = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: i * size, as: UInt16.self))
            destination[i] -= Float(bitPattern: UInt32(half) << 16)
        }
    }

    /// The index of the first NaN or infinity among the little-endian bfloat16 values in `bytes`, or nil.
    public static func firstNonFinite(in bytes: UnsafeRawBufferPointer) -> Int? {
        (0..<bytes.count / size).first { i in
            UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: i * size, as: UInt16.self)) & 0x7F80 == 0x7F80
        }
    }
}
