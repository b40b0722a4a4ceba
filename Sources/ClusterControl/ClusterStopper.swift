import Foundation

/// Stops a run's processes: SIGTERM to the workers first (they leave while the server still listens), then to the
/// server, and SIGKILL to whatever is left after the stop timeout. Says what happened to each.
public struct ClusterStopper {
    let context: ClusterContext

    public init(_ context: ClusterContext) { self.context = context }

    /// Stops every process of `run` that is still running.
    public func stopAll(_ run: ClusterRun) {
        let launcher = context.launcher
        var members = launcher.runningWorkers(in: run).map(ClusterMember.worker)
        if launcher.isRunning(.server, in: run) { members.append(.server) }
        guard !members.isEmpty else {
            context.console.say("nothing is running in \(context.show(run.directory))")
            return
        }
        context.console.say("stopping \(members.map(\.description).joined(separator: " ")) in \(context.show(run.directory))")
        stop(members, in: run)
    }

    /// Stops `members` of `run`.
    public func stop(_ members: [ClusterMember], in run: ClusterRun) {
        let launcher = context.launcher
        let timeout = context.settings.stopTimeout
        let start = Date()
        let workers = members.filter { $0 != .server }
        let server = members.contains(.server)
        let anyAlive = { (group: [ClusterMember]) in group.contains { launcher.isRunning($0, in: run) } }
        for worker in workers { launcher.signal(worker, SIGTERM, in: run) }
        if server {
            // Give the workers time to leave before the server goes.
            sleep(until: start.addingTimeInterval((timeout + 1) / 2)) { !anyAlive(workers) }
            launcher.signal(.server, SIGTERM, in: run)
        }
        sleep(until: start.addingTimeInterval(timeout)) { !anyAlive(members) }
        for member in workers + (server ? [.server] : []) {
            let handle = launcher.handle(of: member, in: run) ?? "?"
            if launcher.signal(member, SIGKILL, in: run) {
                context.console.say("\(member) (\(launcher.handleName) \(handle)): did not stop within \(Self.seconds(timeout))s, killed")
            } else {
                context.console.say("\(member) (\(launcher.handleName) \(handle)): stopped")
            }
        }
    }

    /// Waits (ignoring interruptions: a stop is what an interruption asks for) until `done` or `deadline`.
    private func sleep(until deadline: Date, _ done: () -> Bool) {
        while !done() && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
