import Datasets
import XCTest

final class SyntheticImagesTests: XCTestCase {
    func testFullSetsHaveTheDocumentedSizesAndBalancedLabels() throws {
        let data = try Dataset.load(.synthetic(classes: 10, seed: 0))
        XCTAssertEqual(data.name, "synthetic10")
        XCTAssertEqual(data.train.count, 30_000)
        XCTAssertEqual(data.test.count, 5_000)
        XCTAssertEqual([data.train.height, data.train.width, data.train.channels], [28, 28, 1])
        XCTAssertEqual(data.train.pixels.count, 30_000 * 784)
        XCTAssertEqual(classCounts(data.train), [Int](repeating: 3_000, count: 10))
        XCTAssertEqual(classCounts(data.test), [Int](repeating: 500, count: 10))
    }

    func testSameSeedGivesTheSameBytes() throws {
        let first = try Dataset.load(.synthetic(classes: 2, seed: 5), trainLimit: 300, testLimit: 100)
        let second = try Dataset.load(.synthetic(classes: 2, seed: 5), trainLimit: 300, testLimit: 100)
        XCTAssertEqual(first.train.pixels, second.train.pixels)
        XCTAssertEqual(first.train.labels, second.train.labels)
        XCTAssertEqual(first.test.pixels, second.test.pixels)
    }

    func testLimitsKeepAPrefix() throws {
        let short = try Dataset.load(.synthetic(classes: 10, seed: 3), trainLimit: 50, testLimit: 20)
        let long = try Dataset.load(.synthetic(classes: 10, seed: 3), trainLimit: 200, testLimit: 40)
        XCTAssertEqual(short.train.pixels, Array(long.train.pixels.prefix(50 * 784)))
        XCTAssertEqual(short.train.labels, Array(long.train.labels.prefix(50)))
        XCTAssertEqual(short.test.pixels, Array(long.test.pixels.prefix(20 * 784)))
    }

    func testDifferentSeedsAndSplitsDiffer() throws {
        let zero = try Dataset.load(.synthetic(classes: 2, seed: 0), trainLimit: 200, testLimit: 200)
        let one = try Dataset.load(.synthetic(classes: 2, seed: 1), trainLimit: 200, testLimit: 200)
        XCTAssertNotEqual(zero.train.pixels, one.train.pixels)
        XCTAssertNotEqual(zero.train.labels, one.train.labels)
        XCTAssertNotEqual(zero.train.pixels, zero.test.pixels)
    }

    func testTwoClassLabelsAreBalancedAndShuffled() throws {
        let data = try Dataset.load(.synthetic(classes: 2, seed: 0), trainLimit: 2_000, testLimit: 0)
        XCTAssertEqual(data.train.classCount, 2)
        XCTAssertEqual(data.test.count, 0)
        let counts = classCounts(data.train)
        XCTAssertTrue(counts.allSatisfy { (900...1_100).contains($0) }, "\(counts)")
        let alternating = (0..<2_000).map { UInt8($0 % 2) }
        XCTAssertNotEqual(data.train.labels, alternating)
    }

    func testPixelStatisticsAreSane() throws {
        let set = try Dataset.load(.synthetic(classes: 10, seed: 0), trainLimit: 1_000, testLimit: 0).train
        let values = set.pixels.map { Double($0) / 255 }
        let mean = values.reduce(0, +) / Double(values.count)
        let deviation = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        XCTAssertTrue((0.08...0.35).contains(mean), "mean \(mean)")
        XCTAssertTrue((0.1...0.35).contains(deviation), "standard deviation \(deviation)")
        for index in 0..<set.count {
            let image = set.pixels[index * 784..<(index + 1) * 784]
            let brightest = Int(image.max() ?? 0)
            let darkest = Int(image.min() ?? 0)
            XCTAssertGreaterThan(brightest - darkest, 80, "image \(index) has almost no contrast")
        }
    }

    func testClassesLookDifferentOnAverage() throws {
        let set = try Dataset.load(.synthetic(classes: 10, seed: 0), trainLimit: 2_000, testLimit: 0).train
        var means = [[Double]](repeating: [Double](repeating: 0, count: 784), count: 10)
        for index in 0..<set.count {
            for pixel in 0..<784 {
                means[Int(set.labels[index])][pixel] += Double(set.pixels[index * 784 + pixel]) / 255
            }
        }
        let counts = classCounts(set)
        for a in 0..<10 {
            for b in a + 1..<10 {
                let distance = (0..<784).map { pixel -> Double in
                    let difference = means[a][pixel] / Double(counts[a]) - means[b][pixel] / Double(counts[b])
                    return difference * difference
                }.reduce(0, +).squareRoot()
                XCTAssertGreaterThan(distance, 0.5, "classes \(a) and \(b) have nearly the same mean image")
            }
        }
    }

    private func classCounts(_ set: ImageSet) -> [Int] {
        var counts = [Int](repeating: 0, count: set.classCount)
        for label in set.labels {
            counts[Int(label)] += 1
        }
        return counts
    }
}
