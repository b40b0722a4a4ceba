import Foundation

/// Watches a run until its server exits: `run` follows the server's console log, `wait` just waits.
public struct ClusterFollower {
    let context: ClusterContext

    public init(_ context: ClusterContext) { self.context = context }

    /// Copies `server.log` to standard output until the server exits, then reports the run. Returns whether
    /// training finished; on an interruption, stops the cluster and throws `.interrupted`.
    public func follow(_ run: ClusterRun) throws -> Bool {
        let launcher = context.launcher
        context.console.say("following \(context.show(run.file("server.log"))) until training ends (Ctrl-C stops the cluster)")
        context.console.raw("")
        let tail = LogTail(path: run.file("server.log"))
        while launcher.isRunning(.server, in: run) {
            tail.drain { context.console.result($0) }
            if context.interrupted() { throw stop(run) }
            Thread.sleep(forTimeInterval: 0.2)
        }
        tail.drain(flush: true) { context.console.result($0) }
        context.console.raw("")
        return RunOutcome(context).report(run, serverExit: launcher.exitStatus(of: .server, in: run))
    }

    /// Blocks until the server of `run` exits, then reports the run. Returns whether training finished.
    /// An interruption leaves the cluster running.
    public func wait(_ run: ClusterRun) throws -> Bool {
        let launcher = context.launcher
        if launcher.isRunning(.server, in: run) {
            context.console.say("waiting for the server of \(context.show(run.directory)) (\(launcher.handleName) \(launcher.handle(of: .server, in: run) ?? "?")) to exit")
            guard context.wait(timeout: nil, interval: 0.5, until: { !launcher.isRunning(.server, in: run) }) else {
                throw ClusterCommandError.interrupted
            }
        }
        return RunOutcome(context).report(run, serverExit: nil)
    }

    /// Stops the cluster after an interruption.
    public func stop(_ run: ClusterRun) -> ClusterCommandError {
        context.console.raw("")
        context.console.say("interrupted; stopping the cluster in \(context.show(run.directory))")
        ClusterStopper(context).stopAll(run)
        return .interrupted
    }
}
