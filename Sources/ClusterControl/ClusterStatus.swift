import Foundation
import TrainingLog

/// `backprop cluster status`: a run's processes, how a step's work spreads over its workers, where training stands
/// and how long it has left, the latest membership events and the verdict.
public struct ClusterStatus {
    let context: ClusterContext

    public init(_ context: ClusterContext) { self.context = context }

    /// The status of `run` at `now` (Unix seconds), one line each.
    public func lines(_ run: ClusterRun, now: Double = Date().timeIntervalSince1970) -> [String] {
        let launcher = context.launcher
        var out: [String] = []
        let isCurrent = RunLocator(context).current() == run
        out.append("run:      \(context.show(run.directory))\(isCurrent ? " (current)" : "")")
        if let config = run.info("config") { out.append("config:   \(config)") }
        let serverRuns = launcher.isRunning(.server, in: run)
        if serverRuns {
            out.append("endpoint: \(run.endpoint ?? "(none yet)")")
            if let local = run.localEndpoint, launcher is LocalLauncher { out.append("local:    \(local) (the workers started here use it)") }
        } else if run.isFinished {
            out.append("endpoint: (server exited: training finished)")
        } else if run.exists("server.jsonl") {
            out.append("endpoint: (server exited before training finished)")
        } else {
            out.append("endpoint: (server exited before it started the run)")
        }
        let log = run.exists(RunLogReader.serverLog) ? (try? RunLogReader.read(run.directory)) : nil
        out.append("processes:")
        let handle = { (member: ClusterMember) in launcher.handle(of: member, in: run) ?? "?" }
        func row(_ member: ClusterMember, _ running: Bool) -> String {
            "  " + Self.padded(member.description, 10) + " \(launcher.handleName) " + Self.padded(handle(member), 8) + " "
                + (launcher.state(of: member, in: run) ?? (running ? "running" : "exited"))
        }
        out.append(row(.server, serverRuns))
        var running = 0
        for k in launcher.recordedWorkers(in: run) {
            let alive = launcher.isRunning(.worker(k), in: run)
            if alive { running += 1 }
            // The server numbers a worker anew when it joins again (after a silence, or a restarted server).
            let id = launcher is LocalLauncher ? log.flatMap { Self.serverID(of: handle(.worker(k)), in: $0.log) } : nil
            out.append(row(.worker(k), alive) + (id.map { $0 == k ? "" : " (the server's worker \($0) since it joined again)" } ?? ""))
        }
        out += launcher.statusNotes(in: run)
        out.append("  (\(running) worker \(launcher is LocalLauncher ? "process(es)" : "job(s)") running)")
        if running > 0, let shares = StepShares(of: run, workers: running) {
            out.append("workers:  \(running) running; \(shares.sentence)")
        }
        return out + training(run, log: log, serverRuns: serverRuns, now: now)
    }

    /// Where training stands, from `server.jsonl`.
    private func training(_ run: ClusterRun, log reader: RunLogReader?, serverRuns: Bool, now: Double) -> [String] {
        guard let reader else {
            if serverRuns { return ["training: no server.jsonl yet"] }
            let first = run.lastLines(of: "server.log", Int.max).first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            return ["training: none (no server.jsonl)",
                    "state:    the server exited before it started the run" + (first.map { " - " + $0 } ?? "")]
        }
        let log = reader.log
        let epochs = log.epochs.map { "/\($0)" } ?? ""
        var out: [String] = []
        if let step = log.lastStep?.record {
            out.append("training: epoch \(step.epoch)\(epochs), step \(step.step)/\(step.stepsPerEpoch) (global \(step.globalStep))"
                + " - loss \(Self.fixed(step.loss)) - accuracy \(Self.fixed(step.accuracy)) - \(step.workers) worker(s) in the last step")
        } else {
            out.append("training: no step yet")
        }
        if let waiting = log.waiting, serverRuns {
            out.append("waiting:  for workers (\(waiting.have) live, \(waiting.need) needed)")
        }
        if let time = Self.time(log, running: serverRuns, now: now) { out.append("time:     " + time) }
        if let epoch = log.history.last {
            out.append("epoch:    \(epoch.epoch)\(epochs) - loss \(Self.fixed(epoch.loss)) - accuracy \(Self.fixed(epoch.accuracy))"
                + " - val_loss \(Self.fixed(epoch.validationLoss)) - val_accuracy \(Self.fixed(epoch.validationAccuracy))"
                + " - \(Self.fixed(epoch.seconds, 1))s - \(Self.fixed(epoch.samplesPerSecond, 0)) samples/s")
        } else {
            out.append("epoch:    none finished yet")
        }
        let membership: Set<TimelineEntry.Kind> = [.joined, .left, .timedOut, .reassigned, .failed, .stopped, .rejoining, .resumed]
        let recent = log.timeline.filter { membership.contains($0.kind) }.suffix(4)
        if !recent.isEmpty {
            out.append("recent events:")
            out += recent.map { "  \($0.text)" }
        }
        let rejected = log.rejections.reduce(0) { $0 + $1.count }
        if rejected > 0 { out.append("rejected: \(rejected) message(s) (backprop logs shows why)") }
        let verdict = RunVerdict(log: log, kind: .cluster, summary: reader.summaryFile(), writerAlive: { serverRuns }, now: now)
        out.append("state:    \(verdict.text)")
        return out
    }

    /// The latest id the server gave the worker process `pid` (a handle), if it joined.
    static func serverID(of pid: String, in log: RunLog) -> Int? {
        guard let pid = Int(pid) else { return nil }
        return log.workers.values.filter { $0.pid == pid && $0.joined != nil }.map(\.id).max()
    }

    /// `elapsed 1m12s since the run started at 22:40:57; about 45.0s left (1,504 steps × 30ms, the mean of the last
    /// 100 steps)` while it runs; the time from the first event to the last once it has ended.
    static func time(_ log: RunLog, running: Bool, now: Double) -> String? {
        guard let first = log.firstTime else { return nil }
        let started = "the run started at \(ClusterConsole.timeOfDay(Date(timeIntervalSince1970: first)))"
        guard running else {
            return "took \(duration((log.lastTime ?? first) - first)) from when \(started) to its last event"
                + (log.starts > 1 ? " (stopped and resumed \(log.starts - 1) time(s) in between)" : "")
        }
        let elapsed = "elapsed \(duration(now - first)) since \(started)" + (log.starts > 1 ? " (resumed since)" : "")
        guard let last = log.lastStep?.record, let epochs = log.epochs else { return elapsed + "; no step yet to time" }
        let left = max(epochs * last.stepsPerEpoch - last.globalStep, 0)
        if log.waiting != nil { return elapsed + "; \(left) step(s) left, no time estimate while no worker computes" }
        let recent = log.steps.suffix(100).map(\.record.seconds)
        let mean = recent.reduce(0, +) / Double(max(recent.count, 1))
        return elapsed + "; about \(duration(Double(left) * mean)) left (\(left) step(s) × \(String(format: "%.1f", mean * 1000))ms, "
            + "the mean of the last \(recent.count) step(s))"
    }

    /// `0.8s`, `12.3s`, `4m05s`, `2h03m`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "-" }
        if seconds < 60 { return String(format: "%.1fs", max(seconds, 0)) }
        let whole = Int(seconds.rounded())
        if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return String(format: "%dh%02dm", whole / 3600, whole % 3600 / 60)
    }

    static func fixed(_ value: Double?, _ digits: Int = 4) -> String {
        value.map { String(format: "%.\(digits)f", $0) } ?? "n/a"
    }

    static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
