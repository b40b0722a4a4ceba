import Foundation
import XCTest

/// Examples/beautiful-mnist, the README's example of the libraries' public API, built with the tests and run briefly.
final class BeautifulMNISTTests: XCTestCase {
    func testTheExampleTrainsAndTests() throws {
        let result = try runExample(["3", "3000", "synthetic10"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, result.stdout)
        XCTAssertEqual(lines.first, "synthetic10: 3000 training and 3000 test images; 34826 parameters")
        let accuracies = try lines.dropFirst().map { line in
            let match = try XCTUnwrap(line.firstMatch(of: #/^epoch \d: loss [0-9.]+ - accuracy [0-9.]+ - test loss [0-9.]+ - test accuracy ([0-9.]+)$/#),
                                      "not an epoch line: \(line)")
            return try XCTUnwrap(Double(match.1))
        }
        // Ten classes: chance is 0.1. Three short epochs of the synthetic digits are far past it (0.78 here).
        XCTAssertGreaterThan(accuracies.last ?? 0, 0.6, result.stdout)
    }

    func testBadDataIsOneErrorLine() throws {
        let result = try runExample(["1", "10", "idx:/no/such/directory"])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stdout, "")
        XCTAssertTrue(result.stderr.hasPrefix("error: ") && result.stderr.contains("/no/such/directory"), result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
    }

    /// Runs the built `beautiful-mnist` with `arguments`.
    private func runExample(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = try XCTUnwrap(exampleExecutable(), "cannot find beautiful-mnist; build it with swift build -c release --build-tests")
        process.arguments = arguments
        let directory = NSTemporaryDirectory() + "beautiful-mnist-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = FileManager.default.createFile(atPath: directory + "/out", contents: nil)
        _ = FileManager.default.createFile(atPath: directory + "/err", contents: nil)
        process.standardOutput = try XCTUnwrap(FileHandle(forWritingAtPath: directory + "/out"))
        process.standardError = try XCTUnwrap(FileHandle(forWritingAtPath: directory + "/err"))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let read = { (name: String) in String(decoding: FileManager.default.contents(atPath: directory + "/" + name) ?? Data(), as: UTF8.self) }
        return (process.terminationStatus, read("out"), read("err"))
    }

    /// The example SwiftPM built next to this test bundle (or in the package's .build/release).
    private func exampleExecutable() -> URL? {
        var candidates = [Bundle.main.bundleURL.appendingPathComponent("beautiful-mnist"),
                          Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("beautiful-mnist")]
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            candidates.append(directory.appendingPathComponent(".build/release/beautiful-mnist"))
            directory.deleteLastPathComponent()
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}
