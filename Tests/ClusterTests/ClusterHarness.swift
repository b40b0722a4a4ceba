import Foundation
import Training
import TrainingLog
import XCTest

/// A built executable of this package (`backprop-server`, `backprop-worker`), found next to the test bundle.
func executable(_ name: String) -> URL? {
    var candidates = [Bundle.main.bundleURL.appendingPathComponent(name),
                      Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name)]
    var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while directory.path != "/" {
        candidates.append(directory.appendingPathComponent(".build/release/\(name)"))
        directory.deleteLastPathComponent()
    }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

/// A real child process whose output goes to a file; killed at teardown if still running.
final class Child {
    let name: String
    let process = Process()
    let outputPath: String
    private let exited = DispatchSemaphore(value: 0)
    private var reaped = false

    convenience init(_ executableName: String, _ arguments: [String], outputPath: String) throws {
        guard let url = executable(executableName) else {
            throw NSError(domain: "ClusterTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "cannot find \(executableName); run swift build -c release"])
        }
        try self.init(url, arguments, name: executableName, environment: nil, outputPath: outputPath)
    }

    /// Runs `executable` with `arguments` (and `environment`, when given), its output to `outputPath`.
    init(_ executable: URL, _ arguments: [String], name: String, environment: [String: String]?, outputPath: String) throws {
        self.name = name
        self.outputPath = outputPath
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = FileHandle(forWritingAtPath: outputPath)
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        process.terminationHandler = { [exited] _ in exited.signal() }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var output: String { String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self) }

    func signal(_ number: Int32) { kill(pid, number) }

    /// Waits for the process to end; nil if it is still running after `timeout` seconds.
    func wait(timeout: Double) -> Int32? {
        if !reaped {
            guard exited.wait(timeout: .now() + timeout) == .success else { return nil }
            reaped = true
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Ends the process if it is still running.
    func stop() {
        guard isRunning else { return }
        signal(SIGKILL)
        _ = wait(timeout: 5)
    }
}

/// A server and its workers as real processes on loopback, in a fresh run directory.
final class TestCluster: ServerRunUnderTest {
    let root: String
    let runDirectory: String
    let server: Child
    private(set) var workers: [Child] = []
    let endpoint: String

    /// Starts the server with `flags` and waits until it listens.
    /// `runDirectory` defaults to a fresh one under a new temporary root.
    /// `explicitPort`: `flags` hold a `--port`, so the harness does not ask for a free one.
    init(_ test: XCTestCase, workersMin: Int, flags: [String], workerTimeout: Double = 1, runDirectory: String? = nil,
         explicitPort: Bool = false) throws {
        root = NSTemporaryDirectory() + "backprop-cluster-" + UUID().uuidString
        self.runDirectory = runDirectory ?? root + "/run"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let runDirectory = self.runDirectory
        server = try Child("backprop-server",
                           (explicitPort ? [] : ["--port", "0"]) + ["--workers-min", String(workersMin), "--worker-timeout", String(workerTimeout),
                            "--run-dir", runDirectory, "--quiet"] + flags,
                           outputPath: root + "/server.log")
        let root = self.root
        let cleanup: () -> Void = { [server] in server.stop() }
        test.addTeardownBlock { cleanup(); try? FileManager.default.removeItem(atPath: root) }
        endpoint = try serverEndpoint(server, runDirectory: runDirectory)
        test.addTeardownBlock { [weak self] in self?.workers.forEach { $0.stop() } }
    }

    /// The server's Unix socket endpoint, from `local-endpoint` (written before `endpoint`).
    var localEndpoint: String? {
        (try? String(contentsOfFile: runDirectory + "/local-endpoint", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts a worker against this cluster's server: over TCP, or its Unix socket when `local`.
    @discardableResult
    func addWorker(_ extra: [String] = [], local: Bool = false) throws -> Child {
        let address = local ? try XCTUnwrap(localEndpoint, "the server named no local endpoint") : endpoint
        let worker = try Child("backprop-worker", ["--server", address, "--server-timeout", "10"] + extra,
                               outputPath: root + "/worker-\(workers.count + 1).log")
        workers.append(worker)
        return worker
    }

}

/// A test's server process and its run directory: how every cluster test waits for and reads a run.
protocol ServerRunUnderTest: AnyObject {
    var server: Child { get }
    var runDirectory: String { get }
}

extension ServerRunUnderTest {
    /// Waits for the server to finish; fails the test if it does not within `timeout`.
    func waitForServer(timeout: Double = 120, file: StaticString = #filePath, line: UInt = #line) -> Int32? {
        let status = server.wait(timeout: timeout)
        if status == nil { XCTFail("the server did not finish in \(timeout) s:\n\(server.output)", file: file, line: line) }
        return status
    }

    /// The server's events, parsed from `server.jsonl`.
    func events() -> [[String: Any]] {
        readEvents(runDirectory + "/server.jsonl")
    }

    /// The figures worker `id` reported (`worker_step` in `server.jsonl`), each added up over its assignments since the last.
    func workerSteps(_ id: Int) -> [[String: Any]] {
        events().filter { $0["event"] as? String == "worker_step" && $0["worker"] as? Int == id }
    }

    /// The worker id the server gave the process `pid` when it first joined.
    func workerID(pid: Int32) -> Int? {
        events().first { $0["event"] as? String == "worker_joined" && $0["pid"] as? Int == Int(pid) }?["worker"] as? Int
    }

    /// Waits until the server has logged an event that `matches`; false after `timeout` seconds or once the server has exited.
    func waitForEvent(timeout: Double = 60, _ matches: ([String: Any]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if events().contains(where: matches) { return true }
            if !server.isRunning { return events().contains(where: matches) }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    /// Waits until the server has taken `step` optimiser steps.
    func waitForStep(_ step: Int, timeout: Double = 60) -> Bool {
        waitForEvent(timeout: timeout) { $0["event"] as? String == "step" && ($0["global_step"] as? Int ?? 0) >= step }
    }

    /// The final checkpoint's bytes.
    var checkpoint: Data? { FileManager.default.contents(atPath: runDirectory + "/checkpoint.safetensors") }
}

/// Every line of a JSON Lines file as an object; a line that does not parse becomes an empty object.
func readEvents(_ path: String) -> [[String: Any]] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").map { line in
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }
}

/// The checkpoint `backprop train` writes for the same flags, computed in this process.
func referenceCheckpoint(_ config: RunConfig, threads: Int = 1) throws -> Data? {
    let directory = NSTemporaryDirectory() + "backprop-reference-" + UUID().uuidString
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let run = try PreparedRun(config: config)
    _ = try LocalTrainer(run: run, directory: try RunDirectory(path: directory, resuming: false),
                         start: StartingState(.fresh, for: run), threads: threads, sink: EventRecorder()).train()
    return FileManager.default.contents(atPath: directory + "/checkpoint.safetensors")
}

/// The endpoint `server` writes into its run directory once it listens; throws if it exits or 30 s pass first.
func serverEndpoint(_ server: Child, runDirectory: String) throws -> String {
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline && server.isRunning {
        if let text = try? String(contentsOfFile: runDirectory + "/endpoint", encoding: .utf8), text.hasSuffix("\n") {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        Thread.sleep(forTimeInterval: 0.05)
    }
    throw NSError(domain: "ClusterTests", code: 2, userInfo: [NSLocalizedDescriptionKey: "the server did not start:\n\(server.output)"])
}

/// A small run: flags for the server and the same settings as a config.
struct SmallRun {
    var trainLimit = 1_500
    var epochs = 2
    var seed: UInt64 = 3
    var learningRate = 0.003
    var gradientPrecision = "float32"
    var updatePrecision = "float32"

    var flags: [String] {
        ["--train-limit", String(trainLimit), "--test-limit", "300", "--epochs", String(epochs), "--batch-size", "32",
         "--microbatch", "8", "--seed", String(seed), "--lr", String(learningRate), "--gradient-precision", gradientPrecision,
         "--update-precision", updatePrecision]
    }

    var config: RunConfig {
        var config = RunConfig()
        config.trainLimit = trainLimit
        config.testLimit = 300
        config.epochs = epochs
        config.batchSize = 32
        config.microbatch = 8
        config.seed = seed
        config.learningRate = learningRate
        config.gradientPrecision = gradientPrecision
        config.updatePrecision = updatePrecision
        return config
    }
}
