import NeuralNet
import XCTest

final class OptimizerTests: XCTestCase {
    /// Adam's first step moves every parameter by almost exactly `lr` against the gradient's sign.
    func testAdamFirstStepMovesByLearningRate() {
        var adam = Adam(parameterCount: 3)
        var p: [Float] = [1, -2, 0.5]
        adam.update(&p, gradients: [0.3, -4, 1e-3])
        XCTAssertEqual(p[0], 1 - 0.001, accuracy: 1e-6)
        XCTAssertEqual(p[1], -2 + 0.001, accuracy: 1e-6)
        // A tiny gradient is damped by epsilon, so it moves a little less than lr.
        XCTAssertLessThan(p[2], 0.5)
        XCTAssertGreaterThan(p[2], 0.5 - 0.001)
        XCTAssertEqual(adam.step, 1)
    }

    /// Three Adam steps against the textbook form, worked out here in Double.
    func testAdamMatchesHandComputedSteps() {
        let gradients: [[Float]] = [[0.5, -0.25], [0.1, 0.3], [-0.2, 0.05]]
        var adam = Adam(parameterCount: 2, learningRate: 0.01)
        var p: [Float] = [0.2, -0.7]
        var expected: [Double] = [0.2, -0.7]
        var m = [0.0, 0.0], v = [0.0, 0.0]
        for (t, g) in gradients.enumerated() {
            adam.update(&p, gradients: g)
            let step = Double(t + 1)
            for i in 0..<2 {
                let gi = Double(g[i])
                m[i] = 0.9 * m[i] + 0.1 * gi
                v[i] = 0.999 * v[i] + 0.001 * gi * gi
                let mHat = m[i] / (1 - Foundation.pow(0.9, step))
                let vHat = v[i] / (1 - Foundation.pow(0.999, step))
                // Keras puts epsilon outside the bias correction: ε̂ = ε·√(1 − β2^t).
                expected[i] -= 0.01 * mHat / (vHat.squareRoot() + 1e-7 / (1 - Foundation.pow(0.999, step)).squareRoot())
            }
            XCTAssertEqual(Double(p[0]), expected[0], accuracy: 1e-6, "step \(t + 1)")
            XCTAssertEqual(Double(p[1]), expected[1], accuracy: 1e-6, "step \(t + 1)")
        }
        XCTAssertEqual(adam.state.map(\.name), ["m", "v"])
        XCTAssertEqual(Double(adam.state[0].values[0]), m[0], accuracy: 1e-7)
    }

    func testSGDPlain() {
        var sgd = SGD(parameterCount: 2, learningRate: 0.1)
        var p: [Float] = [1, 1]
        sgd.update(&p, gradients: [0.5, -1])
        sgd.update(&p, gradients: [0.5, -1])
        XCTAssertEqual(p[0], 0.9, accuracy: 1e-6)
        XCTAssertEqual(p[1], 1.2, accuracy: 1e-6)
        XCTAssertTrue(sgd.state.isEmpty)
    }

    /// u ← 0.9u − 0.1g, θ ← θ + u with g = 1, 1, 1: u = −0.1, −0.19, −0.271; θ = 1 − 0.561.
    func testSGDMomentum() {
        var sgd = SGD(parameterCount: 1, learningRate: 0.1, momentum: 0.9)
        var p: [Float] = [1]
        for _ in 0..<3 { sgd.update(&p, gradients: [1]) }
        XCTAssertEqual(p[0], 1 - 0.561, accuracy: 1e-6)
        XCTAssertEqual(sgd.state[0].values[0], -0.271, accuracy: 1e-6)
    }

    func testRestoreRejectsWrongSize() {
        var adam = Adam(parameterCount: 4)
        XCTAssertThrowsError(try adam.restore(state: ["m": [0, 0], "v": [0, 0, 0, 0]], step: 3)) { error in
            XCTAssertTrue("\(error)".contains("'m' has 2 values"), "\(error)")
        }
        XCTAssertThrowsError(try adam.restore(state: ["m": [0, 0, 0, 0]], step: 3)) { error in
            XCTAssertTrue("\(error)".contains("'v' is missing"), "\(error)")
        }
    }
}
