#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The logistic function `1 / (1 + e^-x)`, element by element.
public struct Sigmoid: Layer {
    public let kind = "sigmoid"
    public let inputShape: Shape
    public var outputShape: Shape { inputShape }

    public init(inputShape: Shape) { self.inputShape = inputShape }

    /// input, output: (N, shape).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        for i in 0..<batch * inputShape.count {
            output[i] = sigmoid(input[i])
        }
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        guard let inputGradient else { return }
        for i in 0..<batch * inputShape.count {
            let y = output[i]
            inputGradient[i] = outputGradient[i] * y * (1 - y)
        }
    }
}

/// The logistic function, computed without overflow for large |x|.
@inlinable
public func sigmoid(_ x: Float) -> Float {
    if x >= 0 {
        return 1 / (1 + expf(-x))
    }
    let e = expf(x)
    return e / (1 + e)
}
