import Foundation
import XCTest

/// `--model FILE`: a Keras-style graph with batch norm, dropout and a residual add trains, its
/// checkpoint evaluates without the file, and each kind of mistake stops before a run directory exists.
final class ModelFileTests: XCTestCase {
    let residual = """
        name: tiny-residual
        layers:
          - {type: Conv2D, filters: 8, kernel_size: 3, strides: 2, padding: same, use_bias: false}
          - {type: BatchNormalization}
          - {type: ReLU, name: stem}
          - {type: SeparableConv2D, filters: 8, kernel_size: 3, padding: same}
          - {type: BatchNormalization, name: main}
          - {type: Add, inputs: [main, stem]}
          - {type: MaxPooling2D, pool_size: 3, strides: 2, padding: same}
          - {type: GlobalAveragePooling2D}
          - {type: Dropout, rate: 0.25}
          - {type: Dense, units: 1, activation: sigmoid}
        """

    func testAModelFileTrainsAndItsCheckpointEvaluatesWithoutIt() throws {
        let root = try temporaryDirectory(self)
        let model = root + "/tiny.yaml"
        try residual.write(toFile: model, atomically: true, encoding: .utf8)
        let run = root + "/run"
        assertSucceeded(backprop(["train", "--model", model, "--train-limit", "800", "--test-limit", "200", "--epochs", "2",
                                  "--batch-size", "32", "--microbatch", "8", "--run-dir", run, "--quiet"]))
        let config = try jsonObject(text(of: run + "/config.json"))
        XCTAssertEqual(config["model"] as? String, model)
        try FileManager.default.removeItem(atPath: model)
        let evaluated = backprop(["evaluate", "--checkpoint", run + "/checkpoint.safetensors", "--test-limit", "200", "--json"])
        assertSucceeded(evaluated)
        let figures = try jsonObject(evaluated.stdout)
        let summary = try jsonObject(text(of: run + "/summary.json"))
        // Evaluation uses the moving statistics, as the run's own test did: the same loss.
        XCTAssertEqual(figures["loss"] as? Double ?? -1, summary["test_loss"] as? Double ?? -2, accuracy: 1e-9, evaluated.stdout)
    }

    func testSummaryShowsTheGraph() throws {
        let root = try temporaryDirectory(self)
        try residual.write(toFile: root + "/tiny.yaml", atomically: true, encoding: .utf8)
        let result = backprop(["summary", "--model", root + "/tiny.yaml", "--input", "32x32x3"])
        assertSucceeded(result)
        let lines = nonEmptyLines(result.stdout)
        XCTAssertTrue(lines.contains { $0.contains("Connected to") }, result.stdout)
        // 3x3x3x8 kernel, no bias; batch norm 4 x 8 (2 x 8 of them moving statistics); sepconv 9x8 + 8x8 + 8; batch norm 32 again; dense 8 + 1: 433.
        XCTAssertTrue(lines.contains { $0.hasPrefix(" add_") && $0.contains("main, stem") }, result.stdout)
        XCTAssertTrue(lines.contains("Total params: 433 (1.69 KB)"), result.stdout)
        XCTAssertTrue(lines.contains("Non-trainable params: 32 (128 B)"), result.stdout)
    }

    func testAJSONModelFileWorksToo() throws {
        let root = try temporaryDirectory(self)
        let json = #"{"layers": [{"type": "Flatten"}, {"type": "Dropout", "rate": 0.5}, {"type": "Dense", "units": 1, "activation": "sigmoid"}]}"#
        try json.write(toFile: root + "/m.json", atomically: true, encoding: .utf8)
        let result = backprop(["summary", "--model", root + "/m.json"])
        assertSucceeded(result)
        XCTAssertTrue(result.stdout.contains("Total params: 785 "), result.stdout)
    }

    func testEveryMistakeIsOneLineAndLeavesNoRunDirectory() throws {
        let root = try temporaryDirectory(self)
        let layersAfterStem = "  - {type: GlobalAveragePooling2D}\n  - {type: Dense, units: 1, activation: sigmoid}\n"
        let cases: [(String, String, [String])] = [
            ("unknown-type", "layers:\n  - {type: Conv3D, filters: 2, kernel_size: 3}\n" + layersAfterStem, ["layer 1", "unknown layer type 'Conv3D'"]),
            ("unknown-option", "layers:\n  - {type: Conv2D, filters: 2, kernel: 3}\n" + layersAfterStem, ["layer 1", "kernel"]),
            ("missing-input", "layers:\n  - {type: Conv2D, filters: 2, kernel_size: 3, name: a}\n  - {type: Add, inputs: [a, b]}\n" + layersAfterStem,
             ["layer 2", "reads 'b'", "no layer has that name"]),
            ("cycle", "layers:\n  - {type: ReLU, name: a, input: b}\n  - {type: ReLU, name: b, input: a}\n  - {type: Flatten}\n  - {type: Dense, units: 1, activation: sigmoid}\n",
             ["cycle", "1 (a)", "2 (b)"]),
            ("add-shapes", "layers:\n  - {type: Conv2D, filters: 2, kernel_size: 3, name: a}\n  - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, name: b}\n  - {type: Add, inputs: [a, b]}\n" + layersAfterStem,
             ["add", "(None, 26, 26, 2)", "(None, 26, 26, 4)"]),
            ("dropout-rate", "layers:\n  - {type: Flatten}\n  - {type: Dropout, rate: 1.0}\n  - {type: Dense, units: 1, activation: sigmoid}\n", ["layer 2", "Dropout rate must be in [0, 1)"]),
            ("pool-too-big", "layers:\n  - {type: MaxPooling2D, pool_size: 40}\n" + layersAfterStem, ["maxpool", "window 40", "does not fit"]),
            ("stride-too-big", "layers:\n  - {type: Conv2D, filters: 2, kernel_size: 30, strides: 2}\n" + layersAfterStem, ["conv2d", "larger than its input"]),
            ("malformed", "layers:\n  - {type: Conv2D, filters: 2\n", ["not valid YAML or JSON"]),
        ]
        for (name, text, mentions) in cases {
            let file = root + "/\(name).yaml"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let run = root + "/run-\(name)"
            let result = backprop(["train", "--model", file, "--epochs", "1", "--train-limit", "100", "--run-dir", run])
            assertOneLineError(result, mentions: mentions)
            XCTAssertEqual(result.status, 1, "\(name): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: run), "\(name): a run directory was left")
        }
        let missing = backprop(["train", "--model", root + "/nope.yaml", "--run-dir", root + "/run-nope"])
        assertOneLineError(missing, mentions: ["nope.yaml", "cannot read"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/run-nope"))
    }
}
