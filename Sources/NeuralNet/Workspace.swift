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
    /// Each node's output, (capacity, layer.outputShape). Nodes the model fuses share a buffer.
    let activations: [UnsafeMutablePointer<Float>]
    /// What each node keeps from its forward pass for its backward pass (nil for most).
    let caches: [UnsafeMutablePointer<Float>?]
    /// The gradient of each node's output, (capacity, layer.outputShape); empty without gradients.
    private let gradients: [UnsafeMutablePointer<Float>]
    /// Room for any node's output gradient, where a second reader's gradient waits to be added.
    let spareGradient: UnsafeMutablePointer<Float>
    /// Room for the largest scratch a layer's backward pass needs.
    let scratch: UnsafeMutablePointer<Float>
    /// For each node, whether its gradient buffer has been written in the current backward pass.
    let written: UnsafeMutablePointer<Bool>
    /// The buffers this workspace allocated.
    private var owned: [UnsafeMutablePointer<Float>] = []

    /// gradients: false for a workspace that only evaluates, which then holds no gradient buffers.
    public init(model: Model, capacity: Int, gradients: Bool = true) {
        precondition(capacity > 0, "workspace capacity must be positive")
        self.capacity = capacity
        var owned: [UnsafeMutablePointer<Float>] = []
        func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            buffer.initialize(repeating: 0, count: max(count, 1))
            owned.append(buffer)
            return buffer
        }
        input = allocate(capacity * model.inputShape.count)
        labels = .allocate(capacity: capacity)
        labels.initialize(repeating: 0, count: capacity)
        var activations: [UnsafeMutablePointer<Float>] = []
        for (index, layer) in model.layers.enumerated() {
            switch model.fusion.buffer[index] {
            case nil: activations.append(input)
            case let owner? where owner < index: activations.append(activations[owner])
            default: activations.append(allocate(capacity * layer.outputShape.count))
            }
        }
        self.activations = activations
        caches = model.layers.map { layer in
            let count = layer.cacheCount(batch: capacity)
            return count > 0 ? allocate(count) : nil
        }
        var gradientBuffers: [UnsafeMutablePointer<Float>] = []
        if gradients {
            for (index, layer) in model.layers.enumerated() {
                let owner = model.fusion.gradientOwner[index]
                gradientBuffers.append(owner < index ? gradientBuffers[owner] : allocate(capacity * layer.outputShape.count))
            }
        }
        self.gradients = gradientBuffers
        let widest = model.layers.map(\.outputShape.count).max() ?? 1
        spareGradient = allocate(gradients ? capacity * widest : 1)
        let scratchCount = model.layers.compactMap { ($0 as? Conv2D)?.scratchCount }.max() ?? 1
        scratch = allocate(scratchCount)
        self.owned = owned
        written = .allocate(capacity: max(model.nodes.count, 1))
        written.initialize(repeating: false, count: max(model.nodes.count, 1))
    }

    /// The most samples, up to `limit` and at least 1, whose inference workspace (no gradients) fits in
    /// `bytes`: evaluation sized by memory, not by a sample count that a photo-size model would turn into gigabytes.
    public static func capacity(for model: Model, fitting bytes: Int, limit: Int) -> Int {
        let buffers = model.layers.indices.filter { model.fusion.buffer[$0] == $0 }
        var floats = model.inputShape.count + buffers.reduce(0) { $0 + model.layers[$1].outputShape.count }
        floats += model.layers.reduce(0) { $0 + $1.cacheCount(batch: 1) }
        return max(1, min(limit, bytes / (4 * max(floats, 1))))
    }

    /// Whether the workspace holds gradient buffers (for training).
    public var hasGradients: Bool { !gradients.isEmpty }

    /// Layer `index`'s output for the last forward pass.
    public func activation(_ index: Int) -> UnsafeMutablePointer<Float> { activations[index] }

    /// The output of node `index`, or the input for `Node.modelInput`.
    func output(of index: Int) -> UnsafeMutablePointer<Float> {
        index == Node.modelInput ? input : activations[index]
    }

    /// The gradient buffer of node `index`'s output.
    func gradient(of index: Int) -> UnsafeMutablePointer<Float> { gradients[index] }

    deinit {
        labels.deallocate()
        written.deallocate()
        owned.forEach { $0.deallocate() }
    }
}
