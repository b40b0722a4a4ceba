import Foundation

/// Slurm's own command-line tools (`sbatch`, `squeue`, `scontrol`, `scancel`), run as child processes: the only way
/// `backprop cluster` talks to Slurm. A stand-in `run` lets tests answer for them.
public struct SlurmTools: Sendable {
    /// What a tool printed and how it exited.
    public struct Output: Sendable, Equatable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String

        public init(status: Int32, standardOutput: String, standardError: String = "") {
            self.status = status
            self.standardOutput = standardOutput
            self.standardError = standardError
        }

        /// The first non-empty line of standard error, else of standard output.
        public var reason: String {
            let lines = (standardError + "\n" + standardOutput).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            return lines.first { !$0.isEmpty } ?? "exit code \(status)"
        }
    }

    /// Runs `tool` with `arguments` (and `environment` added to ours); throws when the tool cannot be run at all.
    public let run: @Sendable (_ tool: String, _ arguments: [String], _ environment: [String: String]) throws -> Output

    public init(run: @escaping @Sendable (_ tool: String, _ arguments: [String], _ environment: [String: String]) throws -> Output) {
        self.run = run
    }

    /// The real tools, found on PATH; each call is given up after `timeout` seconds (a slurmctld that does not answer).
    public static func system(timeout: Double = 30) -> SlurmTools {
        SlurmTools { tool, arguments, environment in
            guard let path = Self.find(tool) else {
                throw ClusterCommandError.failure("\(tool) not found on PATH: this machine has no Slurm client tools, and the run's workers are Slurm jobs")
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardInput = FileHandle.nullDevice
            let output = Pipe(), error = Pipe()
            process.standardOutput = output
            process.standardError = error
            let ended = DispatchSemaphore(value: 0)
            process.terminationHandler = { _ in ended.signal() }
            do {
                try process.run()
            } catch {
                throw ClusterCommandError.failure("cannot run \(path): \(error.localizedDescription)")
            }
            // Read while it runs, so a long answer cannot fill the pipe and stall it.
            let outputData = Collected(), errorData = Collected()
            let readers = DispatchGroup()
            DispatchQueue.global().async(group: readers) { outputData.data = output.fileHandleForReading.readDataToEndOfFile() }
            DispatchQueue.global().async(group: readers) { errorData.data = error.fileHandleForReading.readDataToEndOfFile() }
            if ended.wait(timeout: .now() + timeout) == .timedOut {
                process.terminate()
                _ = ended.wait(timeout: .now() + 2)
                throw ClusterCommandError.failure("\(tool) \(arguments.first ?? "") did not answer within \(ClusterStopper.seconds(timeout)) s: is slurmctld up? (SLURM_CONF=\(ProcessInfo.processInfo.environment["SLURM_CONF"] ?? "unset"))")
            }
            readers.wait()
            return Output(status: process.terminationStatus, standardOutput: String(decoding: outputData.data, as: UTF8.self),
                          standardError: String(decoding: errorData.data, as: UTF8.self))
        }
    }

    /// What a reader thread collected; read only after the group of readers is done.
    private final class Collected: @unchecked Sendable {
        var data = Data()
    }

    /// `tool`'s path on PATH, if it is there.
    public static func find(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// A Slurm job as `squeue` and `scontrol` describe it.
public struct SlurmJob: Sendable, Equatable {
    public var id: String
    /// `PENDING`, `RUNNING`, `COMPLETING`, `COMPLETED`, `CANCELLED`, `FAILED`, …
    public var state: String
    /// Why it is pending (`Resources`, `BeginTime`, …), or `None`.
    public var reason: String
    /// The nodes it runs on.
    public var nodes: String
    /// How it exited, once it has (`ExitCode=a:b`: a, or 128 + b for a signal).
    public var exitCode: Int32?
    /// How many times it was requeued.
    public var restarts: Int?
    /// Its batch script's output file.
    public var output: String?

    public init(id: String, state: String, reason: String = "None", nodes: String = "", exitCode: Int32? = nil,
                restarts: Int? = nil, output: String? = nil) {
        self.id = id
        self.state = state
        self.reason = reason
        self.nodes = nodes
        self.exitCode = exitCode
        self.restarts = restarts
        self.output = output
    }

    /// The states of a job that is queued or has processes: it is (or will be) a member of the run.
    public static let activeStates: Set<String> = [
        "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
        "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
    ]

    public var isActive: Bool { Self.activeStates.contains(state) }

    /// `RUNNING on node1`, `PENDING (Resources)`, `COMPLETED (exit 0)`.
    public var text: String {
        var out = state
        if reason != "None" && !reason.isEmpty && (state == "PENDING" || !isActive) { out += " (\(reason))" }
        if isActive && state != "PENDING" && !nodes.isEmpty { out += " on \(nodes)" }
        if !isActive, let exitCode { out += " (exit \(exitCode))" }
        if let restarts, restarts > 0 { out += ", requeued \(restarts)x" }
        return out
    }

    /// The jobs in `squeue -h -o '%i|%T|%r|%N'` output, by id.
    public static func parseQueue(_ text: String) -> [String: SlurmJob] {
        var jobs: [String: SlurmJob] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 4, !fields[0].isEmpty else { continue }
            jobs[fields[0]] = SlurmJob(id: fields[0], state: fields[1], reason: fields[2], nodes: fields[3])
        }
        return jobs
    }

    /// The job in `scontrol show job ID` output (`Key=Value` words).
    public static func parseShow(_ text: String) -> SlurmJob? {
        var fields: [String: String] = [:]
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            guard let equals = word.firstIndex(of: "=") else { continue }
            let key = String(word[..<equals])
            if fields[key] == nil { fields[key] = String(word[word.index(after: equals)...]) }
        }
        guard let id = fields["JobId"], let state = fields["JobState"] else { return nil }
        var exitCode: Int32?
        if let code = fields["ExitCode"] {
            let parts = code.split(separator: ":").compactMap { Int32($0) }
            if parts.count == 2 { exitCode = parts[1] != 0 ? 128 + parts[1] : parts[0] }
        }
        return SlurmJob(id: id, state: state, reason: fields["Reason"] ?? "None",
                        nodes: fields["NodeList"].flatMap { $0 == "(null)" ? nil : $0 } ?? "", exitCode: exitCode,
                        restarts: fields["Restarts"].flatMap { Int($0) }, output: fields["StdOut"])
    }

    /// The job id `sbatch --parsable` printed (`123` or `123;cluster`).
    public static func parseSubmitted(_ text: String) -> String? {
        let first = text.split(separator: "\n").first.map { String($0.prefix { $0 != ";" }) }?.trimmingCharacters(in: .whitespaces)
        guard let first, !first.isEmpty, first.allSatisfy(\.isNumber) else { return nil }
        return first
    }
}
