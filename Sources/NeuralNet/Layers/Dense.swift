import CKernels
import Randomness

/// A fully connected layer: `output = input · kernel + bias`.
///
/// Kernel layout is Keras's: `(inputs, units)`, row-major; bias is `(units)`.
public struct Dense: Layer {
    public let kind = "dense"
    public let inputShape: Shape
    public let outputShape: Shape
    public let units: Int
    private let inputs: Int

    public init(inputShape: Shape, units: Int) throws {
        guard inputShape.dimensions.count == 1 else {
            throw ModelError.shapeMismatch("dense needs a vector input, got \(inputShape); add flatten before it")
        }
        guard units > 0 else { throw ModelError.shapeMismatch("dense needs at least one unit") }
        self.inputShape = inputShape
        self.units = units
        inputs = inputShape.count
        outputShape = Shape([units])
    }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "kernel", shape: [inputs, units]), ParameterSpec(name: "bias", shape: [units])]
    }

    public func initialize(_ parameters: UnsafeMutablePointer<Float>, using generator: inout SeededGenerator) {
        glorotUniform(parameters, count: inputs * units, fanIn: inputs, fanOut: units, using: &generator)
        (parameters + inputs * units).initialize(repeating: 0, count: units)
    }

    // MARK: - Forward

    /// input: (N, inputs); output: (N, units).
    ///
    /// `bias + Σ_i x_i · kernel_i`, inputs in ascending order (`dense_forward` in
    /// Sources/CKernels/dense.h).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        kernels.dense_forward(inputs, units, input, output, parameters, parameters + inputs * units, batch)
    }

    // MARK: - Backward

    /// Bias and kernel gradients summed over the samples in order; the input gradient `kernel · g` per sample.
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        kernels.dense_backward(
            inputs, units, input, outputGradient, inputGradient, parameters, gradients, gradients + inputs * units, batch)
    }
}
