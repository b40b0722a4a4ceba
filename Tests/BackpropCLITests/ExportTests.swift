import Foundation
import XCTest

/// `backprop export`: each preset, trained briefly, gives onnxruntime's and PyTorch's probabilities
/// equal to `backprop predict --json`'s within 1e-5 on 50 images (scripts/export-check.py, which also
/// runs onnx.checker); bad input is one line, exit 1, and no file.
final class ExportTests: XCTestCase {
    func testEveryPresetExportsWithBackpropsPredictions() throws {
        let python = try pythonWith(["onnx", "onnxruntime", "PIL", "numpy"])
        let torch = run(python, ["-c", "import torch, safetensors"]).status == 0
        if !torch { print("ExportTests: python has no torch; checking the ONNX exports only") }
        let root = try temporaryDirectory(self)
        let cases: [(model: String, size: Int, rgb: Bool, classes: Int, extra: [String])] = [
            ("seed-cnn", 28, false, 2, []),
            ("mnist-cnn", 28, false, 10, []),
            ("large-cnn", 28, false, 10, []),
            ("dlwp-convnet", 48, true, 2, []),
            ("mini-xception", 32, true, 2, []),
        ]
        for (model, size, rgb, classes, extra) in cases {
            let folder = root + "/\(model)-data"
            try writeImages(python, to: folder, size: size, rgb: rgb, classes: classes)
            let run = root + "/\(model)"
            assertSucceeded(backprop(["train", "--model", model, "--data", "folder:" + folder, "--image-size", "\(size)x\(size)",
                                      "--color", rgb ? "rgb" : "grayscale", "--epochs", "1", "--batch-size", "16", "--microbatch", "8",
                                      "--run-dir", run, "--quiet"] + extra, timeout: 300))
            let onnx = root + "/\(model).onnx", pytorch = root + "/\(model)-pytorch"
            assertSucceeded(backprop(["export", "--checkpoint", run, "--onnx", onnx]))
            assertSucceeded(backprop(["export", "--checkpoint", run, "--pytorch", pytorch]))
            let predicted = backprop(["predict", "--checkpoint", run, "--json", folder + "/predict"])
            assertSucceeded(predicted)
            let predictions = root + "/\(model).jsonl"
            try predicted.stdout.write(toFile: predictions, atomically: true, encoding: .utf8)
            XCTAssertEqual(nonEmptyLines(predicted.stdout).count, 50, predicted.stdout)
            let check = self.run(python, [repositoryScript("export-check.py"), predictions, "--onnx", onnx]
                                 + (torch ? ["--pytorch", pytorch] : []))
            XCTAssertEqual(check.status, 0, "\(model): \(check.output)")
            XCTAssertTrue(check.output.contains("onnxruntime: largest difference"), check.output)
            print("ExportTests \(model): \(check.output.split(separator: "\n").joined(separator: "; "))")
        }
    }

    func testTheONNXFileCarriesTheClassesAndImageFormat() throws {
        let python = try pythonWith(["onnx", "PIL", "numpy"])
        let root = try temporaryDirectory(self)
        try writeImages(python, to: root + "/pets", size: 20, rgb: true, classes: 2)
        assertSucceeded(backprop(["train", "--data", "folder:" + root + "/pets", "--image-size", "20x20", "--color", "rgb",
                                  "--epochs", "1", "--run-dir", root + "/run", "--quiet"]))
        assertSucceeded(backprop(["export", "--checkpoint", root + "/run", "--onnx", root + "/m.onnx"]))
        let read = run(python, ["-c", """
            import onnx, json
            m = onnx.load("\(root)/m.onnx")
            props = {p.key: p.value for p in m.metadata_props}
            print(json.dumps({"opset": m.opset_import[0].version, "classes": json.loads(props["class_names"]),
                              "size": props["image_size"], "color": props["color"], "layout": props["input_layout"],
                              "input": [d.dim_value or d.dim_param for d in m.graph.input[0].type.tensor_type.shape.dim]}))
            """])
        XCTAssertEqual(read.status, 0, read.output)
        let info = try jsonObject(read.output)
        XCTAssertEqual(info["opset"] as? Int, 13)
        XCTAssertEqual(info["classes"] as? [String], ["class0", "class1"])
        XCTAssertEqual(info["size"] as? String, "20x20")
        XCTAssertEqual(info["color"] as? String, "rgb")
        XCTAssertEqual(info["layout"] as? String, "NHWC")
        XCTAssertEqual(info["input"] as? [AnyHashable], ["N", 20, 20, 3])
    }

