/// The buffers a model needs to run up to `capacity` samples at once, allocated once.
///
/// Fill `input` (capacity × input shape, scaled pixels) and `labels`, then call the
/// model. Reusing one workspace keeps the training step free of allocation.
public final class Workspace {
    public let capacity: Int
    /// (capacity, inputShape)
    public let input: UnsafeMutablePointer<Float>
    /// (capacity)
    public let labels: UnsafeMutablePointer<Int32>
    /// Each layer's output, (capacity, layer.outputShape). Layers the model fuses share a buffer.
    let activations: [UnsafeMutablePointer<Float>]
    /// The buffers this workspace allocated.
    private let owned: [UnsafeMutablePointer<Float>]
    /// Two scratch buffers for gradients flowing backwards, each as large as the largest activation.
    let deltaA: UnsafeMutablePointer<Float>
    let deltaB: UnsafeMutablePointer<Float>
    /// Room for the largest scratch a layer's backward pass needs.
    let scratch: UnsafeMutablePointer<Float>
    private let inputCount: Int
    private let deltaCount: Int

    public init(model: Sequential, capacity: Int) {
        precondition(capacity > 0, "workspace capacity must be positive")
        self.capacity = capacity
        inputCount = capacity * model.inputShape.count
        input = .allocate(capacity: inputCount)
        input.initialize(repeating: 0, count: inputCount)
        labels = .allocate(capacity: capacity)
        labels.initialize(repeating: 0, count: capacity)
        var activations: [UnsafeMutablePointer<Float>] = []
        var owned: [UnsafeMutablePointer<Float>] = []
        for (index, layer) in model.layers.enumerated() {
            switch model.fusion.buffer[index] {
            case nil:
                activations.append(input)
            case let owner? where owner < index:
                activations.append(activations[owner])
            default:
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: capacity * layer.outputShape.count)
                buffer.initialize(repeating: 0, count: capacity * layer.outputShape.count)
                activations.append(buffer)
                owned.append(buffer)
            }
        }
        self.activations = activations
        self.owned = owned
        let widest = model.layers.map(\.outputShape.count).max() ?? 1
        deltaCount = capacity * widest
        deltaA = .allocate(capacity: deltaCount)
        deltaA.initialize(repeating: 0, count: deltaCount)
        deltaB = .allocate(capacity: deltaCount)
        deltaB.initialize(repeating: 0, count: deltaCount)
        let scratchCount = model.layers.compactMap { ($0 as? Conv2D)?.scratchCount }.max() ?? 1
        scratch = .allocate(capacity: scratchCount)
        scratch.initialize(repeating: 0, count: scratchCount)
    }

    /// Layer `index`'s output for the last forward pass.
    public func activation(_ index: Int) -> UnsafeMutablePointer<Float> { activations[index] }

    deinit {
        input.deallocate()
        labels.deallocate()
        owned.forEach { $0.deallocate() }
        deltaA.deallocate()
        deltaB.deallocate()
        scratch.deallocate()
    }
}
