#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Randomness

/// Where a shape sits on the canvas: its centre in pixels and its turn in radians.
struct Placement {
    let x: Float
    let y: Float
    let cosine: Float
    let sine: Float

    init(x: Float, y: Float, angle: Float) {
        self.x = x
        self.y = y
        cosine = cos(angle)
        sine = sin(angle)
    }
}

/// A square greyscale image being drawn, values nominally in [0, 1].
struct Canvas {
    /// Pixels per side.
    let side: Int
    /// values: (side, side), row by row.
    private(set) var values: [Float]

    /// A canvas filled with `background`.
    init(side: Int, background: Float) {
        self.side = side
        values = [Float](repeating: background, count: side * side)
    }

    /// Paints `part` at `placement` with anti-aliased edges: each pixel moves toward `intensity`
    /// by the fraction of it the part covers (estimated as 0.5 - signed distance, clamped to [0, 1]).
    mutating func paint(_ part: Primitive, at placement: Placement, intensity: Float) {
        let reach = part.reach + 1
        let columns = pixelRange(placement.x - reach, placement.x + reach)
        let rows = pixelRange(placement.y - reach, placement.y + reach)
        guard !columns.isEmpty, !rows.isEmpty else { return }
        for row in rows {
            let dy = Float(row) + 0.5 - placement.y
            for column in columns {
                let dx = Float(column) + 0.5 - placement.x
                let localX = placement.cosine * dx + placement.sine * dy
                let localY = placement.cosine * dy - placement.sine * dx
                let coverage = min(max(0.5 - part.distance(localX, localY), 0), 1)
                if coverage > 0 {
                    let index = row * side + column
                    values[index] += (intensity - values[index]) * coverage
                }
            }
        }
    }

    /// Adds zero-mean, roughly Gaussian noise (a scaled sum of four uniforms) of the given standard deviation.
    mutating func addNoise(standardDeviation: Float, using generator: inout SeededGenerator) {
        // Four 16-bit uniforms sum to variance 4/12; sqrt(3) brings it to 1.
        let scale = standardDeviation * Float(3).squareRoot() / 65_536
        for index in values.indices {
            let bits = generator.next()
            let sum = Float(bits & 0xFFFF) + Float(bits >> 16 & 0xFFFF) + Float(bits >> 32 & 0xFFFF) + Float(bits >> 48)
            values[index] += (sum - 2 * 65_536) * scale
        }
    }

    /// Writes the canvas as bytes (value clamped to [0, 1], times 255, rounded) into `bytes`.
    func quantise(into bytes: UnsafeMutableBufferPointer<UInt8>) {
        precondition(bytes.count == values.count, "byte buffer does not match the canvas")
        for index in values.indices {
            bytes[index] = UInt8((min(max(values[index], 0), 1) * 255).rounded())
        }
    }

    /// The pixel indices whose centres might lie in [low, high].
    private func pixelRange(_ low: Float, _ high: Float) -> Range<Int> {
        let first = max(0, Int(max(low, -1).rounded(.down)))
        let end = min(side, Int(min(high, Float(side)).rounded(.up)) + 1)
        return first..<max(first, end)
    }
}
