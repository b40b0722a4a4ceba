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
                entries.append(Entry(name: "\(layer.kind)_\(index).\(spec.name)", shape: spec.shape, offset: offset, layerIndex: index))
                offset += spec.count
            }
        }
        self.entries = entries
        self.count = offset
        self.layerOffsets = offsets
    }

    /// The entry called `name`, if the model has one.
    public func entry(named name: String) -> Entry? {
        entries.first { $0.name == name }
    }
}
