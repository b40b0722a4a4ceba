import Foundation
import XCTest

/// The training step allocates nothing once warm, measured by the built `backprop-bench`, whose
/// counting malloc sees every heap allocation of its process.
final class AllocationTests: XCTestCase {
    func testWarmTrainingStepsAllocateNothing() throws {
        let executable = try XCTUnwrap(benchExecutable(), "cannot find backprop-bench; build it with `swift build -c release`")
        let output = try run(executable, ["--allocations", "--steps", "5"])
        XCTAssertEqual(output.status, 0, "backprop-bench --allocations failed:\n\(output.stdout)\(output.stderr)")
        let lines = output.stdout.split(separator: "\n").map(String.init)
        // One line per preset and thread count: "<model> threads <n>: <count> allocations in 5 steps, …".
        for model in ["seed-cnn", "mnist-cnn", "large-cnn"] {
            for threads in [1, 2] {
                let prefix = "\(model) threads \(threads): "
                let line = try XCTUnwrap(lines.first { $0.hasPrefix(prefix) }, "no line for \(prefix) in:\n\(output.stdout)")
                XCTAssertTrue(line.hasPrefix(prefix + "0 allocations in 5 steps"), line)
            }
        }
    }

    /// A graph with every new kind of layer: batch norm (its statistics and `MovingAverages`), dropout,
    /// a strided convolution, a separable one, overlapping pooling, a residual add, global pooling.
    func testAWarmStepOfAGraphModelAllocatesNothing() throws {
        let executable = try XCTUnwrap(benchExecutable(), "cannot find backprop-bench; build it with `swift build -c release`")
        // 300 channels: per-channel working memory too large for the stack must come from the workspace.
        let graph = "conv300x3s2same,batchnorm,r=relu,sepconv300x3same,batchnorm,p=maxpool3s2same,s=conv300x1s2same<r,add<p+s,dwconv3same,avgpool2,gap,dropout0.25,dense10-softmax"
        let output = try run(executable, ["--allocations", "--steps", "5", "--model", graph])
        XCTAssertEqual(output.status, 0, "backprop-bench --allocations failed:\n\(output.stdout)\(output.stderr)")
        for threads in [1, 2] {
            let prefix = "\(graph) threads \(threads): "
            let line = try XCTUnwrap(output.stdout.split(separator: "\n").first { $0.hasPrefix(prefix) }, output.stdout)
            XCTAssertTrue(line.hasPrefix(prefix + "0 allocations in 5 steps"), String(line))
        }
    }

    /// `backprop-bench` next to this test bundle, or in the package's `.build/release`.
    private func benchExecutable() -> URL? {
        var candidates = [Bundle.main.bundleURL.appendingPathComponent("backprop-bench"),
                          Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("backprop-bench")]
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            candidates.append(directory.appendingPathComponent(".build/release/backprop-bench"))
            directory.deleteLastPathComponent()
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// Runs `executable` to the end (killed after 300 s), its output in files so that it never blocks on a full pipe.
    private func run(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let scratch = NSTemporaryDirectory() + "backprop-bench-" + UUID().uuidString
        let outPath = scratch + ".out", errPath = scratch + ".err"
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        for path in [outPath, errPath] where !FileManager.default.createFile(atPath: path, contents: nil) {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if exited.wait(timeout: .now() + 300) == .timedOut {
            process.terminate()
            XCTFail("backprop-bench \(arguments.joined(separator: " ")) did not finish within 300 s")
        }
        process.waitUntilExit()
        let read = { (path: String) in String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        return (process.terminationStatus, read(outPath), read(errPath))
    }
}
