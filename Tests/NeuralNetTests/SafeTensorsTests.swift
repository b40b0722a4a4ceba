import Foundation
import NeuralNet
import XCTest

final class SafeTensorsTests: XCTestCase {
    // MARK: - Round trip and layout

    func testRoundTripKeepsMetadataTensorsAndOrder() throws {
        let file = sampleFile()
        let decoded = try SafeTensorsFile(decoding: file.encoded())
        XCTAssertEqual(decoded, file)
        XCTAssertEqual(decoded.tensors.map(\.name), ["dense_0.kernel", "scalar", "empty", "dense_0.bias", "weird \"name\"\n\u{E9}"])
        XCTAssertEqual(decoded.tensor(named: "scalar")?.values, [3.25])
        XCTAssertEqual(decoded.tensor(named: "empty")?.shape, [0, 4])
        XCTAssertNil(decoded.tensor(named: "missing"))
    }

    func testRoundTripPreservesEveryBitPattern() throws {
        let patterns: [UInt32] = [0, 0x8000_0000, 0x0000_0001, 0x7F80_0000, 0xFF80_0000, 0x7FC0_1234, 0x3F80_0000, 0xC2F6_E979]
        let file = SafeTensorsFile(metadata: [:], tensors: [
            NamedTensor(name: "bits", shape: [patterns.count], values: patterns.map(Float.init(bitPattern:))),
        ])
        let decoded = try SafeTensorsFile(decoding: file.encoded())
        XCTAssertEqual(decoded.tensors.first?.values.map(\.bitPattern), patterns)
    }

    func testEncodingIsDeterministic() {
        let file = sampleFile()
        var reordered = file
        var metadata: [String: String] = [:]
        metadata.reserveCapacity(64)
        for key in file.metadata.keys.sorted().reversed() {
            metadata[key] = file.metadata[key]
        }
        reordered.metadata = metadata
        XCTAssertEqual(file.encoded(), file.encoded())
        XCTAssertEqual(reordered.encoded(), file.encoded())
    }

    func testEncodingMatchesTheFormatByteForByte() {
        let file = SafeTensorsFile(metadata: ["format": "pt"], tensors: [
            NamedTensor(name: "b", shape: [2], values: [1, -2]),
        ])
        let header = #"{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"# + "   "
        var expected: [UInt8] = [88, 0, 0, 0, 0, 0, 0, 0]
        expected += Array(header.utf8)
        expected += [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]
        XCTAssertEqual(file.encoded(), expected)
    }

    func testHeaderIsPaddedSoDataStartsEightByteAligned() throws {
        for nameLength in 1...16 {
            let name = String(repeating: "x", count: nameLength)
            let bytes = SafeTensorsFile(metadata: [:], tensors: [NamedTensor(name: name, shape: [1], values: [1])]).encoded()
            let headerLength = headerLengthField(bytes)
            XCTAssertEqual((8 + headerLength) % 8, 0, "name length \(nameLength)")
            XCTAssertEqual(bytes.count, 8 + headerLength + 4)
            let header = try XCTUnwrap(String(bytes: bytes[8..<8 + headerLength], encoding: .utf8))
            let padding = header.reversed().prefix { $0 == " " }.count
            XCTAssertTrue(header.hasPrefix("{") && header.dropLast(padding).hasSuffix("}"), header)
            XCTAssertLessThan(padding, 8, header)
        }
    }

