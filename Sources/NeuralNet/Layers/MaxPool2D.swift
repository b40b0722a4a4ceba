import CKernels

/// Max pooling over `size` x `size` windows every `stride` pixels, with `valid` or `same` padding
/// (padded positions never win), channels last.
///
/// The output is as `Padding` gives; with the default stride (= size) and `valid`, `(H / size, W /
/// size, C)`, rounding down as Keras does. The backward pass sends each window's gradient to the
/// first position holding the maximum (none if the window's first value is NaN); where windows
/// overlap, a position collects the gradients of every window it won, in window order.
public struct MaxPool2D: Layer {
    public let kind = "maxpool2d"
    public let inputShape: Shape
    public let outputShape: Shape
    public let size: Int
    public let stride: Int
    public let padding: Padding
    let window: PoolWindow

    /// The geometry the vector kernels take: non-overlapping `valid` windows; nil for the others.
    private let tiled: bp_pool_shape?

    public init(inputShape: Shape, size: Int, stride: Int? = nil, padding: Padding = .valid) throws {
        window = try PoolWindow(kind: "maxpool", input: inputShape, size: size, stride: stride ?? size, padding: padding)
        self.inputShape = inputShape
        self.size = size
        self.stride = stride ?? size
        self.padding = padding
        outputShape = window.outputShape
        tiled = self.stride == size && padding == .valid
            ? bp_pool_shape(height: window.height, width: window.width, channels: window.channels, size: size,
                            out_height: window.outHeight, out_width: window.outWidth)
            : nil
    }

    /// input: (N, H, W, C); output: (N, OH, OW, C).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        if let tiled { return withUnsafePointer(to: tiled) { kernels.maxpool_forward($0, input, output, batch) } }
        let c = window.channels
        window.forEachTap(batch: batch) { out, taps in
            for j in 0..<c {
                var best = -Float.infinity
                var first = true
                for (_, tap) in taps where first || input[tap + j] > best {
                    best = input[tap + j]
                    first = false
                }
                output[out + j] = best
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
        backward(input: input, output: output, outputGradient: outputGradient, inputGradient: inputGradient, batch: batch, relu: false)
    }

    /// The backward pass, and with `relu` the backward pass of a ReLU before the pooling (whose
    /// output is `input`): the gradient stays only where the window's maximum is positive.
    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?, batch: Int, relu: Bool
    ) {
        guard let inputGradient else { return }
        if let tiled {
            return withUnsafePointer(to: tiled) {
                kernels.maxpool_backward($0, input, output, outputGradient, inputGradient, relu ? 1 : 0, batch)
            }
        }
        let c = window.channels
        inputGradient.initialize(repeating: 0, count: batch * inputShape.count)
        window.forEachTap(batch: batch) { out, taps in
            for j in 0..<c {
                let best = output[out + j]
                guard !relu || best > 0, let winner = taps.first(where: { input[$0.1 + j] == best })?.1 else { continue }
                inputGradient[winner + j] += outputGradient[out + j]
            }
        }
    }
}

/// Average pooling over `size` x `size` windows every `stride` pixels (Keras's `AveragePooling2D`):
/// each output is the mean of the real pixels its window covers, padding not counted, as TensorFlow does.
public struct AveragePool2D: Layer {
    public let kind = "avgpool2d"
    public let inputShape: Shape
    public let outputShape: Shape
    public let size: Int
    public let stride: Int
    public let padding: Padding
    let window: PoolWindow

    public init(inputShape: Shape, size: Int, stride: Int? = nil, padding: Padding = .valid) throws {
        window = try PoolWindow(kind: "avgpool", input: inputShape, size: size, stride: stride ?? size, padding: padding)
        self.inputShape = inputShape
        self.size = size
        self.stride = stride ?? size
        self.padding = padding
        outputShape = window.outputShape
    }

