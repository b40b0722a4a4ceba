import Foundation
import XCTest

/// What a command printed and how it exited.
struct CommandResult {
    var status: Int32
    var output: String
}

/// Runs `path` with `arguments` (environment added to this process's, or replacing it when `replacing`), stdout and
/// stderr together; SIGKILL and a failure after `timeout` seconds.
func runCommand(_ path: String, _ arguments: [String], environment: [String: String] = [:], replacing: Bool = false,
                directory: String? = nil, timeout: Double = 60) throws -> CommandResult {
    let outputPath = NSTemporaryDirectory() + "backprop-command-" + UUID().uuidString
    FileManager.default.createFile(atPath: outputPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    let output = try XCTUnwrap(FileHandle(forWritingAtPath: outputPath))
    defer { try? output.close() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = replacing ? environment : ProcessInfo.processInfo.environment.merging(environment) { $1 }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = output
    process.standardError = output
    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    try process.run()
    let read = { String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self) }
    if exited.wait(timeout: .now() + timeout) == .timedOut {
        kill(process.processIdentifier, SIGKILL)
        _ = exited.wait(timeout: .now() + 5)
        XCTFail("\(path) \(arguments.joined(separator: " ")) did not finish in \(timeout) s:\n\(read())")
        return CommandResult(status: -1, output: read())
    }
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, output: read())
}

/// A one-node Slurm on this machine (munged, slurmctld and slurmd, from `scripts/slurm-local`), its files and ports
/// its own; started once for the tests that need it and stopped, by the pids it recorded, when they are done.
final class LocalSlurm {
    let directory: String
    let repository: URL
    /// `SLURM_CONF` for every Slurm command, and `BACKPROP_BIN` for the batch scripts.
    let environment: [String: String]

    private nonisolated(unsafe) static var started: LocalSlurm?
    private nonisolated(unsafe) static var failure: String?

    /// The running Slurm, started on first use; throws (every test that needs it then fails with the reason) when it
    /// cannot start. It is tried once.
    static func shared(repository: URL) throws -> LocalSlurm {
        if let started { return started }
        if let failure {
            throw NSError(domain: "SlurmTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "no Slurm: \(failure)"])
        }
        do {
            let slurm = try LocalSlurm(repository: repository)
            started = slurm
            return slurm
        } catch {
            failure = "\(error)"
            throw error
        }
    }

    /// Stops the daemons if they were started.
    static func stopShared() {
        started?.stop()
        started = nil
    }

    private init(repository: URL) throws {
        self.repository = repository
        directory = "/tmp/backprop-slurm-" + String(UUID().uuidString.prefix(8))
        let binaries = try XCTUnwrap(executable("backprop-server"), "build with swift build -c release first").deletingLastPathComponent().path
        environment = ["SLURM_CONF": directory + "/slurm.conf", "BACKPROP_BIN": binaries]
        let result = try runCommand("/bin/bash", [repository.appendingPathComponent("scripts/slurm-local").path, "up", directory],
                                    timeout: 300)
        guard result.status == 0 else {
            stop()
            throw NSError(domain: "SlurmTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "scripts/slurm-local up failed:\n\(result.output)"])
        }
    }

    func stop() {
        _ = try? runCommand("/bin/bash", [repository.appendingPathComponent("scripts/slurm-local").path, "down", directory], timeout: 300)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a Slurm tool (`sbatch`, `squeue`, `scontrol`, `scancel`) against this Slurm.
    @discardableResult
    func tool(_ name: String, _ arguments: [String], directory: String? = nil, timeout: Double = 30) throws -> CommandResult {
        try runCommand("/usr/bin/\(name)", arguments, environment: environment, directory: directory, timeout: timeout)
    }

    /// Submits with `sbatch --parsable` and returns the job id.
    func submit(_ arguments: [String], from directory: String) throws -> String {
        let result = try tool("sbatch", ["--parsable"] + arguments, directory: directory)
        XCTAssertEqual(result.status, 0, result.output)
        let id = result.output.split(separator: "\n").last.map { String($0.prefix { $0 != ";" }) } ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw NSError(domain: "SlurmTests", code: 2, userInfo: [NSLocalizedDescriptionKey: "sbatch printed no job id: \(result.output)"])
        }
        return id
    }

    /// `scontrol show job ID` as `Key=Value` fields (empty when Slurm no longer knows the job).
    func job(_ id: String) -> [String: String] {
        guard let result = try? tool("scontrol", ["show", "job", id]), result.status == 0 else { return [:] }
        var fields: [String: String] = [:]
        for word in result.output.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            guard let equals = word.firstIndex(of: "=") else { continue }
            let key = String(word[..<equals])
            if fields[key] == nil { fields[key] = String(word[word.index(after: equals)...]) }
        }
        return fields
    }

    /// The job's state (`PENDING`, `RUNNING`, `COMPLETED`, …), or "" when Slurm does not know it.
    func state(_ id: String) -> String { job(id)["JobState"] ?? "" }

    /// The job's state as `squeue` shows it: `COMPLETING` while any of its processes remain (where `scontrol` may
    /// already say `PENDING` for a requeued job), "" when squeue does not list it.
    func queueState(_ id: String) -> String {
        guard let result = try? tool("squeue", ["-h", "-t", "all", "-o", "%T", "-j", id]), result.status == 0 else { return "" }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Polls every 0.2 s until the job's fields satisfy `done`, at most `timeout` seconds; returns the last fields.
    @discardableResult
    func waitForJob(_ id: String, timeout: Double = 120, until done: ([String: String]) -> Bool) -> [String: String]? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let fields = job(id)
            if done(fields) { return fields }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return nil
    }

    /// Waits until the job has ended (a state Slurm does not count as active) and returns its fields.
    func waitForEnd(_ id: String, timeout: Double = 120) -> [String: String]? {
        let active: Set<String> = ["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "SIGNALING"]
        return waitForJob(id, timeout: timeout) { fields in
            guard let state = fields["JobState"] else { return false }
            return !active.contains(state)
        }
    }
}

/// Polls `file`'s JSON Lines until one satisfies `matches`, at most `timeout` seconds.
func waitForEvent(in file: String, timeout: Double = 120, _ matches: ([String: Any]) -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if readEvents(file).contains(where: matches) { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return false
}

/// Polls until `condition` holds, at most `timeout` seconds.
func waitUntil(timeout: Double = 60, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.1)
    }
    return condition()
}
