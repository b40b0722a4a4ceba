import NeuralNet
import XCTest

final class ModelSpecTests: XCTestCase {
    let mnist = Shape(height: 28, width: 28, channels: 1)

    func testSeedCNNIsTheKerasModel() throws {
        let model = try ModelSpec.build("seed-cnn", inputShape: mnist)
        XCTAssertEqual(model.parameterCount, 5_729)
        XCTAssertEqual(model.layers.map(\.kind), ["conv2d", "relu", "maxpool2d", "flatten", "dense", "sigmoid"])
        XCTAssertEqual(model.layers.map(\.outputShape), [
            Shape([26, 26, 32]), Shape([26, 26, 32]), Shape([13, 13, 32]), Shape([5408]), Shape([1]), Shape([1]),
        ])
        XCTAssertEqual(model.loss, .binaryCrossEntropy)
        XCTAssertEqual(model.layout.entries.map(\.name), ["conv2d_0.kernel", "conv2d_0.bias", "dense_4.kernel", "dense_4.bias"])
        XCTAssertEqual(model.layout.entries.map(\.count), [288, 32, 5408, 1])
    }

    func testPresets() throws {
        XCTAssertEqual(try ModelSpec.build("mnist-cnn", inputShape: mnist).parameterCount, 320 + 54_090)
        let large = try ModelSpec.build("large-cnn", inputShape: mnist)
        XCTAssertEqual(large.parameterCount, 320 + 18_496 + 1_179_776 + 1_290)
        XCTAssertEqual(large.loss, .softmaxCrossEntropy)
    }

    func testSamePaddingKeepsSize() throws {
        let model = try ModelSpec.build("conv8x5same-relu,maxpool2,flatten,dense3-softmax", inputShape: mnist)
        XCTAssertEqual(model.layers[0].outputShape, Shape([28, 28, 8]))
        XCTAssertEqual(model.layers[2].outputShape, Shape([14, 14, 8]))
    }

    func testBadSpecsSayWhy() {
        let cases: [(String, String)] = [
            ("conv32x3-relu,dense10", "dense needs a vector input"),
            ("conv32-relu", "conv needs FILTERSxKERNEL"),
            ("conv32x3-tanh", "unknown layer 'tanh'"),
            ("flatten,dense10-softmax,,", "cannot read ''"),
            ("flatten,dense1", ""),
            ("", "the spec is empty"),
            ("maxpool40", "does not fit its input"),
            ("relu-relu", "only conv, sepconv, dwconv and dense take an activation"),
        ]
        for (spec, message) in cases where !message.isEmpty {
            XCTAssertThrowsError(try ModelSpec.build(spec, inputShape: mnist), spec) { error in
                XCTAssertTrue("\(error)".contains(message), "\(spec): \(error)")
            }
        }
        XCTAssertThrowsError(try ModelSpec.build("flatten,dense10", inputShape: mnist, loss: .softmaxCrossEntropy)) { error in
            XCTAssertTrue("\(error)".contains("needs the model to end in softmax"), "\(error)")
        }
    }

    func testInitialisationIsSeededGlorotWithZeroBias() throws {
        let model = try ModelSpec.build("seed-cnn", inputShape: mnist)
        let a = model.initialParameters(seed: 1)
        XCTAssertEqual(a, model.initialParameters(seed: 1))
        XCTAssertNotEqual(a, model.initialParameters(seed: 2))
        let kernel = model.layout.entry(named: "conv2d_0.kernel")!
        let limit = Float((6.0 / Double(9 + 9 * 32)).squareRoot())
        XCTAssertTrue(a[kernel.range].allSatisfy { abs($0) <= limit })
        XCTAssertGreaterThan(a[kernel.range].map(abs).max()!, limit * 0.9)
        XCTAssertTrue(a[model.layout.entry(named: "conv2d_0.bias")!.range].allSatisfy { $0 == 0 })
        let denseLimit = Float((6.0 / Double(5408 + 1)).squareRoot())
        XCTAssertTrue(a[model.layout.entry(named: "dense_4.kernel")!.range].allSatisfy { abs($0) <= denseLimit })
    }

    func testSummaryLooksLikeKeras() throws {
        let text = try ModelSpec.build("seed-cnn", inputShape: mnist).summary(name: "seed-cnn")
        XCTAssertTrue(text.contains("conv2d_0 (Conv2D)           (None, 26, 26, 32)        320"), text)
        XCTAssertTrue(text.contains("dense_4 (Dense)             (None, 1)                 5,409"), text)
        XCTAssertTrue(text.contains("Total params: 5,729"), text)
    }

