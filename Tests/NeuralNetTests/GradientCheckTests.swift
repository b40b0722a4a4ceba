import NeuralNet
import Randomness
import XCTest

/// Central finite differences in Double against the Float32 backward passes.
///
/// Tolerance: |analytic − numeric| ≤ 2e-4 + 2e-3·|numeric| (Float32 arithmetic in the
/// analytic pass, step 1e-5 in the Double reference).
final class GradientCheckTests: XCTestCase {
    let step = 1e-5

    func testConv2DValid() throws {
        try checkLayer(Conv2D(inputShape: Shape(height: 5, width: 6, channels: 2), filters: 3, kernelSize: 3))
    }

    func testConv2DSameOddKernel() throws {
        try checkLayer(Conv2D(inputShape: Shape(height: 5, width: 4, channels: 3), filters: 2, kernelSize: 3, padding: .same))
    }

    func testConv2DSameEvenKernel() throws {
        try checkLayer(Conv2D(inputShape: Shape(height: 4, width: 5, channels: 1), filters: 2, kernelSize: 2, padding: .same))
    }

    func testMaxPool() throws {
        try checkLayer(MaxPool2D(inputShape: Shape(height: 5, width: 4, channels: 3), size: 2))
    }

    func testDense() throws {
        try checkLayer(Dense(inputShape: Shape([7]), units: 4))
    }

    func testFlatten() throws {
        try checkLayer(Flatten(inputShape: Shape(height: 2, width: 3, channels: 2)))
    }

    func testReLU() throws {
        try checkLayer(ReLU(inputShape: Shape([11])))
    }

    func testSigmoid() throws {
        try checkLayer(Sigmoid(inputShape: Shape([9])))
    }

    func testSoftmax() throws {
        try checkLayer(Softmax(inputShape: Shape([6])))
    }

    func testLosses() {
        for loss in Loss.allCases {
            for width in [1, 4] where !(loss == .softmaxCrossEntropy && width == 1) {
                checkLoss(loss, width: width)
            }
        }
    }

    func testLossesStayFiniteForHugeLogits() {
        let logits: [Float] = [80, -80, 200, -200]
        let labels: [Int32] = [0, 1, 1, 0]
        var gradient = [Float](repeating: 0, count: 4)
        let total = Loss.binaryCrossEntropy.evaluate(logits, labels: labels, gradient: &gradient, batch: 4, width: 1)
        XCTAssertEqual(total, 80 + 80 + 0 + 0, accuracy: 1e-3)
        XCTAssertEqual(gradient, [1, -1, 0, 0])
        var softmaxGradient = [Float](repeating: 0, count: 4)
        let ce = Loss.softmaxCrossEntropy.evaluate([500, -500, 0, 90], labels: [1], gradient: &softmaxGradient, batch: 1, width: 4)
        XCTAssertEqual(ce, 1000, accuracy: 1e-2)
        XCTAssertTrue(softmaxGradient.allSatisfy(\.isFinite))
    }

    func testWholeModelSoftmax() throws {
        let model = try ModelSpec.build("conv3x3same-relu,maxpool2,flatten,dense5-relu,dense3-softmax", inputShape: Shape(height: 6, width: 6, channels: 2))
        try checkModel(model, labels: [0, 2, 1])
    }

    func testWholeModelSigmoid() throws {
        let model = try ModelSpec.build("conv4x3-relu,maxpool2,flatten,dense1-sigmoid", inputShape: Shape(height: 7, width: 7, channels: 1))
        try checkModel(model, labels: [1, 0])
    }

    func testWholeModelMeanSquaredError() throws {
        let model = try ModelSpec.build("flatten,dense4-sigmoid,dense2", inputShape: Shape(height: 3, width: 2, channels: 1))
        XCTAssertEqual(model.loss, .meanSquaredError)
        try checkModel(model, labels: [1, 0, 1])
    }

    // MARK: - Every path of the vector kernels

    /// 32 filters (two vectors), one input channel as in the presets' first layer, odd output width (a lone pixel after the pairs).
    func testConv2DVectorFiltersOneChannel() throws {
        try checkLayer(Conv2D(inputShape: Shape(height: 5, width: 7, channels: 1), filters: 32, kernelSize: 3))
    }

