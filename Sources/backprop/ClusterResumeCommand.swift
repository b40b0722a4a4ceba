import ArgumentParser
import ClusterControl
import Foundation

struct ClusterResume: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue a stopped run in its own directory, from its last checkpoint, with its own settings.",
        discussion: """
            Starts a new server with --resume RUN and fresh workers, in the background like start, and prints the run \
            directory. The training settings are the run's own (its config.json), the server's other flags (port, \
            host, worker timeout) those it was started with; flags after -- replace either, e.g. -- --epochs 30 to \
            train longer. The run ends on the same weights, bit for bit, as one that was never stopped.
            """
    )

    @Argument(help: ArgumentHelp("Run directory (default: runs/current).", valueName: "RUN"))
    var runDirectory: String?

    @Option(parsing: .unconditional, help: "Workers to start (default: as many as the run started with).")
    var workers: Int?

    @Option(parsing: .unconditional, help: "Server port; 0 picks a free one (default: the port the run was started with).")
    var port: Int?

    @Flag(help: "Use the binaries as they are (scripts/cluster then skips its build).")
    var noBuild = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("Flags after -- go to backprop-server and replace the run's own, e.g. -- --epochs 30.", valueName: "server flags"))
    var serverFlags: [String] = []

    func validate() throws {
        if let workers, workers < 0 { throw ValidationError("--workers needs a whole number >= 0, got \(workers)") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port needs a port number 0-65535, got \(port)") }
    }

    func run() throws {
        try runCluster(stoppable: true) { context in
            let (context, found) = try locateRun(runDirectory, in: context)
            guard context.launcher is LocalLauncher else {
                throw ClusterCommandError.failure("\(context.show(found.directory)) runs on Slurm, where a stopped run goes on when its job is requeued (scontrol requeue JOB); see cluster/README.md")
            }
            let resumed = try ClusterResumer(context).resume(found, ResumeRequest(workers: workers, port: port, serverFlags: serverFlags))
            let name = context.settings.commandName
            context.console.say("watch it: \(name) status | logs -f | wait; stop it: \(name) stop")
            context.console.result(context.show(resumed.run.directory))
        }
    }
}
