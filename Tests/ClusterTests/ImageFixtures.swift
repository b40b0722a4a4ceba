import Foundation
import XCTest

/// A folder of JPEG and PNG images, two classes (a yellow disc, a blue bar) in `images/train` and
/// `images/test`, written by Pillow at `width` x `height`; returns its parent directory, removed after the test.
func writeTwoClassImages(_ test: XCTestCase, width: Int = 30, height: Int = 26, trainPerClass: Int = 120) throws -> String {
    let root = NSTemporaryDirectory() + "backprop-folder-cluster-" + UUID().uuidString
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    let script = """
        import os, random
        from PIL import Image, ImageDraw
        r = random.Random(2)
        w, h = \(width), \(height)
        for split, n in (("train", \(trainPerClass)), ("test", 20)):
            for label, shape in enumerate(("disc", "bar")):
                os.makedirs(f"images/{split}/{shape}", exist_ok=True)
                for i in range(n):
                    im = Image.new("RGB", (w, h), tuple(r.randrange(80) for _ in range(3)))
                    d = ImageDraw.Draw(im)
                    s = max(4, min(w, h) // 2)
                    x, y = r.randrange(2, w - s), r.randrange(2, h - s)
                    if shape == "disc": d.ellipse([x, y, x + s, y + s], fill=(240, 200, 40))
                    else: d.rectangle([x, y, x + s // 3, y + s], fill=(40, 120, 240))
                    im.save(f"images/{split}/{shape}/{i}." + ("jpg" if i % 3 else "png"))
        """
    let python = Process()
    python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    python.arguments = ["python3", "-c", script]
    python.currentDirectoryURL = URL(fileURLWithPath: root)
    try python.run()
    python.waitUntilExit()
    XCTAssertEqual(python.terminationStatus, 0, "python3 with Pillow could not write the images (scripts/setup --tests)")
    return root
}
