/// Stochastic gradient descent with optional momentum, in Keras's form.
///
/// Without momentum: `θ ← θ - lr · g`. With momentum μ: `u ← μ·u - lr·g`, `θ ← θ + u`.
public struct SGD: Optimizer {
    public let name = "sgd"
    public var learningRate: Float
    public var momentum: Float
    public let parameterCount: Int
    public private(set) var step = 0
    /// Empty without momentum.
    private var velocity: [Float]

    public init(parameterCount: Int, learningRate: Float = 0.01, momentum: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.parameterCount = parameterCount
        velocity = [Float](repeating: 0, count: momentum == 0 ? 0 : parameterCount)
    }

    public var state: [(name: String, values: [Float])] { momentum == 0 ? [] : [("velocity", velocity)] }

    public mutating func update(_ parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>) {
        step += 1
        let lr = learningRate
        guard momentum != 0 else {
            for i in 0..<parameterCount {
                parameters[i] -= lr * gradients[i]
            }
            return
        }
        let mu = momentum
        velocity.withUnsafeMutableBufferPointer { u in
            for i in 0..<u.count {
                u[i] = mu * u[i] - lr * gradients[i]
                parameters[i] += u[i]
            }
        }
    }

    public mutating func restore(state: [String: [Float]], step: Int) throws {
        if momentum != 0 {
            velocity = try restoredBuffer("velocity", from: state, count: parameterCount, optimizer: name)
        }
        self.step = step
    }
}
