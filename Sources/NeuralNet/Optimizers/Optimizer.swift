/// An update rule that turns averaged gradients into new parameters.
///
/// Optimizers keep their state (moments, velocity) in buffers with the model's parameter
/// layout, so checkpoints can store them tensor by tensor.
public protocol Optimizer: Sendable {
    /// Keras's name: `adam`, `rmsprop`, `sgd`.
    var name: String { get }
    /// The rate the next update uses; a run's schedule sets it before each step.
    var learningRate: Float { get set }
    /// Number of updates applied so far.
    var step: Int { get }
    /// State buffers by name (`m`, `v` for Adam; `velocity` for SGD with momentum).
    var state: [(name: String, values: [Float])] { get }

    /// Applies one update. parameters, gradients: (parameterCount).
    mutating func update(_ parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>)

    /// Restores the state saved from `state` and `step`; throws if a buffer is missing or mis-sized.
    mutating func restore(state: [String: [Float]], step: Int) throws
}

extension Optimizer {
    /// Applies one update to an array of parameters.
    public mutating func update(_ parameters: inout [Float], gradients: [Float]) {
        precondition(parameters.count == gradients.count, "parameter and gradient counts differ")
        parameters.withUnsafeMutableBufferPointer { p in
            gradients.withUnsafeBufferPointer { g in
                guard let pBase = p.baseAddress, let gBase = g.baseAddress else { return }
                update(pBase, gradients: gBase)
            }
        }
    }
}

func restoredBuffer(_ name: String, from state: [String: [Float]], count: Int, optimizer: String) throws -> [Float] {
    guard let values = state[name] else {
        throw ModelError.checkpointMismatch("\(optimizer) state '\(name)' is missing")
    }
    guard values.count == count else {
        throw ModelError.checkpointMismatch("\(optimizer) state '\(name)' has \(values.count) values, the model has \(count) parameters")
    }
    return values
}
