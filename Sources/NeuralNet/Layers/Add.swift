/// The sum of several tensors of one shape: a residual connection's join (Keras's `Add`).
///
/// A model runs it with all its inputs (`forward(_:_:batch:)`); the gradient of each input is the
/// output's gradient. The one-input form of the `Layer` passes is the identity.
public struct Add: Layer {
    public let kind = "add"
    public let inputShape: Shape
    public var outputShape: Shape { inputShape }

    public init(inputShape: Shape) { self.inputShape = inputShape }

    /// inputs: each (N, shape); output: (N, shape) = inputs[0] + inputs[1] + …, added left to right.
    public func forward(_ inputs: [UnsafePointer<Float>], _ output: UnsafeMutablePointer<Float>, batch: Int) {
        let count = batch * inputShape.count
        output.update(from: inputs[0], count: count)
        for input in inputs.dropFirst() {
            for i in 0..<count { output[i] += input[i] }
        }
    }

    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        forward([input], output, batch: batch)
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        inputGradient?.update(from: outputGradient, count: batch * inputShape.count)
    }
}
