/// Flattens each sample to a vector, keeping the channels-last order (as Keras does).
public struct Flatten: Layer {
    public let kind = "flatten"
    public let inputShape: Shape
    public let outputShape: Shape

    public init(inputShape: Shape) {
        self.inputShape = inputShape
        outputShape = Shape([inputShape.count])
    }

    /// input: (N, ...); output: (N, product of ...).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        output.update(from: input, count: batch * inputShape.count)
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        inputGradient?.update(from: outputGradient, count: batch * inputShape.count)
    }
}
