import Foundation
import XCTest

/// Image files for the folder tests, written by Python's Pillow: an encoder independent of the
/// libraries Backprop decodes with.
enum ImageFixtures {
    /// Python prelude: imports and `rgb(w, h, seed)`, a smooth RGB test picture with some noise,
    /// and `save_raw(image, path)`, which writes an image's bytes for the tests to compare with.
    static let prelude = """
        import os, sys
        import numpy as np
        from PIL import Image
        def rgb(w, h, seed):
            r = np.random.default_rng(seed)
            y, x = np.mgrid[0:h, 0:w]
            a = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 127 // max(w + h - 2, 1)], -1)
            a = a + r.integers(-40, 40, size=(h, w, 3))
            return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
        def solid(w, h, value):
            return Image.new("RGB", (w, h), (value, value, value))
        def save_raw(image, path):
            open(path, "wb").write(np.asarray(image).astype(np.uint8).tobytes())
        def mkdirs(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        """

    /// Runs `script` (after `prelude`) with Python 3 in `directory`; throws with its output when it fails.
    static func run(_ script: String, in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", prelude + "\n" + script]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureError(description: "python3 failed (is Pillow installed? scripts/setup --tests): \(text)")
        }
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
    }
}

extension XCTestCase {
    /// The bytes of `name` in `directory`.
    func bytes(_ directory: String, _ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
    }
}
