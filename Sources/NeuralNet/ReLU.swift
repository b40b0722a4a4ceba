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
        let count = batch * inputShape.count
        var i = 0
        while i + Vector.scalarCount <= count {
            output.store(positivePart(input.vector(i)), i)
            i += Vector.scalarCount
        }
        while i < count {
            output[i] = input[i] > 0 ? input[i] : 0
            i += 1
        }
    }

    /// The gradient passes where the output is positive.
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        guard let inputGradient else { return }
        let count = batch * inputShape.count
        let zero = Vector(repeating: 0)
        var i = 0
        while i + Vector.scalarCount <= count {
            inputGradient.store(zero.replacing(with: outputGradient.vector(i), where: output.vector(i) .> 0), i)
            i += Vector.scalarCount
        }
        while i < count {
            inputGradient[i] = output[i] > 0 ? outputGradient[i] : 0
            i += 1
        }
    }
}
