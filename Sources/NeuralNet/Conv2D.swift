import CKernels
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

    private let channels: Int
    /// The geometry the kernels take.
    private let shape: bp_conv_shape

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
        channels = c
        let outHeight = padding == .valid ? h - kernelSize + 1 : h
        let outWidth = padding == .valid ? w - kernelSize + 1 : w
        shape = bp_conv_shape(
            height: h, width: w, channels: c, filters: filters, kernel_size: kernelSize,
            out_height: outHeight, out_width: outWidth, pad_before: padding == .valid ? 0 : (kernelSize - 1) / 2)
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
