#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Softmax over the last (only) dimension of each sample: `e^x_i / Σ e^x_j`.
public struct Softmax: Layer {
    public let kind = "softmax"
    public let inputShape: Shape
    public var outputShape: Shape { inputShape }

    public init(inputShape: Shape) throws {
        guard inputShape.dimensions.count == 1 else {
            throw ModelError.shapeMismatch("softmax needs a vector input, got \(inputShape)")
        }
        self.inputShape = inputShape
    }

    /// input, output: (N, classes).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        let classes = inputShape.count
        for n in 0..<batch {
            softmax(input + n * classes, output + n * classes, count: classes)
        }
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        guard let inputGradient else { return }
        let classes = inputShape.count
        for n in 0..<batch {
            let y = output + n * classes
            let g = outputGradient + n * classes
            var dot: Float = 0
            for j in 0..<classes { dot += g[j] * y[j] }
            for j in 0..<classes {
                inputGradient[n * classes + j] = y[j] * (g[j] - dot)
            }
        }
    }
}

/// Writes the softmax of `count` logits, shifted by their maximum so nothing overflows.
func softmax(_ logits: UnsafePointer<Float>, _ probabilities: UnsafeMutablePointer<Float>, count: Int) {
    var top = logits[0]
    for j in 1..<max(count, 1) where logits[j] > top { top = logits[j] }
    var sum: Float = 0
    for j in 0..<count {
        let e = expf(logits[j] - top)
        probabilities[j] = e
        sum += e
    }
    for j in 0..<count { probabilities[j] /= sum }
}
