import Foundation
import XCTest

final class PredictTests: XCTestCase {
    func testACheckpointWithoutClassNamesSaysSoAndHowImagesAreResized() throws {
        let root = try temporaryDirectory(self)
        let run = root + "/run"
        assertSucceeded(backprop(tinyRun(run)))
        // Two 120x120 colour photos; the synthetic run's model reads 28x28 grayscale.
        let script = """
            from PIL import Image
            for i in range(2): Image.new("RGB", (120, 120), (200, 40 * i, 30)).save(f"photo{i}.png")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "python3 with Pillow could not write the images")

        let result = backprop(["predict", "--checkpoint", run, root + "/photo0.png", root + "/photo1.png"])
        assertSucceeded(result)
        let lines = nonEmptyLines(result.stdout)
        XCTAssertEqual(lines.count, 2, result.stdout)
        XCTAssertTrue(lines.allSatisfy { $0.contains(": 0 (") || $0.contains(": 1 (") }, result.stdout)
        let notes = nonEmptyLines(result.stderr)
        XCTAssertEqual(notes, [
            "note: the checkpoint records no class names, so classes are shown by index (0 to 1)",
            "note: images are resized to 28x28 grayscale, as the model was trained",
        ], "each said once, on stderr")
    }
}
