import CKernels

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

    /// The geometry the kernels take.
    private let shape: bp_pool_shape

    public init(inputShape: Shape, size: Int) throws {
        guard let (h, w, c) = inputShape.image else {
            throw ModelError.shapeMismatch("maxpool needs an image input (height, width, channels), got \(inputShape)")
        }
        guard size > 0, size <= h, size <= w else {
            throw ModelError.shapeMismatch("maxpool window \(size) does not fit its input \(inputShape)")
        }
        self.inputShape = inputShape
        self.size = size
        shape = bp_pool_shape(height: h, width: w, channels: c, size: size, out_height: h / size, out_width: w / size)
        outputShape = Shape(height: h / size, width: w / size, channels: c)
    }

    /// input: (N, H, W, C); output: (N, H/size, W/size, C).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        withUnsafePointer(to: shape) { kernels.maxpool_forward($0, input, output, batch) }
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
        withUnsafePointer(to: shape) {
            kernels.maxpool_backward($0, input, output, outputGradient, inputGradient, relu ? 1 : 0, batch)
        }
    }
}
