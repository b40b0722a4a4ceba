import Foundation

/// Waiting for a server just launched to listen: what `start` and `resume` share.
struct ServerStartup {
    let context: ClusterContext

    init(_ context: ClusterContext) { self.context = context }

    /// Waits for the server of `run` to name its endpoint and returns it. When the server exits first, or writes no
    /// endpoint within the start timeout (it is then stopped), says why — its output from byte `logOffset` of
    /// `server.log` on — calls `giveUp` and throws `.reported`. An interruption throws what `interruption` makes.
    func waitForEndpoint(_ run: ClusterRun, port: Int, logOffset: UInt64, giveUp: () -> Void,
                         interruption: () -> ClusterCommandError) throws -> String {
        let console = context.console
        let launcher = context.launcher
        let deadline = Date().addingTimeInterval(context.settings.startTimeout)
        while true {
            if let endpoint = run.endpoint { return endpoint }
            if context.interrupted() { throw interruption() }
            if !launcher.isRunning(.server, in: run) {
                let code = (launcher as? LocalLauncher)?.waitForExit(.server, in: run, timeout: 1) ?? launcher.exitStatus(of: .server, in: run)
                console.say("the server exited\(code.map { " (code \($0))" } ?? "") before it listened; its output:")
                ServerLog(context).printHead(run, from: logOffset)
                if (try? String(contentsOfFile: run.file("server.log"), encoding: .utf8))?.contains("Address already in use") == true {
                    console.say("port \(port) is taken; pick another with --port P, or --port 0 for any free port")
                }
                giveUp()
                throw ClusterCommandError.reported
            }
            if Date() >= deadline {
                console.say("the server wrote no endpoint file within \(ClusterStopper.seconds(context.settings.startTimeout))s (set CLUSTER_START_TIMEOUT to wait longer)")
                ServerLog(context).printTail(run)
                ClusterStopper(context).stopAll(run)
                giveUp()
                throw ClusterCommandError.reported
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }
}
