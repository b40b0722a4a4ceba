import NeuralNet
import Randomness
import XCTest

/// A model fuses some neighbouring layers (a conv2d and its ReLU, a ReLU's backward pass into
/// the max pooling after it, a flatten into its input's buffer); the results must be bit for
/// bit those of running every layer alone.
final class FusionTests: XCTestCase {
    func testFusedPassesGiveTheBitsOfLayersRunAlone() throws {
        let cases: [(spec: String, shape: Shape)] = [
            ("seed-cnn", Shape(height: 28, width: 28, channels: 1)),
            ("conv19x3same-relu,maxpool2,conv35x3-relu,maxpool2,flatten,dense10-softmax", Shape(height: 13, width: 11, channels: 2)),
            ("conv16x3-relu,conv8x2-relu,maxpool2,relu,maxpool2,flatten,dense3-relu,dense1-sigmoid", Shape(height: 12, width: 12, channels: 1)),
            ("flatten,dense5-relu,dense2-softmax", Shape(height: 4, width: 4, channels: 1)),
        ]
        for (spec, shape) in cases {
            try checkFusion(spec, shape: shape)
        }
    }

    /// Graphs: a conv+relu read by a max pooling and an add (neither fusion of the ReLU may apply
    /// alone), a flatten of a conv read elsewhere, a ReLU read only by a pooling whose input is also
    /// a shortcut's, and the layers of mini-xception with batch norm and dropout in a training pass.
    func testFusedGraphPassesGiveTheBitsOfLayersRunAlone() throws {
        let cases: [(spec: String, shape: Shape)] = [
            ("c=conv8x3same-relu,p=maxpool3s1same<c,add<p+c,maxpool2,flatten,dense3-softmax", Shape(height: 7, width: 6, channels: 2)),
            ("c=conv17x3same-relu,p=maxpool2<c,s=conv17x1s2<c,add<p+s,relu,maxpool2,flatten,dense1-sigmoid", Shape(height: 8, width: 8, channels: 1)),
            ("c=conv4x3,f=flatten,d1=dense5<f,g=gap<c,d2=dense5,add<d1+d2,dense2-softmax", Shape(height: 6, width: 5, channels: 2)),
            // Strided and bias-free convolutions fused with their ReLU, each ReLU's backward pass in a pooling.
            ("conv6x3s2same-relu,maxpool2,conv5x3nobias-relu,maxpool3s2same,flatten,dense2-softmax", Shape(height: 21, width: 20, channels: 2)),
            ("c=conv16x3same,r=relu,p=maxpool3s2same,s=conv16x1s2same<c,add<p+s,flatten,dense2-softmax", Shape(height: 8, width: 8, channels: 1)),
            // Two flattens of one ReLU; a pooled ReLU of the input, and a model that ends in a flatten (no fused loss).
            ("c=conv3x3-relu,f1=flatten,d1=dense2<f1,f2=flatten<c,d2=dense2<f2,add<d1+d2,dense2-softmax", Shape(height: 5, width: 5, channels: 1)),
            ("relu,maxpool3s2same,c=conv2x3same-relu,flatten", Shape(height: 6, width: 6, channels: 1)),
            ("conv8x3s2same,batchnorm,b0=relu,relu,sepconv16x3same,batchnorm,relu,sepconv16x3same,batchnorm,p1=maxpool3s2same,r1=conv16x1s2same<b0,add<p1+r1,sepconv24x3same,batchnorm,relu,gap,dropout0.25,dense1-sigmoid",
             Shape(height: 12, width: 11, channels: 3)),
        ]
        for (spec, shape) in cases {
            try checkFusion(spec, shape: shape, pass: Pass(training: true, seed: 3, epoch: 1, firstPosition: 6))
        }
    }

    /// The model's gradient and loss against `layerByLayerGradient`'s, bit for bit, after a first pass
    /// over other samples, a whole workspace wide, has left every buffer dirty.
    private func checkFusion(_ spec: String, shape: Shape, pass: Pass = Pass(training: true), file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try ModelSpec.build(spec, inputShape: shape)
        var rng = SeededGenerator(seed: 21)
        // Wider than the initial weights, so that many ReLU inputs are negative.
        let parameters = model.initialParameters(seed: 5).map { $0 * 2 + Float(rng.nextGaussian() * 0.05) }
        let classes = model.outputShape.count == 1 ? 2 : model.outputShape.count
        let workspace = Workspace(model: model, capacity: 4)
        for i in 0..<4 * shape.count { workspace.input[i] = rng.nextUnitFloat() - 0.5 }
        for n in 0..<4 { workspace.labels[n] = Int32(rng.nextInt(below: classes)) }
        var ignored = [Float](repeating: 0, count: model.parameterCount)
        _ = model.accumulateGradients(parameters: parameters.map { $0 * 0.5 }, gradients: &ignored, workspace: workspace, batch: 4, pass: pass)

        let batch = 3
        for i in 0..<batch * shape.count { workspace.input[i] = rng.nextUnitFloat() - 0.3 }
        for n in 0..<batch { workspace.labels[n] = Int32(rng.nextInt(below: classes)) }
        let input = Array(UnsafeBufferPointer(start: workspace.input, count: batch * shape.count))
        let labels = Array(UnsafeBufferPointer(start: workspace.labels, count: batch))
        var fused = [Float](repeating: 0, count: model.parameterCount)
        let metrics = model.accumulateGradients(parameters: parameters, gradients: &fused, workspace: workspace, batch: batch, pass: pass)
        let (alone, lossSum) = layerByLayerGradient(model, parameters, input, labels, batch: batch, pass: pass)
        assertSameBits(fused, alone, spec, file: file, line: line)
        XCTAssertEqual(metrics.lossSum, lossSum, spec, file: file, line: line)
        XCTAssertTrue(alone.contains { $0 != 0 }, "\(spec): a gradient of zeros checks nothing", file: file, line: line)
    }

