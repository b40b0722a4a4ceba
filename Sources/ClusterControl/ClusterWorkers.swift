import Foundation
import TrainingLog

/// Starts workers for a run and notices the ones that die at once.
///
/// Workers are numbered so that the cluster's `worker-<k>` (its name, pid file and console log) is the server's
/// worker k: the server numbers workers in the order they join, from one past every id this run has used, so each
/// worker is started as the next id and joins before the next one starts.
public struct ClusterWorkers {
    let context: ClusterContext
    /// How long a worker may take to join before the next one starts anyway.
    var joinTimeout = 5.0

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

    /// Starts `count` workers, one at a time, each numbered with the id the server will give it; returns their
    /// numbers. A worker that has not joined within `joinTimeout` seconds (a busy server) is left to join later.
    public func startMore(_ count: Int, in run: ClusterRun, endpoint: String) throws -> [Int] {
        let joins = JoinWatch(run)
        var started: [Int] = []
        for _ in 0..<count {
            let k = max(joins.nextID, (context.launcher.recordedWorkers(in: run).last ?? 0) + 1)
            let handle = try start(k, in: run, endpoint: endpoint)
            started.append(k)
            guard let pid = Int(handle), context.launcher is LocalLauncher else { continue }
            _ = context.wait(timeout: joinTimeout, interval: 0.02) {
                joins.refresh()
                return joins.id(of: pid) != nil || !context.launcher.isRunning(.worker(k), in: run)
                    || !context.launcher.isRunning(.server, in: run)
            }
            if context.interrupted() { break }
        }
        return started
    }

    /// `worker-1 (pid 10), worker-2 (pid 11)`.
    public func list(_ workers: [Int], in run: ClusterRun) -> String {
        workers.map { "worker-\($0) (\(context.launcher.handleName) \(context.launcher.handle(of: .worker($0), in: run) ?? "?"))" }
            .joined(separator: ", ")
    }

    /// After a second, warns about each of `workers` that has already exited (a wrong endpoint, a refusal, …),
    /// unless training has ended, which is reason enough: it finished, or failed after `since` (Unix seconds; nil:
    /// ever, while a resumed run's earlier attempt's end does not count).
    public func warnAboutEarlyExits(_ workers: [Int], in run: ClusterRun, since: Double? = nil) {
        guard !workers.isEmpty else { return }
        Thread.sleep(forTimeInterval: 1)
        for k in workers where !context.launcher.isRunning(.worker(k), in: run) {
            if run.isFinished || Self.failureLogged(run, since: since) { return }
            let last = run.lastLines(of: ClusterMember.worker(k).logName, 1).first ?? ""
            context.console.say("warning: worker-\(k) exited right after starting: \(last.isEmpty ? "(empty log)" : last)")
        }
    }

    /// Whether the server logged a `failed` event (after `since`, when given).
    static func failureLogged(_ run: ClusterRun, since: Double? = nil) -> Bool {
        guard let failure = (try? RunLogReader.read(run.directory))?.log.failure else { return false }
        return failure.time >= since ?? -Double.infinity
    }
}

/// The workers' joins a run's server has logged: which id each pid was given, and the id the next one will get.
final class JoinWatch {
    private let tail: LogTail
    private var used: Int
    private var ids: [Int: Int] = [:]

    /// Reads what `server.jsonl` holds so far, and the ids of the `worker-<id>.jsonl` files earlier servers of the run
    /// left (where a restarted server's numbering starts).
    init(_ run: ClusterRun) {
        tail = LogTail(path: run.file(RunLogReader.serverLog))
        let names = (try? FileManager.default.contentsOfDirectory(atPath: run.directory)) ?? []
        used = names.compactMap { name -> Int? in
            guard name.hasPrefix("worker-"), name.hasSuffix(".jsonl") else { return nil }
            return Int(name.dropFirst("worker-".count).dropLast(".jsonl".count))
        }.max() ?? 0
        refresh()
    }

    /// The id the server gives the next worker that joins.
    var nextID: Int { used + 1 }

    /// The id the server gave the process `pid`, once it has joined (its latest, should it have joined again).
    func id(of pid: Int) -> Int? { ids[pid] }

    /// Reads the joins logged since the last call.
    func refresh() {
        tail.drain { line in
            guard line.contains("\"worker_joined\""),
                  let event = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  event["event"] as? String == "worker_joined", let id = event["worker"] as? Int else { return }
            used = max(used, id)
            if let pid = event["pid"] as? Int { ids[pid] = id }
        }
    }
}
