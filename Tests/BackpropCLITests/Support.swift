import Foundation
import XCTest

// MARK: - Running the executable

/// How long one `backprop` run may take before it is killed and the test fails.
let commandTimeout: TimeInterval = 60

/// The `backprop` executable SwiftPM built next to this test bundle.
let backpropExecutable: URL? = {
    let manager = FileManager.default
    var candidates: [URL] = []
    // On Linux the test bundle is an executable in the build products directory, beside `backprop`.
    let bundle = Bundle.main.bundleURL
    candidates.append(bundle.appendingPathComponent("backprop"))
    candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("backprop"))
    // Fall back to walking up from this file to the package's `.build/release/backprop`.
    var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while directory.path != "/" {
        candidates.append(directory.appendingPathComponent(".build/release/backprop"))
        directory.deleteLastPathComponent()
    }
    return candidates.first { manager.isExecutableFile(atPath: $0.path) && !isDirectory($0.path) }
}()

private func isDirectory(_ path: String) -> Bool {
    var flag: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
}

/// Text that only a crash prints: a Swift runtime trap, the backtracer, LLVM's stack dump.
let crashMarkers = ["Fatal error", "Stack dump", "Swift runtime failure", "Backtracing"]

/// Runs `backprop` with `args` in `directory`, capturing its output; fails the test if it crashes or hangs.
///
/// A run that outlives `timeout` is killed, so a hang fails its test instead of the whole suite.
@discardableResult
func backprop(
    _ args: [String], in directory: String? = nil, timeout: TimeInterval = commandTimeout,
    file: StaticString = #filePath, line: UInt = #line
) -> (status: Int32, stdout: String, stderr: String) {
    guard let executable = backpropExecutable else {
        XCTFail("cannot find the backprop executable; build it with `swift build -c release --build-tests`", file: file, line: line)
        return (-1, "", "")
    }
    let scratch = (NSTemporaryDirectory() as NSString).appendingPathComponent("backprop-output-\(UUID().uuidString)")
    let outPath = scratch + ".out", errPath = scratch + ".err"
    defer {
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }
    // Files, not pipes: a chatty child cannot block on a full pipe while we wait for it.
    guard FileManager.default.createFile(atPath: outPath, contents: nil),
          FileManager.default.createFile(atPath: errPath, contents: nil),
          let out = FileHandle(forWritingAtPath: outPath), let err = FileHandle(forWritingAtPath: errPath)
    else {
        XCTFail("cannot create output files under \(NSTemporaryDirectory())", file: file, line: line)
        return (-1, "", "")
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = args
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = out
    process.standardError = err
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    do {
        try process.run()
    } catch {
        XCTFail("cannot start \(executable.path): \(error)", file: file, line: line)
        return (-1, "", "")
    }
    let command = "backprop " + args.joined(separator: " ")
    let timedOut = exited.wait(timeout: .now() + timeout) == .timedOut
    if timedOut {
        process.terminate()
        if exited.wait(timeout: .now() + 2) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
        }
        XCTFail("`\(command)` did not finish within \(timeout) s and was killed", file: file, line: line)
    }
    process.waitUntilExit()
    try? out.close()
    try? err.close()
    let stdout = String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self)
    let stderr = String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self)
    if timedOut {
        // Already reported; the signal is ours.
    } else if process.terminationReason == .uncaughtSignal {
        XCTFail("`\(command)` was killed by signal \(process.terminationStatus):\n\(crashSummary(stderr))", file: file, line: line)
    } else if let marker = crashMarkers.first(where: stderr.contains) {
        XCTFail("`\(command)` printed \(marker.debugDescription) on stderr:\n\(crashSummary(stderr))", file: file, line: line)
    }
    return (process.terminationStatus, stdout, stderr)
}

/// The lines of a crash report that say what failed and where: the trap message and the first frames with source locations.
private func crashSummary(_ stderr: String) -> String {
    let lines = stderr.split(whereSeparator: \.isNewline).map(String.init)
    let interesting = lines.filter { $0.contains("Fatal error") || $0.contains("runtime failure") || $0.contains(" at /") }
    return (interesting.isEmpty ? Array(lines.prefix(10)) : Array(interesting.prefix(6))).joined(separator: "\n")
}

// MARK: - Assertions

/// The non-empty lines of `text`.
func nonEmptyLines(_ text: String) -> [String] {
    text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
}

/// Asserts the run succeeded; on failure shows what it printed.
func assertSucceeded(
    _ result: (status: Int32, stdout: String, stderr: String), file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(result.status, 0, "exit status \(result.status); stderr:\n\(result.stderr)", file: file, line: line)
}

/// Asserts a library error: non-zero exit, exactly one stderr line starting `error:` that contains every phrase in `mentions`.
func assertOneLineError(
    _ result: (status: Int32, stdout: String, stderr: String), mentions: [String],
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertNotEqual(result.status, 0, "expected failure; stdout:\n\(result.stdout)", file: file, line: line)
    // `backprop(_:)` has already failed the test for a crash; its report says more than these checks would.
    guard !crashMarkers.contains(where: result.stderr.contains) else { return }
    let lines = nonEmptyLines(result.stderr)
    XCTAssertEqual(lines.count, 1, "expected one line on stderr, got:\n\(lines.prefix(5).joined(separator: "\n"))", file: file, line: line)
    guard let message = lines.first else { return }
    XCTAssertTrue(message.hasPrefix("error: "), "stderr does not start with 'error: ': \(message)", file: file, line: line)
    for phrase in mentions {
        XCTAssertTrue(message.contains(phrase), "the error does not mention \(phrase.debugDescription): \(message)", file: file, line: line)
    }
}

