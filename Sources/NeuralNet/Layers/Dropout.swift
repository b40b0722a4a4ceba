/// Dropout (Keras's `Dropout(rate)`): in training, each value is kept with probability 1 − rate
/// and scaled by 1 / (1 − rate), or zeroed; in inference it passes unchanged.
///
/// The mask is not drawn from a generator's state but hashed from (seed, epoch, the sample's
/// position in the epoch's order, layer, element), so a sample gets the same mask in whichever
/// worker, thread or microbatch computes it, after any resume. The backward pass hashes it again.
public struct Dropout: Layer {
    public let kind = "dropout"
    public let inputShape: Shape
    public var outputShape: Shape { inputShape }
    public let rate: Float

    public init(inputShape: Shape, rate: Float) throws {
        guard rate >= 0, rate < 1, rate.isFinite else {
            throw ModelError.badSpec("dropout rate must be in [0, 1), got \(rate)")
        }
        self.inputShape = inputShape
        self.rate = rate
    }

    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        output.update(from: input, count: batch * inputShape.count)
    }

    /// input, output: (N, shape).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int, pass: Pass
    ) {
        guard pass.training, rate > 0 else { return forward(input, output, parameters: parameters, batch: batch) }
        masked(input, output, batch: batch, pass: pass)
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        inputGradient?.update(from: outputGradient, count: batch * inputShape.count)
    }

    /// The gradient passes, scaled, where the value was kept.
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int, pass: Pass
    ) {
        guard let inputGradient else { return }
        guard pass.training, rate > 0 else {
            return inputGradient.update(from: outputGradient, count: batch * inputShape.count)
        }
        masked(outputGradient, inputGradient, batch: batch, pass: pass)
    }

    /// destination = source · mask / (1 − rate), the mask of `pass`'s samples.
    private func masked(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        let count = inputShape.count
        let scale = 1 / (1 - rate)
        // A value is kept when the top 24 bits of its hash, as a fraction, are at least the rate.
        let threshold = UInt64((Double(rate) * 16_777_216).rounded(.up))
        for n in 0..<batch {
            let key = Dropout.sampleKey(seed: pass.seed, epoch: pass.epoch, position: pass.firstPosition + n, layer: pass.layer)
            let x = source + n * count, y = destination + n * count
            for i in 0..<count {
                let keep = Dropout.scramble(key &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15) >> 40 >= threshold
                y[i] = keep ? x[i] * scale : 0
            }
        }
    }

    /// Whether element `element` of the sample at `position` of `epoch` is kept by dropout layer `layer`.
    public func keeps(seed: UInt64, epoch: Int, position: Int, layer: Int, element: Int) -> Bool {
        let key = Dropout.sampleKey(seed: seed, epoch: epoch, position: position, layer: layer)
        let threshold = UInt64((Double(rate) * 16_777_216).rounded(.up))
        return Dropout.scramble(key &+ UInt64(element) &* 0x9E37_79B9_7F4A_7C15) >> 40 >= threshold
    }

    static func sampleKey(seed: UInt64, epoch: Int, position: Int, layer: Int) -> UInt64 {
        let key = scramble(seed ^ 0x6472_6F70_6F75_7421) // "dropout!"
        return scramble(scramble(scramble(key ^ UInt64(truncatingIfNeeded: epoch)) ^ UInt64(truncatingIfNeeded: position))
                        ^ UInt64(truncatingIfNeeded: layer))
    }

    /// SplitMix64's finaliser.
    static func scramble(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
