import NeuralNet
import Randomness
import XCTest

/// The kernels' results are a function of their inputs alone: not of what ran before, the
/// buffers' alignment, or (for the forward pass) which other samples share the batch.
final class KernelDeterminismTests: XCTestCase {
    /// Every vector path at once: 1 and 32 input channels, 32 and 64 filters, `same` and
    /// `valid`, a maxpool, a wide dense layer and one of fewer units than a vector.
    let spec = "conv32x3same-relu,conv64x3-relu,maxpool2,flatten,dense20-relu,dense10-softmax"
    let shape = Shape(height: 9, width: 8, channels: 1)

    func testGradientDoesNotDependOnWhatRanBefore() throws {
        let model = try ModelSpec.build(spec, inputShape: shape)
        let parameters = perturbed(model.initialParameters(seed: 3))
        let first = Workspace(model: model, capacity: 8)
        fill(first, batch: 5, seed: 1)
        let reference = gradient(model, parameters, first, batch: 5)

        let busy = Workspace(model: model, capacity: 16)
        fill(busy, batch: 16, seed: 2)
        _ = gradient(model, parameters.map { $0 * 1.5 }, busy, batch: 16)
        fill(busy, batch: 5, seed: 1)
        XCTAssertEqual(gradient(model, parameters, busy, batch: 5).map(\.bitPattern), reference.map(\.bitPattern))
    }

    func testGradientDoesNotDependOnAlignment() throws {
        let model = try ModelSpec.build(spec, inputShape: shape)
        let parameters = perturbed(model.initialParameters(seed: 4))
        let workspace = Workspace(model: model, capacity: 3)
        fill(workspace, batch: 3, seed: 5)
        let aligned = gradient(model, parameters, workspace, batch: 3)
        for shift in 1..<4 {
            // The same values one to three floats further into their buffers.
            let shiftedParameters = [Float](repeating: 0, count: shift) + parameters
            var shiftedGradient = [Float](repeating: 0, count: shift + parameters.count)
            shiftedParameters.withUnsafeBufferPointer { p in
                shiftedGradient.withUnsafeMutableBufferPointer { g in
                    _ = model.accumulateGradients(parameters: p.baseAddress! + shift, gradients: g.baseAddress! + shift, workspace: workspace, batch: 3)
                }
            }
            XCTAssertEqual(shiftedGradient.dropFirst(shift).map(\.bitPattern), aligned.map(\.bitPattern), "shifted by \(shift)")
        }
    }

    func testForwardOfASampleDoesNotDependOnItsBatch() throws {
        let model = try ModelSpec.build(spec, inputShape: shape)
        let parameters = perturbed(model.initialParameters(seed: 6))
        let batch = Workspace(model: model, capacity: 7)
        fill(batch, batch: 7, seed: 7)
        let outputs = Array(UnsafeBufferPointer(start: model.forward(parameters: parameters, workspace: batch, batch: 7), count: 7 * model.outputShape.count))
        let single = Workspace(model: model, capacity: 1)
        let width = model.inputShape.count
        for n in 0..<7 {
            single.input.update(from: batch.input + n * width, count: width)
            let output = model.forward(parameters: parameters, workspace: single, batch: 1)
            let alone = Array(UnsafeBufferPointer(start: output, count: model.outputShape.count))
            let together = outputs[n * model.outputShape.count..<(n + 1) * model.outputShape.count]
            XCTAssertEqual(alone.map(\.bitPattern), together.map(\.bitPattern), "sample \(n)")
        }
    }

    // MARK: - Helpers

    private func perturbed(_ parameters: [Float]) -> [Float] {
        var rng = SeededGenerator(seed: 11)
        return parameters.map { $0 + Float(rng.nextGaussian() * 0.05) }
    }

    private func fill(_ workspace: Workspace, batch: Int, seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for i in 0..<batch * shape.count { workspace.input[i] = rng.nextUnitFloat() }
        for n in 0..<batch { workspace.labels[n] = Int32(rng.nextInt(below: 10)) }
    }

    /// The summed gradient of the workspace's first `batch` samples, from a zeroed buffer.
    private func gradient(_ model: Model, _ parameters: [Float], _ workspace: Workspace, batch: Int) -> [Float] {
        var g = [Float](repeating: 0, count: model.parameterCount)
        _ = model.accumulateGradients(parameters: parameters, gradients: &g, workspace: workspace, batch: batch)
        return g
    }
}
