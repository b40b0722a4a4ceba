/// How a model's passes run its layers: some through a neighbour's kernel, with bit for bit
/// the result of running them alone, and fewer trips through memory.
///
/// - A ReLU right after a conv2d: the convolution writes `max(value, 0)` straight into the
///   ReLU's output. The conv's own output shares that buffer; its backward pass never reads it.
/// - That ReLU's backward pass, when a max pooling follows it: the pooling keeps each
///   window's gradient only where the maximum is positive, which is what the ReLU keeps.
/// - A flatten: its output is its input's buffer seen as a vector, so both passes skip it.
struct Fusion: Sendable {
    enum Forward: Sendable {
        case alone
        /// A conv2d that also applies the ReLU after it, writing into that ReLU's output.
        case convolveWithReLU(Conv2D)
        /// Done by a neighbour's kernel, or nothing to do.
        case skip
    }

    enum Backward: Sendable {
        case alone
        /// A max pooling that also sends the gradient back through the ReLU before it.
        case poolThroughReLU(MaxPool2D)
        /// A conv2d, using the workspace's scratch buffer.
        case convolve(Conv2D)
        /// Done by a neighbour's kernel, or nothing to do (the gradient passes unchanged).
        case skip
    }

    let forward: [Forward]
    let backward: [Backward]
    /// For each layer, the layer whose output buffer it writes into (itself when it owns one),
    /// or nil when its output is the model's input buffer.
    let buffer: [Int?]

    init(layers: [any Layer]) {
        let count = layers.count
        let isReLU = layers.map { $0 is ReLU }
        let fusedReLU = (0..<count).map { $0 > 0 && isReLU[$0] && layers[$0 - 1] is Conv2D }
        forward = (0..<count).map { index in
            if fusedReLU[index] || layers[index] is Flatten { return .skip }
            if index + 1 < count, fusedReLU[index + 1], let conv = layers[index] as? Conv2D { return .convolveWithReLU(conv) }
            return .alone
        }
        backward = (0..<count).map { index in
            if layers[index] is Flatten { return .skip }
            if index + 1 < count, isReLU[index], layers[index + 1] is MaxPool2D { return .skip }
            if index > 0, isReLU[index - 1], let pool = layers[index] as? MaxPool2D { return .poolThroughReLU(pool) }
            if let conv = layers[index] as? Conv2D { return .convolve(conv) }
            return .alone
        }
        var buffer = [Int?](repeating: nil, count: count)
        for index in 0..<count {
            if layers[index] is Flatten {
                buffer[index] = index == 0 ? nil : buffer[index - 1]
            } else if fusedReLU[index] {
                buffer[index] = buffer[index - 1]
            } else {
                buffer[index] = index
            }
        }
        self.buffer = buffer
    }
}
