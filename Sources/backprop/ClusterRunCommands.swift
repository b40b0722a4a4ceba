import ArgumentParser
import ClusterControl
import Foundation

struct ClusterStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Each process (running or exited), the latest step, epoch, loss and accuracy, and the run's state."
    )

    @Argument(help: ArgumentHelp("Run directory (default: runs/current).", valueName: "RUN"))
    var runDirectory: String?

    func run() throws {
        try runCluster(stoppable: false) { context in
            let (context, found) = try locateRun(runDirectory, in: context)
            ClusterStatus(context).lines(found).forEach { context.console.result($0) }
        }
    }
}

struct ClusterScale: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Start or stop workers so that N run; new ones join at the next step, stopped ones leave cleanly."
    )

    @Argument(help: "Workers that should run.")
    var workers: Int

    @Argument(help: ArgumentHelp("Run directory (default: runs/current).", valueName: "RUN"))
    var runDirectory: String?

    @Option(help: ArgumentHelp("For a run on Slurm: the partition to submit worker jobs to (a spot or preemptible one).", valueName: "NAME"))
    var partition: String?

    func validate() throws {
        guard workers >= 0 else { throw ValidationError("scale needs a whole number of workers >= 0, got \(workers)") }
        if let partition, partition.isEmpty { throw ValidationError("--partition needs a partition name") }
    }

    func run() throws {
        try runCluster(stoppable: false) { context in
            let (context, found) = try locateRun(runDirectory, in: context, partition: partition)
            if let slurm = context.launcher as? SlurmLauncher {
                try SlurmScaler(context, launcher: slurm).scale(found, to: workers)
            } else {
                try ClusterScaler(context).scale(found, to: workers)
            }
        }
    }
}

struct ClusterLogs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "The run's report from `backprop logs`; with -f, live until the run ends, then exit 0 iff training finished."
    )

    @Flag(name: .shortAndLong, help: "Refresh live until the run ends.")
    var follow = false

    @Argument(help: ArgumentHelp("Run directory (default: runs/current).", valueName: "RUN"))
    var runDirectory: String?

    func run() throws {
        try runCluster(stoppable: false) { context in
            let (context, found) = try locateRun(runDirectory, in: context)
            var outcome: Error?
            do {
                let logs = try Logs.parse((follow ? ["--follow"] : []) + [found.directory])
                try logs.run()
            } catch {
                outcome = error
            }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: found.directory)) ?? []
            let consoles = names.compactMap { name -> ClusterMember? in
                guard name.hasSuffix(".log") else { return nil }
                return ClusterMember(name: String(name.dropLast(4)))
            }.filter { $0 != .server }.sorted().map(\.logName)
            if let slurm = context.launcher as? SlurmLauncher {
                for member in [ClusterMember.server] + slurm.recordedWorkers(in: found).map(ClusterMember.worker) {
                    let job = slurm.handle(of: member, in: found) ?? "?"
                    let what = member == .server ? "server's job" : "\(member)'s job"
                    context.console.say("slurm: the \(what) \(job): \(slurm.state(of: member, in: found) ?? "?")")
                }
                slurm.statusNotes(in: found).forEach { context.console.say("slurm:" + $0) }
            }
            context.console.say("in \(context.show(found.directory)): console logs: \((["server.log"] + consoles).joined(separator: " ")); the raw events are in server.jsonl and worker-<id>.jsonl")
            if let outcome { throw outcome }
        }
    }
}

struct ClusterWait: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Block until the run's server exits; exit code 0 iff training finished."
    )

    @Argument(help: ArgumentHelp("Run directory (default: runs/current).", valueName: "RUN"))
    var runDirectory: String?

    func run() throws {
        try runCluster(stoppable: true) { context in
            let (context, found) = try locateRun(runDirectory, in: context)
            guard try ClusterFollower(context).wait(found) else { throw ClusterCommandError.reported }
        }
    }
}

struct ClusterStop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "SIGTERM the workers, then the server; SIGKILL what is left after CLUSTER_STOP_TIMEOUT seconds (10)."
    )

    @Argument(help: ArgumentHelp("Run directory (default: runs/current).", valueName: "RUN"))
    var runDirectory: String?

    func run() throws {
        try runCluster(stoppable: false) { context in
            let (context, found) = try locateRun(runDirectory, in: context)
            ClusterStopper(context).stopAll(found)
        }
    }
}
