import CKernels

/// Rectified linear unit: `max(x, 0)`, element by element.
public struct ReLU: Layer {
    public let kind = "relu"
    public let inputShape: Shape
    public var outputShape: Shape { inputShape }

    public init(inputShape: Shape) { self.inputShape = inputShape }

    /// input, output: (N, shape). NaN becomes 0.
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        kernels.relu_forward(input, output, batch * inputShape.count)
    }

    /// The gradient passes where the output is positive.
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        guard let inputGradient else { return }
        kernels.relu_backward(output, outputGradient, inputGradient, batch * inputShape.count)
    }
}
