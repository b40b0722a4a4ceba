/// Where each named tensor of a model sits in its flat parameter buffer.
///
/// Names are `<kind>_<layer index>.<tensor>`, e.g. `conv2d_0.kernel`, `dense_3.bias`.
/// Gradients, Adam's moments and the wire payload all use this same layout.
public struct ParameterLayout: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public let layerIndex: Int
        /// The momentum of a moving average the step updates (batch norm's statistics); nil when trainable.
        public let movingAverageMomentum: Float?
        public var isTrainable: Bool { movingAverageMomentum == nil }
        public var count: Int { shape.reduce(1, *) }
        public var range: Range<Int> { offset..<offset + count }
    }

    public let entries: [Entry]
    /// Total number of Float32 parameters.
    public let count: Int
    /// Offset of each layer's first parameter (layers without parameters get the running offset).
    public let layerOffsets: [Int]

    init(layers: [any Layer]) {
        var entries: [Entry] = []
        var offsets: [Int] = []
        var offset = 0
        for (index, layer) in layers.enumerated() {
            offsets.append(offset)
            for spec in layer.parameterSpecs {
                entries.append(Entry(name: "\(layer.kind)_\(index).\(spec.name)", shape: spec.shape, offset: offset, layerIndex: index,
                                     movingAverageMomentum: spec.movingAverageMomentum))
                offset += spec.count
            }
        }
        self.entries = entries
        self.count = offset
        self.layerOffsets = offsets
    }

    /// Number of values the optimiser trains (Keras's trainable parameters).
    public var trainableCount: Int { entries.filter(\.isTrainable).reduce(0) { $0 + $1.count } }

    /// The tensors updated as moving averages rather than by the optimiser.
    public var movingAverages: [Entry] { entries.filter { !$0.isTrainable } }

    /// The entry called `name`, if the model has one.
    public func entry(named name: String) -> Entry? {
        entries.first { $0.name == name }
    }
}