    /// Forward, loss and backward with each layer's own passes, one buffer per node, in `pass` with
    /// `pass.layer` the node's index. A node read by several others gets their gradients added as
    /// the backward pass reaches them, from the last reader to the first.
    private func layerByLayerGradient(
        _ model: Model, _ parameters: [Float], _ input: [Float], _ labels: [Int32], batch: Int, pass: Pass = Pass(training: true)
    ) -> (gradient: [Float], lossSum: Double) {
        let nodes = model.nodes
        var outputs: [[Float]] = []
        var caches: [[Float]] = nodes.map { [Float](repeating: .nan, count: max($0.layer.cacheCount(batch: batch), 1)) }
        func layerPass(_ index: Int, _ cache: UnsafeMutablePointer<Float>) -> Pass {
            var layerPass = pass
            layerPass.layer = index
            layerPass.cache = nodes[index].layer.cacheCount(batch: batch) > 0 ? cache : nil
            return layerPass
        }
        func output(of source: Int) -> [Float] { source == Node.modelInput ? input : outputs[source] }
        for (index, node) in nodes.enumerated() {
            var y = [Float](repeating: .nan, count: batch * node.layer.outputShape.count)
            if let add = node.layer as? Add {
                add.forward(output(of: node.inputs[0]), &y, parameters: [0], batch: batch)
                for source in node.inputs.dropFirst() { add.accumulate(output(of: source), into: &y, batch: batch) }
            } else {
                let x = output(of: node.inputs[0])
                parameters.withUnsafeBufferPointer { p in
                    caches[index].withUnsafeMutableBufferPointer { cache in
                        node.layer.forward(x, &y, parameters: p.baseAddress! + model.layout.layerOffsets[index], batch: batch,
                                           pass: layerPass(index, cache.baseAddress!))
                    }
                }
            }
            outputs.append(y)
        }
        let fusedLoss = model.loss.fusedActivation != nil
        let top = fusedLoss ? nodes[nodes.count - 1].inputs[0] : nodes.count - 1
        var deltas = [[Float]?](repeating: nil, count: nodes.count)
        var delta = [Float](repeating: 0, count: batch * model.outputShape.count)
        let lossSum = model.loss.evaluate(outputs[top], labels: labels, gradient: &delta, batch: batch, width: model.outputShape.count)
        deltas[top] = delta
        func send(_ gradient: [Float], to source: Int) {
            guard source != Node.modelInput else { return }
            if let existing = deltas[source] {
                deltas[source] = zip(existing, gradient).map(+)
            } else {
                deltas[source] = gradient
            }
        }
        var gradient = [Float](repeating: 0, count: model.parameterCount)
        for index in stride(from: top, through: 0, by: -1) {
            let node = nodes[index]
            guard let delta = deltas[index] else { continue }
            if node.layer is Add {
                node.inputs.forEach { send(delta, to: $0) }
                continue
            }
            var inputGradient = [Float](repeating: .nan, count: batch * node.layer.inputShape.count)
            let layerInput = output(of: node.inputs[0])
            parameters.withUnsafeBufferPointer { p in
                gradient.withUnsafeMutableBufferPointer { g in
                    inputGradient.withUnsafeMutableBufferPointer { dx in
                        caches[index].withUnsafeMutableBufferPointer { cache in
                            node.layer.backward(
                                input: layerInput, output: outputs[index], outputGradient: delta,
                                inputGradient: node.inputs[0] == Node.modelInput ? nil : dx.baseAddress!,
                                parameters: p.baseAddress! + model.layout.layerOffsets[index],
                                gradients: g.baseAddress! + model.layout.layerOffsets[index], batch: batch,
                                pass: layerPass(index, cache.baseAddress!))
                        }
                    }
                }
            }
            send(inputGradient, to: node.inputs[0])
        }
        return (gradient, lossSum)
    }
}
