import Randomness

/// One trainable tensor of a layer: its name within the layer and its shape.
public struct ParameterSpec: Hashable, Sendable {
    public let name: String
    public let shape: [Int]
    public var count: Int { shape.reduce(1, *) }
}

/// A layer of a sequential model, with its forward pass and its hand-written backward pass.
///
/// Layers are values that know their input and output shapes. They own no weights:
/// a model keeps every parameter in one flat buffer and hands each layer a pointer to
/// its own region (in the order of `parameterSpecs`), and the gradients in a second
/// buffer with the same layout. Buffers hold `batch` samples one after another.
public protocol Layer: Sendable {
    /// Short lower-case kind, used in names and summaries: `conv2d`, `dense`, `relu`.
    var kind: String { get }
    var inputShape: Shape { get }
    var outputShape: Shape { get }
    /// The layer's trainable tensors in the order they sit in the flat buffer.
    var parameterSpecs: [ParameterSpec] { get }

    /// Fills the layer's parameters with their initial values (Keras defaults).
    func initialize(_ parameters: UnsafeMutablePointer<Float>, using generator: inout SeededGenerator)

    /// input: (batch, inputShape); output: (batch, outputShape).
    func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    )

    /// Propagates `outputGradient` back through the layer.
    ///
    /// input, output: what `forward` read and wrote; outputGradient: (batch, outputShape).
    /// Adds the parameter gradients into `gradients` (it accumulates, never overwrites) and,
    /// when `inputGradient` is not nil, overwrites it with the gradient for the input.
    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    )
}

extension Layer {
    public var parameterSpecs: [ParameterSpec] { [] }
    public var parameterCount: Int { parameterSpecs.reduce(0) { $0 + $1.count } }
    public func initialize(_ parameters: UnsafeMutablePointer<Float>, using generator: inout SeededGenerator) {}
}

/// Glorot (Xavier) uniform initialisation: U(-limit, limit), limit = sqrt(6 / (fanIn + fanOut)).
func glorotUniform(
    _ values: UnsafeMutablePointer<Float>, count: Int, fanIn: Int, fanOut: Int,
    using generator: inout SeededGenerator
) {
    let limit = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
    for i in 0..<count {
        values[i] = generator.nextFloat(in: -limit, limit)
    }
}
