import NeuralNet

/// Floating-point operations of one layer per sample, counted from its shapes.
///
/// A multiply-add counts as two. Layers that only move or compare numbers (ReLU, max
/// pooling, flatten, the final activations) count zero: their rows show time, not GFLOP/s.
struct LayerCost {
    let forward: Double
    /// Kernel gradient, plus the input gradient when the layer is not the first.
    let backward: Double

    init(_ layer: any Layer, isFirst: Bool) {
        let multiplyAdds: Double
        switch layer {
        case let conv as Conv2D:
            let (_, _, channels) = conv.inputShape.image!
            let taps = Double(conv.kernelSize * conv.kernelSize * channels)
            multiplyAdds = Double(conv.outputShape.count) * taps
        case let dense as Dense:
            multiplyAdds = Double(dense.inputShape.count * dense.units)
        default:
            multiplyAdds = 0
        }
        forward = 2 * multiplyAdds
        backward = 2 * multiplyAdds * (isFirst ? 1 : 2)
    }
}

extension Layer {
    /// `conv2d 28x28x1→26x26x32`: kind and shapes, without the batch dimension.
    var benchName: String {
        func text(_ shape: Shape) -> String { shape.dimensions.map(String.init).joined(separator: "x") }
        return "\(kind) \(text(inputShape))→\(text(outputShape))"
    }
}
