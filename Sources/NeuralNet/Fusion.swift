/// How a model's passes run its layers: some through a neighbour's kernel, with bit for bit
/// the result of running them alone, and fewer trips through memory.
///
/// - A ReLU that alone reads a conv2d: the convolution writes `max(value, 0)` straight into the
///   ReLU's output. The conv's own output shares that buffer; its backward pass never reads it.
/// - That ReLU's backward pass, when a max pooling alone reads it: the pooling keeps each
///   window's gradient only where the maximum is positive, which is what the ReLU keeps.
/// - A flatten: its output is its input's buffer seen as a vector, so its forward pass is skipped;
///   when it alone reads its input, its gradient is its input's too, and its backward is skipped.
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
        /// A max pooling that also sends the gradient back through the ReLU it reads.
        case poolThroughReLU(MaxPool2D)
        /// A conv2d, using the workspace's scratch buffer.
        case convolve(Conv2D)
        /// Done by a neighbour's kernel, or nothing to do (the gradient passes unchanged).
        case skip
    }

    let forward: [Forward]
    let backward: [Backward]
    /// For each node, the node whose output buffer it writes into (itself when it owns one),
    /// or nil when its output is the model's input buffer.
    let buffer: [Int?]
    /// For each node, the node whose gradient buffer holds the gradient of its output (itself, or
    /// the input of a flatten whose gradient passes unchanged).
    let gradientOwner: [Int]

    init(nodes: [Node], consumers: [[Int]]) {
        let count = nodes.count
        let layers = nodes.map(\.layer)
        /// The single node `index` reads, if it reads one node and is that node's only reader.
        func soleSource(_ index: Int) -> Int? {
            guard nodes[index].inputs.count == 1, let source = nodes[index].inputs.first,
                  source != Node.modelInput, consumers[source] == [index] else { return nil }
            return source
        }
        let fusedReLU = (0..<count).map { index in
            layers[index] is ReLU && soleSource(index).map { layers[$0] is Conv2D } == true
        }
        let reluBeforePool = (0..<count).map { index in
            layers[index] is ReLU && consumers[index].count == 1 && consumers[index].allSatisfy { layers[$0] is MaxPool2D }
        }
        let flattenAlias = (0..<count).map { index in layers[index] is Flatten && soleSource(index) != nil }
        forward = (0..<count).map { index in
            if fusedReLU[index] || layers[index] is Flatten { return .skip }
            if let conv = layers[index] as? Conv2D, consumers[index].count == 1, fusedReLU[consumers[index][0]] {
                return .convolveWithReLU(conv)
            }
            return .alone
        }
        backward = (0..<count).map { index in
            if flattenAlias[index] || reluBeforePool[index] { return .skip }
            if let pool = layers[index] as? MaxPool2D, let source = nodes[index].inputs.first, source != Node.modelInput,
               reluBeforePool[source] {
                return .poolThroughReLU(pool)
            }
            if let conv = layers[index] as? Conv2D { return .convolve(conv) }
            return .alone
        }
        var buffer = [Int?](repeating: nil, count: count)
        var gradientOwner = Array(0..<count)
        for index in 0..<count {
            let source = nodes[index].inputs[0]
            if layers[index] is Flatten || fusedReLU[index] {
                buffer[index] = source == Node.modelInput ? nil : buffer[source]
            } else {
                buffer[index] = index
            }
            if flattenAlias[index] { gradientOwner[index] = gradientOwner[source] }
        }
        self.buffer = buffer
        self.gradientOwner = gradientOwner
    }
}
