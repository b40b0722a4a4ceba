import Randomness

/// A 2-D convolution with stride 1 and a square kernel, channels last.
///
/// Kernel layout is Keras's: `(kernelSize, kernelSize, inputChannels, filters)`, row-major,
/// so `kernel[ky][kx][ci][co]`; bias is `(filters)`. With `valid` padding the output is
/// `(H - k + 1, W - k + 1, filters)`; with `same` it is `(H, W, filters)`, padded with
/// zeros by `(k - 1) / 2` before and `k / 2` after, as TensorFlow does.
public struct Conv2D: Layer {
    public enum Padding: String, Sendable { case valid, same }

    public let kind = "conv2d"
    public let inputShape: Shape
    public let outputShape: Shape
    public let filters: Int
    public let kernelSize: Int
    public let padding: Padding

    private let height, width, channels, outHeight, outWidth, padBefore: Int

    public init(inputShape: Shape, filters: Int, kernelSize: Int, padding: Padding = .valid) throws {
        guard let (h, w, c) = inputShape.image else {
            throw ModelError.shapeMismatch("conv2d needs an image input (height, width, channels), got \(inputShape)")
        }
        guard filters > 0, kernelSize > 0 else {
            throw ModelError.shapeMismatch("conv2d needs a positive filter count and kernel size")
        }
        if padding == .valid && (kernelSize > h || kernelSize > w) {
            throw ModelError.shapeMismatch("conv2d kernel \(kernelSize)x\(kernelSize) is larger than its input \(inputShape)")
        }
        self.inputShape = inputShape
        self.filters = filters
        self.kernelSize = kernelSize
        self.padding = padding
        height = h; width = w; channels = c
        outHeight = padding == .valid ? h - kernelSize + 1 : h
        outWidth = padding == .valid ? w - kernelSize + 1 : w
        padBefore = padding == .valid ? 0 : (kernelSize - 1) / 2
        outputShape = Shape(height: outHeight, width: outWidth, channels: filters)
    }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "kernel", shape: [kernelSize, kernelSize, channels, filters]),
         ParameterSpec(name: "bias", shape: [filters])]
    }

    public func initialize(_ parameters: UnsafeMutablePointer<Float>, using generator: inout SeededGenerator) {
        let area = kernelSize * kernelSize
        let kernelCount = area * channels * filters
        glorotUniform(parameters, count: kernelCount, fanIn: area * channels, fanOut: area * filters, using: &generator)
        (parameters + kernelCount).initialize(repeating: 0, count: filters)
    }

    // MARK: - Forward

    /// input: (N, H, W, C); output: (N, OH, OW, filters).
    ///
    /// Each output value is `bias + Σ x·w` summed over kernel rows `ky`, then over the
    /// `(kx, c)` span of each row in memory order, skipping taps outside the image. Filters
    /// go 16 at a time through vector accumulators; interior pixels go in pairs that share
    /// each kernel load; filters beyond a multiple of 16 go one by one, in the same order.
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        let kernel = parameters
        let bias = parameters + kernelCount
        let interior = interiorColumns
        for n in 0..<batch {
            let image = input + n * inputShape.count
            for oy in 0..<outHeight {
                let rows = rowTaps(oy)
                // Input row of the first kernel row that lands in the image, and that kernel row.
                let top = image + (oy + rows.lowerBound - padBefore) * width * channels
                let firstKernelRow = kernel + rows.lowerBound * kernelSize * channels * filters
                let out = output + (n * outHeight + oy) * outWidth * filters
                let pairs = interior.count / 2
                var co = 0
                while co + Vector.scalarCount <= filters {
                    let b = bias.vector(co)
                    var x = top + (interior.lowerBound - padBefore) * channels
                    var y = out + interior.lowerBound * filters + co
                    for _ in 0..<pairs {
                        let (first, second) = forwardPair(x, firstKernelRow + co, b, kernelRows: rows.count)
                        y.store(first)
                        y.store(second, filters)
                        x += 2 * channels
                        y += 2 * filters
                    }
                    // The border, and the last interior pixel when their count is odd.
                    for ox in 0..<interior.lowerBound {
                        out.store(forwardPixel(image, kernel + co, b, oy: oy, ox: ox, rows: rows), ox * filters + co)
                    }
                    for ox in interior.lowerBound + 2 * pairs..<outWidth {
                        out.store(forwardPixel(image, kernel + co, b, oy: oy, ox: ox, rows: rows), ox * filters + co)
                    }
                    co += Vector.scalarCount
                }
                for co in co..<filters {
                    for ox in 0..<outWidth {
                        out[ox * filters + co] = forwardPixel(image, kernel + co, bias[co], oy: oy, ox: ox, rows: rows)
                    }
                }
            }
        }
    }

    /// Two neighbouring output pixels whose taps all lie inside the image, 16 filters.
    ///
    /// x: the first pixel's first input value under the first kernel row; w: that kernel
    /// row at the first filter. Kernel rows follow each other in memory; input rows are
    /// `W·C` apart.
    @inline(__always)
    private func forwardPair(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: Vector, kernelRows: Int
    ) -> (Vector, Vector) {
        var first = bias, second = bias
        let span = kernelSize * channels
        var x = x, w = w
        for _ in 0..<kernelRows {
            let neighbour = x + channels
            for j in 0..<span {
                let taps = w.vector()
                first += x[j] * taps
                second += neighbour[j] * taps
                w += filters
            }
            x += width * channels
        }
        return (first, second)
    }

    /// Output pixel `ox` of row `oy`, skipping taps outside the image; generic over one or 16 filters.
    @inline(__always)
    private func forwardPixel<Value: FilterLanes>(
        _ image: UnsafePointer<Float>, _ kernel: UnsafePointer<Float>, _ bias: Value, oy: Int, ox: Int, rows: Range<Int>
    ) -> Value {
        var sum = bias
        let columns = columnTaps(ox)
        let span = columns.count * channels
        for ky in rows {
            var x = image + ((oy + ky - padBefore) * width + ox + columns.lowerBound - padBefore) * channels
            var w = kernel + (ky * kernelSize + columns.lowerBound) * channels * filters
            for _ in 0..<span {
                sum += x[0] * Value(w)
                x += 1
                w += filters
            }
        }
        return sum
    }

    // MARK: - Backward

    /// Kernel and bias gradients summed over pixels in order (sample, row, column); the
    /// input gradient, when asked for, gathered per input pixel.
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        let kernelGradient = gradients
        let biasGradient = gradients + kernelCount
        for n in 0..<batch {
            let image = input + n * inputShape.count
            for oy in 0..<outHeight {
                let g = outputGradient + (n * outHeight + oy) * outWidth * filters
                accumulateBiasGradient(biasGradient, g)
                accumulateKernelGradient(kernelGradient, image, g, oy: oy)
            }
        }
        guard let inputGradient else { return }
        for n in 0..<batch {
            computeInputGradient(
                inputGradient + n * inputShape.count, outputGradient + n * outputShape.count, kernel: parameters)
        }
    }

    /// biasGradient (filters) += Σ over the row's pixels of g; g: (OW, filters).
    private func accumulateBiasGradient(_ biasGradient: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>) {
        var co = 0
        while co + Vector.scalarCount <= filters {
            var sum = biasGradient.vector(co)
            for ox in 0..<outWidth { sum += g.vector(ox * filters + co) }
            biasGradient.store(sum, co)
            co += Vector.scalarCount
        }
        for co in co..<filters {
            for ox in 0..<outWidth { biasGradient[co] += g[ox * filters + co] }
        }
    }

    /// kernelGradient += the contribution of output row `oy` (g: (OW, filters)) of one image (H, W, C).
    ///
    /// The kernel gradient is a matrix of `K·K·C` rows (tap and input channel) by `filters`;
    /// row `r` is the sum over pixels of `x_r(ox) · g(ox)`, where `x_r(ox)` is the input value
    /// that tap and channel see from output pixel `ox`. Rows go in pairs that share each
    /// load of `g`, 16 filters at a time; every row sums its pixels in ascending order.
    private func accumulateKernelGradient(
        _ kernelGradient: UnsafeMutablePointer<Float>, _ image: UnsafePointer<Float>, _ g: UnsafePointer<Float>, oy: Int
    ) {
        let validRows = rowTaps(oy)
        let vectorFilters = filters - filters % Vector.scalarCount
        var first = TapRow(self, image, ky: validRows.lowerBound, oy: oy)
        var remaining = validRows.count * kernelSize * channels
        while remaining > 0 {
            let d = kernelGradient + first.index * filters
            if remaining >= 2 {
                let second = first.next(self)
                for co in stride(from: 0, to: vectorFilters, by: Vector.scalarCount) {
                    var (s0, s1) = (d.vector(co), d.vector(filters + co))
                    accumulate(&s0, &s1, first, second, g + co)
                    d.store(s0, co)
                    d.store(s1, filters + co)
                }
                accumulateScalar(d, first, g, filters: vectorFilters..<filters)
                accumulateScalar(d + filters, second, g, filters: vectorFilters..<filters)
                first = second.next(self)
                remaining -= 2
            } else {
                for co in stride(from: 0, to: vectorFilters, by: Vector.scalarCount) {
                    var s0 = d.vector(co)
                    for ox in first.pixels { s0 += first.value(ox) * g.vector(ox * filters + co) }
                    d.store(s0, co)
                }
                accumulateScalar(d, first, g, filters: vectorFilters..<filters)
                remaining -= 1
            }
        }
    }

    /// s0 += Σ x0(ox)·g(ox), s1 += Σ x1(ox)·g(ox), each over its row's pixels in ascending order.
    /// g: the first of 16 filters of output pixel 0.
    @inline(__always)
    private func accumulate(_ s0: inout Vector, _ s1: inout Vector, _ row0: TapRow, _ row1: TapRow, _ g: UnsafePointer<Float>) {
        // Both rows see the same pixels except at a `same`-padded border.
        let start = max(row0.pixels.lowerBound, row1.pixels.lowerBound)
        let both = start..<max(start, min(row0.pixels.upperBound, row1.pixels.upperBound))
        for ox in row0.pixels.lowerBound..<both.lowerBound { s0 += row0.value(ox) * g.vector(ox * filters) }
        for ox in row1.pixels.lowerBound..<both.lowerBound { s1 += row1.value(ox) * g.vector(ox * filters) }
        if !both.isEmpty {
            var x0 = row0.address(both.lowerBound)
            var x1 = row1.address(both.lowerBound)
            var gp = g + both.lowerBound * filters
            for _ in both {
                let gv = gp.vector()
                s0 += x0[0] * gv
                s1 += x1[0] * gv
                x0 += channels
                x1 += channels
                gp += filters
            }
        }
        for ox in both.upperBound..<row0.pixels.upperBound { s0 += row0.value(ox) * g.vector(ox * filters) }
        for ox in both.upperBound..<row1.pixels.upperBound { s1 += row1.value(ox) * g.vector(ox * filters) }
    }

    /// d[co] += Σ x(ox)·g(ox, co) for the filters not covered by whole vectors.
    private func accumulateScalar(_ d: UnsafeMutablePointer<Float>, _ row: TapRow, _ g: UnsafePointer<Float>, filters range: Range<Int>) {
        for co in range {
            for ox in row.pixels { d[co] += row.value(ox) * g[ox * filters + co] }
        }
    }

    /// inputGradient (H, W, C) of one image from its output gradient g (OH, OW, filters).
    ///
    /// Each input value gathers `Σ g·w` over the taps that saw it (kernel row, then column)
    /// and over the filters, 16 lanes at a time, then one fixed-order sum of the lanes.
    /// Channels go in pairs that share each load of `g`.
    private func computeInputGradient(
        _ inputGradient: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, kernel: UnsafePointer<Float>
    ) {
        let vectorFilters = filters - filters % Vector.scalarCount
        for iy in 0..<height {
            let rows = max(0, iy + padBefore - outHeight + 1)..<min(kernelSize, iy + padBefore + 1)
            var ci = 0
            while ci < channels {
                let paired = ci + 1 < channels
                for ix in 0..<width {
                    let columns = max(0, ix + padBefore - outWidth + 1)..<min(kernelSize, ix + padBefore + 1)
                    var lanes0 = Vector(repeating: 0), lanes1 = Vector(repeating: 0)
                    var rest0: Float = 0, rest1: Float = 0
                    for ky in rows {
                        // Along a kernel row the output pixel steps left as the tap steps right.
                        var gp = g + ((iy + padBefore - ky) * outWidth + ix + padBefore - columns.lowerBound) * filters
                        var w0 = kernel + ((ky * kernelSize + columns.lowerBound) * channels + ci) * filters
                        for _ in columns {
                            let w1 = paired ? w0 + filters : w0
                            var (a, b0, b1) = (gp, w0, w1)
                            for _ in 0..<vectorFilters / Vector.scalarCount {
                                let gv = a.vector()
                                lanes0 += gv * b0.vector()
                                lanes1 += gv * b1.vector()
                                a += Vector.scalarCount
                                b0 += Vector.scalarCount
                                b1 += Vector.scalarCount
                            }
                            for co in vectorFilters..<filters {
                                rest0 += gp[co] * w0[co]
                                rest1 += gp[co] * w1[co]
                            }
                            gp -= filters
                            w0 += channels * filters
                        }
                    }
                    let dx = inputGradient + (iy * width + ix) * channels + ci
                    dx[0] = sum(lanes0) + rest0
                    if paired { dx[1] = sum(lanes1) + rest1 }
                }
                ci += paired ? 2 : 1
            }
        }
    }

    // MARK: - Geometry

    private var kernelCount: Int { kernelSize * kernelSize * channels * filters }

    /// The kernel rows `ky` that land inside the image for output row `oy`.
    @inline(__always)
    private func rowTaps(_ oy: Int) -> Range<Int> {
        max(0, padBefore - oy)..<min(kernelSize, height + padBefore - oy)
    }

    /// The kernel columns `kx` that land inside the image for output column `ox`.
    @inline(__always)
    private func columnTaps(_ ox: Int) -> Range<Int> {
        max(0, padBefore - ox)..<min(kernelSize, width + padBefore - ox)
    }

    /// The output columns all of whose kernel columns land inside the image (all of them for `valid`).
    private var interiorColumns: Range<Int> {
        let lower = min(padBefore, outWidth)
        return lower..<max(lower, min(outWidth, width + padBefore - kernelSize + 1))
    }

    /// One row of the kernel gradient matrix seen from an output row: which input value it
    /// multiplies for output column `ox`, and the output columns where that input exists.
    private struct TapRow {
        /// Row number in the kernel gradient: `(ky * K + kx) * C + c`.
        let index: Int
        let pixels: Range<Int>
        private let image: UnsafePointer<Float>
        /// Offset in `image` of the value output column 0 would see (outside the image at a
        /// `same` border: only `pixels` are ever read).
        private let offset: Int
        private let kx, c, channels: Int

        /// The first row of kernel row `ky`, seen from output row `oy` of `image` (H, W, C).
        init(_ conv: Conv2D, _ image: UnsafePointer<Float>, ky: Int, oy: Int) {
            self.init(conv, image, index: ky * conv.kernelSize * conv.channels, kx: 0, c: 0,
                      offset: ((oy + ky - conv.padBefore) * conv.width - conv.padBefore) * conv.channels)
        }

        private init(_ conv: Conv2D, _ image: UnsafePointer<Float>, index: Int, kx: Int, c: Int, offset: Int) {
            self.index = index
            self.image = image
            self.offset = offset
            self.kx = kx
            self.c = c
            channels = conv.channels
            let first = max(0, conv.padBefore - kx)
            pixels = first..<max(first, min(conv.outWidth, conv.width + conv.padBefore - kx))
        }

        /// The input value seen from output column `ox` (one of `pixels`), and its address.
        @inline(__always) func value(_ ox: Int) -> Float { image[offset + ox * channels] }
        @inline(__always) func address(_ ox: Int) -> UnsafePointer<Float> { image + (offset + ox * channels) }

        /// The row after this one: the next channel, kernel column, or kernel row.
        @inline(__always)
        func next(_ conv: Conv2D) -> TapRow {
            if c + 1 < channels { return TapRow(conv, image, index: index + 1, kx: kx, c: c + 1, offset: offset + 1) }
            if kx + 1 < conv.kernelSize { return TapRow(conv, image, index: index + 1, kx: kx + 1, c: 0, offset: offset + 1) }
            let span = conv.kernelSize * channels
            return TapRow(conv, image, index: index + 1, kx: 0, c: 0, offset: offset + 1 + conv.width * channels - span)
        }
    }
}

/// What `forwardPixel` sums into: 16 filters at once, or one.
protocol FilterLanes {
    /// The value(s) at `pointer`: 16 consecutive floats, or one.
    init(_ pointer: UnsafePointer<Float>)
    static func += (lhs: inout Self, rhs: Self)
    static func * (lhs: Float, rhs: Self) -> Self
}

extension SIMD16: FilterLanes where Scalar == Float {
    @inline(__always)
    init(_ pointer: UnsafePointer<Float>) { self = pointer.vector() }
}

extension Float: FilterLanes {
    @inline(__always)
    init(_ pointer: UnsafePointer<Float>) { self = pointer.pointee }
}
