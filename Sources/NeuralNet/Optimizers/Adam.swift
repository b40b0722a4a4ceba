/// Adam with Keras's defaults and Keras's form of the update.
///
/// For step t (from 1): `m ← m + (g - m)(1 - β1)`, `v ← v + (g² - v)(1 - β2)`,
/// `α = lr · √(1 - β2^t) / (1 - β1^t)`, `θ ← θ - α · m / (√v + ε)`.
public struct Adam: Optimizer {
    public let name = "adam"
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public private(set) var step = 0
    private var m: [Float]
    private var v: [Float]

    public init(parameterCount: Int, learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        m = [Float](repeating: 0, count: parameterCount)
        v = [Float](repeating: 0, count: parameterCount)
    }

    public var state: [(name: String, values: [Float])] { [("m", m), ("v", v)] }

    public mutating func update(_ parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>) {
        step += 1
        let t = Double(step)
        let alpha = Float(Double(learningRate) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        let count = m.count
        m.withUnsafeMutableBufferPointer { m in
            v.withUnsafeMutableBufferPointer { v in
                guard let m = m.baseAddress, let v = v.baseAddress else { return }
                kernels.adam_update(parameters, gradients, m, v, count, alpha, 1 - beta1, 1 - beta2, epsilon)
            }
        }
    }

    public mutating func restore(state: [String: [Float]], step: Int) throws {
        m = try restoredBuffer("m", from: state, count: m.count, optimizer: name)
        v = try restoredBuffer("v", from: state, count: v.count, optimizer: name)
        self.step = step
    }
}

/// `base` raised to `exponent`, by repeated squaring (exact for integer exponents, no libm needed).
func pow(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var factor = base
    var n = Int(exponent)
    while n > 0 {
        if n & 1 == 1 { result *= factor }
        factor *= factor
        n >>= 1
    }
    return result
}
