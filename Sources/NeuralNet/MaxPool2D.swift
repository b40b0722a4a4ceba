/// Max pooling over non-overlapping `size` x `size` windows (stride = size, `valid`).
///
/// The output is `(H / size, W / size, C)`, rounding down as Keras does. The backward
/// pass sends each window's gradient to the first position holding the maximum (none
/// if the window's first value is NaN).
public struct MaxPool2D: Layer {
    public let kind = "maxpool2d"
    public let inputShape: Shape
    public let outputShape: Shape
    public let size: Int

    private let height, width, channels, outHeight, outWidth: Int

    public init(inputShape: Shape, size: Int) throws {
        guard let (h, w, c) = inputShape.image else {
            throw ModelError.shapeMismatch("maxpool needs an image input (height, width, channels), got \(inputShape)")
        }
        guard size > 0, size <= h, size <= w else {
            throw ModelError.shapeMismatch("maxpool window \(size) does not fit its input \(inputShape)")
        }
        self.inputShape = inputShape
        self.size = size
        height = h; width = w; channels = c
        outHeight = h / size
        outWidth = w / size
        outputShape = Shape(height: outHeight, width: outWidth, channels: c)
    }

    /// input: (N, H, W, C); output: (N, H/size, W/size, C).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        for n in 0..<batch {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    let out = output + ((n * outHeight + oy) * outWidth + ox) * channels
                    let window = input + ((n * height + oy * size) * width + ox * size) * channels
                    var c = 0
                    while c + Vector.scalarCount <= channels {
                        var best = window.vector(c)
                        forEachPosition { _, offset in
                            let value = window.vector(offset + c)
                            best.replace(with: value, where: value .> best)
                        }
                        out.store(best, c)
                        c += Vector.scalarCount
                    }
                    for c in c..<channels {
                        var best = window[c]
                        forEachPosition { _, offset in
                            if window[offset + c] > best { best = window[offset + c] }
                        }
                        out[c] = best
                    }
                }
            }
        }
    }

    /// Writes every input position: the window's gradient at the first position holding the
    /// window's maximum (the forward pass's output), 0 elsewhere.
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        guard let inputGradient else { return }
        let zero = Vector(repeating: 0)
        for n in 0..<batch {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    let pooled = ((n * outHeight + oy) * outWidth + ox) * channels
                    let maximum = output + pooled
                    let g = outputGradient + pooled
                    let start = ((n * height + oy * size) * width + ox * size) * channels
                    let window = input + start
                    let dx = inputGradient + start
                    var c = 0
                    while c + Vector.scalarCount <= channels {
                        let best = maximum.vector(c)
                        let gradient = g.vector(c)
                        var found = SIMDMask<SIMD16<Int32>>(repeating: false)
                        forEachPosition { _, offset in
                            let first = (window.vector(offset + c) .== best) .& .!found
                            found = found .| first
                            dx.store(zero.replacing(with: gradient, where: first), offset + c)
                        }
                        c += Vector.scalarCount
                    }
                    for c in c..<channels {
                        var found = false
                        forEachPosition { _, offset in
                            let first = window[offset + c] == maximum[c] && !found
                            found = found || first
                            dx[offset + c] = first ? g[c] : 0
                        }
                    }
                }
            }
            zeroUncovered(inputGradient + n * inputShape.count)
        }
    }

    /// Calls `body` with each window position (row-major) and its offset from the window's first value.
    @inline(__always)
    private func forEachPosition(_ body: (_ position: Int, _ offset: Int) -> Void) {
        for dy in 0..<size {
            for dx in 0..<size {
                body(dy * size + dx, (dy * width + dx) * channels)
            }
        }
    }

    /// Zeroes the bottom rows and right columns no window covers (when H or W is not a multiple of size).
    /// image: (H, W, C).
    private func zeroUncovered(_ image: UnsafeMutablePointer<Float>) {
        let coveredWidth = outWidth * size
        if coveredWidth < width {
            for y in 0..<outHeight * size {
                (image + (y * width + coveredWidth) * channels).update(repeating: 0, count: (width - coveredWidth) * channels)
            }
        }
        let coveredHeight = outHeight * size
        (image + coveredHeight * width * channels).update(repeating: 0, count: (height - coveredHeight) * width * channels)
    }
}
