import Foundation
import TrainingLog

/// `backprop cluster status`: a run's processes, where training stands, the latest membership events and the verdict.
public struct ClusterStatus {
    let context: ClusterContext

    public init(_ context: ClusterContext) { self.context = context }

    /// The status of `run`, one line each.
    public func lines(_ run: ClusterRun) -> [String] {
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
            out.append(row(.worker(k), alive))
        }
        out += launcher.statusNotes(in: run)
        out.append("  (\(running) worker \(launcher is LocalLauncher ? "process(es)" : "job(s)") running)")
        return out + training(run, serverRuns: serverRuns)
    }

    /// Where training stands, from `server.jsonl`.
    private func training(_ run: ClusterRun, serverRuns: Bool) -> [String] {
        guard run.exists(RunLogReader.serverLog), let reader = try? RunLogReader.read(run.directory) else {
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
        if let epoch = log.history.last {
            out.append("epoch:    \(epoch.epoch)\(epochs) - loss \(Self.fixed(epoch.loss)) - accuracy \(Self.fixed(epoch.accuracy))"
                + " - val_loss \(Self.fixed(epoch.validationLoss)) - val_accuracy \(Self.fixed(epoch.validationAccuracy))"
                + " - \(Self.fixed(epoch.seconds, 1))s - \(Self.fixed(epoch.samplesPerSecond, 0)) samples/s")
        } else {
            out.append("epoch:    none finished yet")
        }
        let membership: Set<TimelineEntry.Kind> = [.joined, .left, .timedOut, .reassigned, .failed, .rejoining, .resumed]
        let recent = log.timeline.filter { membership.contains($0.kind) }.suffix(4)
        if !recent.isEmpty {
            out.append("recent events:")
            out += recent.map { "  \($0.text)" }
        }
        let rejected = log.rejections.reduce(0) { $0 + $1.count }
        if rejected > 0 { out.append("rejected: \(rejected) message(s) (backprop logs shows why)") }
        let verdict = RunVerdict(log: log, kind: .cluster, summary: reader.summaryFile(), writerAlive: { serverRuns },
                                 now: Date().timeIntervalSince1970)
        out.append("state:    \(verdict.text)")
        return out
    }

    static func fixed(_ value: Double?, _ digits: Int = 4) -> String {
        value.map { String(format: "%.\(digits)f", $0) } ?? "n/a"
    }

    static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