    // MARK: - Graph models

    /// Every new token, its layer's settings and its output shape.
    func testNewTokens() throws {
        let image = Shape(height: 9, width: 8, channels: 3)
        func only(_ token: String, _ input: Shape = image) throws -> any Layer {
            let model = try ModelSpec.build(token, inputShape: input)
            XCTAssertEqual(model.nodes.count, 1, token)
            return model.nodes[0].layer
        }
        let strided = try XCTUnwrap(only("conv4x3s2same") as? Conv2D)
        XCTAssertEqual([strided.filters, strided.kernelSize, strided.stride], [4, 3, 2])
        XCTAssertEqual(strided.padding, .same)
        XCTAssertTrue(strided.useBias)
        XCTAssertEqual(strided.outputShape, Shape([5, 4, 4]))
        let bare = try XCTUnwrap(only("conv5x3nobias") as? Conv2D)
        XCTAssertEqual([bare.stride, bare.parameterCount], [1, 3 * 3 * 3 * 5])
        XCTAssertFalse(bare.useBias)
        XCTAssertEqual(bare.padding, .valid)
        XCTAssertEqual(bare.outputShape, Shape([7, 6, 5]))
        let both = try XCTUnwrap(only("conv5x1s2samenobias") as? Conv2D)
        XCTAssertEqual(both.outputShape, Shape([5, 4, 5]))
        XCTAssertFalse(both.useBias)
        XCTAssertEqual(try XCTUnwrap(only("conv2x3s3valid") as? Conv2D).outputShape, Shape([3, 2, 2]))

        let depthwise = try XCTUnwrap(only("dwconv3s2same") as? DepthwiseConv2D)
        XCTAssertEqual([depthwise.kernelSize, depthwise.stride, depthwise.parameterCount], [3, 2, 27 + 3])
        XCTAssertEqual(depthwise.outputShape, Shape([5, 4, 3]))
        let depthwiseBare = try XCTUnwrap(only("dwconv3nobias") as? DepthwiseConv2D)
        XCTAssertEqual(depthwiseBare.padding, .valid)
        XCTAssertEqual(depthwiseBare.parameterSpecs.map(\.shape), [[3, 3, 3, 1]])
        XCTAssertEqual(depthwiseBare.outputShape, Shape([7, 6, 3]))

        let separable = try XCTUnwrap(only("sepconv6x3same") as? SeparableConv2D)
        XCTAssertEqual(separable.parameterSpecs.map(\.name), ["depthwise_kernel", "pointwise_kernel", "bias"])
        XCTAssertEqual(separable.parameterSpecs.map(\.shape), [[3, 3, 3, 1], [1, 1, 3, 6], [6]])
        XCTAssertEqual(separable.outputShape, Shape([9, 8, 6]))
        XCTAssertEqual(try XCTUnwrap(only("sepconv6x3s2") as? SeparableConv2D).outputShape, Shape([4, 3, 6]))

        let maxpool = try XCTUnwrap(only("maxpool3s2same") as? MaxPool2D)
        XCTAssertEqual([maxpool.size, maxpool.stride], [3, 2])
        XCTAssertEqual(maxpool.padding, .same)
        XCTAssertEqual(maxpool.outputShape, Shape([5, 4, 3]))
        let tiled = try XCTUnwrap(only("maxpool2") as? MaxPool2D)
        XCTAssertEqual([tiled.size, tiled.stride], [2, 2])
        XCTAssertEqual(tiled.padding, .valid)
        XCTAssertEqual(tiled.outputShape, Shape([4, 4, 3]))
        XCTAssertEqual(try XCTUnwrap(only("maxpool2s1") as? MaxPool2D).outputShape, Shape([8, 7, 3]))
        XCTAssertEqual(try XCTUnwrap(only("maxpool2same") as? MaxPool2D).outputShape, Shape([5, 4, 3]))

        let average = try XCTUnwrap(only("avgpool2") as? AveragePool2D)
        XCTAssertEqual([average.size, average.stride], [2, 2])
        XCTAssertEqual(average.outputShape, Shape([4, 4, 3]))
        XCTAssertEqual(try XCTUnwrap(only("avgpool3s2same") as? AveragePool2D).outputShape, Shape([5, 4, 3]))

        XCTAssertEqual(try XCTUnwrap(only("gap") as? GlobalAveragePool2D).outputShape, Shape([3]))
        let norm = try XCTUnwrap(only("batchnorm") as? BatchNormalization)
        XCTAssertEqual(norm.channels, 3)
        XCTAssertEqual(norm.momentum, 0.99)
        XCTAssertEqual(norm.epsilon, 1e-3)
        XCTAssertEqual(norm.parameterSpecs.map(\.name), ["gamma", "beta", "moving_mean", "moving_variance"])
        XCTAssertEqual(norm.parameterSpecs.map(\.isTrainable), [true, true, false, false])
        XCTAssertEqual(norm.trainableParameterCount, 6)
        XCTAssertEqual(try XCTUnwrap(only("batchnorm", Shape([7])) as? BatchNormalization).channels, 7)
        XCTAssertEqual(try XCTUnwrap(only("dropout0.5") as? Dropout).rate, 0.5)
        XCTAssertEqual(try XCTUnwrap(only("dropout0") as? Dropout).rate, 0)

        // Activation suffixes on the new convolutions.
        let model = try ModelSpec.build("sepconv4x3same-relu,dwconv3s2-relu,gap,dense1-sigmoid", inputShape: image)
        XCTAssertEqual(model.layers.map(\.kind), ["separable_conv2d", "relu", "depthwise_conv2d", "relu", "global_average_pooling2d", "dense", "sigmoid"])
    }

