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
}
