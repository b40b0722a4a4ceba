/// Keras's `global_clipnorm`: when the global norm of a step's mean gradient, over the trainable
/// values, is above `norm`, the gradient is scaled down to that norm before `base` takes it.
/// The norm is summed in Double in index order, so it is the same bits wherever it is computed.
public struct GlobalNormClip: Optimizer {
    private var base: any Optimizer
    public let norm: Double
    private let trainable: [Range<Int>]
    /// The step's gradient, scaled, for `base`.
    private var clipped: [Float]

    public init(_ base: any Optimizer, norm: Double, layout: ParameterLayout) {
        self.base = base
        self.norm = norm
        trainable = layout.entries.filter(\.isTrainable).map(\.range)
        clipped = [Float](repeating: 0, count: layout.count)
    }

    public var name: String { base.name }
    public var learningRate: Float {
        get { base.learningRate }
        set { base.learningRate = newValue }
    }
    public var step: Int { base.step }
    public var state: [(name: String, values: [Float])] { base.state }

    /// The global norm of `gradients` over the trainable values.
    public func globalNorm(_ gradients: UnsafePointer<Float>) -> Double {
        var sum = 0.0
        for range in trainable {
            for i in range { sum += Double(gradients[i]) * Double(gradients[i]) }
        }
        return sum.squareRoot()
    }

    public mutating func update(_ parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>) {
        let total = globalNorm(gradients)
        guard total > norm else { return base.update(parameters, gradients: gradients) }
        let scale = Float(norm / total)
        let trainable = trainable
        clipped.withUnsafeMutableBufferPointer { buffer in
            let clipped = buffer.baseAddress.unsafelyUnwrapped
            clipped.update(from: gradients, count: buffer.count)
            for range in trainable {
                for i in range { clipped[i] *= scale }
            }
            base.update(parameters, gradients: clipped)
        }
    }

    public mutating func restore(state: [String: [Float]], step: Int) throws {
        try base.restore(state: state, step: step)
    }
}
