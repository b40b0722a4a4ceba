import Randomness

/// One trainable tensor of a layer: its name within the layer and its shape.
public struct ParameterSpec: Hashable, Sendable {
    public let name: String
    public let shape: [Int]
    /// For a tensor the optimiser does not train but the step updates as a moving average
    /// (batch norm's moving mean and variance): its momentum. Nil for a trainable tensor.
    public let movingAverageMomentum: Float?
    public var count: Int { shape.reduce(1, *) }
    public var isTrainable: Bool { movingAverageMomentum == nil }

    public init(name: String, shape: [Int], movingAverageMomentum: Float? = nil) {
        self.name = name
        self.shape = shape
        self.movingAverageMomentum = movingAverageMomentum
    }
}

/// What one pass of a layer needs besides its tensors: whether it trains, the keys of its random
/// draws, and the memory it keeps from `forward` for `backward`.
///
/// Random draws (dropout's masks) are keyed by (seed, epoch, the sample's position in the epoch's
/// order, layer, element), so a sample gets the same mask in whichever process, thread or microbatch
/// computes it. The position fixes the step too: step t holds positions [t·B, (t+1)·B).
public struct Pass {
    /// Training (batch statistics, dropout on) or inference (moving statistics, dropout off).
    public var training: Bool
    public var seed: UInt64
    /// 0-based epoch.
    public var epoch: Int
    /// Position in the epoch's order of the batch's first sample; sample n is at `firstPosition + n`.
    public var firstPosition: Int
    /// The layer's index in its model.
    public var layer: Int
    /// `cacheCount(batch:)` floats that `forward` writes and `backward` reads (nil when it needs none).
    public var cache: UnsafeMutablePointer<Float>?

    public init(training: Bool, seed: UInt64 = 0, epoch: Int = 0, firstPosition: Int = 0, layer: Int = 0,
                cache: UnsafeMutablePointer<Float>? = nil) {
        self.training = training
        self.seed = seed
        self.epoch = epoch
        self.firstPosition = firstPosition
        self.layer = layer
        self.cache = cache
    }

    /// Evaluation and prediction: no dropout, moving statistics.
    public static var inference: Pass { Pass(training: false) }
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

    /// Floats the layer keeps from `forward` to `backward` for a batch of `batch` (0 for most layers).
    func cacheCount(batch: Int) -> Int

    /// The forward pass of a model's training or inference pass. Layers that behave the same in
    /// both, and keep nothing, need not implement it: it calls `forward(_:_:parameters:batch:)`.
    func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int, pass: Pass
    )

    /// The backward pass after `forward(…, pass:)` with the same `pass`.
    ///
    /// A layer with moving statistics also adds, in training, `batch ×` its batch statistics into
    /// those tensors' gradient slots, so that a step's sum divided by its samples is the mean of its
    /// microbatches' statistics.
    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int, pass: Pass
    )
}

extension Layer {
    public var parameterSpecs: [ParameterSpec] { [] }
    public var parameterCount: Int { parameterSpecs.reduce(0) { $0 + $1.count } }
    /// Trainable values only, as Keras counts them.
    public var trainableParameterCount: Int { parameterSpecs.filter(\.isTrainable).reduce(0) { $0 + $1.count } }
    public func initialize(_ parameters: UnsafeMutablePointer<Float>, using generator: inout SeededGenerator) {}
    public func cacheCount(batch: Int) -> Int { 0 }

    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int, pass: Pass
    ) {
        forward(input, output, parameters: parameters, batch: batch)
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int, pass: Pass
    ) {
        backward(input: input, output: output, outputGradient: outputGradient, inputGradient: inputGradient,
                 parameters: parameters, gradients: gradients, batch: batch)
    }
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