    /// 19 filters (a vector and three single ones); `same` borders take the per-pixel path; three channels pair and leave one.
    func testConv2DVectorAndSingleFiltersSame() throws {
        try checkLayer(Conv2D(inputShape: Shape(height: 4, width: 5, channels: 3), filters: 19, kernelSize: 3, padding: .same), batch: 1)
    }

    /// An even kernel pads only after; 16 filters exactly; three samples.
    func testConv2DEvenKernelSameVectorFilters() throws {
        try checkLayer(Conv2D(inputShape: Shape(height: 3, width: 4, channels: 2), filters: 16, kernelSize: 2, padding: .same), batch: 3)
    }

    /// A `same` kernel wider and taller than its image: some taps see no pixel at all.
    func testConv2DSameKernelLargerThanImage() throws {
        try checkLayer(Conv2D(inputShape: Shape(height: 2, width: 3, channels: 2), filters: 17, kernelSize: 5, padding: .same))
    }

    /// Several channels and 16 filters, `valid`, as in large-cnn's second layer.
    func testConv2DVectorFiltersManyChannels() throws {
        try checkLayer(Conv2D(inputShape: Shape(height: 5, width: 6, channels: 4), filters: 16, kernelSize: 3))
    }

    /// 19 channels (a vector and three single ones); rows and columns no window covers.
    func testMaxPoolVectorChannels() throws {
        try checkLayer(MaxPool2D(inputShape: Shape(height: 5, width: 5, channels: 19), size: 2))
        try checkLayer(MaxPool2D(inputShape: Shape(height: 7, width: 6, channels: 16), size: 3), batch: 1)
    }

    /// One unit: a dot product over two vectors of inputs and five single ones.
    func testDenseOneUnit() throws {
        try checkLayer(Dense(inputShape: Shape([37]), units: 1), batch: 3)
        try checkLayer(Dense(inputShape: Shape([5]), units: 1), batch: 1)
    }

    /// Fewer units than a vector holds (mnist-cnn's ten): two 16-input blocks and five single inputs, odd batch;
    /// an odd unit count; exactly 16 units.
    func testDenseUnitsBelowAVector() throws {
        try checkLayer(Dense(inputShape: Shape([37]), units: 10), batch: 3)
        try checkLayer(Dense(inputShape: Shape([17]), units: 3), batch: 1)
        try checkLayer(Dense(inputShape: Shape([20]), units: 16), batch: 2)
    }

    /// Two vectors of units and three single ones; one sample; one input.
    func testDenseVectorAndSingleUnits() throws {
        try checkLayer(Dense(inputShape: Shape([6]), units: 35), batch: 1)
        try checkLayer(Dense(inputShape: Shape([1]), units: 16), batch: 2)
    }

    /// 74 values: four vectors and ten single ones.
    func testReLUVectorAndTail() throws {
        try checkLayer(ReLU(inputShape: Shape([37])))
    }

    func testWholeModelVectorPaths() throws {
        let model = try ModelSpec.build("conv16x3-relu,conv16x2same-relu,maxpool2,flatten,dense3-softmax", inputShape: Shape(height: 5, width: 5, channels: 1))
        try checkModel(model, labels: [2, 0])
    }

    // MARK: - Helpers

