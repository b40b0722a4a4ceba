import XCTest

final class SummaryTests: XCTestCase {
    func testSeedCNNHas5729Parameters() {
        let result = backprop(["summary", "--model", "seed-cnn"])
        assertSucceeded(result)
        let lines = nonEmptyLines(result.stdout)
        XCTAssertTrue(lines.contains("Total params: 5,729 (22.38 KB)"), result.stdout)
        XCTAssertTrue(lines.contains("Trainable params: 5,729 (22.38 KB)"), result.stdout)
        XCTAssertTrue(lines.contains("Non-trainable params: 0 (0 B)"), result.stdout)
        // 32 3x3 kernels and biases; a dense unit over the 13x13x32 pooled map.
        XCTAssertTrue(lines.contains { $0.contains("conv2d_0 (Conv2D)") && $0.contains("(None, 26, 26, 32)") && $0.hasSuffix(" 320") }, result.stdout)
        XCTAssertTrue(lines.contains { $0.contains("flatten_3 (Flatten)") && $0.contains("(None, 5408)") }, result.stdout)
        XCTAssertTrue(lines.contains { $0.contains("dense_4 (Dense)") && $0.hasSuffix(" 5,409") }, result.stdout)
    }

    func testTheDefaultModelIsSeedCNNAndMNISTCNNHasTenOutputs() {
        XCTAssertTrue(backprop(["summary"]).stdout.contains("Total params: 5,729 "))
        let mnist = backprop(["summary", "--model", "mnist-cnn"])
        assertSucceeded(mnist)
        XCTAssertTrue(mnist.stdout.contains("Total params: 54,410 "), mnist.stdout)
    }

    func testTheInputShapeChangesTheCounts() {
        // 10x10x1 -> conv 8x8x32 -> pool 4x4x32 = 512 -> dense1: 320 + 513.
        let result = backprop(["summary", "--model", "seed-cnn", "--input", "10x10x1"])
        assertSucceeded(result)
        XCTAssertTrue(result.stdout.contains("Total params: 833 "), result.stdout)
    }

    func testBadModelsAndShapesFailCleanly() {
        assertOneLineError(backprop(["summary", "--model", "conv32x3-tanh"]), mentions: ["tanh"])
        assertUsageError(backprop(["summary", "--input", "28x28"]), naming: "--input")
    }
}