    /// TensorFlow's rule: `same` pads max((out − 1)·stride + k − in, 0), half before, the odd one after.
    func testPaddingIsTensorFlows() {
        func same(_ length: Int, _ window: Int, _ stride: Int) -> [Int]? {
            Padding.same.geometry(length: length, window: window, stride: stride).map { [$0.output, $0.before] }
        }
        XCTAssertEqual(same(5, 3, 2), [3, 1])   // total 2
        XCTAssertEqual(same(6, 3, 2), [3, 0])   // total 1, after
        XCTAssertEqual(same(7, 4, 2), [4, 1])   // total 3
        XCTAssertEqual(same(6, 1, 2), [3, 0])   // total 0
        XCTAssertEqual(same(4, 3, 1), [4, 1])
        XCTAssertEqual(same(4, 2, 1), [4, 0])
        XCTAssertEqual(same(2, 5, 1), [2, 2])   // total 4
        XCTAssertEqual(Padding.valid.geometry(length: 6, window: 3, stride: 2).map { [$0.output, $0.before] }, [2, 0])
        XCTAssertNil(Padding.valid.geometry(length: 2, window: 3, stride: 1))
    }

    /// Names, sources and `input`; activation suffixes name the activation's node.
    func testNamesAndSources() throws {
        let model = try ModelSpec.build(
            "a=conv4x3same-relu,b=relu<a,c=conv4x1<a,s=add<b+c+a,t=conv2x1,x=add<t+input,gap,dense1-sigmoid",
            inputShape: Shape(height: 5, width: 5, channels: 2))
        XCTAssertEqual(model.layers.map(\.kind), ["conv2d", "relu", "relu", "conv2d", "add", "conv2d", "add", "global_average_pooling2d", "dense", "sigmoid"])
        XCTAssertEqual(model.nodes.map(\.inputs), [[-1], [0], [1], [1], [2, 3, 1], [4], [5, -1], [6], [7], [8]])
        XCTAssertEqual(model.consumers, [[1], [2, 3, 4], [4], [4], [5], [6], [7], [8], [9], []])
        XCTAssertEqual(Node.modelInput, -1)
        XCTAssertFalse(model.isChain)
        XCTAssertEqual(Set(model.nodes.map(\.name)).count, model.nodes.count, "node names are unique")

        XCTAssertTrue(try ModelSpec.build("seed-cnn", inputShape: mnist).isChain)
        XCTAssertTrue(try ModelSpec.build("dlwp-convnet", inputShape: Shape(height: 150, width: 150, channels: 3)).isChain)
        // Naming nodes and reading the one before by name is still a chain.
        XCTAssertTrue(try ModelSpec.build("a=conv2x3-relu,p=maxpool2<a,flatten<p,dense1-sigmoid", inputShape: mnist).isChain)
        XCTAssertFalse(try ModelSpec.build("mini-xception", inputShape: Shape(height: 32, width: 32, channels: 3)).isChain)
    }