    private func checkLayer(_ layer: any Layer, batch: Int = 2, file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = SeededGenerator(seed: 42)
        let x = (0..<batch * layer.inputShape.count).map { _ in Float(rng.nextGaussian()) }
        let p = (0..<layer.parameterCount).map { _ in Float(rng.nextGaussian() * 0.5) }
        let r = (0..<batch * layer.outputShape.count).map { _ in Float(rng.nextGaussian()) }

        var y = [Float](repeating: 0, count: r.count)
        var dx = [Float](repeating: .nan, count: x.count)
        var dp = [Float](repeating: 0, count: max(p.count, 1))
        layer.forward(x, &y, parameters: p.isEmpty ? [0] : p, batch: batch)
        layer.backward(input: x, output: y, outputGradient: r, inputGradient: &dx, parameters: p.isEmpty ? [0] : p, gradients: &dp, batch: batch)

        let xd = x.map(Double.init), pd = p.map(Double.init), rd = r.map(Double.init)
        let reference = Reference.forward(layer, xd, pd, batch: batch)
        for i in y.indices {
            XCTAssertEqual(Double(y[i]), reference[i], accuracy: 1e-5, "\(layer.kind) forward[\(i)]", file: file, line: line)
        }
        func objective(_ x: [Double], _ p: [Double]) -> Double {
            zip(Reference.forward(layer, x, p, batch: batch), rd).map(*).reduce(0, +)
        }
        for i in xd.indices {
            var plus = xd, minus = xd
            plus[i] += step; minus[i] -= step
            let numeric = (objective(plus, pd) - objective(minus, pd)) / (2 * step)
            assertClose(dx[i], numeric, "\(layer.kind) d input[\(i)]", file: file, line: line)
        }
        for j in pd.indices {
            var plus = pd, minus = pd
            plus[j] += step; minus[j] -= step
            let numeric = (objective(xd, plus) - objective(xd, minus)) / (2 * step)
            assertClose(dp[j], numeric, "\(layer.kind) d parameter[\(j)]", file: file, line: line)
        }
    }

    private func checkLoss(_ loss: Loss, width: Int, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededGenerator(seed: 7)
        let batch = 3
        let v = (0..<batch * width).map { _ in Float(rng.nextGaussian() * 2) }
        let labels = (0..<batch).map { _ in Int32(rng.nextInt(below: width == 1 ? 2 : width)) }
        var g = [Float](repeating: 0, count: v.count)
        let total = loss.evaluate(v, labels: labels, gradient: &g, batch: batch, width: width)
        let vd = v.map(Double.init)
        XCTAssertEqual(total, Reference.loss(loss, vd, labels: labels, width: width), accuracy: 1e-5, "\(loss) value", file: file, line: line)
        for i in vd.indices {
            var plus = vd, minus = vd
            plus[i] += step; minus[i] -= step
            let numeric = (Reference.loss(loss, plus, labels: labels, width: width) - Reference.loss(loss, minus, labels: labels, width: width)) / (2 * step)
            assertClose(g[i], numeric, "\(loss) width \(width) d value[\(i)]", file: file, line: line)
        }
    }

    private func checkModel(_ model: Model, labels: [Int32], file: StaticString = #filePath, line: UInt = #line) throws {
        let batch = labels.count
        var rng = SeededGenerator(seed: 3)
        let workspace = Workspace(model: model, capacity: batch)
        for i in 0..<batch * model.inputShape.count { workspace.input[i] = rng.nextUnitFloat() }
        for (n, label) in labels.enumerated() { workspace.labels[n] = label }
        let p = model.initialParameters(seed: 5).map { $0 + Float(rng.nextGaussian() * 0.05) }
        var g = [Float](repeating: 0, count: p.count)
        let metrics = model.accumulateGradients(parameters: p, gradients: &g, workspace: workspace, batch: batch)

        let x = (0..<batch * model.inputShape.count).map { Double(workspace.input[$0]) }
        let pd = p.map(Double.init)
        XCTAssertEqual(metrics.lossSum, Reference.modelLoss(model, x, pd, labels: labels), accuracy: 1e-4, file: file, line: line)
        for j in pd.indices {
            var plus = pd, minus = pd
            plus[j] += step; minus[j] -= step
            let numeric = (Reference.modelLoss(model, x, plus, labels: labels) - Reference.modelLoss(model, x, minus, labels: labels)) / (2 * step)
            assertClose(g[j], numeric, "model d parameter[\(j)]", file: file, line: line)
        }
    }

    private func assertClose(_ analytic: Float, _ numeric: Double, _ what: String, file: StaticString, line: UInt) {
        let tolerance = 2e-4 + 2e-3 * abs(numeric)
        XCTAssertLessThanOrEqual(abs(Double(analytic) - numeric), tolerance, "\(what): analytic \(analytic), numeric \(numeric)", file: file, line: line)
    }
}
