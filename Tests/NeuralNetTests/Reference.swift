import Foundation
import NeuralNet
import XCTest

/// Plain Double implementations of every layer and loss, written for clarity, not speed.
///
/// Gradient checks compare the Float32 backward passes with central differences of these.
enum Reference {
    /// input: (batch, layer.inputShape) → (batch, layer.outputShape), in Double.
    static func forward(_ layer: any Layer, _ x: [Double], _ p: [Double], batch: Int) -> [Double] {
        switch layer {
        case let conv as Conv2D: return conv2D(conv, x, p, batch: batch)
        case let pool as MaxPool2D: return maxPool(pool, x, batch: batch)
        case let dense as Dense: return denseForward(dense, x, p, batch: batch)
        case is Flatten: return x
        case is ReLU: return x.map { max($0, 0) }
        case is Sigmoid: return x.map { 1 / (1 + exp(-$0)) }
        case let softmax as Softmax:
            let k = softmax.inputShape.count
            return (0..<batch).flatMap { n -> [Double] in
                let z = Array(x[n * k..<(n + 1) * k])
                let top = z.max()!
                let e = z.map { exp($0 - top) }
                let s = e.reduce(0, +)
                return e.map { $0 / s }
            }
        default: fatalError("no reference for \(layer.kind)")
        }
    }

    static func conv2D(_ c: Conv2D, _ x: [Double], _ p: [Double], batch: Int) -> [Double] {
        let (h, w, ci) = c.inputShape.image!
        let (oh, ow, co) = c.outputShape.image!
        let k = c.kernelSize
        let pad = c.padding == .same ? (k - 1) / 2 : 0
        let bias = Array(p[(k * k * ci * co)...])
        var y = [Double](repeating: 0, count: batch * oh * ow * co)
        for n in 0..<batch { for oy in 0..<oh { for ox in 0..<ow { for f in 0..<co {
            var s = bias[f]
            for ky in 0..<k { for kx in 0..<k { for c in 0..<ci {
                let iy = oy + ky - pad, ix = ox + kx - pad
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                s += x[((n * h + iy) * w + ix) * ci + c] * p[((ky * k + kx) * ci + c) * co + f]
            } } }
            y[((n * oh + oy) * ow + ox) * co + f] = s
        } } } }
        return y
    }

    static func maxPool(_ m: MaxPool2D, _ x: [Double], batch: Int) -> [Double] {
        let (h, w, c) = m.inputShape.image!
        let (oh, ow, _) = m.outputShape.image!
        let s = m.size
        var y = [Double](repeating: -.infinity, count: batch * oh * ow * c)
        for n in 0..<batch { for oy in 0..<oh { for ox in 0..<ow { for ch in 0..<c {
            for dy in 0..<s { for dx in 0..<s {
                let v = x[((n * h + oy * s + dy) * w + ox * s + dx) * c + ch]
                let i = ((n * oh + oy) * ow + ox) * c + ch
                y[i] = max(y[i], v)
            } }
        } } } }
        return y
    }

    static func denseForward(_ d: Dense, _ x: [Double], _ p: [Double], batch: Int) -> [Double] {
        let inputs = d.inputShape.count, units = d.units
        var y = [Double](repeating: 0, count: batch * units)
        for n in 0..<batch { for u in 0..<units {
            var s = p[inputs * units + u]
            for i in 0..<inputs { s += x[n * inputs + i] * p[i * units + u] }
            y[n * units + u] = s
        } }
        return y
    }

    /// Sum over the batch of the per-sample loss; `values` are logits for the cross-entropies.
    static func loss(_ loss: Loss, _ v: [Double], labels: [Int32], width: Int) -> Double {
        var total = 0.0
        for (n, label) in labels.enumerated() {
            let z = Array(v[n * width..<(n + 1) * width])
            let t: [Double] = (0..<width).map { width == 1 ? Double(label) : (Int(label) == $0 ? 1 : 0) }
            switch loss {
            case .binaryCrossEntropy:
                // −t·log σ(z) − (1−t)·log(1−σ(z)), written directly.
                total += zip(z, t).map { z, t in -t * log(1 / (1 + exp(-z))) - (1 - t) * log(1 - 1 / (1 + exp(-z))) }
                    .reduce(0, +) / Double(width)
            case .softmaxCrossEntropy:
                let e = z.map(exp)
                total += -log(e[Int(label)] / e.reduce(0, +))
            case .meanSquaredError:
                total += zip(z, t).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(width)
            }
        }
        return total
    }

    /// The model's summed loss for a batch, entirely in Double.
    static func modelLoss(_ model: Model, _ x: [Double], _ p: [Double], labels: [Int32]) -> Double {
        var a = x
        let lastIndex = model.layers.count - 1
        for (index, layer) in model.layers.enumerated() {
            if index == lastIndex && model.loss.fusedActivation != nil { break }
            let offset = model.layout.layerOffsets[index]
            let params = Array(p[offset..<offset + layer.parameterCount])
            a = forward(layer, a, params, batch: labels.count)
        }
        return loss(model.loss, a, labels: labels, width: model.outputShape.count)
    }
}

/// Fails with the first differing position when `actual` and `expected` differ in any bit.
func assertSameBits(_ actual: [Float]?, _ expected: [Float], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
    guard let actual else { return XCTFail("\(message): missing", file: file, line: line) }
    guard actual.count == expected.count else {
        return XCTFail("\(message): \(actual.count) values, expected \(expected.count)", file: file, line: line)
    }
    if let i = actual.indices.first(where: { actual[$0].bitPattern != expected[$0].bitPattern }) {
        XCTFail("\(message): value \(i) is \(actual[i]), expected \(expected[i])", file: file, line: line)
    }
}

/// Values in [-1, 1) with some exact zeros and ties, from a fixed seed.
struct KernelTestValues {
    var state: UInt32
    init(seed: UInt32) { state = seed }
    mutating func next(_ count: Int) -> [Float] {
        (0..<count).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            if state % 11 == 0 { return 0 }
            return Float(Int32(bitPattern: state) >> 20) / Float(1 << 11)
        }
    }
}