    func testEmptyFileHasEmptyHeaderObject() throws {
        let bytes = SafeTensorsFile(metadata: [:], tensors: []).encoded()
        XCTAssertEqual(bytes, [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
        XCTAssertEqual(try SafeTensorsFile(decoding: bytes), SafeTensorsFile(metadata: [:], tensors: []))
    }

    func testLargeModelEncodesAndDecodesQuickly() throws {
        let counts = [3 * 3 * 1 * 32, 32, 3 * 3 * 32 * 64, 64, 9216 * 128, 128, 128 * 10, 10]
        let tensors = counts.enumerated().map { index, count in
            NamedTensor(name: "layer_\(index)", shape: [count], values: (0..<count).map { Float($0 % 1000) * 0.001 })
        }
        let file = SafeTensorsFile(metadata: ["step": "100"], tensors: tensors)
        XCTAssertEqual(counts.reduce(0, +), 1_199_882)

        let start = Date()
        let bytes = file.encoded()
        let decoded = try SafeTensorsFile(decoding: bytes)
        let elapsed = Date().timeIntervalSince(start)

        XCTAssertEqual(decoded, file)
        XCTAssertLessThan(elapsed, 1, "encoding and decoding \(bytes.count) bytes took \(elapsed) s")
    }

    // MARK: - Corruption

    func testRejectsBufferShorterThanHeaderLength() {
        assertDecodingThrows([1, 0, 0, 0, 0], .truncatedHeaderLength(byteCount: 5))
        assertDecodingThrows([], .truncatedHeaderLength(byteCount: 0))
    }

    func testRejectsHeaderLengthBeyondFile() {
        let bytes = sampleFile().encoded()
        let headerLength = headerLengthField(bytes)
        let cut = Array(bytes.prefix(8 + headerLength - 3))
        assertDecodingThrows(cut, .headerBeyondFile(length: UInt64(headerLength), available: headerLength - 3))
    }

    func testRejectsHeaderLengthOverLimit() {
        let length: UInt64 = 200_000_000
        let bytes = withUnsafeBytes(of: length.littleEndian) { Array($0) } + Array("{}".utf8)
        assertDecodingThrows(bytes, .headerTooLarge(length: length))
    }

    func testRejectsMalformedHeaders() {
        assertDecodingThrows(rawFile(header: #"{"a": "#), matching: { if case .invalidHeader = $0 { true } else { false } })
        assertDecodingThrows(rawFile(header: #"{"a": 1} x"#), matching: { if case .invalidHeader = $0 { true } else { false } })
        assertDecodingThrows(rawFile(header: "[1, 2]"), .invalidHeader(reason: "it does not start with '{'"))
        assertDecodingThrows(rawFile(header: ""), .invalidHeader(reason: "it does not start with '{'"))
        assertDecodingThrows(rawFile(headerBytes: Array(#"{""#.utf8) + [0xFF] + Array(#"":1}"#.utf8)),
                             .invalidHeader(reason: "it is not valid UTF-8"))
    }

    func testRejectsWrongDType() {
        let bytes = rawFile(header: #"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, dataBytes: 4)
        assertDecodingThrows(bytes, .unsupportedDType(tensor: "w", dtype: "F16"))
        XCTAssertThrowsError(try SafeTensorsFile(decoding: bytes)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("F16") && text.contains("\"w\""), text)
        }
    }

    func testRejectsMalformedEntries() {
        let cases: [(header: String, reason: String)] = [
            (#"{"w":[1]}"#, "its entry is not a JSON object"),
            (#"{"w":{"shape":[1],"data_offsets":[0,4]}}"#, "\"dtype\" is missing"),
            (#"{"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#, "\"dtype\" is not a string"),
            (#"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#, "\"shape\" is missing"),
            (#"{"w":{"dtype":"F32","shape":1,"data_offsets":[0,4]}}"#, "\"shape\" is not an array"),
            (#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, "\"shape\" must hold non-negative integers"),
            (#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, "\"shape\" must hold non-negative integers"),
            (#"{"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, "\"shape\" must hold non-negative integers"),
            (#"{"w":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, "\"shape\" must hold non-negative integers"),
            (#"{"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}"#, "\"shape\" must hold non-negative integers"),
            (#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, "its shape has more elements than fit in memory"),
            (#"{"w":{"dtype":"F32","shape":[1]}}"#, "\"data_offsets\" is missing"),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, "\"data_offsets\" must be two non-negative integers"),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, "\"data_offsets\" must be two non-negative integers"),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}}"#, "\"data_offsets\" must be two non-negative integers"),
        ]
        for (header, reason) in cases {
            assertDecodingThrows(rawFile(header: header, dataBytes: 4), .invalidTensorEntry(tensor: "w", reason: reason))
        }
    }

    func testRejectsMalformedMetadata() {
        assertDecodingThrows(rawFile(header: #"{"__metadata__":{"step":3}}"#),
                             .invalidMetadata(reason: "the value for \"step\" is not a string"))
        assertDecodingThrows(rawFile(header: #"{"__metadata__":["a"]}"#),
                             .invalidMetadata(reason: "__metadata__ is not a JSON object"))
    }

    func testRejectsOffsetsThatMismatchShape() {
        assertDecodingThrows(rawFile(header: #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#, dataBytes: 12),
                             .offsetsMismatchShape(tensor: "w", shape: [2, 2], begin: 0, end: 12))
        assertDecodingThrows(rawFile(header: #"{"w":{"dtype":"F32","shape":[],"data_offsets":[8,4]}}"#, dataBytes: 8),
                             .offsetsMismatchShape(tensor: "w", shape: [], begin: 8, end: 4))
    }

    func testRejectsOverlappingOffsets() {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#
        assertDecodingThrows(rawFile(header: header, dataBytes: 24), .overlappingOffsets(tensor: "b", other: "a"))
        let inside = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#
        assertDecodingThrows(rawFile(header: inside, dataBytes: 16), .overlappingOffsets(tensor: "e", other: "a"))
    }

    func testRejectsGapsBetweenTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}"#
        assertDecodingThrows(rawFile(header: header, dataBytes: 20), .gapBeforeTensor(tensor: "b", begin: 12, expected: 8))
        let leading = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertDecodingThrows(rawFile(header: leading, dataBytes: 8), .gapBeforeTensor(tensor: "a", begin: 4, expected: 0))
    }

    func testRejectsOffsetsOutOfRange() {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}"#
        assertDecodingThrows(rawFile(header: header, dataBytes: 16),
                             .offsetsOutOfRange(tensor: "b", begin: 16, end: 32, dataAreaSize: 16))
    }

    func testRejectsTornDataArea() {
        let bytes = sampleFile().encoded()
        let dataSize = bytes.count - 8 - headerLengthField(bytes)
        let lastName = "weird \"name\"\n\u{E9}"
        assertDecodingThrows(Array(bytes.dropLast(3)),
                             .offsetsOutOfRange(tensor: lastName, begin: dataSize - 4, end: dataSize, dataAreaSize: dataSize - 3))
        assertDecodingThrows(bytes + [0, 0, 0, 0], .trailingData(coveredBytes: dataSize, dataAreaSize: dataSize + 4))
    }

    func testErrorDescriptionsAreOneLineAndNameTheTensor() {
        let newlineName = "bad\nname"
        let errors: [SafeTensorsError] = [
            .invalidTensorEntry(tensor: newlineName, reason: "line one\nline two"),
            .unsupportedDType(tensor: newlineName, dtype: "F\n16"),
            .offsetsMismatchShape(tensor: newlineName, shape: [2], begin: 0, end: 4),
            .overlappingOffsets(tensor: newlineName, other: "other"),
            .gapBeforeTensor(tensor: newlineName, begin: 8, expected: 4),
            .offsetsOutOfRange(tensor: newlineName, begin: 0, end: 8, dataAreaSize: 4),
        ]
        for error in errors {
            XCTAssertFalse(error.description.contains("\n"), error.description)
            XCTAssertTrue(error.description.contains(#""bad\nname""#), error.description)
        }
        XCTAssertFalse(SafeTensorsError.invalidHeader(reason: "a\nb").description.contains("\n"))
    }

    // MARK: - Interoperability with the reference implementation

    func testPythonSafetensorsReadsOurFile() throws {
        let python = try PythonSafetensors(for: self)
        let file = sampleFile()
        let path = python.directory.appendingPathComponent("ours.safetensors").path
        try Data(file.encoded()).write(to: URL(fileURLWithPath: path))

        let report = try python.runReturningJSON("""
            import json, sys
            from safetensors import safe_open
            from safetensors.numpy import load_file
            tensors = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="numpy") as f:
                metadata = f.metadata()
            print(json.dumps({
                "metadata": metadata,
                "tensors": {name: {"dtype": str(array.dtype), "shape": list(array.shape),
                                   "bits": array.reshape(-1).view("<u4").tolist()}
                            for name, array in tensors.items()},
            }))
            """, arguments: [path])

        XCTAssertEqual(report["metadata"] as? [String: String], file.metadata)
        let tensors = try XCTUnwrap(report["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(Set(tensors.keys), Set(file.tensors.map(\.name)))
        for tensor in file.tensors {
            let entry = try XCTUnwrap(tensors[tensor.name], tensor.name)
            XCTAssertEqual(entry["dtype"] as? String, "float32", tensor.name)
            XCTAssertEqual(entry["shape"] as? [Int], tensor.shape, tensor.name)
            XCTAssertEqual(entry["bits"] as? [UInt32], tensor.values.map(\.bitPattern), tensor.name)
        }
    }

    func testWeDecodePythonWrittenFile() throws {
        let python = try PythonSafetensors(for: self)
        let path = python.directory.appendingPathComponent("theirs.safetensors").path
        _ = try python.run("""
            import sys
            import numpy as np
            from safetensors.numpy import save_file
            save_file({
                "conv.kernel": (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5 - 3),
                "conv.bias": np.array([1.5, -2.25, 1e-30], dtype=np.float32),
                "scale": np.array(3.25, dtype=np.float32),
                "empty": np.zeros((0, 4), dtype=np.float32),
            }, sys.argv[1], metadata={"format": "np", "step": "12"})
            """, arguments: [path])

        let decoded = try SafeTensorsFile(decoding: Array(Data(contentsOf: URL(fileURLWithPath: path))))
        XCTAssertEqual(decoded.metadata, ["format": "np", "step": "12"])
        XCTAssertEqual(Set(decoded.tensors.map(\.name)), ["conv.kernel", "conv.bias", "scale", "empty"])
        XCTAssertEqual(decoded.tensor(named: "conv.kernel"),
                       NamedTensor(name: "conv.kernel", shape: [2, 3, 4], values: (0..<24).map { Float($0) * 0.5 - 3 }))
        XCTAssertEqual(decoded.tensor(named: "conv.bias"), NamedTensor(name: "conv.bias", shape: [3], values: [1.5, -2.25, 1e-30]))
        XCTAssertEqual(decoded.tensor(named: "scale"), NamedTensor(name: "scale", shape: [], values: [3.25]))
        XCTAssertEqual(decoded.tensor(named: "empty"), NamedTensor(name: "empty", shape: [0, 4], values: []))
    }

    func testBytesMatchPythonForSameTensorsInItsOrder() throws {
        let python = try PythonSafetensors(for: self)
        let path = python.directory.appendingPathComponent("reference.safetensors").path
        _ = try python.run("""
            import sys
            import numpy as np
            from safetensors.numpy import save_file
            save_file({
                "b": np.array([1, -2], dtype=np.float32),
                "a": np.zeros((0, 4), dtype=np.float32),
                "s": np.array(3.25, dtype=np.float32),
            }, sys.argv[1], metadata={"format": "pt"})
            """, arguments: [path])

        let ours = SafeTensorsFile(metadata: ["format": "pt"], tensors: [
            NamedTensor(name: "a", shape: [0, 4], values: []),
            NamedTensor(name: "b", shape: [2], values: [1, -2]),
            NamedTensor(name: "s", shape: [], values: [3.25]),
        ])
        XCTAssertEqual(ours.encoded(), Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    // MARK: - Helpers

    /// Metadata plus tensors covering a matrix, a scalar, an empty tensor and a name needing escapes.
    private func sampleFile() -> SafeTensorsFile {
        SafeTensorsFile(
            metadata: ["format": "backprop", "step": "1200", "note": "quote \" and\nnewline, caf\u{E9}"],
            tensors: [
                NamedTensor(name: "dense_0.kernel", shape: [2, 3], values: [0.5, -1.25, 3, 1e-7, -0.0, 65504]),
                NamedTensor(name: "scalar", shape: [], values: [3.25]),
                NamedTensor(name: "empty", shape: [0, 4], values: []),
                NamedTensor(name: "dense_0.bias", shape: [3], values: [0.1, 0.2, 0.3]),
                NamedTensor(name: "weird \"name\"\n\u{E9}", shape: [1], values: [.greatestFiniteMagnitude]),
            ]
        )
    }

    /// The little-endian header length in the first 8 bytes of `bytes`.
    private func headerLengthField(_ bytes: [UInt8]) -> Int {
        Int(bytes.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }

    /// A file whose header is `header` verbatim, followed by `dataBytes` zero bytes.
    private func rawFile(header: String, dataBytes: Int = 0) -> [UInt8] {
        rawFile(headerBytes: Array(header.utf8), dataBytes: dataBytes)
    }

    /// A file whose header is `headerBytes` verbatim, followed by `dataBytes` zero bytes.
    private func rawFile(headerBytes: [UInt8], dataBytes: Int = 0) -> [UInt8] {
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Array($0) }
            + headerBytes + [UInt8](repeating: 0, count: dataBytes)
    }

    /// Asserts decoding `bytes` throws exactly `expected`.
    private func assertDecodingThrows(_ bytes: [UInt8], _ expected: SafeTensorsError,
                                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensorsFile(decoding: bytes), file: file, line: line) { error in
            XCTAssertEqual(error as? SafeTensorsError, expected, file: file, line: line)
        }
    }

    /// Asserts decoding `bytes` throws a one-line `SafeTensorsError` satisfying `predicate`.
    private func assertDecodingThrows(_ bytes: [UInt8], matching predicate: (SafeTensorsError) -> Bool,
                                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensorsFile(decoding: bytes), file: file, line: line) { error in
            guard let error = error as? SafeTensorsError else {
                return XCTFail("unexpected error \(error)", file: file, line: line)
            }
            XCTAssertTrue(predicate(error), "unexpected error \(error)", file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), error.description, file: file, line: line)
        }
    }
}

/// Runs `python3` with the `safetensors` package in a fresh temporary directory, or skips the test.
private struct PythonSafetensors {
    let directory: URL

    /// Skips `testCase` unless `python3 -c "import safetensors, numpy"` succeeds; removes the directory at teardown.
    init(for testCase: XCTestCase) throws {
        let probe = try? Self.launch(["-c", "import safetensors, numpy"], errors: .nullDevice)
        guard let probe, probe.status == 0 else {
            throw XCTSkip("pip install safetensors numpy to run the interoperability test")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("SafeTensorsTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        testCase.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        self.directory = directory
    }

    /// Runs `script` with `arguments` as `sys.argv[1...]`, failing unless it exits 0; returns its output.
    func run(_ script: String, arguments: [String]) throws -> Data {
        let errorsURL = directory.appendingPathComponent("stderr-\(UUID().uuidString).txt")
        try Data().write(to: errorsURL)
        let errors = try FileHandle(forWritingTo: errorsURL)
        defer { try? errors.close() }
        let result = try Self.launch(["-c", script] + arguments, errors: errors)
        guard result.status == 0 else {
            let stderr = (try? String(contentsOf: errorsURL, encoding: .utf8)) ?? ""
            throw PythonFailure(description: "python3 exited \(result.status): \(stderr)")
        }
        return result.output
    }

    /// Runs `script` and parses its output as a JSON object.
    func runReturningJSON(_ script: String, arguments: [String]) throws -> [String: Any] {
        let output = try run(script, arguments: arguments)
        guard let object = try JSONSerialization.jsonObject(with: output) as? [String: Any] else {
            throw PythonFailure(description: "python3 printed something other than a JSON object")
        }
        return object
    }

    /// Runs `python3 arguments`, sending stderr to `errors`; returns the exit status and stdout.
    private static func launch(_ arguments: [String], errors: FileHandle) throws -> (status: Int32, output: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = errors
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}

/// A Python helper script that failed, with what it wrote to stderr.
private struct PythonFailure: Error, CustomStringConvertible {
    let description: String
}
