import Foundation
import NeuralNet
import XCTest

/// Plain Double implementations of every layer and loss, written for clarity, not speed.
///
/// Gradient checks compare the Float32 backward passes with central differences of these.
enum Reference {
    /// input: (batch, layer.inputShape) → (batch, layer.outputShape), in Double. `pass` chooses
    /// batch statistics and dropout (training) or moving statistics and no dropout (inference), and
    /// keys dropout's masks as the layers do.
    static func forward(_ layer: any Layer, _ x: [Double], _ p: [Double], batch: Int, pass: Pass = .inference) -> [Double] {
        switch layer {
        case let conv as Conv2D: return conv2D(conv, x, p, batch: batch)
        case let conv as DepthwiseConv2D:
            return depthwiseConv2D(x, p, batch: batch, input: conv.inputShape, kernelSize: conv.kernelSize,
                                   stride: conv.stride, padding: conv.padding, useBias: conv.useBias)
        case let conv as SeparableConv2D: return separableConv2D(conv, x, p, batch: batch)
        case let pool as MaxPool2D:
            return self.pool(x, batch: batch, input: pool.inputShape, size: pool.size, stride: pool.stride, padding: pool.padding, average: false)
        case let pool as AveragePool2D:
            return self.pool(x, batch: batch, input: pool.inputShape, size: pool.size, stride: pool.stride, padding: pool.padding, average: true)
        case let pool as GlobalAveragePool2D: return globalAveragePool(pool, x, batch: batch)
        case let norm as BatchNormalization: return batchNormalization(norm, x, p, training: pass.training)
        case let dropout as Dropout: return self.dropout(dropout, x, batch: batch, pass: pass)
        case is Add: return x
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

    /// Every node's output for a batch, entirely in Double: the nodes in order, each reading its
    /// inputs' outputs (or `x`), with `pass.layer` set to the node's index as the model sets it.
    static func modelOutputs(_ model: Model, _ x: [Double], _ p: [Double], batch: Int, pass: Pass) -> [[Double]] {
        var outputs: [[Double]] = []
        for (index, node) in model.nodes.enumerated() {
            let inputs = node.inputs.map { $0 == Node.modelInput ? x : outputs[$0] }
            if node.layer is Add {
                outputs.append(add(inputs))
                continue
            }
            let offset = model.layout.layerOffsets[index]
            var layerPass = pass
            layerPass.layer = index
            outputs.append(forward(node.layer, inputs[0], Array(p[offset..<offset + node.layer.parameterCount]), batch: batch, pass: layerPass))
        }
        return outputs
    }

    /// The model's summed loss for a batch, entirely in Double; the default pass is the one
    /// `Model.accumulateGradients` uses (training, seed 0, epoch 0, first position 0).
    static func modelLoss(_ model: Model, _ x: [Double], _ p: [Double], labels: [Int32], pass: Pass = Pass(training: true)) -> Double {
        let outputs = modelOutputs(model, x, p, batch: labels.count, pass: pass)
        let last = model.nodes[model.nodes.count - 1]
        // A fused loss reads the final activation's input.
        let lossInput = model.loss.fusedActivation == nil ? outputs[outputs.count - 1]
            : last.inputs[0] == Node.modelInput ? x : outputs[last.inputs[0]]
        return loss(model.loss, lossInput, labels: labels, width: model.outputShape.count)
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
