import Datasets
import Foundation
import XCTest

final class IDXReaderTests: XCTestCase {
    func testReadsRawFiles() throws {
        let directory = try writeTinyIDX()
        let data = try Dataset.load(.idx(directory: directory))
        XCTAssertEqual(data.name, "idx:\(directory)")
        assertTiny(data)
    }

    func testReadsGzipFiles() throws {
        let directory = try writeTinyIDX()
        for name in TinyIDX.files.keys {
            try gzip(directory + "/" + name)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/" + TinyIDX.trainImagesName))
        assertTiny(try Dataset.load(.idx(directory: directory)))
    }

    func testReadsDottedNames() throws {
        let directory = try makeTemporaryDirectory()
        for (name, bytes) in TinyIDX.files {
            let dotted = name.replacingOccurrences(of: "-idx", with: ".idx")
            try write(bytes, to: directory + "/" + dotted)
        }
        try gzip(directory + "/train-images.idx3-ubyte")
        assertTiny(try Dataset.load(.idx(directory: directory)))
    }

    func testReadsConcatenatedGzipMembersLargerThanTheirTrailerSays() throws {
        // 100 images of 28x28 in two gzip members: the trailer states only the last member's size,
        // so the reader must grow its buffer and carry on past the first member.
        let pixels = (0..<100 * 784).map { UInt8(truncatingIfNeeded: $0 &* 7 >> 3) }
        let labels = (0..<100).map { UInt8($0 % 3) }
        let imagesFile = idxBytes(sizes: [100, 28, 28], values: pixels)
        let directory = try writeTinyIDX(replacing: [
            TinyIDX.trainLabelsName: idxBytes(sizes: [100], values: labels),
            TinyIDX.testImagesName: idxBytes(sizes: [3, 28, 28], values: Array(pixels.prefix(3 * 784))),
        ])
        let path = directory + "/" + TinyIDX.trainImagesName
        var joined: [UInt8] = []
        for (part, bytes) in [imagesFile.prefix(70_000), imagesFile.dropFirst(70_000)].enumerated() {
            let partPath = directory + "/part\(part)"
            try write(Array(bytes), to: partPath)
            try gzip(partPath)
            joined += [UInt8](try Data(contentsOf: URL(fileURLWithPath: partPath + ".gz")))
        }
        try write(joined, to: path + ".gz")
        try FileManager.default.removeItem(atPath: path)

        let data = try Dataset.load(.idx(directory: directory))
        XCTAssertEqual(data.train.pixels, pixels)
        XCTAssertEqual(data.train.labels, labels)
        XCTAssertEqual([data.test.height, data.test.width], [28, 28])
    }

    func testReadsFourDimensionalImages() throws {
        let pixels = (0..<6 * 2 * 2 * 3).map { UInt8($0) }
        let directory = try writeTinyIDX(replacing: [
            TinyIDX.trainImagesName: idxBytes(sizes: [6, 2, 2, 3], values: pixels),
            TinyIDX.testImagesName: idxBytes(sizes: [3, 2, 2, 3], values: Array(pixels.prefix(36))),
        ])
        let data = try Dataset.load(.idx(directory: directory))
        XCTAssertEqual([data.train.height, data.train.width, data.train.channels], [2, 2, 3])
        XCTAssertEqual(data.train.pixels, pixels)
    }

    func testLimitsKeepTheFirstSamplesAndTheClassCount() throws {
        let directory = try writeTinyIDX()
        let data = try Dataset.load(.idx(directory: directory), trainLimit: 2, testLimit: 10)
        XCTAssertEqual(data.train.labels, [0, 1])
        XCTAssertEqual(data.train.pixels, Array(TinyIDX.trainPixels.prefix(24)))
        XCTAssertEqual(data.train.classCount, 3)
        XCTAssertEqual(data.test.count, 3)
    }

    func testTruncatedFile() throws {
        let good = idxBytes(sizes: [6, 4, 3], values: TinyIDX.trainPixels)
        let directory = try writeTinyIDX(replacing: [TinyIDX.trainImagesName: Array(good.dropLast(2))])
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [
                directory + "/" + TinyIDX.trainImagesName,
                "truncated: header says 6 images of 4x3 (72 bytes) but only 70 bytes follow",
            ]
        )
    }

