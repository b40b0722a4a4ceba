/// Decoupled weight decay, as Keras applies `weight_decay` (and AdamW its default 0.004): before
/// `base`'s update, each trainable value shrinks by `value · rate · lr`, lr being the step's learning rate.
/// Moving statistics are not decayed.
public struct DecoupledWeightDecay: Optimizer {
    private var base: any Optimizer
    public let rate: Float
    private let trainable: [Range<Int>]

    public init(_ base: any Optimizer, rate: Float, layout: ParameterLayout) {
        self.base = base
        self.rate = rate
        trainable = layout.entries.filter(\.isTrainable).map(\.range)
    }

    public var name: String { base.name }
    public var learningRate: Float {
        get { base.learningRate }
        set { base.learningRate = newValue }
    }
    public var step: Int { base.step }
    public var state: [(name: String, values: [Float])] { base.state }

    public mutating func update(_ parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>) {
        let shrink = rate * base.learningRate
        for range in trainable {
            for i in range { parameters[i] -= parameters[i] * shrink }
        }
        base.update(parameters, gradients: gradients)
    }

    public mutating func restore(state: [String: [Float]], step: Int) throws {
        try base.restore(state: state, step: step)
    }
}
