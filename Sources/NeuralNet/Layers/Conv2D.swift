import CKernels
import Randomness

/// A 2-D convolution with a square kernel, channels last.
///
/// Kernel layout is Keras's: `(kernelSize, kernelSize, inputChannels, filters)`, row-major,
/// so `kernel[ky][kx][ci][co]`; bias is `(filters)`, absent with `useBias: false`. The output size
/// and the zero padding are TensorFlow's (see `Padding`): with stride 1, `valid` gives
/// `(H - k + 1, W - k + 1, filters)` and `same` `(H, W, filters)`, padded by `(k - 1) / 2` before and
/// `k / 2` after. Stride 1 with a bias runs the vector kernels (Sources/CKernels/conv2d.h); other
/// strides, or no bias, run `StridedConvolution`, which sums in the same order.
public struct Conv2D: Layer {
    public typealias Padding = NeuralNet.Padding

    public let kind = "conv2d"
    public let inputShape: Shape
    public let outputShape: Shape
    public let filters: Int
    public let kernelSize: Int
    public let padding: Padding
    public let stride: Int
    public let useBias: Bool

    private let channels: Int
    /// The geometry the vector kernels take (stride 1).
    private let shape: bp_conv_shape
    /// The loops for other strides or no bias; nil when the vector kernels run.
    private let general: StridedConvolution?

    public init(inputShape: Shape, filters: Int, kernelSize: Int, stride: Int = 1, padding: Padding = .valid, useBias: Bool = true) throws {
        guard let (h, w, c) = inputShape.image else {
            throw ModelError.shapeMismatch("conv2d needs an image input (height, width, channels), got \(inputShape)")
        }
        guard filters > 0, kernelSize > 0 else {
            throw ModelError.shapeMismatch("conv2d needs a positive filter count and kernel size")
        }
        guard stride > 0 else { throw ModelError.shapeMismatch("conv2d needs a positive stride") }
        guard let rows = padding.geometry(length: h, window: kernelSize, stride: stride),
              let columns = padding.geometry(length: w, window: kernelSize, stride: stride) else {
            throw ModelError.shapeMismatch("conv2d kernel \(kernelSize)x\(kernelSize) is larger than its input \(inputShape)")
        }
        self.inputShape = inputShape
        self.filters = filters
        self.kernelSize = kernelSize
        self.padding = padding
        self.stride = stride
        self.useBias = useBias
        channels = c
        shape = bp_conv_shape(
            height: h, width: w, channels: c, filters: filters, kernel_size: kernelSize,
            out_height: rows.output, out_width: columns.output, pad_before: rows.before)
        general = stride == 1 && useBias ? nil : StridedConvolution(
            height: h, width: w, channels: c, filters: filters, kernelSize: kernelSize, stride: stride,
            outHeight: rows.output, outWidth: columns.output, padTop: rows.before, padLeft: columns.before)
        outputShape = Shape(height: rows.output, width: columns.output, channels: filters)
    }

    public var parameterSpecs: [ParameterSpec] {
        let kernel = ParameterSpec(name: "kernel", shape: [kernelSize, kernelSize, channels, filters])
        return useBias ? [kernel, ParameterSpec(name: "bias", shape: [filters])] : [kernel]
    }

    public func initialize(_ parameters: UnsafeMutablePointer<Float>, using generator: inout SeededGenerator) {
        let area = kernelSize * kernelSize
        let kernelCount = area * channels * filters
        glorotUniform(parameters, count: kernelCount, fanIn: area * channels, fanOut: area * filters, using: &generator)
        if useBias { (parameters + kernelCount).initialize(repeating: 0, count: filters) }
    }

    // MARK: - Forward

    /// input: (N, H, W, C); output: (N, OH, OW, filters).
    ///
    /// Each output value is `bias + Σ x·w` over the taps inside the image, in a fixed order
    /// (`conv_forward` in Sources/CKernels/conv2d.h).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        forward(input, output, parameters: parameters, batch: batch, relu: false)
    }

    /// The forward pass, and with `relu` a ReLU after it in the same pass: output = max(value, 0).
    func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int, relu: Bool
    ) {
        if let general {
            return general.forward(input, output, kernel: parameters, bias: useBias ? parameters + kernelCount : nil, relu: relu, batch: batch)
        }
        withUnsafePointer(to: shape) { shape in
            kernels.conv_forward(shape, input, output, parameters, parameters + kernelCount, relu ? 1 : 0, batch)
        }
    }

    // MARK: - Backward

    /// Kernel and bias gradients summed over pixels in order (sample, row, column); the
    /// input gradient, when asked for, gathered per input pixel.
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchCount) { scratch in
            backward(input: input, outputGradient: outputGradient, inputGradient: inputGradient,
                     parameters: parameters, gradients: gradients, batch: batch, scratch: scratch.baseAddress!)
        }
    }

    /// The backward pass with `scratch` (`scratchCount` floats) for the input gradient.
    func backward(
        input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int,
        scratch: UnsafeMutablePointer<Float>
    ) {
        if let general {
            general.backwardParameters(input: input, outputGradient: outputGradient, kernelGradient: gradients,
                                       biasGradient: useBias ? gradients + kernelCount : nil, batch: batch)
            if let inputGradient { general.backwardInput(outputGradient: outputGradient, kernel: parameters, inputGradient: inputGradient, batch: batch) }
            return
        }
        withUnsafePointer(to: shape) { shape in
            kernels.conv_backward_parameters(shape, input, outputGradient, gradients, gradients + kernelCount, batch)
            if let inputGradient {
                kernels.conv_backward_input(shape, outputGradient, parameters, inputGradient, scratch, batch)
            }
        }
    }

    /// Floats of scratch the backward pass needs: the kernel, rearranged, and a zero bias.
    var scratchCount: Int { kernelCount + channels }

    private var kernelCount: Int { kernelSize * kernelSize * channels * filters }
}
