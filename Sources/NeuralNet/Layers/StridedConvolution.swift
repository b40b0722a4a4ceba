/// The loops of a convolution with any stride and TensorFlow's padding, with or without a bias,
/// channels last, kernel `(k, k, channels, filters)`.
///
/// Every sum has one fixed order: an output is its bias, then its taps in order (ky, kx, channel);
/// a kernel gradient sums over (sample, row, column) in order; an input gradient collects, for each
/// output pixel in order, its taps' contributions summed over filters.
struct StridedConvolution: Sendable {
    let height, width, channels, filters: Int
    let kernelSize, stride: Int
    let outHeight, outWidth: Int
    let padTop, padLeft: Int

    /// Calls `body(outputPixel, tap, inputPixel)` for every tap inside the image, in order
    /// (sample, output row, output column, ky, kx); pixels are flat indices, not offsets.
    @inline(__always)
    private func forEachTap(batch: Int, _ body: (Int, Int, Int) -> Void) {
        for n in 0..<batch {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    let out = (n * outHeight + oy) * outWidth + ox
                    for ky in 0..<kernelSize {
                        let y = oy * stride + ky - padTop
                        guard y >= 0, y < height else { continue }
                        for kx in 0..<kernelSize {
                            let x = ox * stride + kx - padLeft
                            guard x >= 0, x < width else { continue }
                            body(out, ky * kernelSize + kx, (n * height + y) * width + x)
                        }
                    }
                }
            }
        }
    }

    /// input: (N, H, W, C); output: (N, OH, OW, F); kernel (k, k, C, F); bias (F) or nil.
    func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        kernel: UnsafePointer<Float>, bias: UnsafePointer<Float>?, relu: Bool, batch: Int
    ) {
        let f = filters, c = channels
        let outputs = batch * outHeight * outWidth
        for o in 0..<outputs {
            let y = output + o * f
            if let bias { y.update(from: bias, count: f) } else { y.initialize(repeating: 0, count: f) }
        }
        forEachTap(batch: batch) { out, tap, pixel in
            let y = output + out * f
            let x = input + pixel * c
            let w = kernel + tap * c * f
            for ci in 0..<c {
                let value = x[ci], row = w + ci * f
                for j in 0..<f { y[j] += value * row[j] }
            }
        }
        if relu {
            for i in 0..<outputs * f where !(output[i] > 0) { output[i] = 0 }
        }
    }

    /// Adds the kernel gradient (k, k, C, F) and, when given, the bias gradient (F).
    func backwardParameters(
        input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        kernelGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?, batch: Int
    ) {
        let f = filters, c = channels
        if let biasGradient {
            for o in 0..<batch * outHeight * outWidth {
                let dy = outputGradient + o * f
                for j in 0..<f { biasGradient[j] += dy[j] }
            }
        }
        forEachTap(batch: batch) { out, tap, pixel in
            let dy = outputGradient + out * f
            let x = input + pixel * c
            let dw = kernelGradient + tap * c * f
            for ci in 0..<c {
                let value = x[ci], row = dw + ci * f
                for j in 0..<f { row[j] += value * dy[j] }
            }
        }
    }

    /// Overwrites the input gradient (N, H, W, C).
    func backwardInput(
        outputGradient: UnsafePointer<Float>, kernel: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, batch: Int
    ) {
        let f = filters, c = channels
        inputGradient.initialize(repeating: 0, count: batch * height * width * c)
        forEachTap(batch: batch) { out, tap, pixel in
            let dy = outputGradient + out * f
            let dx = inputGradient + pixel * c
            let w = kernel + tap * c * f
            for ci in 0..<c {
                let row = w + ci * f
                var sum: Float = 0
                for j in 0..<f { sum += row[j] * dy[j] }
                dx[ci] += sum
            }
        }
    }
}
