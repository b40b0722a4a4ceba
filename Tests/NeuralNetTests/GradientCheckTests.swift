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

    // MARK: - Strided and bias-free convolutions

    /// Odd sizes: `same` with stride 2 pads one row and column on each side (total 2).
    func testConv2DStride2SameOddInput() throws {
        let conv = try Conv2D(inputShape: Shape(height: 5, width: 7, channels: 2), filters: 3, kernelSize: 3, stride: 2, padding: .same)
        XCTAssertEqual(conv.outputShape, Shape(height: 3, width: 4, channels: 3))
        try checkLayer(conv)
    }

    /// Even sizes: the total padding is 1, and it goes after (bottom, right), none before.
    func testConv2DStride2SameEvenInput() throws {
        let conv = try Conv2D(inputShape: Shape(height: 6, width: 4, channels: 2), filters: 3, kernelSize: 3, stride: 2, padding: .same)
        XCTAssertEqual(conv.outputShape, Shape(height: 3, width: 2, channels: 3))
        try checkLayer(conv)
        // An even kernel on an odd input: total 3, one before and two after.
        try checkLayer(Conv2D(inputShape: Shape(height: 7, width: 6, channels: 1), filters: 2, kernelSize: 4, stride: 2, padding: .same))
    }

    /// Stride 2 `valid`: the last column of 6 lies in no window.
    func testConv2DStride2Valid() throws {
        let conv = try Conv2D(inputShape: Shape(height: 7, width: 6, channels: 2), filters: 3, kernelSize: 3, stride: 2)
        XCTAssertEqual(conv.outputShape, Shape(height: 3, width: 2, channels: 3))
        try checkLayer(conv)
        try checkLayer(Conv2D(inputShape: Shape(height: 8, width: 7, channels: 2), filters: 2, kernelSize: 2, stride: 3), batch: 3)
    }

    func testConv2DStride1NoBias() throws {
        let same = try Conv2D(inputShape: Shape(height: 5, width: 4, channels: 3), filters: 4, kernelSize: 3, padding: .same, useBias: false)
        XCTAssertEqual(same.parameterSpecs.map(\.name), ["kernel"])
        try checkLayer(same)
        try checkLayer(Conv2D(inputShape: Shape(height: 5, width: 6, channels: 2), filters: 17, kernelSize: 3, useBias: false))
    }

    /// The residual shortcut of mini-xception: 1x1, stride 2, `same` (no padding, every other pixel).
    func testConv2DPointwiseStride2Same() throws {
        let odd = try Conv2D(inputShape: Shape(height: 5, width: 5, channels: 3), filters: 4, kernelSize: 1, stride: 2, padding: .same)
        XCTAssertEqual(odd.outputShape, Shape(height: 3, width: 3, channels: 4))
        try checkLayer(odd)
        try checkLayer(Conv2D(inputShape: Shape(height: 6, width: 4, channels: 2), filters: 3, kernelSize: 1, stride: 2, padding: .same))
    }

    // MARK: - Depthwise and separable convolutions

    func testDepthwiseConv2D() throws {
        try checkLayer(DepthwiseConv2D(inputShape: Shape(height: 5, width: 4, channels: 3), kernelSize: 3, padding: .same))
        try checkLayer(DepthwiseConv2D(inputShape: Shape(height: 5, width: 6, channels: 2), kernelSize: 3, useBias: false), batch: 3)
        let strided = try DepthwiseConv2D(inputShape: Shape(height: 6, width: 5, channels: 3), kernelSize: 3, stride: 2, padding: .same)
        XCTAssertEqual(strided.outputShape, Shape(height: 3, width: 3, channels: 3))
        try checkLayer(strided)
        try checkLayer(DepthwiseConv2D(inputShape: Shape(height: 7, width: 6, channels: 2), kernelSize: 3, stride: 2, useBias: false))
        try checkLayer(DepthwiseConv2D(inputShape: Shape(height: 4, width: 5, channels: 2), kernelSize: 2, stride: 2, padding: .same, useBias: false))
    }

    /// Both the plain passes (which recompute the depthwise output) and the passes with a cache, as a model runs them.
    func testSeparableConv2D() throws {
        let same = try SeparableConv2D(inputShape: Shape(height: 5, width: 5, channels: 3), filters: 4, kernelSize: 3, padding: .same)
        XCTAssertEqual(same.parameterSpecs.map(\.count), [27, 12, 4])
        try checkLayer(same)
        try checkLayer(same, pass: Pass(training: true))
        let strided = try SeparableConv2D(inputShape: Shape(height: 6, width: 7, channels: 2), filters: 3, kernelSize: 3, stride: 2)
        XCTAssertEqual(strided.outputShape, Shape(height: 2, width: 3, channels: 3))
        try checkLayer(strided, batch: 3)
        try checkLayer(strided, batch: 3, pass: .inference)
        // Vector widths in the pointwise convolution: 17 filters.
        try checkLayer(SeparableConv2D(inputShape: Shape(height: 4, width: 3, channels: 5), filters: 17, kernelSize: 3, padding: .same),
                       pass: Pass(training: true))
    }

    // MARK: - Pooling

    /// Overlapping windows: a pixel can win two windows, and collects both gradients.
    func testMaxPoolOverlappingWindows() throws {
        let pool = try MaxPool2D(inputShape: Shape(height: 6, width: 5, channels: 2), size: 3, stride: 2, padding: .same)
        XCTAssertEqual(pool.outputShape, Shape(height: 3, width: 3, channels: 2))
        try checkLayer(pool)
        try checkLayer(MaxPool2D(inputShape: Shape(height: 7, width: 7, channels: 3), size: 3, stride: 2, padding: .same), batch: 1)
        let dense = try MaxPool2D(inputShape: Shape(height: 4, width: 5, channels: 3), size: 2, stride: 1)
        XCTAssertEqual(dense.outputShape, Shape(height: 3, width: 4, channels: 3))
        try checkLayer(dense)
        // `same` with the default stride: the last window of an odd row holds one real pixel.
        try checkLayer(MaxPool2D(inputShape: Shape(height: 5, width: 5, channels: 2), size: 2, padding: .same))
    }

    /// `same` windows at the border divide by the pixels they cover, not by size².
    func testAveragePool() throws {
        let same = try AveragePool2D(inputShape: Shape(height: 6, width: 5, channels: 2), size: 3, stride: 2, padding: .same)
        XCTAssertEqual(same.outputShape, Shape(height: 3, width: 3, channels: 2))
        try checkLayer(same)
        try checkLayer(AveragePool2D(inputShape: Shape(height: 4, width: 4, channels: 1), size: 3, stride: 1, padding: .same))
        let valid = try AveragePool2D(inputShape: Shape(height: 5, width: 4, channels: 3), size: 2)
        XCTAssertEqual(valid.outputShape, Shape(height: 2, width: 2, channels: 3))
        try checkLayer(valid, batch: 3)
        // A hand case: 2x2 ones but one 3; `same` 3x3 stride 2 windows see 4 pixels (mean (1+1+1+3)/4 = 1.5).
        let corner = try AveragePool2D(inputShape: Shape(height: 2, width: 2, channels: 1), size: 3, stride: 2, padding: .same)
        var y: [Float] = [0]
        corner.forward([1, 1, 1, 3], &y, parameters: [0], batch: 1)
        XCTAssertEqual(y, [1.5])
    }

    func testGlobalAveragePool() throws {
        let gap = try GlobalAveragePool2D(inputShape: Shape(height: 3, width: 4, channels: 5))
        XCTAssertEqual(gap.outputShape, Shape([5]))
        try checkLayer(gap, batch: 3)
    }

    // MARK: - Batch normalisation, dropout

    /// Inference: the moving statistics normalise, and the backward pass leaves their gradient slots alone.
    func testBatchNormalizationInference() throws {
        let norm = try BatchNormalization(inputShape: Shape(height: 3, width: 2, channels: 4))
        var rng = SeededGenerator(seed: 8)
        let c = norm.channels
        let gammaBeta = (0..<2 * c).map { _ in Float(rng.nextGaussian()) }
        let statistics = (0..<c).map { _ in Float(rng.nextGaussian() * 0.5) } + (0..<c).map { _ in 0.3 + Float(rng.nextUnitFloat()) }
        let check = try checkLayer(norm, parameters: gammaBeta + statistics)
        XCTAssertEqual(Array(check.parameterGradient[2 * c..<4 * c]), [Float](repeating: 0, count: 2 * c))
        // The same through the pass-taking functions with an inference pass.
        try checkLayer(norm, pass: .inference, parameters: gammaBeta + statistics)
        // A vector input normalises its one axis.
        let vector: [Float] = Array(gammaBeta.prefix(5)) + Array(gammaBeta.suffix(5)) + [0.1, -0.2, 0.3, 0, 0.5] + [0.5, 1, 1.5, 2, 0.7]
        try checkLayer(BatchNormalization(inputShape: Shape([5])), batch: 3, parameters: vector)
    }

    /// Training: batch statistics over every sample and pixel (the reference computes them), so the
    /// input gradient has the terms through the mean and variance; the moving statistics' slots get
    /// batch × the batch mean and batch × its biased variance.
    func testBatchNormalizationTraining() throws {
        let batch = 3
        let norm = try BatchNormalization(inputShape: Shape(height: 2, width: 3, channels: 4))
        let c = norm.channels
        var rng = SeededGenerator(seed: 9)
        // Moving statistics far from the batch's, so that using them instead would fail.
        let parameters = (0..<2 * c).map { _ in Float(rng.nextGaussian()) } + [Float](repeating: 5, count: c) + [Float](repeating: 9, count: c)
        let check = try checkLayer(norm, batch: batch, pass: Pass(training: true), parameters: parameters)
        let (mean, variance) = Reference.batchStatistics(check.input, channels: c)
        for j in 0..<c {
            XCTAssertEqual(Double(check.parameterGradient[2 * c + j]), Double(batch) * mean[j], accuracy: 1e-5, "moving_mean slot \(j)")
            XCTAssertEqual(Double(check.parameterGradient[3 * c + j]), Double(batch) * variance[j], accuracy: 1e-5 * Double(batch) * variance[j],
                           "moving_variance slot \(j)")
        }
        // A vector input, and a batch of one sample (statistics over its pixels alone).
        try checkLayer(BatchNormalization(inputShape: Shape([6])), batch: 4, pass: Pass(training: true))
        try checkLayer(BatchNormalization(inputShape: Shape(height: 3, width: 3, channels: 2)), batch: 1, pass: Pass(training: true))
    }

    /// The reference takes its mask from `Dropout.keeps`, so the finite differences check that the
    /// backward pass drops and scales what the forward pass did.
    func testDropoutTraining() throws {
        let dropout = try Dropout(inputShape: Shape(height: 2, width: 3, channels: 4), rate: 0.4)
        let pass = Pass(training: true, seed: 9, epoch: 3, firstPosition: 17, layer: 2)
        try checkLayer(dropout, batch: 3, pass: pass)
        let kept = (0..<3 * 24).filter { dropout.keeps(seed: 9, epoch: 3, position: 17 + $0 / 24, layer: 2, element: $0 % 24) }.count
        XCTAssertTrue((10..<62).contains(kept), "\(kept) of 72 kept: the mask checks nothing")
        try checkLayer(dropout, batch: 3, pass: .inference)
    }

    // MARK: - Graph models

    /// A residual block as mini-xception builds one: batch statistics and dropout on, as in training.
    func testWholeGraphResidual() throws {
        let model = try ModelSpec.build(
            "conv4x3same-relu,b=batchnorm,r=relu,sepconv4x3same,batchnorm,p=maxpool3s2same,s=conv4x1s2same<r,add<p+s,gap,dropout0.3,dense3-softmax",
            inputShape: Shape(height: 6, width: 5, channels: 2))
        XCTAssertFalse(model.isChain)
        let labels: [Int32] = [0, 2, 1]
        let checked = try checkModel(model, labels: labels)
        // Every batch norm's moving statistics' slots hold batch × its input's batch statistics.
        let outputs = Reference.modelOutputs(model, checked.input, checked.parameters, batch: labels.count, pass: Pass(training: true))
        for (index, node) in model.nodes.enumerated() where node.layer is BatchNormalization {
            let c = (node.layer as! BatchNormalization).channels
            let (mean, variance) = Reference.batchStatistics(outputs[node.inputs[0]], channels: c)
            let entries = model.layout.entries.filter { $0.layerIndex == index }
            XCTAssertEqual(entries.map(\.isTrainable), [true, true, false, false])
            for j in 0..<c {
                XCTAssertEqual(Double(checked.gradient[entries[2].offset + j]), 3 * mean[j], accuracy: 1e-5 + 1e-5 * abs(mean[j]), "\(entries[2].name)[\(j)]")
                XCTAssertEqual(Double(checked.gradient[entries[3].offset + j]), 3 * variance[j], accuracy: 1e-5 + 1e-5 * variance[j], "\(entries[3].name)[\(j)]")
            }
        }
        // Another epoch and position: other dropout masks, the same agreement with the reference.
        try checkModel(model, labels: labels, pass: Pass(training: true, seed: 4, epoch: 2, firstPosition: 30))
    }

    /// Inference: moving statistics and no dropout, in the model as in the reference.
    func testWholeGraphInference() throws {
        let model = try ModelSpec.build(
            "conv4x3same-relu,b=batchnorm,r=relu,sepconv4x3same,batchnorm,p=maxpool3s2same,s=conv4x1s2same<r,add<p+s,gap,dropout0.3,dense3-softmax",
            inputShape: Shape(height: 6, width: 5, channels: 2))
        var rng = SeededGenerator(seed: 12)
        let labels: [Int32] = [1, 0]
        let workspace = Workspace(model: model, capacity: 2, gradients: false)
        for i in 0..<2 * model.inputShape.count { workspace.input[i] = rng.nextUnitFloat() }
        workspace.labels[0] = labels[0]; workspace.labels[1] = labels[1]
        var parameters = model.initialParameters(seed: 2).map { $0 + Float(rng.nextGaussian() * 0.05) }
        for entry in model.layout.movingAverages { for i in entry.range { parameters[i] = 0.5 + rng.nextUnitFloat() } }
        let metrics = model.evaluate(parameters: parameters, workspace: workspace, batch: 2)
        let x = (0..<2 * model.inputShape.count).map { Double(workspace.input[$0]) }
        let expected = Reference.modelLoss(model, x, parameters.map(Double.init), labels: labels, pass: .inference)
        XCTAssertEqual(metrics.lossSum, expected, accuracy: 1e-4)
        XCTAssertNotEqual(expected, Reference.modelLoss(model, x, parameters.map(Double.init), labels: labels), accuracy: 1e-3,
                          "training and inference should differ here")
    }

    /// A node read by two others whose paths both reach the output: its gradient is the sum of both.
    func testWholeGraphNodeReadTwice() throws {
        let model = try ModelSpec.build(
            "c=conv3x3same-relu,a=conv3x1<c,d=dwconv3same<c,add<a+d,avgpool2,flatten,dense2-softmax",
            inputShape: Shape(height: 5, width: 4, channels: 2))
        try checkModel(model, labels: [1, 0])
        // Read twice by one add, and by a max pooling (through the ReLU) and an add.
        try checkModel(ModelSpec.build("r=conv3x3same-relu,add<r+r,maxpool2,flatten,dense1-sigmoid", inputShape: Shape(height: 4, width: 4, channels: 1)),
                       labels: [1, 0, 1])
        try checkModel(ModelSpec.build("r=conv3x3same-relu,p=maxpool3s1same,add<p+r,maxpool2,flatten,dense2-softmax", inputShape: Shape(height: 4, width: 5, channels: 1)),
                       labels: [1, 0])
        // The model's input read twice.
        try checkModel(ModelSpec.build("a=conv2x3same<input,add<a+input,gap,dense2-softmax", inputShape: Shape(height: 4, width: 4, channels: 2)),
                       labels: [0, 1])
    }

    /// A flatten whose conv is read elsewhere too, so the flatten cannot pass its gradient in the conv's buffer.
    func testWholeGraphFlattenOfAConvReadElsewhere() throws {
        let model = try ModelSpec.build(
            "c=conv2x3same,f=flatten,d1=dense4,g=gap<c,d2=dense4,add<d1+d2,dense2-softmax",
            inputShape: Shape(height: 4, width: 3, channels: 1))
        try checkModel(model, labels: [0, 1, 1])
        // The same with the conv's ReLU read twice.
        try checkModel(ModelSpec.build("c=conv2x3same-relu,f=flatten,d1=dense4,g=gap<c,d2=dense4,add<d1+d2,dense2-softmax",
                                       inputShape: Shape(height: 4, width: 3, channels: 1)), labels: [0, 1, 1])
    }

    // MARK: - Helpers

    /// What a layer check computed, for the checks a test adds.
    struct LayerCheck {
        let input: [Double]
        let parameters: [Double]
        /// The analytic parameter gradient, as the backward pass added it to a buffer of ones.
        let parameterGradient: [Float]
    }

    /// Checks `layer`'s forward pass against `Reference.forward` and its backward pass against finite
    /// differences, for the input and every trainable parameter.
    ///
    /// With `pass` nil it calls the plain passes; with a pass, the passes that take one, given a cache
    /// of `cacheCount(batch:)` floats. Gradients start at one, so a pass that overwrites instead of adding fails.
    @discardableResult
    private func checkLayer(
        _ layer: any Layer, batch: Int = 2, pass: Pass? = nil, parameters given: [Float]? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> LayerCheck {
        var rng = SeededGenerator(seed: 42)
        let x = (0..<batch * layer.inputShape.count).map { _ in Float(rng.nextGaussian()) }
        let drawn = (0..<layer.parameterCount).map { _ in Float(rng.nextGaussian() * 0.5) }
        let p = given ?? drawn
        let r = (0..<batch * layer.outputShape.count).map { _ in Float(rng.nextGaussian()) }

        var y = [Float](repeating: .nan, count: r.count)
        var dx = [Float](repeating: .nan, count: x.count)
        var dp = [Float](repeating: 1, count: max(p.count, 1))
        var cache = [Float](repeating: .nan, count: max(layer.cacheCount(batch: batch), 1))
        let pointer = p.isEmpty ? [0] : p
        if var pass {
            cache.withUnsafeMutableBufferPointer { cache in
                pass.cache = layer.cacheCount(batch: batch) > 0 ? cache.baseAddress : nil
                layer.forward(x, &y, parameters: pointer, batch: batch, pass: pass)
                layer.backward(input: x, output: y, outputGradient: r, inputGradient: &dx, parameters: pointer, gradients: &dp,
                               batch: batch, pass: pass)
            }
        } else {
            layer.forward(x, &y, parameters: pointer, batch: batch)
            layer.backward(input: x, output: y, outputGradient: r, inputGradient: &dx, parameters: pointer, gradients: &dp, batch: batch)
        }
        let gradient = dp.map { $0 - 1 }

        let xd = x.map(Double.init), pd = p.map(Double.init), rd = r.map(Double.init)
        let referencePass = pass ?? .inference
        let reference = Reference.forward(layer, xd, pd, batch: batch, pass: referencePass)
        XCTAssertEqual(reference.count, y.count, "\(layer.kind) output size", file: file, line: line)
        for i in y.indices where i < reference.count {
            XCTAssertEqual(Double(y[i]), reference[i], accuracy: 1e-5, "\(layer.kind) forward[\(i)]", file: file, line: line)
        }
        func objective(_ x: [Double], _ p: [Double]) -> Double {
            zip(Reference.forward(layer, x, p, batch: batch, pass: referencePass), rd).map(*).reduce(0, +)
        }
        for i in xd.indices {
            var plus = xd, minus = xd
            plus[i] += step; minus[i] -= step
            let numeric = (objective(plus, pd) - objective(minus, pd)) / (2 * step)
            assertClose(dx[i], numeric, "\(layer.kind) d input[\(i)]", file: file, line: line)
        }
        var offset = 0
        for spec in layer.parameterSpecs {
            defer { offset += spec.count }
            guard spec.isTrainable else { continue }
            for j in offset..<offset + spec.count {
                var plus = pd, minus = pd
                plus[j] += step; minus[j] -= step
                let numeric = (objective(xd, plus) - objective(xd, minus)) / (2 * step)
                assertClose(gradient[j], numeric, "\(layer.kind) d \(spec.name)[\(j - offset)]", file: file, line: line)
            }
        }
        return LayerCheck(input: xd, parameters: pd, parameterGradient: gradient)
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

    /// Checks the model's loss against `Reference.modelLoss` and its gradient for every trainable
    /// parameter against finite differences, in the pass `Model.accumulateGradients` takes by default
    /// (training) or `pass`. Returns the inputs, parameters and analytic gradient for further checks.
    @discardableResult
    private func checkModel(
        _ model: Model, labels: [Int32], pass: Pass = Pass(training: true), file: StaticString = #filePath, line: UInt = #line
    ) throws -> (input: [Double], parameters: [Double], gradient: [Float]) {
        let batch = labels.count
        var rng = SeededGenerator(seed: 3)
        let workspace = Workspace(model: model, capacity: batch)
        for i in 0..<batch * model.inputShape.count { workspace.input[i] = rng.nextUnitFloat() }
        for (n, label) in labels.enumerated() { workspace.labels[n] = label }
        let p = model.initialParameters(seed: 5).map { $0 + Float(rng.nextGaussian() * 0.05) }
        var g = [Float](repeating: 0, count: p.count)
        let metrics = model.accumulateGradients(parameters: p, gradients: &g, workspace: workspace, batch: batch, pass: pass)

        let x = (0..<batch * model.inputShape.count).map { Double(workspace.input[$0]) }
        let pd = p.map(Double.init)
        func loss(_ p: [Double]) -> Double { Reference.modelLoss(model, x, p, labels: labels, pass: pass) }
        XCTAssertEqual(metrics.lossSum, loss(pd), accuracy: 1e-4, file: file, line: line)
        for entry in model.layout.entries where entry.isTrainable {
            for j in entry.range {
                var plus = pd, minus = pd
                plus[j] += step; minus[j] -= step
                let numeric = (loss(plus) - loss(minus)) / (2 * step)
                assertClose(g[j], numeric, "model d \(entry.name)[\(j - entry.offset)]", file: file, line: line)
            }
        }
        return (x, pd, g)
    }

    /// The largest |analytic − numeric| this test saw, and where; printed after the test.
    private var worst: (error: Double, what: String) = (0, "")

    override func tearDown() {
        if !worst.what.isEmpty { print("\(name) largest finite-difference error \(worst.error) at \(worst.what)") }
        super.tearDown()
    }

    private func assertClose(_ analytic: Float, _ numeric: Double, _ what: String, file: StaticString, line: UInt) {
        let tolerance = 2e-4 + 2e-3 * abs(numeric)
        if abs(Double(analytic) - numeric) > worst.error { worst = (abs(Double(analytic) - numeric), what) }
        XCTAssertLessThanOrEqual(abs(Double(analytic) - numeric), tolerance, "\(what): analytic \(analytic), numeric \(numeric)", file: file, line: line)
    }
}
