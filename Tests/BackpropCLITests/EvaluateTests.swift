import Foundation
import XCTest

final class EvaluateTests: XCTestCase {
    /// A run directory holding a one-epoch seed-cnn checkpoint on the two-class synthetic data.
    private func trainedRun() throws -> String {
        let run = try temporaryDirectory(self) + "/run"
        assertSucceeded(backprop(tinyRun(run)))
        return run
    }

    func testJSONHasLossAccuracyAndSamples() throws {
        let run = try trainedRun()
        let result = backprop(["evaluate", "--checkpoint", run, "--test-limit", "100", "--json"])
        assertSucceeded(result)
        XCTAssertEqual(nonEmptyLines(result.stdout).count, 1, "one JSON line:\n\(result.stdout)")
        XCTAssertEqual(result.stderr, "")
        let object = try jsonObject(result.stdout)
        let loss = try XCTUnwrap(object["loss"] as? Double, "\(object)")
        let accuracy = try XCTUnwrap(object["accuracy"] as? Double, "\(object)")
        XCTAssertEqual(object["samples"] as? Int, 100)
        XCTAssertEqual(object["data"] as? String, "synthetic")
        XCTAssertEqual(object["model"] as? String, "conv32x3-relu,maxpool2,flatten,dense1-sigmoid", "the model recorded in the checkpoint")
        XCTAssertEqual(object["checkpoint"] as? String, run)
        // The run tested the same weights on the same 100 samples.
        let summary = try jsonObject(text(of: run + "/summary.json"))
        XCTAssertEqual(loss, summary["test_loss"] as? Double)
        XCTAssertEqual(accuracy, summary["test_accuracy"] as? Double)
    }

    func testTextOutputAndACheckpointFilePath() throws {
        let run = try trainedRun()
        let result = backprop(["evaluate", "--checkpoint", run + "/checkpoint.safetensors", "--test-limit", "50"])
        assertSucceeded(result)
        let lines = nonEmptyLines(result.stdout)
        XCTAssertEqual(lines.count, 1, result.stdout)
        XCTAssertTrue(lines.first?.hasPrefix("synthetic test: loss ") == true, result.stdout)
        XCTAssertTrue(lines.first?.hasSuffix("(50 samples)") == true, result.stdout)
    }

    func testABinaryModelOnTenClassDataFailsCleanly() throws {
        let run = try trainedRun()
        let result = backprop(["evaluate", "--checkpoint", run, "--data", "synthetic10", "--test-limit", "50", "--json"])
        assertOneLineError(result, mentions: ["synthetic10", "10 classes", "1 output"])
        XCTAssertEqual(result.stdout, "", "nothing on stdout when evaluation fails")
    }

    func testAnExplicitModelThatDoesNotFitTheCheckpointFailsCleanly() throws {
        let run = try trainedRun()
        let result = backprop(["evaluate", "--checkpoint", run, "--model", "conv16x3-relu,maxpool2,flatten,dense1-sigmoid",
                               "--test-limit", "50"])
        assertOneLineError(result, mentions: ["conv2d_0.kernel", "[3, 3, 1, 32]", "[3, 3, 1, 16]"])
    }

    func testAMissingCheckpointFailsCleanly() throws {
        let root = try temporaryDirectory(self)
        assertOneLineError(backprop(["evaluate", "--checkpoint", root + "/nothing.safetensors"]),
                           mentions: [root + "/nothing.safetensors", "no such file"])
        assertOneLineError(backprop(["evaluate", "--checkpoint", root]),
                           mentions: [root + "/checkpoint.safetensors", "no such file"])
    }

    // MARK: - Corrupt files

    func testRandomBytesFailCleanly() throws {
        let path = try temporaryDirectory(self) + "/random.safetensors"
        var generator = SplitMix64(seed: 0x5EED)
        let noise = (0..<4096).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        try Data(noise).write(to: URL(fileURLWithPath: path))
        for extra in [[], ["--model", "seed-cnn"]] {
            assertOneLineError(backprop(["evaluate", "--checkpoint", path, "--test-limit", "20"] + extra),
                               mentions: [path, "safetensors"])
        }
    }

    func testATruncatedCheckpointFailsCleanly() throws {
        let run = try trainedRun()
        let whole = try bytes(of: run + "/checkpoint.safetensors")
        let root = try temporaryDirectory(self)
        // Cut inside the length, inside the header, at the end of the header, inside the data, one byte short.
        let headerLength = Int(whole.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        for cut in [0, 5, 8 + headerLength / 2, 8 + headerLength, whole.count / 2, whole.count - 1] {
            let path = root + "/cut-\(cut).safetensors"
            try whole.prefix(cut).write(to: URL(fileURLWithPath: path))
            for extra in [[], ["--model", "seed-cnn"]] {
                assertOneLineError(backprop(["evaluate", "--checkpoint", path, "--test-limit", "20"] + extra), mentions: [path])
            }
        }
    }

    func testACheckpointFromAnotherToolFailsCleanly() throws {
        // A valid safetensors file without Backprop's metadata.
        let header = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian, Array.init)
        bytes += Array(header.utf8) + [0, 0, 128, 63]
        let path = try temporaryDirectory(self) + "/foreign.safetensors"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        assertOneLineError(backprop(["evaluate", "--checkpoint", path]), mentions: [path, "--model"])
        assertOneLineError(backprop(["evaluate", "--checkpoint", path, "--model", "seed-cnn", "--test-limit", "20"]),
                           mentions: [path, "not a Backprop checkpoint"])
    }
}

/// A small deterministic generator, so "random" test bytes are the same on every run.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
