import NeuralNet
import Randomness
import XCTest

/// `MovingAverages` gives the trainable values exactly the base optimiser's update, and sets each
/// moving statistic to momentum · old + (1 − momentum) · its slot of the step gradient.
final class MovingAveragesTests: XCTestCase {
    /// Batch norms in the middle and at the end, so that the trainable values are not one block.
    let spec = "conv3x3same,batchnorm,relu,sepconv5x3same,batchnorm,gap,batchnorm,dense2-softmax"

    func testAdam() throws {
        try check { Adam(parameterCount: $0, learningRate: 0.01) }
    }

    func testSGD() throws {
        try check { SGD(parameterCount: $0, learningRate: 0.1) }
    }

    func testSGDWithMomentum() throws {
        try check { SGD(parameterCount: $0, learningRate: 0.1, momentum: 0.9) }
    }

    /// Four steps of the wrapped optimiser over the whole layout against the base alone over the
    /// trainable values only (a layout without the statistics), bit for bit.
    private func check(_ makeBase: (Int) -> any Optimizer, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try ModelSpec.build(spec, inputShape: Shape(height: 4, width: 4, channels: 2))
        let layout = model.layout
        XCTAssertEqual(layout.movingAverages.count, 6, file: file, line: line)
        let trainable = layout.entries.filter(\.isTrainable).flatMap { Array($0.range) }
        let statistics = layout.movingAverages.flatMap { entry in entry.range.map { ($0, entry.movingAverageMomentum!) } }
        XCTAssertEqual(trainable.count, layout.trainableCount, file: file, line: line)
        XCTAssertTrue(statistics.allSatisfy { $0.1 == 0.99 }, file: file, line: line)

        var wrapped = MovingAverages(makeBase(layout.count), layout: layout)
        var alone = makeBase(layout.trainableCount)
        var rng = SeededGenerator(seed: 11)
        var parameters = model.initialParameters(seed: 1).map { $0 + Float(rng.nextGaussian() * 0.1) }
        var compact = trainable.map { parameters[$0] }
        for step in 1...4 {
            // The statistics' slots hold a step's mean batch statistics: means and positive variances.
            let gradients = (0..<layout.count).map { _ in Float(rng.nextGaussian()) }.enumerated().map { i, g in
                layout.movingAverages.contains { $0.name.hasSuffix("moving_variance") && $0.range.contains(i) } ? abs(g) + 0.1 : g
            }
            let old = parameters
            wrapped.update(&parameters, gradients: gradients)
            alone.update(&compact, gradients: trainable.map { gradients[$0] })
            XCTAssertEqual(trainable.map { parameters[$0].bitPattern }, compact.map(\.bitPattern), "step \(step): trainable values", file: file, line: line)
            for (i, momentum) in statistics {
                let expected = old[i] * momentum + gradients[i] * (1 - momentum)
                XCTAssertEqual(parameters[i].bitPattern, expected.bitPattern, "step \(step): statistic \(i) is \(parameters[i]), expected \(expected)", file: file, line: line)
            }
            XCTAssertEqual(wrapped.step, step, file: file, line: line)
        }
        XCTAssertEqual(wrapped.name, alone.name, file: file, line: line)
        XCTAssertEqual(wrapped.state.map(\.name), alone.state.map(\.name), file: file, line: line)
        for (full, base) in zip(wrapped.state, alone.state) {
            XCTAssertEqual(full.values.count, layout.count, file: file, line: line)
            XCTAssertEqual(trainable.map { full.values[$0].bitPattern }, base.values.map(\.bitPattern), "\(full.name)", file: file, line: line)
            XCTAssertTrue(statistics.allSatisfy { full.values[$0.0] == 0 }, "\(full.name) in the statistics' slots", file: file, line: line)
        }
    }
}
