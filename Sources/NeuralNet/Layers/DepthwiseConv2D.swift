import Randomness

/// Keras's `DepthwiseConv2D` with depth multiplier 1: each channel convolved with its own
/// k x k kernel, channels last.
///
/// Kernel layout is Keras's `depthwise_kernel`: `(k, k, channels, 1)`; bias `(channels)`, absent
/// with `useBias: false`. Output size and padding as `Padding` gives. Each output is its bias, then
/// its taps in order (ky, kx).
public struct DepthwiseConv2D: Layer {
    public let kind = "depthwise_conv2d"
    public let inputShape: Shape
    public let outputShape: Shape
    public let kernelSize: Int
    public let stride: Int
    public let padding: Padding
    public let useBias: Bool
    /// The windows, as a pooling layer has them.
    let window: PoolWindow

    public init(inputShape: Shape, kernelSize: Int, stride: Int = 1, padding: Padding = .valid, useBias: Bool = true) throws {
        window = try PoolWindow(kind: "dwconv", input: inputShape, size: kernelSize, stride: stride, padding: padding)
        self.inputShape = inputShape
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.useBias = useBias
        outputShape = window.outputShape
    }

    private var channels: Int { window.channels }
    private var kernelCount: Int { kernelSize * kernelSize * channels }

    public var parameterSpecs: [ParameterSpec] {
        let kernel = ParameterSpec(name: "depthwise_kernel", shape: [kernelSize, kernelSize, channels, 1])
        return useBias ? [kernel, ParameterSpec(name: "bias", shape: [channels])] : [kernel]
    }

    /// Glorot uniform as Keras computes its fans for this shape: in k·k·C, out k·k.
    public func initialize(_ parameters: UnsafeMutablePointer<Float>, using generator: inout SeededGenerator) {
        let area = kernelSize * kernelSize
        glorotUniform(parameters, count: kernelCount, fanIn: area * channels, fanOut: area, using: &generator)
        if useBias { (parameters + kernelCount).initialize(repeating: 0, count: channels) }
    }

    /// input: (N, H, W, C); output: (N, OH, OW, C).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        let c = channels
        let bias = useBias ? parameters + kernelCount : nil
        window.forEachTap(batch: batch) { out, taps in
            let y = output + out
            if let bias { y.update(from: bias, count: c) } else { y.initialize(repeating: 0, count: c) }
            for (tap, pixel) in taps {
                let x = input + pixel, w = parameters + tap * c
                for j in 0..<c { y[j] += x[j] * w[j] }
            }
        }
    }

    /// Kernel and bias gradients summed over output pixels in order; the input gradient overwritten.
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        let c = channels
        let biasGradient = useBias ? gradients + kernelCount : nil
        inputGradient?.initialize(repeating: 0, count: batch * inputShape.count)
        window.forEachTap(batch: batch) { out, taps in
            let dy = outputGradient + out
            if let biasGradient { for j in 0..<c { biasGradient[j] += dy[j] } }
            for (tap, pixel) in taps {
                let x = input + pixel, dw = gradients + tap * c
                for j in 0..<c { dw[j] += x[j] * dy[j] }
                if let inputGradient {
                    let dx = inputGradient + pixel, w = parameters + tap * c
                    for j in 0..<c { dx[j] += w[j] * dy[j] }
                }
            }
        }
    }
}

/// Keras's `SeparableConv2D`: a depthwise k x k convolution (no bias, the stride and padding),
/// then a pointwise 1 x 1 convolution to `filters` with one bias.
///
/// Tensors in Keras's layout: `depthwise_kernel (k, k, C, 1)`, `pointwise_kernel (1, 1, C, filters)`,
/// `bias (filters)`. The depthwise output is kept for the backward pass.
public struct SeparableConv2D: Layer {
    public let kind = "separable_conv2d"
    public let inputShape: Shape
    public var outputShape: Shape { pointwise.outputShape }
    public let filters: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Padding
    let depthwise: DepthwiseConv2D
    let pointwise: Conv2D
    /// Where the pointwise tensors start: the depthwise kernel's size.
    private let split: Int

    public init(inputShape: Shape, filters: Int, kernelSize: Int, stride: Int = 1, padding: Padding = .valid) throws {
        guard filters > 0 else { throw ModelError.shapeMismatch("sepconv needs a positive filter count") }
        depthwise = try DepthwiseConv2D(inputShape: inputShape, kernelSize: kernelSize, stride: stride, padding: padding, useBias: false)
        pointwise = try Conv2D(inputShape: depthwise.outputShape, filters: filters, kernelSize: 1)
        split = depthwise.parameterCount
        self.inputShape = inputShape
        self.filters = filters
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
    }

    public var parameterSpecs: [ParameterSpec] {
        let c = inputShape.dimensions[2]
        return [ParameterSpec(name: "depthwise_kernel", shape: [kernelSize, kernelSize, c, 1]),
                ParameterSpec(name: "pointwise_kernel", shape: [1, 1, c, filters]),
                ParameterSpec(name: "bias", shape: [filters])]
    }

    public func initialize(_ parameters: UnsafeMutablePointer<Float>, using generator: inout SeededGenerator) {
        depthwise.initialize(parameters, using: &generator)
        pointwise.initialize(parameters + split, using: &generator)
    }

    /// The depthwise output, room for its gradient, and the pointwise convolution's backward scratch.
    public func cacheCount(batch: Int) -> Int { 2 * batch * depthwise.outputShape.count + pointwise.scratchCount }

    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: cacheCount(batch: batch)) { cache in
            forward(input, output, parameters: parameters, batch: batch, pass: Pass(training: false, cache: cache.baseAddress))
        }
    }

    /// input: (N, H, W, C); output: (N, OH, OW, filters).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int, pass: Pass
    ) {
        guard let middle = pass.cache else { return forward(input, output, parameters: parameters, batch: batch) }
        depthwise.forward(input, middle, parameters: parameters, batch: batch)
        pointwise.forward(middle, output, parameters: parameters + split, batch: batch)
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: cacheCount(batch: batch)) { cache in
            let pass = Pass(training: false, cache: cache.baseAddress)
            depthwise.forward(input, cache.baseAddress!, parameters: parameters, batch: batch)
            backward(input: input, output: output, outputGradient: outputGradient, inputGradient: inputGradient,
                     parameters: parameters, gradients: gradients, batch: batch, pass: pass)
        }
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int, pass: Pass
    ) {
        guard let middle = pass.cache else {
            return backward(input: input, output: output, outputGradient: outputGradient, inputGradient: inputGradient,
                            parameters: parameters, gradients: gradients, batch: batch)
        }
        let middleGradient = middle + batch * depthwise.outputShape.count
        pointwise.backward(input: middle, outputGradient: outputGradient, inputGradient: middleGradient,
                           parameters: parameters + split, gradients: gradients + split, batch: batch,
                           scratch: middleGradient + batch * depthwise.outputShape.count)
        depthwise.backward(input: input, output: middle, outputGradient: middleGradient, inputGradient: inputGradient,
                           parameters: parameters, gradients: gradients, batch: batch)
    }
}
