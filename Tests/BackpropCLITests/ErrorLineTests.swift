import Foundation
import XCTest

/// Usage errors exit 64 wherever they are found, and every error line starts `error:` in lower case, ArgumentParser's
/// own included.
final class ErrorLineTests: XCTestCase {
    /// Asserts a usage error: exit code 64, and the first stderr line is `error: …` with every phrase of `mentions`.
    private func assertUsage(_ result: (status: Int32, stdout: String, stderr: String), mentions: [String],
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 64, "stderr:\n\(result.stderr)", file: file, line: line)
        let first = nonEmptyLines(result.stderr).first ?? ""
        XCTAssertTrue(first.hasPrefix("error: "), "the first stderr line does not start 'error: ': \(first)", file: file, line: line)
        for phrase in mentions {
            XCTAssertTrue(first.contains(phrase), "the error does not mention \(phrase.debugDescription): \(first)", file: file, line: line)
        }
        XCTAssertFalse(result.stderr.contains("Error:"), result.stderr, file: file, line: line)
    }

    func testADirectoryGivenAsDataSuggestsTheSchemeItNeeds() throws {
        let root = try temporaryDirectory(self)
        let pets = root + "/pets", mnist = root + "/mnist"
        try FileManager.default.createDirectory(atPath: pets + "/cat", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: mnist, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: mnist + "/train-images-idx3-ubyte.gz", contents: Data())

        let folder = backprop(["train", "--data", pets, "--epochs", "1"], in: root)
        assertUsage(folder, mentions: ["--data \"\(pets)\" is a directory", "did you mean --data folder:\(pets)?"])
        let idx = backprop(["train", "--data", mnist, "--epochs", "1"], in: root)
        assertUsage(idx, mentions: ["did you mean --data idx:\(mnist)?"])
        // Nothing was started: no run directory.
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/runs"))

        // Not a directory: the forms --data takes.
        assertUsage(backprop(["train", "--data", root + "/nowhere"], in: root), mentions: ["unknown data source", "folder:DIRECTORY"])
    }

    func testParseErrorsAndRunTimeUsageErrorsAreLowerCaseAnd64() throws {
        let root = try temporaryDirectory(self)
        assertUsage(backprop(["train", "--epochs", "x"], in: root), mentions: ["'x' is invalid for '--epochs <epochs>'"])
        assertUsage(backprop(["train", "--no-such-flag"], in: root), mentions: ["--no-such-flag"])
        assertUsage(backprop(["logs", "--csv", "nope"], in: root), mentions: ["--csv takes history, workers or steps"])
        // Found only when the command runs (no runs/ here), still a usage error.
        assertUsage(backprop(["logs"], in: root), mentions: ["no run directory given"])
    }
}
