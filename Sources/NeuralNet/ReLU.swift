/// Rectified linear unit: `max(x, 0)`, element by element.
public struct ReLU: Layer {
    public let kind = "relu"
    public let inputShape: Shape
    public var outputShape: Shape { inputShape }

    public init(inputShape: Shape) { self.inputShape = inputShape }

    /// input, output: (N, shape).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        for i in 0..<batch * inputShape.count {
            output[i] = input[i] > 0 ? input[i] : 0
        }
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        guard let inputGradient else { return }
        for i in 0..<batch * inputShape.count {
            inputGradient[i] = output[i] > 0 ? outputGradient[i] : 0
        }
    }
}
