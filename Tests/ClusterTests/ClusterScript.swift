import Foundation
import XCTest

/// Running `scripts/cluster` as a user does, and making sure nothing it started outlives a test.
extension XCTestCase {
    /// The repository this test file belongs to: scripts/cluster and the .build/release the test build filled.
    var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs `bash scripts/cluster ARGUMENTS` from the repository with stdout and stderr to `outputPath`. After `timeout`
    /// seconds it sends SIGTERM (the script stops its cluster), then SIGKILL to the script's process group and to every
    /// process whose command line mentions `mentioning` (this test's own temporary directory), and fails.
    func runScript(_ arguments: [String], environment: [String: String], outputPath: String, timeout: Double,
                   mentioning: String) throws -> (Int32, String) {
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try XCTUnwrap(FileHandle(forWritingAtPath: outputPath))
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repository.appendingPathComponent("scripts/cluster").path] + arguments
        process.currentDirectoryURL = repository
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        let pid = process.processIdentifier
        let read = { String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self) }

        if exited.wait(timeout: .now() + timeout) == .timedOut {
            kill(pid, SIGTERM)
            if exited.wait(timeout: .now() + 15) == .timedOut {
                // Only a group of the script's own: never this test runner's.
                if getpgid(pid) == pid { kill(-pid, SIGKILL) } else { kill(pid, SIGKILL) }
                _ = exited.wait(timeout: .now() + 5)
            }
            Self.killEverything(mentioning: mentioning)
            XCTFail("scripts/cluster \(arguments.joined(separator: " ")) did not finish in \(timeout) s:\n\(read())")
        }
        process.waitUntilExit()
        return (process.terminationStatus, read())
    }

    /// `pgrep -af PATTERN`: the processes whose command line matches, one per line; empty when there are none.
    static func pgrep(_ pattern: String) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        process.arguments = ["-af", pattern]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "(pgrep could not run)" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// SIGCONT and SIGKILL every process whose command line contains `text` (a path only this test uses).
    static func killEverything(mentioning text: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        for entry in entries {
            guard let pid = Int32(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.contains(where: { $0.contains(text) }) {
                kill(pid, SIGCONT)
                kill(pid, SIGKILL)
            }
        }
    }
}
