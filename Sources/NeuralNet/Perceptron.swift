/// Rosenblatt's perceptron: one neuron with a step activation, trained by the perceptron rule.
///
/// Prediction is `1` when `w·x + b > 0`, else `0`. After each sample the rule moves the weights
/// by `lr · (target − prediction) · x` and the bias by `lr · (target − prediction)`: up after
/// a false negative, *down* after a false positive, not at all when right. (Updating only on
/// false negatives — a common slip — leaves the bias positive, so `[0, 0]` is predicted 1.)
public struct Perceptron: Sendable, Equatable {
    public var weights: [Double]
    public var bias: Double

    /// A perceptron with zero weights and bias.
    public init(inputs: Int) {
        weights = [Double](repeating: 0, count: inputs)
        bias = 0
    }

    /// The step-activated output for one input.
    public func predict(_ x: [Double]) -> Int {
        var sum = bias
        for (w, xi) in zip(weights, x) { sum += w * xi }
        return sum > 0 ? 1 : 0
    }

    /// One pass of the perceptron rule over the samples, in order; returns the number of mistakes made.
    @discardableResult
    public mutating func trainEpoch(inputs: [[Double]], targets: [Int], learningRate: Double) -> Int {
        var mistakes = 0
        for (x, target) in zip(inputs, targets) {
            let error = Double(target - predict(x))
            if error == 0 { continue }
            mistakes += 1
            for i in weights.indices { weights[i] += learningRate * error * x[i] }
            bias += learningRate * error
        }
        return mistakes
    }
}
