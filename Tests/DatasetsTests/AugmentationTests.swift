import Datasets
import XCTest

final class AugmentationTests: XCTestCase {
    /// One 3x4 RGB image whose value at (y, x, c) is 100y + 10x + c, and a second one of zeros.
    private let set: ImageSet = {
        var pixels = [UInt8](repeating: 0, count: 72)
        for y in 0..<3 {
            for x in 0..<4 {
                for c in 0..<3 { pixels[(y * 4 + x) * 3 + c] = UInt8(100 * y + 10 * x + c) }
            }
        }
        return ImageSet(height: 3, width: 4, channels: 3, classCount: 2, pixels: pixels, labels: [1, 0])
    }()

    func testParsesTheFlag() {
        XCTAssertEqual(Augmentation(parsing: "flip"), Augmentation(flip: true))
        XCTAssertEqual(Augmentation(parsing: "crop"), Augmentation(maximumShift: 2))
        XCTAssertEqual(Augmentation(parsing: "crop,flip"), Augmentation(flip: true, maximumShift: 2))
        XCTAssertEqual(Augmentation(parsing: "none"), Augmentation())
        for bad in ["", "flip,", "rotate", "flip,none", "FLIP"] {
            XCTAssertNil(Augmentation(parsing: bad), bad)
        }
    }

    func testDrawsDependOnlyOnSeedEpochAndSample() {
        let augmentation = Augmentation(flip: true, maximumShift: 2)
        var draws: [String: Int] = [:]
        for epoch in 0..<4 {
            for sample in 0..<200 {
                let a = augmentation.draw(seed: 9, epoch: epoch, sample: sample)
                let b = augmentation.draw(seed: 9, epoch: epoch, sample: sample)
                XCTAssertTrue(a == b)
                XCTAssertTrue((-2...2).contains(a.dx) && (-2...2).contains(a.dy))
                draws["\(a.flip) \(a.dx) \(a.dy)", default: 0] += 1
            }
        }
        // 800 draws of 2 x 5 x 5 = 50 outcomes: each one turns up, none dominates.
        XCTAssertEqual(draws.count, 50)
        XCTAssertLessThan(draws.values.max() ?? 0, 40)
        XCTAssertFalse((0..<50).allSatisfy { augmentation.draw(seed: 9, epoch: 0, sample: $0) == augmentation.draw(seed: 10, epoch: 0, sample: $0) })
        XCTAssertFalse((0..<50).allSatisfy { augmentation.draw(seed: 9, epoch: 0, sample: $0) == augmentation.draw(seed: 9, epoch: 1, sample: $0) })
    }

    func testGatherFlipsAndShiftsWithNearestEdgeFill() {
        let augmentation = Augmentation(flip: true, maximumShift: 2)
        var images = [Float](repeating: -1, count: 36)
        var labels = [Int32](repeating: -1, count: 1)
        // Find a draw that flips and shifts both ways, and check every value against the formula.
        let epoch = (0..<500).first { epoch in
            let d = augmentation.draw(seed: 3, epoch: epoch, sample: 0)
            return d.flip && d.dx != 0 && d.dy != 0
        }!
        let d = augmentation.draw(seed: 3, epoch: epoch, sample: 0)
        set.gather([0], augmentation: augmentation, seed: 3, epoch: epoch, images: &images, labels: &labels)
        XCTAssertEqual(labels, [1])
        for y in 0..<3 {
            for x in 0..<4 {
                let sourceY = min(max(y - d.dy, 0), 2)
                let sourceX = min(max(3 - x - d.dx, 0), 3)
                for c in 0..<3 {
                    XCTAssertEqual(images[(y * 4 + x) * 3 + c], Float(100 * sourceY + 10 * sourceX + c) / 255, "(\(y), \(x), \(c)) of \(d)")
                }
            }
        }
    }

    func testNoAugmentationIsThePlainGather() {
        var plain = [Float](repeating: 0, count: 72), same = [Float](repeating: 0, count: 72)
        var labels = [Int32](repeating: 0, count: 2)
        set.gather([1, 0], images: &plain, labels: &labels)
        set.gather([1, 0], augmentation: Augmentation(), seed: 1, epoch: 5, images: &same, labels: &labels)
        XCTAssertEqual(plain, same)
    }
}
