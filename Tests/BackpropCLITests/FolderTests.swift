import Foundation
import XCTest

/// `--data folder:DIR` end to end: train, the same bits with any --threads, predict and evaluate.
final class FolderTests: XCTestCase {
    /// Writes `train/` and `test/` folders of circles and squares with Pillow, and one file that is not an image.
    private func writeShapes(_ root: String) throws {
        let script = """
            import os, random
            from PIL import Image, ImageDraw
            r = random.Random(5)
            for split, n in (("train", 48), ("test", 12)):
                for shape in ("circle", "square"):
                    os.makedirs(f"shapes/{split}/{shape}", exist_ok=True)
                    for i in range(n):
                        im = Image.new("RGB", (40, 32), (r.randrange(60), r.randrange(60), r.randrange(60)))
                        d = ImageDraw.Draw(im)
                        x, y, s = r.randrange(4, 18), r.randrange(4, 12), r.randrange(10, 16)
                        color = (230, 230, 230) if shape == "circle" else (40, 40, 200)
                        (d.ellipse if shape == "circle" else d.rectangle)([x, y, x + s, y + s], fill=color)
                        im.save(f"shapes/{split}/{shape}/{i}." + ("png" if i % 2 else "jpg"))
            open("shapes/train/circle/broken.jpg", "w").write("not really a JPEG")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "python3 with Pillow could not write the images (scripts/setup --tests installs Pillow)")
    }

    func testTrainingFromAFolderIsExactAcrossThreadsAndPredicts() throws {
        let root = try temporaryDirectory(self)
        try writeShapes(root)
        let data = "folder:" + root + "/shapes"
        let common = ["train", "--data", data, "--epochs", "3", "--lr", "0.01", "--batch-size", "16", "--microbatch", "4",
                      "--validation-split", "0.2", "--seed", "3", "--quiet"]
        let one = backprop(common + ["--run-dir", root + "/one"])
        assertSucceeded(one)
        XCTAssertTrue(one.stderr.contains("2 classes (circle, square)"), one.stderr)
        XCTAssertTrue(one.stderr.contains("skipped 1 of 121 files that could not be decoded: train/circle/broken.jpg: not a JPEG or PNG file"), one.stderr)
        let two = backprop(common + ["--run-dir", root + "/two", "--threads", "2"])
        assertSucceeded(two)
        XCTAssertEqual(try bytes(of: root + "/one/checkpoint.safetensors"), try bytes(of: root + "/two/checkpoint.safetensors"),
                       "--threads 2 changed the weights")

        let (header, _) = try safetensorsParts(bytes(of: root + "/one/checkpoint.safetensors"))
        let metadata = try XCTUnwrap(header["__metadata__"] as? [String: String])
        XCTAssertEqual(metadata["class_names"], #"["circle","square"]"#)
        XCTAssertEqual(metadata["image_size"], "28x28")
        XCTAssertEqual(metadata["color"], "grayscale")
        let config = try jsonObject(text(of: root + "/one/config.json"))
        XCTAssertTrue((config["decoder"] as? String)?.hasPrefix("libjpeg-turbo ") ?? false, "\(config)")

        let predicted = backprop(["predict", "--checkpoint", root + "/one", root + "/shapes/test"])
        assertSucceeded(predicted)
        let lines = nonEmptyLines(predicted.stdout)
        XCTAssertEqual(lines.count, 24)
        let right = lines.filter { line in
            line.contains("/test/circle/") && line.contains(": circle (") || line.contains("/test/square/") && line.contains(": square (")
        }
        XCTAssertGreaterThan(right.count, 12, "most test images are classified right:\n\(predicted.stdout)")

        let json = backprop(["predict", "--checkpoint", root + "/one/checkpoint.safetensors", "--json",
                             root + "/shapes/test/circle/1.png", root + "/shapes/train/circle/broken.jpg"])
        XCTAssertEqual(json.status, 1, "a file that cannot be decoded makes the exit code 1")
        let objects = try nonEmptyLines(json.stdout).map { try jsonObject($0) }
        XCTAssertEqual(objects.count, 2)
        XCTAssertEqual(objects.first?["file"] as? String, root + "/shapes/test/circle/1.png")
        XCTAssertNotNil(objects.first?["class"] as? String)
        let probability = try XCTUnwrap(objects.first?["probability"] as? Double)
        XCTAssertTrue((0.5...1).contains(probability), "\(probability)")
        XCTAssertTrue((objects.last?["error"] as? String)?.contains("not a JPEG or PNG") ?? false, "\(objects)")

        let evaluated = backprop(["evaluate", "--checkpoint", root + "/one", "--data", data])
        assertSucceeded(evaluated)
        XCTAssertTrue(evaluated.stdout.contains("test: loss"), evaluated.stdout)
        XCTAssertTrue(evaluated.stdout.contains("(24 samples)"), evaluated.stdout)
    }

    func testRGBSizedAugmentedRunsAreExactAcrossThreads() throws {
        let root = try temporaryDirectory(self)
        try writeShapes(root)
        let common = ["train", "--data", "folder:" + root + "/shapes", "--image-size", "20x24", "--color", "rgb",
                      "--augment", "flip,crop", "--model", "conv8x3-relu,maxpool2,flatten,dense1-sigmoid",
                      "--epochs", "1", "--batch-size", "16", "--microbatch", "4", "--quiet"]
        assertSucceeded(backprop(common + ["--run-dir", root + "/one"]))
        assertSucceeded(backprop(common + ["--run-dir", root + "/three", "--threads", "3"]))
        XCTAssertEqual(try bytes(of: root + "/one/checkpoint.safetensors"), try bytes(of: root + "/three/checkpoint.safetensors"))
        let plain = common.filter { $0 != "--augment" && $0 != "flip,crop" }
        assertSucceeded(backprop(plain + ["--run-dir", root + "/plain"]))
        XCTAssertNotEqual(try bytes(of: root + "/one/checkpoint.safetensors"), try bytes(of: root + "/plain/checkpoint.safetensors"),
                          "--augment changed nothing")
        let predicted = backprop(["predict", "--checkpoint", root + "/one", root + "/shapes/test/square/3.png"])
        assertSucceeded(predicted)
        XCTAssertTrue(predicted.stdout.contains("square (") || predicted.stdout.contains("circle ("), predicted.stdout)
        // evaluate decodes the folder at the size and colour the checkpoint was trained on.
        let evaluated = backprop(["evaluate", "--checkpoint", root + "/one", "--data", "folder:" + root + "/shapes"])
        assertSucceeded(evaluated)
        XCTAssertTrue(evaluated.stdout.contains("(24 samples)"), evaluated.stdout)
    }

    func testFoldersThatCannotTrainFailWithOneLine() throws {
        let root = try temporaryDirectory(self)
        try FileManager.default.createDirectory(atPath: root + "/one/cats", withIntermediateDirectories: true)
        assertOneLineError(backprop(["train", "--data", "folder:" + root + "/one", "--epochs", "1"]),
                           mentions: ["only one class (cats)"])
        assertOneLineError(backprop(["train", "--data", "folder:" + root + "/missing", "--epochs", "1"]),
                           mentions: ["missing: no such directory"])
        let sized = backprop(["train", "--image-size", "32x32", "--epochs", "1"])
        assertUsageError(sized, naming: "--image-size")
        XCTAssertTrue(sized.stderr.contains("apply to --data folder:DIR only"), sized.stderr)
    }
}
