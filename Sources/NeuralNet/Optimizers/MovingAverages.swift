/// An optimiser for a model with moving statistics (batch norm's): the trainable values take
/// `base`'s update, and each moving statistic becomes `momentum · value + (1 − momentum) · s`,
/// where `s` is its slot of the averaged step gradient — the mean of the step's microbatch
/// statistics (see `BatchNormalization`).
///
/// `base` sees a zero gradient in those slots, so its update leaves them as they are and its state
/// there stays zero. The statistics are then set once per step, from a sum made in the sum tree's
/// order like the gradient's, so they are the same bits at any worker count.
public struct MovingAverages: Optimizer {
    private var base: any Optimizer
    /// The moving statistics' ranges in the flat buffer and their momenta.
    private let averages: [(range: Range<Int>, momentum: Float)]
    /// The step's gradient with the statistics' slots zeroed, for `base`.
    private var trainable: [Float]

    /// Wraps `base`, an optimiser of `layout.count` values.
    public init(_ base: any Optimizer, layout: ParameterLayout) {
        self.base = base
        averages = layout.movingAverages.map { ($0.range, $0.movingAverageMomentum ?? 0) }
        trainable = [Float](repeating: 0, count: layout.count)
    }

    public var name: String { base.name }
    public var learningRate: Float {
        get { base.learningRate }
        set { base.learningRate = newValue }
    }
    public var step: Int { base.step }
    public var state: [(name: String, values: [Float])] { base.state }

    public mutating func update(_ parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>) {
        let averages = averages
        trainable.withUnsafeMutableBufferPointer { buffer in
            let trainable = buffer.baseAddress.unsafelyUnwrapped
            trainable.update(from: gradients, count: buffer.count)
            for (range, _) in averages { (trainable + range.lowerBound).update(repeating: 0, count: range.count) }
            base.update(parameters, gradients: trainable)
        }
        for (range, momentum) in averages {
            for i in range { parameters[i] = parameters[i] * momentum + gradients[i] * (1 - momentum) }
        }
    }

    public mutating func restore(state: [String: [Float]], step: Int) throws {
        try base.restore(state: state, step: step)
    }
}
