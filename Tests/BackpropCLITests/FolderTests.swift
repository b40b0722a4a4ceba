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
        try python(script, in: root)
    }

    /// Runs a Python 3 `script` in `root`, with `image(path)` defined: writes a small RGB picture at `path`, making its folders.
    private func python(_ script: String, in root: String) throws {
        let prelude = """
            import os, random
            from PIL import Image
            def image(path, size=(40, 32)):
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
                Image.new("RGB", size, (random.randrange(256), random.randrange(256), random.randrange(256))).save(path)

            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", prelude + script]
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "python3 with Pillow could not write the images (scripts/setup --tests installs Pillow)")
    }

    /// Asserts a failed run whose last stderr line (after any decoding progress) is an error mentioning every phrase.
    private func assertFails(_ result: (status: Int32, stdout: String, stderr: String), mentioning phrases: [String],
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, "expected failure; stdout:\n\(result.stdout)", file: file, line: line)
        let last = nonEmptyLines(result.stderr).last ?? ""
        XCTAssertTrue(last.hasPrefix("error: "), "the last stderr line is not an error: \(result.stderr)", file: file, line: line)
        for phrase in phrases {
            XCTAssertTrue(last.contains(phrase), "the error does not mention \(phrase.debugDescription): \(last)", file: file, line: line)
        }
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
        XCTAssertEqual(nonEmptyLines(predicted.stderr), ["note: images are resized to 28x28 grayscale, as the model was trained"],
                       "the checkpoint names its classes; only the resizing is said")

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

    // MARK: - Evaluating a folder run

    func testEvaluateDefaultsToTheCheckpointsDataSizeAndColour() throws {
        let root = try temporaryDirectory(self)
        try writeShapes(root)
        // Trained from root on a relative folder, at 20x24 RGB.
        assertSucceeded(backprop(["train", "--data", "folder:shapes", "--image-size", "20x24", "--color", "rgb",
                                  "--model", "conv8x3-relu,maxpool2,flatten,dense1-sigmoid", "--epochs", "1", "--batch-size", "16",
                                  "--microbatch", "4", "--run-dir", "run", "--quiet"], in: root))
        let evaluated = backprop(["evaluate", "--checkpoint", "run/checkpoint.safetensors"], in: root)
        assertSucceeded(evaluated)
        XCTAssertTrue(evaluated.stdout.hasPrefix("folder:shapes test: loss "), evaluated.stdout)
        XCTAssertTrue(evaluated.stdout.contains("(24 samples)"), evaluated.stdout)

        // Flags given win over the checkpoint's: 28x28 images do not fit a model trained on 20x24.
        assertOneLineError(backprop(["evaluate", "--checkpoint", "run", "--image-size", "28x28"], in: root),
                           mentions: ["checkpoint does not fit the model"])
        assertOneLineError(backprop(["evaluate", "--checkpoint", "run", "--data", "synthetic", "--color", "rgb"], in: root),
                           mentions: ["--image-size and --color apply to folder:DIR data only"])
        // Elsewhere the recorded relative folder is not found: the error says where the data came from.
        assertOneLineError(backprop(["evaluate", "--checkpoint", root + "/run"], in: try temporaryDirectory(self)),
                           mentions: ["no such directory", "trained on --data folder:shapes", "give --data"])
    }

    // MARK: - Folder mistakes

    func testAClassFolderGivenAsTheDataSuggestsTheFolderMeant() throws {
        let root = try temporaryDirectory(self)
        try writeShapes(root)
        try python("""
            for i in range(3): image(f"animals/cat/cat.{i}.png")
            for i in range(3): image(f"animals/dog/dog.{i}.png")
            """, in: root)
        // shapes/train/circle: numbered files, each its own class; shapes/train holds the class folders.
        assertOneLineError(backprop(["train", "--data", "folder:shapes/train/circle", "--epochs", "1"], in: root),
                           mentions: ["no class folders", "each file its own class", "did you mean folder:shapes?"])
        assertOneLineError(backprop(["train", "--data", "folder:" + root + "/shapes/test/square/", "--epochs", "1"]),
                           mentions: ["did you mean folder:\(root)/shapes?"])
        // animals/cat: Kaggle-style names of one class, and no train/ above it.
        assertOneLineError(backprop(["train", "--data", "folder:animals/cat", "--epochs", "1"], in: root),
                           mentions: ["3 image files and no class folders, all of one class (cat)", "did you mean folder:animals?"])
    }

    func testEmptyClassFoldersAreNamed() throws {
        let root = try temporaryDirectory(self)
        try python("""
            os.makedirs("nothing/cats"); os.makedirs("nothing/dogs")
            for c in ("ant", "bee"):
                for i in range(8): image(f"some/{c}/{i}.png")
            os.makedirs("some/wasp")
            """, in: root)
        assertOneLineError(backprop(["train", "--data", "folder:nothing", "--epochs", "1"], in: root),
                           mentions: ["no usable training images", "the class folders cats, dogs hold no JPEG or PNG files"])
        // A class the user did not count: named where the model does not fit, and a model that fits is suggested.
        let empty = backprop(["train", "--data", "folder:some", "--epochs", "1"], in: root)
        assertFails(empty, mentioning: ["has 3 classes (ant, bee, wasp; no images in wasp)",
                                        "try --model conv32x3-relu,maxpool2,flatten,dense3-softmax"])
    }

    func testAModelThatDoesNotFitTheClassesGetsOneThatDoes() throws {
        let root = try temporaryDirectory(self)
        try python("""
            for c in ("a", "b", "c"):
                for i in range(6): image(f"three/{c}/{i}.png")
            """, in: root)
        let suggested = "conv32x3-relu,maxpool2,flatten,dense3-softmax"
        // mnist-cnn has 10 outputs: it is not suggested for 3 classes, least of all after it was given.
        let mnist = backprop(["train", "--data", "folder:three", "--model", "mnist-cnn", "--epochs", "1"], in: root)
        assertFails(mnist, mentioning: ["model mnist-cnn has 10 outputs", "3 classes (a, b, c)", "try --model \(suggested)"])
        XCTAssertFalse(nonEmptyLines(mnist.stderr).last?.contains("try --model mnist-cnn") ?? true, mnist.stderr)
        // The suggestion trains.
        assertSucceeded(backprop(["train", "--data", "folder:three", "--model", suggested, "--epochs", "1",
                                  "--validation-split", "0", "--run-dir", "run", "--quiet"], in: root))
    }

    func testTooFewUsableImagesNameTheSkippedFilesAndClasses() throws {
        let root = try temporaryDirectory(self)
        try python("""
            image("flat/cat.0.png")
            open("flat/cat.1.png", "w").write("not a picture")
            open("flat/dog.0.jpg", "w").write("nor this")
            """, in: root)
        assertFails(backprop(["train", "--data", "folder:flat", "--epochs", "1"], in: root),
                    mentioning: ["validation fraction 0.1 of 1 training image leaves none to train on",
                                 "2 of 3 files could not be decoded", "cat.1.png: not a JPEG or PNG file", "dog.0.jpg: not a JPEG or PNG file",
                                 "classes found: cat, dog (no usable images in dog)"])
    }
}
