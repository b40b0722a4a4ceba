import Datasets
import Foundation
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

    func testParsesRotateAndZoom() {
        XCTAssertEqual(Augmentation(parsing: "rotate:0.1"), Augmentation(maximumRotation: 0.1))
        XCTAssertEqual(Augmentation(parsing: "zoom:0.2"), Augmentation(maximumZoom: 0.2))
        XCTAssertEqual(Augmentation(parsing: "flip,rotate:0.1,zoom:0.2"),
                       Augmentation(flip: true, maximumRotation: 0.1, maximumZoom: 0.2))
        XCTAssertEqual(Augmentation(parsing: "zoom:0.05,crop,rotate:1"),
                       Augmentation(maximumShift: 2, maximumRotation: 1, maximumZoom: 0.05))
        XCTAssertEqual(Augmentation(parsing: "crop,zoom:0.1"), Augmentation(maximumShift: 2, maximumZoom: 0.1))
        XCTAssertEqual(Augmentation(parsing: "rotate:1e-1"), Augmentation(maximumRotation: 0.1))
        let bad = [
            "rotate:", "rotate:0", "rotate:-0.1", "rotate:1.5", "rotate:nan", "rotate:inf", "rotate:0.1x", "rotate: 0.1",
            "rotate:0.1,rotate:0.1", "rotate=0.1", "ROTATE:0.1", "rotation:0.1",
            "zoom", "zoom:", "zoom:0", "zoom:1", "zoom:-0.2", "zoom:nan", "zoom:0.1,zoom:0.2", "zoom:0.1,", "none,zoom:0.1",
        ]
        for text in bad {
            XCTAssertNil(Augmentation(parsing: text), text)
        }
    }

    func testDrawsForFlipAndCropAreThoseOfEarlierVersions() {
        // Written down before rotation and zoom came: runs and checkpoints depend on these exact draws.
        let both: [(Bool, Int, Int)] = [
            (false, 1, 0), (true, 0, 2), (true, 2, 0), (false, -2, -2), (false, -2, -1), (true, 1, -2),
            (false, -1, -2), (true, 1, 0), (true, 1, -1), (false, 0, -2), (true, -2, 1), (true, 0, -2),
        ]
        let shifts: [(Int, Int)] = [(-2, 1), (1, 0), (0, 2), (-2, -2), (-1, -2), (1, 1), (-2, -1), (1, 1), (2, 1), (-1, 0), (1, -2), (2, 0)]
        let flips = [false, true, true, false, false, true, false, true, true, false, true, true]
        for (index, expected) in both.enumerated() {
            for extra in [Augmentation(flip: true, maximumShift: 2), Augmentation(flip: true, maximumShift: 2, maximumRotation: 0.1, maximumZoom: 0.2)] {
                let d = extra.draw(seed: 9, epoch: 3, sample: index)
                XCTAssertTrue(d.flip == expected.0 && d.dx == expected.1 && d.dy == expected.2, "\(index): \(d)")
            }
            let shift = Augmentation(maximumShift: 2, maximumZoom: 0.3).draw(seed: 9, epoch: 3, sample: index)
            XCTAssertTrue(!shift.flip && shift.dx == shifts[index].0 && shift.dy == shifts[index].1, "\(index): \(shift)")
            let flip = Augmentation(flip: true, maximumRotation: 0.5).draw(seed: 9, epoch: 3, sample: index)
            XCTAssertTrue(flip.flip == flips[index] && flip.dx == 0 && flip.dy == 0, "\(index): \(flip)")
        }
    }

    func testRotationAndZoomDrawsCoverTheirRanges() {
        let augmentation = Augmentation(flip: true, maximumShift: 2, maximumRotation: 0.1, maximumZoom: 0.2)
        var turns: [Double] = [], zooms: [Double] = []
        for sample in 0..<1000 {
            let d = augmentation.draw(seed: 4, epoch: 2, sample: sample)
            XCTAssertEqual(d, augmentation.draw(seed: 4, epoch: 2, sample: sample))
            turns.append(d.turns)
            zooms.append(d.zoom)
        }
        XCTAssertTrue(turns.allSatisfy { $0 >= -0.1 && $0 < 0.1 })
        XCTAssertTrue(zooms.allSatisfy { $0 >= 0.8 && $0 < 1.2 })
        // Uniform: about a quarter in each quarter of the range, mean near the middle.
        XCTAssertEqual(turns.filter { $0 < -0.05 }.count, 250, accuracy: 60)
        XCTAssertEqual(zooms.filter { $0 >= 1.1 }.count, 250, accuracy: 60)
        XCTAssertEqual(turns.reduce(0, +) / 1000, 0, accuracy: 0.01)
        XCTAssertEqual(zooms.reduce(0, +) / 1000, 1, accuracy: 0.02)
        XCTAssertEqual(Augmentation(flip: true).draw(seed: 4, epoch: 2, sample: 0).turns, 0)
        XCTAssertEqual(Augmentation(flip: true).draw(seed: 4, epoch: 2, sample: 0).zoom, 1)
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

    // MARK: - Rotation and zoom

    /// Runs `warp` on `pixels` (height, width, channels) and returns the floats it writes.
    private func warp(_ change: Augmentation.Change, _ pixels: [UInt8], height: Int, width: Int, channels: Int = 1) -> [Float] {
        var out = [Float](repeating: -1, count: pixels.count)
        Augmentation.warp(change, source: pixels, height: height, width: width, channels: channels, into: &out)
        return out
    }

    /// A 3x3 image with 2 channels whose value at (y, x, c) is 100y + 10x + c.
    private let square: [UInt8] = (0..<18).map { (i: Int) -> UInt8 in UInt8(100 * (i / 6) + 10 * (i / 2 % 3) + i % 2) }

    func testNoTurnAndNoZoomIsTheIdentityAndTheFlipAndShiftOfApply() {
        let first = Array(set.pixels.prefix(36))
        var plain = [Float](repeating: 0, count: 36), labels = [Int32](repeating: 0, count: 1)
        set.gather([0], images: &plain, labels: &labels)
        XCTAssertEqual(warp(Augmentation.Change(), first, height: 3, width: 4, channels: 3), plain)
        // With flips and shifts, warp writes what gather's whole-pixel path writes, bit for bit.
        let augmentation = Augmentation(flip: true, maximumShift: 2)
        for epoch in 0..<20 {
            var moved = [Float](repeating: 0, count: 36)
            set.gather([0], augmentation: augmentation, seed: 3, epoch: epoch, images: &moved, labels: &labels)
            let change = augmentation.draw(seed: 3, epoch: epoch, sample: 0)
            XCTAssertEqual(warp(change, first, height: 3, width: 4, channels: 3), moved, "\(change)")
        }
    }

    func testQuarterTurnsMovePixelsExactly() {
        func value(_ y: Int, _ x: Int, _ c: Int) -> Float { Float(100 * y + 10 * x + c) / 255 }
        let left = warp(Augmentation.Change(turns: 0.25), square, height: 3, width: 3, channels: 2)
        let right = warp(Augmentation.Change(turns: -0.25), square, height: 3, width: 3, channels: 2)
        let half = warp(Augmentation.Change(turns: 0.5), square, height: 3, width: 3, channels: 2)
        let flippedLeft = warp(Augmentation.Change(flip: true, turns: 0.25), square, height: 3, width: 3, channels: 2)
        for y in 0..<3 {
            for x in 0..<3 {
                for c in 0..<2 {
                    let at = (y * 3 + x) * 2 + c
                    // Counter-clockwise, as numpy's rot90: the right column becomes the top row.
                    XCTAssertEqual(left[at], value(x, 2 - y, c), "(\(y), \(x), \(c))")
                    XCTAssertEqual(right[at], value(2 - x, y, c), "(\(y), \(x), \(c))")
                    XCTAssertEqual(half[at], value(2 - y, 2 - x, c), "(\(y), \(x), \(c))")
                    // Flip first, then a quarter turn left: the transpose.
                    XCTAssertEqual(flippedLeft[at], value(x, y, c), "(\(y), \(x), \(c))")
                }
            }
        }
        // The top-right corner goes to the top left.
        XCTAssertEqual(left[0], value(0, 2, 0))
    }

    func testEighthTurnOfARampIsBilinear() {
        // A 3x3 ramp 40x + 20y turned 45° left about (1, 1): output (y, x) reads x' = 1 + ((x - 1) - (y - 1))/√2,
        // y' = 1 + ((x - 1) + (y - 1))/√2; the ramp is linear, so inside the image the sample is the ramp there.
        let ramp: [UInt8] = (0..<9).map { (i: Int) -> UInt8 in UInt8(40 * (i % 3) + 20 * (i / 3)) }
        let out = warp(Augmentation.Change(turns: 0.125), ramp, height: 3, width: 3)
        let r = 1 / 2.0.squareRoot()
        for (y, x) in [(1, 1), (0, 1), (1, 0), (1, 2), (2, 1)] {
            let sx = 1 + (Double(x - 1) - Double(y - 1)) * r, sy = 1 + (Double(x - 1) + Double(y - 1)) * r
            XCTAssertEqual(Double(out[y * 3 + x]), (40 * sx + 20 * sy) / 255, accuracy: 1e-6, "(\(y), \(x))")
        }
        // A corner: (0, 0) reads column 1 of row 1 - √2 ≈ -0.41, above the image; its neighbours,
        // rows -1 and 0, are both row 0 by reflection, so it is row 0's value at column 1: 40.
        XCTAssertEqual(out[0], 40 / 255, accuracy: 1e-6)
    }

    func testZoomInOnACheckerboard() {
        // 4x4, 255 where y + x is odd. Zoom 0.5 reads coordinates 0.75, 1.25, 1.75, 2.25 on each axis:
        // the middle 2x2 squares, blurred.
        let board: [UInt8] = (0..<16).map { (i: Int) -> UInt8 in (i / 4 + i % 4) % 2 == 1 ? 255 : 0 }
        let out = warp(Augmentation.Change(zoom: 0.5), board, height: 4, width: 4)
        // (0, 0) reads (0.75, 0.75): 0.25·(0.25·0 + 0.75·1) + 0.75·(0.25·1 + 0.75·0) = 0.375.
        let expected: [Float] = [
            0.375, 0.375, 0.625, 0.625,
            0.375, 0.375, 0.625, 0.625,
            0.625, 0.625, 0.375, 0.375,
            0.625, 0.625, 0.375, 0.375,
        ]
        for (at, value) in expected.enumerated() {
            XCTAssertEqual(out[at], value, accuracy: 1e-6, "\(at)")
        }
    }

    func testZoomOutOfARampReflectsAtTheBorder() {
        // One row a b c d e = 0 40 80 120 160; output x reads 2 + z·(x - 2).
        let ramp: [UInt8] = [0, 40, 80, 120, 160]
        func row(_ zoom: Double) -> [Float] { warp(Augmentation.Change(zoom: zoom), ramp, height: 1, width: 5).map { $0 * 255 } }
        func assertRow(_ zoom: Double, _ expected: [Float]) {
            for (actual, wanted) in zip(row(zoom), expected) {
                XCTAssertEqual(actual, wanted, accuracy: 1e-4, "zoom \(zoom): \(row(zoom))")
            }
        }
        // Zoom in (0.5): reads 1, 1.5, 2, 2.5, 3.
        assertRow(0.5, [40, 60, 80, 100, 120])
        // Zoom out (1.5): reads -1, 0.5, 2, 3.5, 5; -1 is a and 5 is e (the edge pixel repeated).
        assertRow(1.5, [0, 20, 80, 140, 160])
        // 1.75: reads -1.5, 0.25, 2, 3.75, 5.5; between b and a (-2, -1) and between e and d (5, 6).
        assertRow(1.75, [20, 10, 80, 150, 140])
        // 2: reads -2, 0, 2, 4, 6: b, a, c, e, d; "nearest" would give a and e at the ends.
        assertRow(2, [40, 0, 80, 160, 120])
    }

    func testReflectRepeatsFarFromTheImage() {
        // a b c d = 0 40 80 120 extended as (d c b a | a b c d | d c b a), period 8. Zoom 5 reads
        // 1.5 + 5·(x - 1.5) = -6, -1, 4, 9: c, a, d, b.
        let out = warp(Augmentation.Change(zoom: 5), [0, 40, 80, 120], height: 1, width: 4).map { $0 * 255 }
        for (actual, wanted) in zip(out, [80, 0, 120, 40] as [Float]) {
            XCTAssertEqual(actual, wanted, accuracy: 1e-4, "\(out)")
        }
    }

    func testRotationOfARampFollowsTheAngle() {
        // A 5x5 ramp 30x + 20y (x right, y down). Output (y, x) reads the ramp at
        // x' = 2 + cos θ·(x - 2) - sin θ·(y - 2), y' = 2 + sin θ·(x - 2) + cos θ·(y - 2),
        // exactly, wherever that stays inside the image (bilinear is exact on a linear ramp).
        let ramp: [UInt8] = (0..<25).map { (i: Int) -> UInt8 in UInt8(30 * (i % 5) + 20 * (i / 5)) }
        for step in -64...64 {
            let turns = Double(step) / 64
            let out = warp(Augmentation.Change(turns: turns), ramp, height: 5, width: 5)
            let angle = 2 * Double.pi * turns
            for y in 0..<5 {
                for x in 0..<5 where (x - 2) * (x - 2) + (y - 2) * (y - 2) <= 4 {
                    let u = Double(x - 2), v = Double(y - 2)
                    let sx = 2 + cos(angle) * u - sin(angle) * v, sy = 2 + sin(angle) * u + cos(angle) * v
                    XCTAssertEqual(Double(out[y * 5 + x]), (30 * sx + 20 * sy) / 255, accuracy: 1e-6, "\(turns) turns at (\(y), \(x))")
                }
            }
        }
    }

    func testGatherWithRotationAndZoomIsRepeatableAndInRange() {
        // 40 copies of one 6x5 RGB image, so only the draws differ between samples.
        let one: [UInt8] = (0..<90).map { UInt8($0 * 37 % 256) }
        let copies = ImageSet(height: 6, width: 5, channels: 3, classCount: 2, pixels: Array([[UInt8]](repeating: one, count: 40).joined()),
                              labels: Array(repeating: 1, count: 40))
        let augmentation = Augmentation(parsing: "flip,crop,rotate:0.1,zoom:0.2")!
        var first = [Float](repeating: -1, count: 40 * 90), second = [Float](repeating: -2, count: 40 * 90)
        var labels = [Int32](repeating: 0, count: 40)
        copies.gather(0..<40, augmentation: augmentation, seed: 11, epoch: 3, images: &first, labels: &labels)
        copies.gather(0..<40, augmentation: augmentation, seed: 11, epoch: 3, images: &second, labels: &labels)
        XCTAssertEqual(first.map(\.bitPattern), second.map(\.bitPattern))
        XCTAssertTrue(first.allSatisfy { $0 >= 0 && $0 <= 1 })
        XCTAssertEqual(labels, Array(repeating: 1, count: 40))
        let samples = (0..<40).map { Array(first[$0 * 90..<($0 + 1) * 90]) }
        XCTAssertEqual(Set(samples.map { $0.map(\.bitPattern) }).count, 40, "every sample is changed its own way")
        // Each sample is the warp of its own draw, and another epoch changes it another way.
        for index in [0, 17, 39] {
            let d = augmentation.draw(seed: 11, epoch: 3, sample: index)
            XCTAssertEqual(warp(d, one, height: 6, width: 5, channels: 3), samples[index])
        }
        var later = [Float](repeating: 0, count: 90)
        copies.gather([5], augmentation: augmentation, seed: 11, epoch: 4, images: &later, labels: &labels)
        XCTAssertNotEqual(later, samples[5])
    }

    func testWarpOfExtremesStaysInTheUnitInterval() {
        let extremes: [UInt8] = (0..<49).map { $0 % 3 == 0 ? 255 : ($0 % 3 == 1 ? 0 : 254) }
        let augmentation = Augmentation(flip: true, maximumShift: 2, maximumRotation: 1, maximumZoom: 0.99)
        for sample in 0..<200 {
            let out = warp(augmentation.draw(seed: 1, epoch: 0, sample: sample), extremes, height: 7, width: 7)
            XCTAssertTrue(out.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(sample)")
        }
        XCTAssertEqual(warp(Augmentation.Change(turns: 0.3, zoom: 1.7), [UInt8](repeating: 255, count: 49), height: 7, width: 7),
                       [Float](repeating: 1, count: 49))
    }
}
