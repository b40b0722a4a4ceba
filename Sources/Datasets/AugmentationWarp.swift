extension Augmentation {
    /// Writes `source` (height, width, channels) changed by all of `change` — flipped and shifted as
    /// `apply` does, then rotated and zoomed about the centre — as floats in [0, 1], into `destination`.
    ///
    /// One inverse map per output pixel, as Keras's `affine_transform` applies it: with the centre
    /// (cx, cy) = ((width - 1) / 2, (height - 1) / 2), angle θ = 2π·turns and zoom z, output (x, y) reads
    ///
    ///     x' = cx + z·(cos θ·(x - cx) - sin θ·(y - cy))
    ///     y' = cy + z·(sin θ·(x - cx) + cos θ·(y - cy))
    ///
    /// of the flipped, shifted image, bilinearly from its four neighbours, each index folded back
    /// by Keras's `fill_mode="reflect"`: (d c b a | a b c d | d c b a), the edge pixel repeated.
    /// This is RandomRotation's matrix times RandomZoom's; the two commute, since the zoom is the
    /// same on both axes. Unlike two stacked Keras layers, the image is resampled once (one blur,
    /// not two), and the arithmetic is Double with `sineAndCosine` instead of float32 and libm.
    /// With turns 0 and zoom 1 the result is `apply`'s, bit for bit.
    @inlinable
    public static func warp(
        _ change: Change, source: UnsafePointer<UInt8>,
        height: Int, width: Int, channels: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        precondition(change.zoom > 0 && change.zoom.isFinite && change.turns.isFinite, "the zoom must be positive and the turn finite")
        let (sine, cosine) = sineAndCosine(turns: change.turns)
        let a = change.zoom * cosine, b = change.zoom * sine
        let centreX = Double(width - 1) / 2, centreY = Double(height - 1) / 2
        // Row and column j of the flipped, shifted image (reflected past its edges) in `source`, as `apply` reads them.
        func sourceRow(_ j: Int) -> Int {
            min(max(reflect(j, count: height) - change.dy, 0), height - 1) * width
        }
        func sourceColumn(_ j: Int) -> Int {
            let column = reflect(j, count: width)
            return min(max((change.flip ? width - 1 - column : column) - change.dx, 0), width - 1)
        }
        for y in 0..<height {
            let v = Double(y) - centreY
            for x in 0..<width {
                let u = Double(x) - centreX
                let sourceX = centreX + (a * u - b * v)
                let sourceY = centreY + (b * u + a * v)
                let left = sourceX.rounded(.down), top = sourceY.rounded(.down)
                // Weights as TensorFlow's ImageProjectiveTransform forms them: (ceil - x) and (x - floor).
                let toRight = sourceX - left, toLeft = (left + 1) - sourceX
                let toBottom = sourceY - top, toTop = (top + 1) - sourceY
                let column0 = sourceColumn(Int(left)), column1 = sourceColumn(Int(left) + 1)
                let row0 = sourceRow(Int(top)), row1 = sourceRow(Int(top) + 1)
                let topLeft = source + (row0 + column0) * channels, topRight = source + (row0 + column1) * channels
                let bottomLeft = source + (row1 + column0) * channels, bottomRight = source + (row1 + column1) * channels
                let to = destination + (y * width + x) * channels
                for c in 0..<channels {
                    let upper = toLeft * Double(topLeft[c]) + toRight * Double(topRight[c])
                    let lower = toLeft * Double(bottomLeft[c]) + toRight * Double(bottomRight[c])
                    to[c] = Float((toTop * upper + toBottom * lower) / 255)
                }
            }
        }
    }

    /// Index `index` of a line of `count` pixels extended by reflection about its outer edges
    /// (Keras's and SciPy's `reflect`): ... 1 0 | 0 1 ... count-1 | count-1 count-2 ..., period 2·count.
    @inlinable
    static func reflect(_ index: Int, count: Int) -> Int {
        let period = 2 * count
        let folded = (index % period + period) % period
        return folded < count ? folded : period - 1 - folded
    }

    /// sin and cos of 2π·`turns`, from a fixed polynomial in plain Double arithmetic, so every
    /// platform gets the same bits (libm's `sin` and `cos` may differ in the last place between
    /// platforms, and every worker must draw the same image).
    ///
    /// Subtracts the nearest quarter turn, which is exact, leaving |x| <= π/4; then Taylor series to
    /// x^17 (sine) and x^16 (cosine), whose first dropped terms are below 3e-18. Whole quarter turns
    /// come out exact: sin 0 = 0 and cos 0 = 1.
    @inlinable
    static func sineAndCosine(turns: Double) -> (sine: Double, cosine: Double) {
        let quarters = (4 * turns).rounded()
        let x = 2 * Double.pi * (turns - quarters / 4)
        let xx = x * x
        var sine = 1.0, cosine = 1.0
        for k in stride(from: 8, through: 1, by: -1) {
            sine = 1 - xx / Double(2 * k * (2 * k + 1)) * sine
            cosine = 1 - xx / Double((2 * k - 1) * 2 * k) * cosine
        }
        sine *= x
        switch Int(quarters.truncatingRemainder(dividingBy: 4)) & 3 {
        case 0: return (sine, cosine)
        case 1: return (cosine, -sine)
        case 2: return (-sine, -cosine)
        default: return (-cosine, sine)
        }
    }
}
