import Datasets
import NeuralNet
import Training
import XCTest

/// The step recipe that makes the cluster exact: microbatch gradients from zero, summed in order.
final class StepRecipeTests: XCTestCase {
    func testMicrobatchGradientDoesNotDependOnWhatRanBefore() throws {
        let run = try PreparedRun(config: smallConfig(trainLimit: 200))
        let order = EpochPlan.order(sampleCount: run.train.count, epoch: 0, seed: 1)
        let parameters = run.model.initialParameters(seed: 1)
        var first = [Float](repeating: 0, count: run.model.parameterCount)
        var again = [Float](repeating: 1, count: run.model.parameterCount)
        let busy = GradientComputer(model: run.model, data: run.train, microbatch: 8)
        let fresh = GradientComputer(model: run.model, data: run.train, microbatch: 8)
        _ = busy.compute(order: order, positions: 40..<48, parameters: parameters, gradient: &again)
        let a = busy.compute(order: order, positions: 8..<16, parameters: parameters, gradient: &again)
        let b = fresh.compute(order: order, positions: 8..<16, parameters: parameters, gradient: &first)
        XCTAssertEqual(first.map(\.bitPattern), again.map(\.bitPattern))
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.count, 8)
    }

    func testStepGradientIsTheMeanOverTheBatch() throws {
        let run = try PreparedRun(config: smallConfig(trainLimit: 200))
        let order = EpochPlan.order(sampleCount: run.train.count, epoch: 0, seed: 1)
        let parameters = run.model.initialParameters(seed: 1)
        let computer = GradientComputer(model: run.model, data: run.train, microbatch: 32)
        var whole = [Float](repeating: 0, count: run.model.parameterCount)
        _ = computer.compute(order: order, positions: 0..<32, parameters: parameters, gradient: &whole)

        var step = StepGradient(parameterCount: run.model.parameterCount)
        let sum = PairwiseSum(parameterCount: run.model.parameterCount)
        parameters.withUnsafeBufferPointer { parameters in
            for start in stride(from: 0, to: 32, by: 8) {
                sum.pushComputed(block: start / 8..<start / 8 + 1) { gradient in
                    computer.compute(order: order, positions: start..<start + 8, parameters: parameters.baseAddress!, gradient: gradient)
                }
            }
        }
        step.take(sum)
        step.average()
        XCTAssertEqual(step.metrics.count, 32)
        let scale = whole.map(abs).max() ?? 1
        for i in whole.indices {
            XCTAssertEqual(step.values[i], whole[i] / 32, accuracy: 1e-5 * scale, "parameter \(i)")
        }
    }
}