    /// input: (N, H, W, C); output: (N, OH, OW, C). Taps summed in row-major order, then divided.
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        let c = window.channels
        window.forEachTap(batch: batch) { out, taps in
            let count = Float(taps.count)
            for j in 0..<c {
                var sum: Float = 0
                for (_, tap) in taps { sum += input[tap + j] }
                output[out + j] = sum / count
            }
        }
    }

    /// Each window's gradient, divided by its real pixels, added to each of them.
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        guard let inputGradient else { return }
        let c = window.channels
        inputGradient.initialize(repeating: 0, count: batch * inputShape.count)
        window.forEachTap(batch: batch) { out, taps in
            let count = Float(taps.count)
            for j in 0..<c {
                let share = outputGradient[out + j] / count
                for (_, tap) in taps { inputGradient[tap + j] += share }
            }
        }
    }
}

/// Keras's `GlobalAveragePooling2D`: each channel's mean over the image, (H, W, C) → (C).
public struct GlobalAveragePool2D: Layer {
    public let kind = "global_average_pooling2d"
    public let inputShape: Shape
    public let outputShape: Shape
    private let pixels: Int
    private let channels: Int

    public init(inputShape: Shape) throws {
        guard let (h, w, c) = inputShape.image else {
            throw ModelError.shapeMismatch("gap needs an image input (height, width, channels), got \(inputShape)")
        }
        self.inputShape = inputShape
        pixels = h * w
        channels = c
        outputShape = Shape([c])
    }

    /// input: (N, H, W, C); output: (N, C). Pixels summed in order, then divided by H·W.
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        let count = Float(pixels)
        for n in 0..<batch {
            let x = input + n * pixels * channels, y = output + n * channels
            y.initialize(repeating: 0, count: channels)
            for p in 0..<pixels {
                for j in 0..<channels { y[j] += x[p * channels + j] }
            }
            for j in 0..<channels { y[j] /= count }
        }
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        guard let inputGradient else { return }
        let count = Float(pixels)
        for n in 0..<batch {
            let dy = outputGradient + n * channels, dx = inputGradient + n * pixels * channels
            for p in 0..<pixels {
                for j in 0..<channels { dx[p * channels + j] = dy[j] / count }
            }
        }
    }
}

/// The windows of a pooling layer: where each output pixel's window lies in the input.
struct PoolWindow: Sendable {
    let height, width, channels: Int
    let size, stride: Int
    let outHeight, outWidth: Int
    let padTop, padLeft: Int

    init(kind: String, input: Shape, size: Int, stride: Int, padding: Padding) throws {
        guard let (h, w, c) = input.image else {
            throw ModelError.shapeMismatch("\(kind) needs an image input (height, width, channels), got \(input)")
        }
        guard size > 0, stride > 0 else { throw ModelError.shapeMismatch("\(kind) needs a positive window and stride") }
        guard let rows = padding.geometry(length: h, window: size, stride: stride),
              let columns = padding.geometry(length: w, window: size, stride: stride) else {
            throw ModelError.shapeMismatch("\(kind) window \(size) does not fit its input \(input)")
        }
        height = h; width = w; channels = c
        self.size = size; self.stride = stride
        outHeight = rows.output; outWidth = columns.output
        padTop = rows.before; padLeft = columns.before
    }

    var outputShape: Shape { Shape(height: outHeight, width: outWidth, channels: channels) }

    /// Calls `body` once per output pixel, in order (sample, row, column), with the offset of its first
    /// channel in the output and its taps inside the image, in order (ky, kx): each the tap's index
    /// ky·size + kx and the offset of its pixel's first channel in the input.
    func forEachTap(batch: Int, _ body: (Int, UnsafeBufferPointer<(Int, Int)>) -> Void) {
        withUnsafeTemporaryAllocation(of: (Int, Int).self, capacity: size * size) { taps in
            for n in 0..<batch {
                for oy in 0..<outHeight {
                    for ox in 0..<outWidth {
                        var count = 0
                        for ky in 0..<size {
                            let y = oy * stride + ky - padTop
                            guard y >= 0, y < height else { continue }
                            for kx in 0..<size {
                                let x = ox * stride + kx - padLeft
                                guard x >= 0, x < width else { continue }
                                taps[count] = (ky * size + kx, ((n * height + y) * width + x) * channels)
                                count += 1
                            }
                        }
                        body(((n * outHeight + oy) * outWidth + ox) * channels, UnsafeBufferPointer(rebasing: taps[0..<count]))
                    }
                }
            }
        }
    }
}
