/// `backprop cluster scale N`: starts or stops workers so that N run. New ones join at the next step; stopped ones
/// (the most recently started first) leave cleanly on SIGTERM.
public struct ClusterScaler {
    let context: ClusterContext

    public init(_ context: ClusterContext) { self.context = context }

    public func scale(_ run: ClusterRun, to want: Int) throws {
        let launcher = context.launcher
        let console = context.console
        let running = launcher.runningWorkers(in: run)
        if want == running.count {
            console.say("\(running.count) worker(s) running already; nothing to change")
        } else if want > running.count {
            guard launcher.isRunning(.server, in: run) else {
                if run.isFinished { throw ClusterCommandError.failure("training in \(context.show(run.directory)) has finished; there is nothing to scale") }
                throw ClusterCommandError.failure("the server of \(context.show(run.directory)) is not running; cannot add workers")
            }
            guard let endpoint = run.endpoint else {
                throw ClusterCommandError.failure("\(context.show(run.file("endpoint"))) is missing; cannot add workers")
            }
            let workers = ClusterWorkers(context)
            let added = try workers.startMore(want - running.count, in: run, endpoint: endpoint)
            console.say("started \(workers.list(added, in: run))")
            workers.warnAboutEarlyExits(added, in: run)
        } else {
            let leaving = running.suffix(running.count - want).reversed().map(ClusterMember.worker)
            console.say("stopping \(leaving.map(\.description).joined(separator: " ")) (SIGTERM: they leave cleanly)")
            ClusterStopper(context).stop(Array(leaving), in: run)
        }
        let now = launcher.runningWorkers(in: run)
        console.say("\(now.count) worker(s) running" + (now.isEmpty ? "" : ": " + now.map { "worker-\($0)" }.joined(separator: " ")))
    }
}
