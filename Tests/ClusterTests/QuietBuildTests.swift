import Foundation
import XCTest

/// scripts/train and scripts/cluster build quietly: one line on stderr, SwiftPM's output only when the build
/// fails (on stderr), and stdout left to the training. A stand-in `swift` first on PATH prints what a real
/// first build prints (progress lines, the libzmq pkg-config warning) and links the binaries this test build
/// made into the build directory the scripts are given (BACKPROP_BUILD_DIR), so no compiler runs here.
final class QuietBuildTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "backprop-quiet-build-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        let root = self.root
        addTeardownBlock {
            Self.killEverything(mentioning: root)
            try? FileManager.default.removeItem(atPath: root)
        }
        let binaries = try XCTUnwrap(executable("backprop"), "build with swift build -c release --build-tests first")
            .deletingLastPathComponent().path
        let stub = """
            #!/usr/bin/env bash
            # A stand-in for `swift build -c release [--scratch-path DIR] [--product NAME]`.
            scratch=.build product=
            while [ $# -gt 0 ]; do
              case $1 in --scratch-path) scratch=$2; shift ;; --product) product=$2; shift ;; esac
              shift
            done
            echo "${product:-all}" >>"\(root)/calls"
            echo "Building for production..."
            for i in $(seq 1 40); do echo "[$i/40] Compiling Module$i File$i.swift"; done
            echo "warning: prohibited flag(s): -isystem, /usr/include/mit-krb5, -isystem, /usr/include/mit-krb5"
            if [ -n "${STUB_FAILS:-}" ]; then echo "error: the stand-in build fails"; exit 1; fi
            mkdir -p "$scratch/release"
            ln -sf "\(binaries)/$product" "$scratch/release/$product"
            echo "Build complete! (1.00s)"
            """
        try stub.write(toFile: root + "/bin/swift", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root + "/bin/swift")
    }

    func testTrainPrintsOneLineForItsBuildAndOnlyTrainingOnStdout() throws {
        let result = try run("scripts/train", ["--train-limit", "300", "--test-limit", "100", "--epochs", "1", "--run-dir", root + "/run"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "building Backprop (release)…\n")
        XCTAssertEqual(calls(), ["backprop"])
        XCTAssertTrue(result.stdout.contains("test: loss"), result.stdout)
        for noise in ["Compiling", "warning", "Build complete", "Building for production"] {
            XCTAssertFalse(result.stdout.contains(noise), "\(noise) on stdout:\n\(result.stdout)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/build/build.log"), "the build's log is kept")
    }

    func testAFailedBuildShowsItsLogOnStderrAndStops() throws {
        let result = try run("scripts/train", ["--epochs", "1", "--run-dir", root + "/run"], environment: ["STUB_FAILS": "1"])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stdout, "")
        let lines = nonEmpty(result.stderr)
        XCTAssertEqual(lines.first, "building Backprop (release)…")
        XCTAssertTrue(lines.contains("[40/40] Compiling Module40 File40.swift") && lines.contains("error: the stand-in build fails"), result.stderr)
        XCTAssertEqual(lines.last, "build: error: the release build failed (swift build exited with 1); its log, above, is in \(root)/build/build.log")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/run"), "nothing trained after a failed build")
    }

    func testClusterRunPrintsOneLineForItsBuild() throws {
        let (status, output) = try runScript(
            ["run", "--config", "cluster/quick.conf", "--run-dir", root + "/run"],
            environment: ["PATH": root + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
                          "BACKPROP_BUILD_DIR": root + "/build", "CLUSTER_RUNS": root + "/runs"],
            outputPath: root + "/cluster.out", timeout: 120, mentioning: root)
        XCTAssertEqual(status, 0, output)
        XCTAssertEqual(calls(), ["backprop", "backprop-server", "backprop-worker"])
        let lines = nonEmpty(output)
        XCTAssertEqual(lines.first, "building Backprop (release)…")
        XCTAssertEqual(lines.filter { $0.contains("building") }.count, 1, output)
        for noise in ["Compiling", "warning: prohibited", "Build complete", "Building for production"] {
            XCTAssertFalse(output.contains(noise), "\(noise) in the output:\n\(output)")
        }
        XCTAssertTrue(output.contains("test accuracy: "), output)
    }

    // MARK: - Helpers

    /// Runs `script` from the repository with the stand-in `swift` first on PATH and the build directory in the test's root.
    private func run(_ script: String, _ arguments: [String], environment: [String: String] = [:]) throws
        -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repository.appendingPathComponent(script).path] + arguments
        process.currentDirectoryURL = repository
        var variables = ProcessInfo.processInfo.environment
        variables["PATH"] = root + "/bin:" + (variables["PATH"] ?? "/usr/bin:/bin")
        variables["BACKPROP_BUILD_DIR"] = root + "/build"
        process.environment = variables.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        let outPath = root + "/stdout", errPath = root + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try XCTUnwrap(FileHandle(forWritingAtPath: outPath)), err = try XCTUnwrap(FileHandle(forWritingAtPath: errPath))
        defer { try? out.close(); try? err.close() }
        process.standardOutput = out
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        let read = { (path: String) in String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        return (process.terminationStatus, read(outPath), read(errPath))
    }

    /// The products the stand-in was asked to build, in order.
    private func calls() -> [String] {
        nonEmpty((try? String(contentsOfFile: root + "/calls", encoding: .utf8)) ?? "")
    }

    private func nonEmpty(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }
}