    func testTrailingBytes() throws {
        let directory = try writeTinyIDX(replacing: [
            TinyIDX.testLabelsName: idxBytes(sizes: [3], values: TinyIDX.testLabels + [0])
        ])
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [directory + "/" + TinyIDX.testLabelsName, "1 unexpected bytes after the data", "3 labels"]
        )
    }

    func testShortHeader() throws {
        let directory = try writeTinyIDX(replacing: [TinyIDX.trainLabelsName: [0, 0, 8, 1, 0, 0]])
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [TinyIDX.trainLabelsName, "truncated IDX header: the file has 6 bytes but the header needs 8"]
        )
    }

    func testWrongMagic() throws {
        var bytes = idxBytes(sizes: [6], values: TinyIDX.trainLabels)
        bytes[0] = 0x12
        bytes[1] = 0x34
        let directory = try writeTinyIDX(replacing: [TinyIDX.trainLabelsName: bytes])
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [directory + "/" + TinyIDX.trainLabelsName, "not an IDX file", "12 34, expected 00 00"]
        )
    }

    func testWrongDataType() throws {
        let directory = try writeTinyIDX(replacing: [
            TinyIDX.trainImagesName: idxBytes(type: 0x0D, sizes: [6, 4, 3], values: TinyIDX.trainPixels)
        ])
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [TinyIDX.trainImagesName, "unsupported IDX data type 0x0D", "unsigned byte"]
        )
    }

    func testWrongDimensionCount() throws {
        let directory = try writeTinyIDX(replacing: [
            TinyIDX.trainLabelsName: idxBytes(sizes: [6, 1], values: TinyIDX.trainLabels)
        ])
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [TinyIDX.trainLabelsName, "expected a label file with 1 dimension (count), found 2 dimensions"]
        )
    }

    func testTestLabelOutOfRange() throws {
        let directory = try writeTinyIDX(replacing: [TinyIDX.testLabelsName: idxBytes(sizes: [3], values: [0, 5, 1])])
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [
                directory + "/" + TinyIDX.testLabelsName,
                "label 5 at index 1 is out of range: the training labels define 3 classes",
            ]
        )
    }

    func testTooManyClasses() throws {
        let directory = try writeTinyIDX(replacing: [
            TinyIDX.trainLabelsName: idxBytes(sizes: [6], values: [0, 1, 2, 70, 1, 0])
        ])
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [TinyIDX.trainLabelsName, "label 70 at index 3 is out of range: at most 62 classes"]
        )
    }

    func testCountMismatch() throws {
        let directory = try writeTinyIDX(replacing: [TinyIDX.trainLabelsName: idxBytes(sizes: [5], values: [0, 1, 2, 2, 1])])
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [
                directory + "/" + TinyIDX.trainLabelsName, "5 labels but",
                directory + "/" + TinyIDX.trainImagesName, "has 6 images",
            ]
        )
    }

    func testShapeMismatch() throws {
        let directory = try writeTinyIDX(replacing: [
            TinyIDX.testImagesName: idxBytes(sizes: [3, 3, 4], values: TinyIDX.testPixels)
        ])
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [TinyIDX.testImagesName, "images are 3x4x1 but", "has 4x3x1"]
        )
    }

    func testMissingFile() throws {
        let directory = try writeTinyIDX()
        try FileManager.default.removeItem(atPath: directory + "/" + TinyIDX.testLabelsName)
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [directory + "/" + TinyIDX.testLabelsName + ": no such file", "t10k-labels-idx1-ubyte.gz"]
        )
    }

    func testMissingDirectory() throws {
        let directory = try makeTemporaryDirectory() + "/absent"
        assertDatasetError(try Dataset.load(.idx(directory: directory)), mentions: [directory + ": no such directory"])
    }

    func testRelativeDirectoryIsReportedInFull() throws {
        let name = "no-such-dataset-\(UUID().uuidString)"
        let expected = FileManager.default.currentDirectoryPath + "/" + name
        assertDatasetError(try Dataset.load(.idx(directory: name)), mentions: [expected + ": no such directory"])
    }

    func testTruncatedGzip() throws {
        let directory = try writeTinyIDX()
        let path = directory + "/" + TinyIDX.trainImagesName
        try gzip(path)
        let compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + ".gz")))
        try write(Array(compressed.prefix(compressed.count / 2)), to: path + ".gz")
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [path + ".gz", "corrupt gzip data: truncated"]
        )
    }

    func testCorruptGzip() throws {
        let directory = try writeTinyIDX()
        let path = directory + "/" + TinyIDX.trainLabelsName
        try write([0x1F, 0x8B, 0x08, 0x00] + [UInt8](repeating: 0xFF, count: 40), to: path + ".gz")
        try FileManager.default.removeItem(atPath: path)
        assertDatasetError(try Dataset.load(.idx(directory: directory)), mentions: [path + ".gz", "corrupt gzip data"])
    }

    func testGzipWithTrailingGarbage() throws {
        let directory = try writeTinyIDX()
        let path = directory + "/" + TinyIDX.testLabelsName
        try gzip(path)
        let compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + ".gz")))
        try write(compressed + [0, 0, 0], to: path + ".gz")
        XCTAssertEqual(try Dataset.load(.idx(directory: directory)).test.labels, TinyIDX.testLabels)
        try write(compressed + [0x42, 0x42], to: path + ".gz")
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [path + ".gz", "corrupt gzip data: 2 bytes of trailing garbage after the gzip data"]
        )
    }

    func testGzipNameOnPlainData() throws {
        let directory = try writeTinyIDX()
        let path = directory + "/" + TinyIDX.testImagesName
        try FileManager.default.moveItem(atPath: path, toPath: path + ".gz")
        assertDatasetError(
            try Dataset.load(.idx(directory: directory)),
            mentions: [path + ".gz", "not gzip data: the file starts with 00 00, expected 1f 8b"]
        )
    }

    private func assertTiny(_ data: Dataset, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(data.train.count, 6, file: file, line: line)
        XCTAssertEqual(data.test.count, 3, file: file, line: line)
        XCTAssertEqual([data.train.height, data.train.width, data.train.channels], [4, 3, 1], file: file, line: line)
        XCTAssertEqual(data.train.classCount, 3, file: file, line: line)
        XCTAssertEqual(data.test.classCount, 3, file: file, line: line)
        XCTAssertEqual(data.train.pixels, TinyIDX.trainPixels, file: file, line: line)
        XCTAssertEqual(data.train.labels, TinyIDX.trainLabels, file: file, line: line)
        XCTAssertEqual(data.test.pixels, TinyIDX.testPixels, file: file, line: line)
        XCTAssertEqual(data.test.labels, TinyIDX.testLabels, file: file, line: line)
    }
}