/// Asserts an ArgumentParser usage error: non-zero exit, and the first stderr line is an error naming `flag`.
func assertUsageError(
    _ result: (status: Int32, stdout: String, stderr: String), naming flag: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertNotEqual(result.status, 0, "expected failure; stdout:\n\(result.stdout)", file: file, line: line)
    guard let first = nonEmptyLines(result.stderr).first else {
        return XCTFail("nothing on stderr", file: file, line: line)
    }
    XCTAssertTrue(first.lowercased().hasPrefix("error:"), "the first stderr line is not an error: \(first)", file: file, line: line)
    XCTAssertTrue(first.contains(flag), "the error does not name \(flag): \(first)", file: file, line: line)
}

// MARK: - Files

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("BackpropCLITests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// The bytes of the file at `path`, failing the test if it is missing.
func bytes(of path: String, file: StaticString = #filePath, line: UInt = #line) throws -> Data {
    try XCTUnwrap(FileManager.default.contents(atPath: path), "\(path) is missing or unreadable", file: file, line: line)
}

/// The text of the file at `path`.
func text(of path: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    String(decoding: try bytes(of: path, file: file, line: line), as: UTF8.self)
}

/// `text` parsed as a JSON object.
func jsonObject(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try XCTUnwrap(value as? [String: Any], "not a JSON object: \(text)", file: file, line: line)
}

/// Every line of a JSON Lines file, parsed; fails the test on any line that is not a JSON object.
func jsonLines(at path: String, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
    let contents = try text(of: path, file: file, line: line)
    XCTAssertTrue(contents.hasSuffix("\n"), "\(path) does not end with a newline", file: file, line: line)
    return try contents.split(separator: "\n").map { try jsonObject(String($0), file: file, line: line) }
}

/// The two parts of a safetensors file: the JSON header and the tensor data after it.
func safetensorsParts(_ data: Data, file: StaticString = #filePath, line: UInt = #line) throws -> (header: [String: Any], data: Data) {
    let bytes = [UInt8](data)
    guard bytes.count >= 8 else {
        XCTFail("a safetensors file has at least 8 bytes, this one \(bytes.count)", file: file, line: line)
        return ([:], Data())
    }
    let length = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
    guard length <= bytes.count - 8 else {
        XCTFail("header length \(length) runs past the file", file: file, line: line)
        return ([:], Data())
    }
    let header = try jsonObject(String(decoding: bytes[8..<8 + length], as: UTF8.self), file: file, line: line)
    return (header, Data(bytes[(8 + length)...]))
}

/// A tiny training run's flags: a few hundred synthetic images, so a run takes well under a second.
func tinyRun(_ runDirectory: String, epochs: Int = 1, extra: [String] = []) -> [String] {
    ["train", "--train-limit", "500", "--test-limit", "100", "--batch-size", "32",
     "--epochs", String(epochs), "--run-dir", runDirectory, "--quiet"] + extra
}

/// The flags that continue a `tinyRun` from `checkpoint` (a run directory or checkpoint file) up to `epochs`.
func tinyResume(_ checkpoint: String, epochs: Int, extra: [String] = []) -> [String] {
    ["train", "--train-limit", "500", "--test-limit", "100", "--batch-size", "32",
     "--epochs", String(epochs), "--resume", checkpoint, "--quiet"] + extra
}

// MARK: - Demo tables

/// One row of a demo's truth table: `[x0, x1]  target  predicted  ok|WRONG  (p = …)`.
struct TruthTableRow: Equatable {
    var inputs: [Int]
    var target: Int
    var predicted: Int
    var mark: String
    var probability: Double?
}

/// The truth-table rows printed in `text`, in order.
func truthTableRows(in text: String) throws -> [TruthTableRow] {
    let regex = try NSRegularExpression(pattern: #"^\s*\[(\d), (\d)\]\s+(\d)\s+(\d)\s+(ok|WRONG)(?:\s+\(p = ([0-9.]+)\))?\s*$"#)
    return nonEmptyLines(text).compactMap { line in
        let range = NSRange(line.startIndex..., in: line)
        guard let match = regex.firstMatch(in: line, range: range) else { return nil }
        func group(_ i: Int) -> String? { Range(match.range(at: i), in: line).map { String(line[$0]) } }
        return TruthTableRow(
            inputs: [Int(group(1)!)!, Int(group(2)!)!], target: Int(group(3)!)!, predicted: Int(group(4)!)!,
            mark: group(5)!, probability: group(6).flatMap(Double.init))
    }
}

/// The four inputs of a two-input gate, in the order the demos print them.
let gateInputs = [[0, 0], [0, 1], [1, 0], [1, 1]]
