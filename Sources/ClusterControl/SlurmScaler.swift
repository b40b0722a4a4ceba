import Foundation

/// `backprop cluster scale N RUN` for a run on Slurm: submits or cancels worker jobs so that N workers belong to the
/// run, counting the workers inside the server's job (which only end with it) and every worker job that is queued or
/// running. New jobs join at the next step once Slurm starts them; cancelled ones leave cleanly (SIGTERM).
public struct SlurmScaler {
    let context: ClusterContext
    let launcher: SlurmLauncher

    public init(_ context: ClusterContext, launcher: SlurmLauncher) {
        self.context = context
        self.launcher = launcher
    }

    public func scale(_ run: ClusterRun, to want: Int) throws {
        let console = context.console
        let server = launcher.serverJob(in: run) ?? "?"
        guard launcher.isRunning(.server, in: run) else {
            if run.isFinished { throw ClusterCommandError.failure("training in \(context.show(run.directory)) has finished; there is nothing to scale") }
            let state = launcher.state(of: .server, in: run).map { " (\($0))" } ?? ""
            throw ClusterCommandError.failure("the server's job \(server) of \(context.show(run.directory)) is not queued or running\(state); cannot add workers")
        }
        let inJob = launcher.jobWorkers(in: run)
        guard want >= inJob else {
            throw ClusterCommandError.failure("the server's job \(server) runs \(inJob) worker(s) of its own, which end only with it; scale to \(inJob) or more")
        }
        let jobs = launcher.runningWorkers(in: run)
        let target = want - inJob
        if target == jobs.count {
            console.say("\(want) worker(s) already: \(inJob) in the server's job \(server), \(jobs.count) worker job(s); nothing to change")
        } else if target > jobs.count {
            let first = max(launcher.recordedWorkers(in: run).last ?? 0, inJob) + 1
            let numbers = Array(first..<first + (target - jobs.count))
            if let keys = launcher.workerKeys(in: run), let last = numbers.last, last > keys {
                throw ClusterCommandError.failure("worker-\(last) would need a key, and the job made \(keys) (\(context.show(run.file("keys")))); submit the run with --worker-keys N for more")
            }
            var submitted: [String] = []
            for k in numbers {
                let job = try launcher.submitWorker(k, in: run)
                submitted.append("worker-\(k) (job \(job))")
            }
            let partition = launcher.partition.map { " to partition \($0)" } ?? ""
            console.say("submitted \(submitted.joined(separator: ", "))\(partition)")
        } else {
            let leaving = jobs.suffix(jobs.count - target).reversed().map(ClusterMember.worker)
            console.say("cancelling \(leaving.map { "\($0) (job \(launcher.handle(of: $0, in: run) ?? "?"))" }.joined(separator: ", ")) (SIGTERM: they leave cleanly)")
            ClusterStopper(context).stop(Array(leaving), in: run)
        }
        for line in summary(run) { console.say(line) }
    }

    /// `3 worker(s): 2 in the server's job 12; worker-3 job 14 RUNNING on node2`.
    public func summary(_ run: ClusterRun) -> [String] {
        let inJob = launcher.jobWorkers(in: run)
        let jobs = launcher.runningWorkers(in: run)
        var lines = ["\(inJob + jobs.count) worker(s): \(inJob) in the server's job \(launcher.serverJob(in: run) ?? "?")"
            + (jobs.isEmpty ? "" : ", \(jobs.count) worker job(s)")]
        for k in jobs {
            lines.append("  worker-\(k) job \(launcher.handle(of: .worker(k), in: run) ?? "?") \(launcher.state(of: .worker(k), in: run) ?? "")")
        }
        return lines
    }
}