    func testBadInputIsOneLineAndWritesNothing() throws {
        let root = try temporaryDirectory(self)
        assertSucceeded(backprop(["train", "--train-limit", "200", "--test-limit", "50", "--epochs", "1", "--run-dir", root + "/run", "--quiet"]))

        assertOneLineError(backprop(["export", "--checkpoint", root + "/missing.safetensors", "--onnx", root + "/a.onnx"]), mentions: ["missing.safetensors", "no such file"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/a.onnx"))

        try Data("not a checkpoint at all".utf8).write(to: URL(fileURLWithPath: root + "/foreign.safetensors"))
        let foreign = backprop(["export", "--checkpoint", root + "/foreign.safetensors", "--onnx", root + "/b.onnx"])
        assertOneLineError(foreign, mentions: ["foreign.safetensors"])
        XCTAssertEqual(foreign.status, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/b.onnx"))

        try Data("keep me".utf8).write(to: URL(fileURLWithPath: root + "/c.onnx"))
        let existing = backprop(["export", "--checkpoint", root + "/run", "--onnx", root + "/c.onnx"])
        assertOneLineError(existing, mentions: ["c.onnx", "exists", "--force"])
        XCTAssertEqual(existing.status, 1)
        XCTAssertEqual(try text(of: root + "/c.onnx"), "keep me")
        assertSucceeded(backprop(["export", "--checkpoint", root + "/run", "--onnx", root + "/c.onnx", "--force"]))
        XCTAssertNotEqual(try text(of: root + "/c.onnx"), "keep me")

        try FileManager.default.createDirectory(atPath: root + "/pt", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/pt/model.py"))
        assertOneLineError(backprop(["export", "--checkpoint", root + "/run", "--pytorch", root + "/pt"]), mentions: ["model.py", "exists"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/pt/model.safetensors"))
        assertUsageError(backprop(["export", "--checkpoint", root + "/run"]), naming: "--onnx")
        let left = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.contains(".tmp-") }
        XCTAssertEqual(left, [], "a temporary file was left")
    }

    // MARK: - Helpers

    /// `BACKPROP_PYTHON` or python3, if it imports `modules`; skips the test with a note otherwise.
    private func pythonWith(_ modules: [String]) throws -> String {
        let python = ProcessInfo.processInfo.environment["BACKPROP_PYTHON"] ?? "python3"
        let probe = run(python, ["-c", "import " + modules.joined(separator: ", ")])
        guard probe.status == 0 else {
            throw XCTSkip("export checks skipped: \(python) cannot import \(modules.joined(separator: ", ")) (scripts/setup --tests installs onnx and onnxruntime): \(probe.output.split(separator: "\n").last ?? "")")
        }
        return python
    }

    /// PNG images of `size`x`size`: `classes` class folders of 8 for training, and 50 in `predict/`, all random pixels.
    private func writeImages(_ python: String, to folder: String, size: Int, rgb: Bool, classes: Int) throws {
        let script = """
            import os, random
            from PIL import Image
            r = random.Random(\(size * 7 + classes))
            mode, depth = ("RGB", 3) if \(rgb ? "True" : "False") else ("L", 1)
            def image(path):
                pixels = bytes(r.randrange(256) for _ in range(\(size) * \(size) * depth))
                Image.frombytes(mode, (\(size), \(size)), pixels).save(path)
            for c in range(\(classes)):
                os.makedirs(f"{root}/train/class{c}", exist_ok=True)
                os.makedirs(f"{root}/test/class{c}", exist_ok=True)
                for i in range(8):
                    image(f"{root}/train/class{c}/{i}.png")
                image(f"{root}/test/class{c}/0.png")
            os.makedirs(f"{root}/predict", exist_ok=True)
            for i in range(50):
                image(f"{root}/predict/{i:02d}.png")
            """
        let result = run(python, ["-c", "root = \"\(folder)\"\n" + script])
        XCTAssertEqual(result.status, 0, result.output)
    }

    private func repositoryScript(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/" + name).path
    }

    /// Runs `executable` (looked up on PATH) with `arguments`; stdout and stderr together.
    private func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let output = (NSTemporaryDirectory() as NSString).appendingPathComponent("export-test-\(UUID().uuidString).out")
        FileManager.default.createFile(atPath: output, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: output) }
        guard let handle = FileHandle(forWritingAtPath: output) else { return (-1, "cannot open \(output)") }
        process.standardOutput = handle
        process.standardError = handle
        do { try process.run() } catch { return (-1, "\(error)") }
        process.waitUntilExit()
        try? handle.close()
        return (process.terminationStatus, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }
}
