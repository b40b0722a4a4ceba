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
            let model = try ModelSpec.build(spec, inputShape: shape)
            var rng = SeededGenerator(seed: 21)
            // Wider than the initial weights, so that many ReLU inputs are negative.
            let parameters = model.initialParameters(seed: 5).map { $0 * 2 + Float(rng.nextGaussian() * 0.05) }
            let batch = 3
            let workspace = Workspace(model: model, capacity: 4)
            for i in 0..<batch * shape.count { workspace.input[i] = rng.nextUnitFloat() - 0.3 }
            for n in 0..<batch { workspace.labels[n] = Int32(rng.nextInt(below: model.outputShape.count == 1 ? 2 : model.outputShape.count)) }
            let input = Array(UnsafeBufferPointer(start: workspace.input, count: batch * shape.count))
            let labels = Array(UnsafeBufferPointer(start: workspace.labels, count: batch))

            var fused = [Float](repeating: 0, count: model.parameterCount)
            let metrics = model.accumulateGradients(parameters: parameters, gradients: &fused, workspace: workspace, batch: batch)
            let (alone, lossSum) = layerByLayerGradient(model, parameters, input, labels, batch: batch)
            assertSameBits(fused, alone, spec)
            XCTAssertEqual(metrics.lossSum, lossSum, spec)
            XCTAssertTrue(alone.contains { $0 != 0 }, "\(spec): a gradient of zeros checks nothing")
        }
    }

    /// Forward, loss and backward with each layer's own forward and backward, one buffer per layer.
    private func layerByLayerGradient(
        _ model: Model, _ parameters: [Float], _ input: [Float], _ labels: [Int32], batch: Int
    ) -> (gradient: [Float], lossSum: Double) {
        let layers = model.layers
        var outputs: [[Float]] = []
        var x = input
        for (index, layer) in layers.enumerated() {
            var y = [Float](repeating: .nan, count: batch * layer.outputShape.count)
            parameters.withUnsafeBufferPointer { p in
                layer.forward(x, &y, parameters: p.baseAddress! + model.layout.layerOffsets[index], batch: batch)
            }
            outputs.append(y)
            x = y
        }
        let fusedLoss = model.loss.fusedActivation != nil
        let top = fusedLoss ? layers.count - 2 : layers.count - 1
        var delta = [Float](repeating: 0, count: batch * model.outputShape.count)
        let lossSum = model.loss.evaluate(
            outputs[top],
            labels: labels, gradient: &delta, batch: batch, width: model.outputShape.count)
        var gradient = [Float](repeating: 0, count: model.parameterCount)
        for index in stride(from: top, through: 0, by: -1) {
            let layer = layers[index]
            var inputGradient = [Float](repeating: .nan, count: batch * layer.inputShape.count)
            let layerInput = index == 0 ? input : outputs[index - 1]
            parameters.withUnsafeBufferPointer { p in
                gradient.withUnsafeMutableBufferPointer { g in
                    inputGradient.withUnsafeMutableBufferPointer { dx in
                        layer.backward(
                            input: layerInput, output: outputs[index], outputGradient: delta,
                            inputGradient: index == 0 ? nil : dx.baseAddress!,
                            parameters: p.baseAddress! + model.layout.layerOffsets[index],
                            gradients: g.baseAddress! + model.layout.layerOffsets[index], batch: batch)
                    }
                }
            }
            delta = inputGradient
        }
        return (gradient, lossSum)
    }
}
