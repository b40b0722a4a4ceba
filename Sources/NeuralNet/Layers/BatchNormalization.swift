#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Randomness

/// Batch normalisation over the last axis (channels), with Keras's defaults: momentum 0.99,
/// epsilon 1e-3, trainable `gamma` and `beta`, and `moving_mean`, `moving_variance` updated as
/// moving averages (not trained).
///
/// Training normalises with the statistics of the batch it is given — in Backprop a microbatch,
/// a "ghost batch" the plan fixes, so that a microbatch's gradient is the same wherever it is
/// computed: `y = gamma · (x − mean) / √(variance + ε) + beta`, the variance biased (divided by
/// the count), as Keras computes it. Its backward pass also adds `batch × mean` and
/// `batch × variance` into the moving statistics' gradient slots; the step's sum of those, divided
/// by its samples, is the mean of its microbatches' statistics, which `MovingAverages` folds into
/// the moving statistics once per step. Inference uses the moving statistics.
public struct BatchNormalization: Layer {
    public let kind = "batch_normalization"
    public let inputShape: Shape
    public var outputShape: Shape { inputShape }
    public let momentum: Float
    public let epsilon: Float
    /// The normalised axis's size.
    public let channels: Int

    public init(inputShape: Shape, momentum: Float = 0.99, epsilon: Float = 1e-3) throws {
        guard let last = inputShape.dimensions.last else {
            throw ModelError.shapeMismatch("batch_normalization needs an input, got \(inputShape)")
        }
        guard momentum >= 0, momentum < 1, epsilon > 0 else {
            throw ModelError.badSpec("batch_normalization needs 0 ≤ momentum < 1 and epsilon > 0")
        }
        self.inputShape = inputShape
        self.momentum = momentum
        self.epsilon = epsilon
        channels = last
    }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "gamma", shape: [channels]),
         ParameterSpec(name: "beta", shape: [channels]),
         ParameterSpec(name: "moving_mean", shape: [channels], movingAverageMomentum: momentum),
         ParameterSpec(name: "moving_variance", shape: [channels], movingAverageMomentum: momentum)]
    }

    public func initialize(_ parameters: UnsafeMutablePointer<Float>, using generator: inout SeededGenerator) {
        parameters.initialize(repeating: 1, count: channels)
        (parameters + channels).initialize(repeating: 0, count: 2 * channels)
        (parameters + 3 * channels).initialize(repeating: 1, count: channels)
    }

    /// Per channel: room for two Double sums (4 floats), the batch's mean, variance and 1/√(variance + ε)
    /// (kept from the training forward pass for the backward pass), and four floats of working values.
    public func cacheCount(batch: Int) -> Int { 11 * channels }

    /// The cache's parts: Double sums (2 per channel), the batch statistics (3), working values (4).
    private func withCache<R>(
        _ pass: Pass,
        _ body: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> R
    ) -> R {
        let c = channels
        func split(_ cache: UnsafeMutablePointer<Float>) -> R {
            let sums = UnsafeMutableRawPointer(cache).bindMemory(to: Double.self, capacity: 2 * c)
            let result = body(sums, cache + 4 * c, cache + 7 * c)
            UnsafeMutableRawPointer(cache).bindMemory(to: Float.self, capacity: 4 * c)
            return result
        }
        if let cache = pass.cache { return split(cache) }
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: (11 * c + 1) / 2) { buffer in
            split(UnsafeMutableRawPointer(buffer.baseAddress!).bindMemory(to: Float.self, capacity: 11 * c))
        }
    }

    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        forward(input, output, parameters: parameters, batch: batch, pass: .inference)
    }

    /// input, output: (N, ..., C). Statistics are summed in Double, positions in order.
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int, pass: Pass
    ) {
        let c = channels, positions = batch * inputShape.count / channels
        let gamma = parameters, beta = parameters + c
        withCache(pass) { sums, statistics, working in
            let shift = working, scale = working + c
            if pass.training {
                let mean = statistics, variance = statistics + c, inverse = statistics + 2 * c
                measure(input, positions: positions, sums: sums, mean: mean, variance: variance)
                for j in 0..<c {
                    inverse[j] = 1 / (variance[j] + epsilon).squareRoot()
                    shift[j] = mean[j]
                    scale[j] = inverse[j]
                }
            } else {
                let mean = parameters + 2 * c, variance = parameters + 3 * c
                for j in 0..<c {
                    shift[j] = mean[j]
                    scale[j] = 1 / (variance[j] + epsilon).squareRoot()
                }
            }
            for p in 0..<positions {
                let x = input + p * c, y = output + p * c
                for j in 0..<c { y[j] = gamma[j] * ((x[j] - shift[j]) * scale[j]) + beta[j] }
            }
        }
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        backward(input: input, output: output, outputGradient: outputGradient, inputGradient: inputGradient,
                 parameters: parameters, gradients: gradients, batch: batch, pass: .inference)
    }

    /// In training, with x̂ = (x − mean)·s over the M values of a channel:
    /// dx = gamma·s · (dy − mean(dy) − x̂·mean(dy·x̂)); in inference dx = gamma·s·dy.
    /// Either way dgamma += Σ dy·x̂ and dbeta += Σ dy. A training pass reads the batch statistics its
    /// forward pass kept in the cache.
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int, pass: Pass
    ) {
        let c = channels, positions = batch * inputShape.count / channels
        let gamma = parameters
        let training = pass.training && pass.cache != nil
        withCache(pass) { sums, statistics, working in
            let shift = working, scale = working + c, meanDy = working + 2 * c, meanDyXhat = working + 3 * c
            if training {
                for j in 0..<c { shift[j] = statistics[j]; scale[j] = statistics[2 * c + j] }
            } else {
                for j in 0..<c {
                    shift[j] = parameters[2 * c + j]
                    scale[j] = 1 / (parameters[3 * c + j] + epsilon).squareRoot()
                }
            }
            let sumDy = sums, sumDyXhat = sums + c
            sums.update(repeating: 0, count: 2 * c)
            for p in 0..<positions {
                let x = input + p * c, dy = outputGradient + p * c
                for j in 0..<c {
                    sumDy[j] += Double(dy[j])
                    sumDyXhat[j] += Double(dy[j] * ((x[j] - shift[j]) * scale[j]))
                }
            }
            for j in 0..<c {
                gradients[j] += Float(sumDyXhat[j])
                gradients[c + j] += Float(sumDy[j])
            }
            if training {
                for j in 0..<c {
                    gradients[2 * c + j] += Float(batch) * statistics[j]
                    gradients[3 * c + j] += Float(batch) * statistics[c + j]
                }
            }
            guard let inputGradient else { return }
            if training {
                for j in 0..<c {
                    meanDy[j] = Float(sumDy[j] / Double(positions))
                    meanDyXhat[j] = Float(sumDyXhat[j] / Double(positions))
                }
                for p in 0..<positions {
                    let x = input + p * c, dy = outputGradient + p * c, dx = inputGradient + p * c
                    for j in 0..<c {
                        let xhat = (x[j] - shift[j]) * scale[j]
                        dx[j] = gamma[j] * scale[j] * (dy[j] - meanDy[j] - xhat * meanDyXhat[j])
                    }
                }
            } else {
                for p in 0..<positions {
                    let dy = outputGradient + p * c, dx = inputGradient + p * c
                    for j in 0..<c { dx[j] = gamma[j] * scale[j] * dy[j] }
                }
            }
        }
    }

    /// Per-channel mean and biased variance of `positions` rows of `channels` values: two passes,
    /// summed in Double in `sums` (2 per channel).
    private func measure(
        _ input: UnsafePointer<Float>, positions: Int, sums: UnsafeMutablePointer<Double>,
        mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>
    ) {
        let c = channels
        let sum = sums, squares = sums + c
        sums.update(repeating: 0, count: 2 * c)
        for p in 0..<positions {
            let x = input + p * c
            for j in 0..<c { sum[j] += Double(x[j]) }
        }
        for j in 0..<c { sum[j] /= Double(positions) }
        for p in 0..<positions {
            let x = input + p * c
            for j in 0..<c {
                let d = Double(x[j]) - sum[j]
                squares[j] += d * d
            }
        }
        for j in 0..<c {
            mean[j] = Float(sum[j])
            variance[j] = Float(squares[j] / Double(positions))
        }
    }
}
