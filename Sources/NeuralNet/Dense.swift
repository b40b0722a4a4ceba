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

    /// input: (N, inputs); output: (N, units).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        let kernel = parameters
        let bias = parameters + inputs * units
        for n in 0..<batch {
            let x = input + n * inputs
            let y = output + n * units
            y.update(from: bias, count: units)
            for i in 0..<inputs {
                let xi = x[i]
                // Adding 0·w changes no value, so zeros (common after ReLU) are skipped.
                if xi == 0 { continue }
                let row = kernel + i * units
                for u in 0..<units {
                    y[u] += xi * row[u]
                }
            }
        }
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        let kernel = parameters
        let kernelGradient = gradients
        let biasGradient = gradients + inputs * units
        for n in 0..<batch {
            let x = input + n * inputs
            let g = outputGradient + n * units
            for u in 0..<units {
                biasGradient[u] += g[u]
            }
            for i in 0..<inputs {
                let xi = x[i]
                if xi == 0 { continue }
                let rowGradient = kernelGradient + i * units
                for u in 0..<units {
                    rowGradient[u] += xi * g[u]
                }
            }
            guard let inputGradient else { continue }
            let dx = inputGradient + n * inputs
            for i in 0..<inputs {
                let row = kernel + i * units
                var sum: Float = 0
                for u in 0..<units {
                    sum += row[u] * g[u]
                }
                dx[i] = sum
            }
        }
    }
}
