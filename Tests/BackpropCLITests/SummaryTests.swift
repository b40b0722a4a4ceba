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

    func testTheInputIsHxWAndAColourAsInTrain() {
        // 10x10x3 -> conv 8x8x32 (3*3*3*32 + 32 = 896) -> pool 4x4x32 = 512 -> dense1 (513).
        for args in [["--input", "10x10", "--color", "rgb"], ["--input", "10x10x3"], ["--input", "10x10x3", "--color", "rgb"]] {
            let result = backprop(["summary", "--model", "seed-cnn"] + args)
            assertSucceeded(result)
            XCTAssertTrue(result.stdout.contains("Total params: 1,409 "), "\(args): \(result.stdout)")
        }
        let gray = backprop(["summary", "--input", "10x10", "--color", "grayscale"])
        XCTAssertTrue(gray.stdout.contains("Total params: 833 "), gray.stdout)
        XCTAssertTrue(backprop(["summary", "--input", "10x10"]).stdout.contains("Total params: 833 "))
        assertUsageError(backprop(["summary", "--input", "10x10x1", "--color", "rgb"]), naming: "--color")
        assertUsageError(backprop(["summary", "--input", "10x10", "--color", "blue"]), naming: "--color")
    }

    func testAPresetIsDescribedForANewcomer() {
        let result = backprop(["summary", "--model", "seed-cnn"])
        let about = nonEmptyLines(result.stdout).last ?? ""
        XCTAssertTrue(about.hasPrefix("seed-cnn: conv32x3-relu,maxpool2,flatten,dense1-sigmoid — "), about)
        XCTAssertTrue(about.contains("two classes"), about)
        XCTAssertFalse(about.contains("seed documents"), about)
    }

    func testBadModelsAndShapesFailCleanly() {
        assertOneLineError(backprop(["summary", "--model", "conv32x3-tanh"]), mentions: ["tanh"])
        assertUsageError(backprop(["summary", "--input", "28"]), naming: "--input")
        assertUsageError(backprop(["summary", "--input", "28x28x1x1"]), naming: "--input")
    }

    func testMisspeltPresetsAndLayersSayWhatWasMeant() {
        assertOneLineError(backprop(["summary", "--model", "seed-cn"]), mentions: ["'seed-cn'", "did you mean seed-cnn?"])
        assertOneLineError(backprop(["summary", "--model", "mnist"]), mentions: ["did you mean mnist-cnn?"])
        assertOneLineError(backprop(["summary", "--model", "conv8x3-relu,batchnrom,flatten,dense1-sigmoid"]),
                           mentions: ["unknown layer 'batchnrom'", "did you mean 'batchnorm'?"])
        assertOneLineError(backprop(["train", "--model", "conv8x3-relu,maxpoll2,flatten,dense1-sigmoid", "--epochs", "1"]),
                           mentions: ["unknown layer 'maxpoll2'", "did you mean 'maxpool2'?"])
    }
}
