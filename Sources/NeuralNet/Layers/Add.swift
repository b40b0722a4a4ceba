/// The sum of several tensors of one shape: a residual connection's join (Keras's `Add`).
///
/// A model runs it as the `Layer` forward pass on its first input (a copy), then `accumulate` of each
/// other input in order; the gradient of each input is the output's gradient.
public struct Add: Layer {
    public let kind = "add"
    public let inputShape: Shape
    public var outputShape: Shape { inputShape }

    public init(inputShape: Shape) { self.inputShape = inputShape }

    /// input, output: (N, shape); output = input, the sum's first term.
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        output.update(from: input, count: batch * inputShape.count)
    }

    /// output += input: the sum's next term.
    public func accumulate(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int) {
        for i in 0..<batch * inputShape.count { output[i] += input[i] }
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        inputGradient?.update(from: outputGradient, count: batch * inputShape.count)
    }
}
