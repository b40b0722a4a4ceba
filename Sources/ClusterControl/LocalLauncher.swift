import Foundation
import TrainingLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a cluster's processes on this machine, each detached in its own session with its console log in the run
/// directory, and records each pid in `pids/<member>.pid`.
///
/// A recorded pid is only ever signalled while `/proc/<pid>/cmdline` still shows the member's program and the run
/// directory, so a pid the system has since given to another process is never hit.
public final class LocalLauncher: ClusterLauncher {
    /// The directory holding `backprop-server` and `backprop-worker`.
    public let binaries: String
    /// Exit statuses of the processes this launcher started and saw end, by pid.
    private var ended: [pid_t: Int32] = [:]
    private var started: Set<pid_t> = []

    public init(binaries: String) { self.binaries = binaries }

    public var handleName: String { "pid" }

    /// The path of `program` among the binaries.
    public func path(of program: String) -> String { (binaries as NSString).appendingPathComponent(program) }

    public func prepare(_ run: ClusterRun) throws {
        do {
            try FileManager.default.createDirectory(atPath: run.file("pids"), withIntermediateDirectories: true)
        } catch {
            throw ClusterCommandError.failure("cannot create \(run.file("pids")): \(error.localizedDescription)")
        }
    }

    public func holdsRecords(_ run: ClusterRun) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: run.file("pids"), isDirectory: &isDirectory) && isDirectory.boolValue
    }

    @discardableResult
    public func launch(_ member: ClusterMember, arguments: [String], in run: ClusterRun, appendingLog: Bool) throws -> String {
        let pid = try DetachedProcess.spawn(path(of: member.program), arguments, log: run.file(member.logName), append: appendingLog)
        started.insert(pid)
        do {
            try "\(pid)\n".write(toFile: pidFile(member, run), atomically: true, encoding: .utf8)
        } catch {
            kill(pid, SIGKILL)
            throw ClusterCommandError.failure("cannot record pid \(pid) in \(pidFile(member, run)): \(error.localizedDescription)")
        }
        return String(pid)
    }

    public func handle(of member: ClusterMember, in run: ClusterRun) -> String? {
        pid(of: member, in: run).map(String.init)
    }

    public func isRunning(_ member: ClusterMember, in run: ClusterRun) -> Bool {
        guard let pid = pid(of: member, in: run) else { return false }
        if started.contains(pid) {
            // A child of ours runs until we reap it, and its pid cannot be reused before that. (Its /proc cmdline is
            // empty for a moment after the spawn, while the kernel sets up the new program.)
            collect(pid)
            return ended[pid] == nil
        }
        return RunLiveness.process(pid, runs: member.program, with: run.directory) == true
    }

    @discardableResult
    public func signal(_ member: ClusterMember, _ signal: Int32, in run: ClusterRun) -> Bool {
        guard isRunning(member, in: run), let pid = pid(of: member, in: run) else { return false }
        return kill(pid, signal) == 0
    }

    /// Workers run on this machine, beside the server: its Unix socket when it has one.
    public func workerAddress(in run: ClusterRun, endpoint: String) -> String {
        run.localEndpoint ?? endpoint
    }

    public func recordedWorkers(in run: ClusterRun) -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: run.file("pids"))) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasSuffix(".pid"), case .worker(let k)? = ClusterMember(name: String(name.dropLast(4))) else { return nil }
            return k
        }.sorted()
    }

    public func exitStatus(of member: ClusterMember, in run: ClusterRun) -> Int32? {
        guard let pid = pid(of: member, in: run) else { return nil }
        collect(pid)
        return ended[pid]
    }

    /// Waits up to `timeout` seconds for a process this launcher started to end; its exit status, or nil.
    public func waitForExit(_ member: ClusterMember, in run: ClusterRun, timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let status = exitStatus(of: member, in: run) { return status }
            if Date() >= deadline { return nil }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    private func pidFile(_ member: ClusterMember, _ run: ClusterRun) -> String { run.file("pids/\(member).pid") }

    private func pid(of member: ClusterMember, in run: ClusterRun) -> pid_t? {
        guard let text = try? String(contentsOfFile: pidFile(member, run), encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Reaps `pid` if it is a child of ours that has ended, keeping its status.
    private func collect(_ pid: pid_t) {
        guard started.contains(pid), ended[pid] == nil, let status = DetachedProcess.reap(pid) else { return }
        ended[pid] = status
    }
}
