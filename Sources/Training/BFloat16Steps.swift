import Messaging
import NeuralNet

/// An optimiser whose every step is rounded to bfloat16 (`--update-precision bfloat16`).
///
/// The wrapped optimiser computes the new weights as usual (its state is untouched); then each
/// weight's step, the weight before minus the weight after, is rounded to bfloat16 and the weight
/// becomes the weight before minus that rounded step. A worker that holds the previous weights
/// makes the same Float32 subtraction with the same 2-byte step and has the new weights bit for
/// bit, so the server sends it `lastStep` instead of the weights. Rounding a step to 8
/// significant bits changes it by at most 1/256 of itself.
public struct BFloat16Steps: Optimizer {
    private var base: any Optimizer
    /// The step of the last update, each value a bfloat16 value; valid when `lastStepVersion` is `step`.
    private var lastStep: [Float]
    /// The weights version `lastStep` led to (nil before the first update, or after a restore).
    private var lastStepVersion: Int?
    private var before: [Float]

    /// Rounds the steps of `base`, an optimiser of `parameterCount` weights.
    public init(_ base: any Optimizer, parameterCount: Int) {
        self.base = base
        lastStep = [Float](repeating: 0, count: parameterCount)
        before = lastStep
    }

    public var name: String { base.name }
    public var learningRate: Float {
        get { base.learningRate }
        set { base.learningRate = newValue }
    }
    public var step: Int { base.step }
    public var state: [(name: String, values: [Float])] { base.state }

    /// The step that led from the weights of `version − 1` to those of `version`, if this optimiser took it.
    public func step(leadingTo version: Int) -> [Float]? {
        lastStepVersion == version ? lastStep : nil
    }

    public mutating func update(_ parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>) {
        let count = before.count
        before.withUnsafeMutableBufferPointer { $0.baseAddress.unsafelyUnwrapped.update(from: parameters, count: count) }
        base.update(parameters, gradients: gradients)
        before.withUnsafeBufferPointer { before in
            lastStep.withUnsafeMutableBufferPointer { steps in
                for i in 0..<count {
                    let rounded = BFloat16.round(before[i] - parameters[i])
                    steps[i] = rounded
                    parameters[i] = before[i] - rounded
                }
            }
        }
        lastStepVersion = base.step
    }

    public mutating func restore(state: [String: [Float]], step: Int) throws {
        try base.restore(state: state, step: step)
        lastStepVersion = nil
    }
}
