/// RMSprop with Keras's defaults and Keras's form of the update (no momentum, not centred).
///
/// For each value: `v ← ρ·v + (1 − ρ)·g²`, `θ ← θ − lr · g / √(v + ε)`, with ρ = 0.9, ε = 1e-7.
/// (PyTorch's RMSprop adds ε outside the square root.)
public struct RMSprop: Optimizer {
    public let name = "rmsprop"
    public var learningRate: Float
    public var rho: Float
    public var epsilon: Float
    public private(set) var step = 0
    private var velocity: [Float]

    public init(parameterCount: Int, learningRate: Float = 0.001, rho: Float = 0.9, epsilon: Float = 1e-7) {
        self.learningRate = learningRate
        self.rho = rho
        self.epsilon = epsilon
        velocity = [Float](repeating: 0, count: parameterCount)
    }

    public var state: [(name: String, values: [Float])] { [("velocity", velocity)] }

    public mutating func update(_ parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>) {
        step += 1
        let lr = learningRate, rho = rho, keep = 1 - rho, epsilon = epsilon
        velocity.withUnsafeMutableBufferPointer { v in
            for i in 0..<v.count {
                let g = gradients[i]
                v[i] = rho * v[i] + keep * (g * g)
                parameters[i] -= lr * g / (v[i] + epsilon).squareRoot()
            }
        }
    }

    public mutating func restore(state: [String: [Float]], step: Int) throws {
        velocity = try restoredBuffer("velocity", from: state, count: velocity.count, optimizer: name)
        self.step = step
    }
}
