import Foundation
import TrainingLog

/// How a run ended, told once its server has exited: each worker's last word, then the test result or why
/// training did not finish.
public struct RunOutcome {
    let context: ClusterContext

    public init(_ context: ClusterContext) { self.context = context }

    /// Waits for the workers to leave (stopping those still running after the stop timeout) and reports the run.
    /// `serverExit` is the server's exit status when known. Returns whether training finished.
    public func report(_ run: ClusterRun, serverExit: Int32?) -> Bool {
        let launcher = context.launcher
        let console = context.console
        let timeout = context.settings.stopTimeout
        _ = context.wait(timeout: timeout) { launcher.runningWorkers(in: run).isEmpty }
        let left = launcher.runningWorkers(in: run).map(ClusterMember.worker)
        if !left.isEmpty {
            console.say("workers still running \(ClusterStopper.seconds(timeout))s after the server ended: \(left.map(\.description).joined(separator: " "))")
            ClusterStopper(context).stop(left, in: run)
        }
        for k in launcher.recordedWorkers(in: run) {
            let member = ClusterMember.worker(k)
            var last = run.lastLines(of: member.logName, 1).first ?? ""
            if last.hasPrefix("worker \(member): ") { last = String(last.dropFirst("worker \(member): ".count)) }
            let code = launcher.exitStatus(of: member, in: run).map { " (exit \($0))" } ?? ""
            console.say("\(member)\(code): \(last.isEmpty ? "(nothing in its log)" : last)")
        }
        let location = "run directory: \(context.show(run.directory))"
        if let summary = Self.summaryLine(run) {
            if let serverExit, serverExit != 0 { console.say("the server exited with code \(serverExit) although summary.json exists") }
            console.result(summary)
            console.say(location)
            return serverExit == nil || serverExit == 0
        }
        console.say("training did not finish\(serverExit.map { " (server exit code \($0))" } ?? "")")
        if let reason = (try? RunLogReader.read(run.directory))?.log.failure?.reason {
            console.say("failed: \(reason)")
        } else {
            ServerLog(context).printTail(run)
        }
        console.say(location)
        return false
    }

    /// `test accuracy: 0.9750 (test loss 0.0860) - 3 epoch(s), 8.5s, 10382 samples/s` from `summary.json`.
    public static func summaryLine(_ run: ClusterRun) -> String? {
        guard run.isFinished else { return nil }
        guard let data = FileManager.default.contents(atPath: run.file("summary.json")),
              let summary = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return "test accuracy: n/a (summary.json unreadable)"
        }
        func number(_ key: String) -> Double? { (summary[key] as? NSNumber)?.doubleValue }
        func format(_ value: Double?, _ digits: Int = 4) -> String { value.map { String(format: "%.\(digits)f", $0) } ?? "n/a" }
        var extra: [String] = []
        if let epochs = summary["epochs"] as? NSNumber { extra.append("\(epochs.intValue) epoch(s)") }
        if let seconds = number("seconds") { extra.append(format(seconds, 1) + "s") }
        if let rate = number("samples_per_second") { extra.append(format(rate, 0) + " samples/s") }
        return "test accuracy: \(format(number("test_accuracy"))) (test loss \(format(number("test_loss"))))"
            + (extra.isEmpty ? "" : " - " + extra.joined(separator: ", "))
    }
}
