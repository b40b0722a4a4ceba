import NeuralNet
import Randomness
import XCTest

/// Dropout's masks are hashed from (seed, epoch, position, layer, element): they must drop about
/// `rate` of the values, and a sample's mask must not depend on the batch that computes it.
final class DropoutTests: XCTestCase {
    let shape = Shape(height: 4, width: 5, channels: 3)

    /// Over 60,000 values the dropped fraction is within 0.01 of the rate (the standard error is below
    /// 0.0021); kept values are scaled by 1 / (1 − rate), in the forward and the backward pass.
    func testDropsAboutTheRateAndScalesTheRest() throws {
        let batch = 1_000
        for rate: Float in [0.1, 0.25, 0.5, 0.9] {
            let dropout = try Dropout(inputShape: shape, rate: rate)
            let x = values(batch * shape.count, seed: 1)
            let y = forward(dropout, x, batch: batch, pass: Pass(training: true, seed: 5, epoch: 1, firstPosition: 0, layer: 3))
            let scale = 1 / (1 - rate)
            var dropped = 0
            for i in x.indices {
                if y[i] == 0 { dropped += 1 } else { XCTAssertEqual(y[i], x[i] * scale, "rate \(rate), value \(i)") }
            }
            XCTAssertEqual(Double(dropped) / Double(x.count), Double(rate), accuracy: 0.01, "rate \(rate)")
            // The backward pass drops and scales the same values.
            let dy = values(batch * shape.count, seed: 2)
            let dx = backward(dropout, dy, batch: batch, pass: Pass(training: true, seed: 5, epoch: 1, firstPosition: 0, layer: 3))
            for i in x.indices { XCTAssertEqual(dx[i], y[i] == 0 ? 0 : dy[i] * scale, "rate \(rate), gradient \(i)") }
        }
    }

    /// The sample at position p: alone in a batch starting at p, or element 3 of a batch starting at p − 3.
    func testMaskDependsOnTheSamplePositionNotItsBatch() throws {
        let dropout = try Dropout(inputShape: shape, rate: 0.5)
        let count = shape.count
        let sample = values(count, seed: 3)
        let p = 42
        let alone = forward(dropout, sample, batch: 1, pass: Pass(training: true, seed: 7, epoch: 2, firstPosition: p, layer: 5))
        var batch = values(5 * count, seed: 4)
        batch.replaceSubrange(3 * count..<4 * count, with: sample)
        let together = forward(dropout, batch, batch: 5, pass: Pass(training: true, seed: 7, epoch: 2, firstPosition: p - 3, layer: 5))
        XCTAssertEqual(Array(together[3 * count..<4 * count]).map(\.bitPattern), alone.map(\.bitPattern))
        XCTAssertTrue(alone.contains(0) && alone.contains { $0 != 0 }, "a mask that keeps or drops everything checks nothing")
        // The backward pass too.
        let gradientAlone = backward(dropout, sample, batch: 1, pass: Pass(training: true, seed: 7, epoch: 2, firstPosition: p, layer: 5))
        let gradientTogether = backward(dropout, batch, batch: 5, pass: Pass(training: true, seed: 7, epoch: 2, firstPosition: p - 3, layer: 5))
        XCTAssertEqual(Array(gradientTogether[3 * count..<4 * count]).map(\.bitPattern), gradientAlone.map(\.bitPattern))
    }

    /// Another epoch, layer, seed or position gives another mask; the same keys give the same one.
    func testOtherKeysGiveOtherMasks() throws {
        let dropout = try Dropout(inputShape: shape, rate: 0.5)
        let x = [Float](repeating: 1, count: shape.count)
        func mask(seed: UInt64 = 1, epoch: Int = 0, position: Int = 9, layer: Int = 2) -> [Bool] {
            forward(dropout, x, batch: 1, pass: Pass(training: true, seed: seed, epoch: epoch, firstPosition: position, layer: layer)).map { $0 != 0 }
        }
        let base = mask()
        XCTAssertEqual(mask(), base)
        XCTAssertNotEqual(mask(epoch: 1), base, "epoch")
        XCTAssertNotEqual(mask(layer: 3), base, "layer")
        XCTAssertNotEqual(mask(seed: 2), base, "seed")
        XCTAssertNotEqual(mask(position: 10), base, "position")
        XCTAssertEqual(base, (0..<shape.count).map { dropout.keeps(seed: 1, epoch: 0, position: 9, layer: 2, element: $0) })
        // Neighbouring samples do not share a mask shifted by one element.
        let next = mask(position: 10)
        XCTAssertNotEqual(Array(next.dropLast()), Array(base.dropFirst()))
    }

    /// Inference, and a rate of 0, pass the values and the gradient unchanged.
    func testInferenceAndRateZeroAreTheIdentity() throws {
        let x = values(3 * shape.count, seed: 6)
        let half = try Dropout(inputShape: shape, rate: 0.5)
        XCTAssertEqual(forward(half, x, batch: 3, pass: .inference).map(\.bitPattern), x.map(\.bitPattern))
        XCTAssertEqual(backward(half, x, batch: 3, pass: .inference).map(\.bitPattern), x.map(\.bitPattern))
        var plain = [Float](repeating: .nan, count: x.count)
        half.forward(x, &plain, parameters: [0], batch: 3)
        XCTAssertEqual(plain.map(\.bitPattern), x.map(\.bitPattern))
        let none = try Dropout(inputShape: shape, rate: 0)
        let training = Pass(training: true, seed: 3, epoch: 4, firstPosition: 5, layer: 6)
        XCTAssertEqual(forward(none, x, batch: 3, pass: training).map(\.bitPattern), x.map(\.bitPattern))
        XCTAssertEqual(backward(none, x, batch: 3, pass: training).map(\.bitPattern), x.map(\.bitPattern))
        XCTAssertTrue((0..<100).allSatisfy { none.keeps(seed: 3, epoch: 4, position: $0, layer: 6, element: $0 * 7) })
    }

    func testRejectsRatesOutsideZeroToOne() {
        for rate: Float in [1, 1.5, -0.1, .nan, .infinity] {
            XCTAssertThrowsError(try Dropout(inputShape: shape, rate: rate), "\(rate)") { error in
                XCTAssertTrue("\(error)".contains("dropout rate must be in [0, 1)"), "\(error)")
            }
        }
    }

    // MARK: - Helpers

    private func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        // Never 0, so a 0 in the output is a dropped value.
        return (0..<count).map { _ in rng.nextFloat(in: 0.5, 1.5) * (rng.nextUnitFloat() < 0.5 ? -1 : 1) }
    }

    private func forward(_ dropout: Dropout, _ x: [Float], batch: Int, pass: Pass) -> [Float] {
        var y = [Float](repeating: .nan, count: x.count)
        dropout.forward(x, &y, parameters: [0], batch: batch, pass: pass)
        return y
    }

    private func backward(_ dropout: Dropout, _ dy: [Float], batch: Int, pass: Pass) -> [Float] {
        var dx = [Float](repeating: .nan, count: dy.count)
        var unused: [Float] = [0]
        dropout.backward(input: dy, output: dy, outputGradient: dy, inputGradient: &dx, parameters: [0], gradients: &unused, batch: batch, pass: pass)
        return dx
    }
}