    func testGraphErrorsSayWhy() {
        let image = Shape(height: 6, width: 6, channels: 2)
        let cases: [(String, String)] = [
            ("p=relu,add<p+zz", "reads 'zz', which is not a layer named before it"),
            ("add<p+input,p=relu", "reads 'p', which is not a layer named before it"),
            ("a=conv4x3same,b=conv4x3,add<a+b", "its inputs must have one shape"),
            ("a=conv2x3same,add<a+input,b=conv3x1<input,add<a+b", "its inputs must have one shape"),
            ("a=relu,add<a", "add needs two or more inputs"),
            ("relu,add", "add needs two or more inputs"),
            ("a=relu,b=relu,relu<a+b", "only add reads more than one layer"),
            ("a=relu,b=relu,conv2x3<a+b", "only add reads more than one layer"),
            ("a=relu,a=sigmoid", "the name 'a' is given twice"),
            ("input=relu", "the name 'input' is given twice"),
            ("1a=relu", "is not a layer name"),
            ("a-b=relu", "is not a layer name"),
            ("dropout1.5", "dropout rate must be in [0, 1), got 1.5"),
            ("dropout1", "dropout rate must be in [0, 1), got 1.0"),
            ("dropout", "dropout needs a rate"),
            ("maxpool40", "does not fit its input"),
            ("avgpool7", "does not fit its input"),
            ("dwconv7", "does not fit its input"),
            ("conv2x7s2", "larger than its input"),
            ("sepconv2x7", "does not fit its input"),
            ("conv2x3s0", "a stride needs a positive number"),
            ("maxpool3s", "a stride needs a positive number"),
            ("gap,gap", "gap needs an image input"),
            ("a=relu,relu<input", "the output of layer"),
            ("a=relu,relu<input", "is not used"),
            ("a=conv2x3same,b=relu<a,c=relu<a,add<a+b", "is not used"),
        ]
        for (spec, message) in cases {
            XCTAssertThrowsError(try ModelSpec.build(spec, inputShape: image), spec) { error in
                XCTAssertTrue("\(error)".contains(message), "\(spec): \(error)")
            }
        }
    }

