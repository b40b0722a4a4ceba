/// The vector type of the kernels: 16 Float32 lanes (one AVX-512 register, four SSE ones).
///
/// Every kernel sums in an order fixed by its code alone — lanes are independent, and a
/// horizontal sum is the tree in `sum(_:)` — so results depend on neither the data's
/// alignment nor what ran before, nor on the vector width the compiler targets. Kernels
/// write `s += x * w`, never `addingProduct`: Swift keeps the multiply and the add apart
/// (no fused multiply-add), so an SSE2 and an AVX2 build train to the same bits.
typealias Vector = SIMD16<Float>

extension UnsafePointer where Pointee == Float {
    /// The 16 floats starting at `self + offset`, any alignment.
    @inline(__always)
    func vector(_ offset: Int = 0) -> Vector {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Vector.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always)
    func vector(_ offset: Int = 0) -> Vector {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Vector.self)
    }

    /// Writes the 16 lanes of `value` at `self + offset`, any alignment.
    @inline(__always)
    func store(_ value: Vector, _ offset: Int = 0) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: value, as: Vector.self)
    }
}

/// The sum of the 16 lanes, always as the same tree: halves, quarters, eighths, then the pair.
@inline(__always)
func sum(_ v: Vector) -> Float {
    let eight = v.lowHalf + v.highHalf
    let four = eight.lowHalf + eight.highHalf
    let two = four.lowHalf + four.highHalf
    return two[0] + two[1]
}

/// `value` where `value > 0`, else 0 (also for NaN), lane by lane.
@inline(__always)
func positivePart(_ value: Vector) -> Vector {
    Vector(repeating: 0).replacing(with: value, where: value .> 0)
}

/// The lanes below `count` (a comparison of whole vectors: the standard library's
/// vector-against-scalar integer comparisons go lane by lane).
@inline(__always)
func lanes(below count: Int) -> SIMDMask<SIMD16<Int32>> {
    let index = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    return index .< SIMD16<Int32>(repeating: Int32(count))
}
