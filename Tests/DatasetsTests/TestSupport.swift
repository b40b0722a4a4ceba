import Foundation
import XCTest

/// The bytes of an IDX file: magic, `type`, the dimension count, big-endian sizes, then `values`.
func idxBytes(type: UInt8 = 0x08, sizes: [Int], values: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, type, UInt8(sizes.count)]
    for size in sizes {
        bytes += [UInt8(size >> 24 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF)]
    }
    return bytes + values
}

/// A small dataset in the MNIST layout: 6 training and 3 test images of 4x3 pixels, labels 0...2.
struct TinyIDX {
    static let rows = 4
    static let columns = 3
    static let trainLabels: [UInt8] = [0, 1, 2, 2, 1, 0]
    static let testLabels: [UInt8] = [2, 0, 1]
    static let trainPixels: [UInt8] = (0..<6 * 12).map { UInt8($0 * 3 % 256) }
    static let testPixels: [UInt8] = (0..<3 * 12).map { UInt8(255 - $0) }

    static let trainImagesName = "train-images-idx3-ubyte"
    static let trainLabelsName = "train-labels-idx1-ubyte"
    static let testImagesName = "t10k-images-idx3-ubyte"
    static let testLabelsName = "t10k-labels-idx1-ubyte"

    /// Every file's name and good contents.
    static var files: [String: [UInt8]] {
        [
            trainImagesName: idxBytes(sizes: [6, rows, columns], values: trainPixels),
            trainLabelsName: idxBytes(sizes: [6], values: trainLabels),
            testImagesName: idxBytes(sizes: [3, rows, columns], values: testPixels),
            testLabelsName: idxBytes(sizes: [3], values: testLabels),
        ]
    }
}

extension XCTestCase {
    /// A fresh empty directory, removed when the test ends.
    func makeTemporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("DatasetsTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// A temporary directory holding `TinyIDX.files`, with `replacing` swapped in by name.
    func writeTinyIDX(replacing replacements: [String: [UInt8]] = [:]) throws -> String {
        let directory = try makeTemporaryDirectory()
        for (name, bytes) in TinyIDX.files.merging(replacements, uniquingKeysWith: { $1 }) {
            try write(bytes, to: directory + "/" + name)
        }
        return directory
    }

    func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Compresses `path` to `path.gz` with the system's gzip, removing the original.
    func gzip(_ path: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-n", "-f", path]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "gzip \(path) failed")
    }

    /// Asserts that `expression` throws a `DatasetError` whose one-line description contains every one of `parts`.
    func assertDatasetError<T>(
        _ expression: @autoclosure () throws -> T,
        mentions parts: [String],
        file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), "description is not one line: \(text)", file: file, line: line)
            for part in parts {
                XCTAssertTrue(text.contains(part), "\"\(text)\" does not mention \"\(part)\"", file: file, line: line)
            }
        }
    }
}
