import Foundation
import TrainingLog

/// Starts workers for a run and notices the ones that die at once.
public struct ClusterWorkers {
    let context: ClusterContext

    public init(_ context: ClusterContext) { self.context = context }

    /// Starts worker `k` against the server at `endpoint` (or the address the launcher prefers for its workers, such
    /// as the server's Unix socket) and returns its handle.
    @discardableResult
    public func start(_ k: Int, in run: ClusterRun, endpoint: String) throws -> String {
        let address = context.launcher.workerAddress(in: run, endpoint: endpoint)
        var arguments = ["--server", address, "--name", "worker-\(k)", "--log-dir", run.directory]
        if let timeout = run.info("worker_server_timeout"), !timeout.isEmpty { arguments += ["--server-timeout", timeout] }
        return try context.launcher.launch(.worker(k), arguments: arguments, in: run, appendingLog: false)
    }

    /// Starts `count` workers numbered after the highest recorded; returns their numbers.
    public func startMore(_ count: Int, in run: ClusterRun, endpoint: String) throws -> [Int] {
        let first = (context.launcher.recordedWorkers(in: run).last ?? 0) + 1
        for k in first..<first + count { try start(k, in: run, endpoint: endpoint) }
        return Array(first..<first + count)
    }

    /// `worker-1 (pid 10), worker-2 (pid 11)`.
    public func list(_ workers: [Int], in run: ClusterRun) -> String {
        workers.map { "worker-\($0) (\(context.launcher.handleName) \(context.launcher.handle(of: .worker($0), in: run) ?? "?"))" }
            .joined(separator: ", ")
    }

    /// After a second, warns about each of `workers` that has already exited (a wrong endpoint, a refusal, …),
    /// unless training has ended, which is reason enough.
    public func warnAboutEarlyExits(_ workers: [Int], in run: ClusterRun) {
        guard !workers.isEmpty else { return }
        Thread.sleep(forTimeInterval: 1)
        for k in workers where !context.launcher.isRunning(.worker(k), in: run) {
            if run.isFinished || Self.failureLogged(run) { return }
            let last = run.lastLines(of: ClusterMember.worker(k).logName, 1).first ?? ""
            context.console.say("warning: worker-\(k) exited right after starting: \(last.isEmpty ? "(empty log)" : last)")
        }
    }

    /// Whether the server logged a `failed` event.
    static func failureLogged(_ run: ClusterRun) -> Bool {
        (try? RunLogReader.read(run.directory))?.log.failure != nil
    }
}