    /// A graph built from nodes, without the spec's checks.
    func testModelChecksItsGraph() throws {
        let image = Shape(height: 4, width: 4, channels: 2)
        let relu = ReLU(inputShape: image)
        func build(_ nodes: [Node]) -> String {
            do {
                _ = try Model(inputShape: image, nodes: nodes, loss: .meanSquaredError)
                return ""
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(build([Node(relu, inputs: [-1], name: "a"), Node(Add(inputShape: image), inputs: [0, -1], name: "s")]), "")
        XCTAssertTrue(build([Node(relu, inputs: [1], name: "a"), Node(relu, inputs: [0], name: "b")]).contains("does not come before it"))
        XCTAssertTrue(build([Node(relu, inputs: [0], name: "a")]).contains("does not come before it"))
        XCTAssertTrue(build([Node(relu, inputs: [-1, -1], name: "a")]).contains("takes one input, it is given 2"))
        XCTAssertTrue(build([Node(relu, inputs: [], name: "a")]).contains("takes one input, it is given 0"))
        let pooled = try MaxPool2D(inputShape: image, size: 2)
        XCTAssertTrue(build([Node(pooled, inputs: [-1], name: "p"), Node(Add(inputShape: image), inputs: [0, -1], name: "s")])
            .contains("expects (None, 4, 4, 2), gets (None, 2, 2, 2) from p"))
        XCTAssertTrue(build([Node(relu, inputs: [-1], name: "a"), Node(relu, inputs: [-1], name: "b")]).contains("the output of layer a is not used"))
    }

    /// Deep Learning with Python's convnet: Keras reports 3,453,121 parameters, all trainable.
    func testDLWPConvnetIsTheKerasModel() throws {
        let model = try ModelSpec.build("dlwp-convnet", inputShape: Shape(height: 150, width: 150, channels: 3))
        XCTAssertEqual(model.parameterCount, 3_453_121)
        XCTAssertEqual(model.layout.trainableCount, 3_453_121)
        XCTAssertEqual(model.loss, .binaryCrossEntropy)
        XCTAssertEqual(model.layers[12].outputShape, Shape([6272]))
        XCTAssertEqual((model.layers[13] as? Dropout)?.rate, 0.5)
    }

    /// keras.io's mini-Xception at 180x180x3, counted with Keras's formulas:
    /// Conv2D k·k·Cin·F + F; SeparableConv2D k·k·Cin + Cin·F + F; BatchNormalization 4·C (2·C trainable);
    /// Dense in·units + units.
    func testMiniXceptionParameterCounts() throws {
        let model = try ModelSpec.build("mini-xception", inputShape: Shape(height: 180, width: 180, channels: 3))
        let entry = 3 * 3 * 3 * 128 + 128                          // conv128x3s2: 3,584; 180 → 90
        func separable(_ cin: Int, _ f: Int) -> Int { 3 * 3 * cin + cin * f + f }
        func shortcut(_ cin: Int, _ f: Int) -> Int { cin * f + f }  // 1x1 stride 2
        let block1 = separable(128, 256) + separable(256, 256) + shortcut(128, 256)  // 34,176 + 68,096 + 33,024; 90 → 45
        let block2 = separable(256, 512) + separable(512, 512) + shortcut(256, 512)  // 133,888 + 267,264 + 131,584; 45 → 23
        let block3 = separable(512, 728) + separable(728, 728) + shortcut(512, 728)  // 378,072 + 537,264 + 373,464; 23 → 12
        let exit = separable(728, 1024) + 1024 + 1                 // 753,048 + dense 1,025
        // Batch norm channels: 128, then two per block, then 1024: 4,144 channels.
        let normChannels = 128 + 2 * 256 + 2 * 512 + 2 * 728 + 1024
        XCTAssertEqual(normChannels, 4_144)
        let trainable = entry + block1 + block2 + block3 + exit + 2 * normChannels
        let nonTrainable = 2 * normChannels
        XCTAssertEqual(trainable, 2_722_777)
        XCTAssertEqual(nonTrainable, 8_288)
        XCTAssertEqual(model.layout.trainableCount, trainable)
        XCTAssertEqual(model.parameterCount - model.layout.trainableCount, nonTrainable)
        XCTAssertEqual(model.parameterCount, 2_731_065)
        XCTAssertEqual(model.layout.movingAverages.count, 2 * 8)
        XCTAssertEqual(model.outputShape, Shape([1]))
        XCTAssertEqual(model.loss, .binaryCrossEntropy)
        let adds = model.nodes.filter { $0.layer is Add }
        XCTAssertEqual(adds.map(\.layer.outputShape), [Shape([45, 45, 256]), Shape([23, 23, 512]), Shape([12, 12, 728])])
        XCTAssertEqual(model.nodes.first { $0.layer is GlobalAveragePool2D }?.layer.inputShape, Shape([12, 12, 1024]))
    }

    /// Initial values: unit gammas and moving variances, zero betas and moving means.
    func testBatchNormInitialValues() throws {
        let model = try ModelSpec.build("conv3x3,batchnorm,gap,dense1-sigmoid", inputShape: Shape(height: 5, width: 5, channels: 1))
        let p = model.initialParameters(seed: 3)
        let names = model.layout.entries.filter { $0.layerIndex == 1 }.map(\.name)
        XCTAssertEqual(names, ["batch_normalization_1.gamma", "batch_normalization_1.beta", "batch_normalization_1.moving_mean", "batch_normalization_1.moving_variance"])
        XCTAssertEqual(names.map { Array(p[model.layout.entry(named: $0)!.range]) }, [[1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]])
    }

    func testGraphSummaryShowsSourcesAndNonTrainableParams() throws {
        let model = try ModelSpec.build("c=conv4x3same-relu,batchnorm,p=maxpool2,s=conv4x1s2<c,add<p+s,gap,dense1-sigmoid",
                                        inputShape: Shape(height: 6, width: 6, channels: 1))
        let text = model.summary(name: "residual")
        XCTAssertTrue(text.contains("Connected to"), text)
        let add = try XCTUnwrap(model.nodes.firstIndex { $0.layer is Add })
        let sources = model.nodes[add].inputs.map { model.nodes[$0].name }.joined(separator: ", ")
        let row = try XCTUnwrap(text.split(separator: "\n").first { $0.contains("(Add)") }, text)
        XCTAssertTrue(row.hasSuffix(sources), "\(row) should end in \(sources)")
        XCTAssertTrue(text.split(separator: "\n").contains { $0.contains("(Conv2D)") && $0.hasSuffix(" input") }, text)
        // conv 40 + batchnorm 16 + shortcut 20 + dense 5 = 81, of which the 8 moving statistics are not trainable.
        XCTAssertTrue(text.contains("Total params: 81 "), text)
        XCTAssertTrue(text.contains("Trainable params: 73 "), text)
        XCTAssertTrue(text.contains("Non-trainable params: 8 "), text)
        // A chain keeps the three columns.
        XCTAssertFalse(try ModelSpec.build("seed-cnn", inputShape: mnist).summary(name: "seed-cnn").contains("Connected to"))
    }
}
