import ArgumentParser
import ClusterControl
import Foundation

/// The options of `start`, `run` and `chaos`: which definition, how many workers, where, and the server's flags.
struct ClusterStartOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Workers to start (default: WORKERS from the definition, else 3).")
    var workers: Int?

    @Option(help: ArgumentHelp("Cluster definition (default: cluster/local.conf).", valueName: "FILE"))
    var config = StartRequest.defaultConfig

    @Option(help: ArgumentHelp("Run directory (default: runs/cluster-YYYYmmdd-HHMMSS, UTC).", valueName: "DIR"))
    var runDir: String?

    @Option(parsing: .unconditional, help: "Server port; 0 picks a free one (default: PORT from the definition).")
    var port: Int?

    @Flag(help: "Use the binaries as they are (scripts/cluster then skips its build).")
    var noBuild = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("Flags after -- go to backprop-server and override the definition, e.g. -- --epochs 1 --lr 0.002.", valueName: "server flags"))
    var serverFlags: [String] = []

    func validate() throws {
        if let workers, workers < 0 { throw ValidationError("--workers needs a whole number >= 0, got \(workers)") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port needs a port number 0-65535, got \(port)") }
    }

    var request: StartRequest {
        StartRequest(workers: workers, config: config, runDirectory: runDir, port: port, serverFlags: serverFlags)
    }

    /// Starts the cluster these options describe; an interrupt while it starts stops what was started.
    func start(in context: ClusterContext) throws -> ClusterStarter.Started {
        let starter = ClusterStarter(context)
        do {
            return try starter.start(request)
        } catch ClusterCommandError.interrupted {
            throw starter.interruption()
        }
    }
}

struct ClusterStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start a cluster in the background and print its run directory."
    )

    @OptionGroup var options: ClusterStartOptions

    func run() throws {
        try runCluster(stoppable: true) { context in
            let started = try options.start(in: context)
            let name = context.settings.commandName
            context.console.say("watch it: \(name) status | logs -f | wait; stop it: \(name) stop")
            context.console.result(context.show(started.run.directory))
        }
    }
}

struct ClusterRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start a cluster, follow the server's log until training ends and print the test accuracy; Ctrl-C stops it.",
        discussion: "Exit code 0 iff training finished."
    )

    @OptionGroup var options: ClusterStartOptions

    func run() throws {
        try runCluster(stoppable: true) { context in
            let started = try options.start(in: context)
            guard try ClusterFollower(context).follow(started.run) else { throw ClusterCommandError.reported }
        }
    }
}

struct ClusterChaos: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Start a cluster, inject faults while it trains, then compare its weights with an undisturbed run.",
        discussion: """
            Each fault is one of: SIGKILL a random worker and start a replacement; SIGSTOP a worker for 2-6 s, then \
            SIGCONT; start an extra worker (at most 6 run); and exactly once, after the first checkpoint, SIGKILL the \
            server and restart it with --resume on the same port, which the running workers rejoin. At least one \
            worker kill is among the faults. Faults are spread evenly over the run's training steps, read from \
            server.jsonl, and each is printed with the time and the step. The server checkpoints every 20 steps unless \
            -- --checkpoint-every N says otherwise. When the run has ended, `backprop train` trains the same flags \
            into RUN/reference/ and the two final checkpoints are compared byte for byte. Exit code 0 iff the run \
            finished and the weights are identical.
            """
    )

    @OptionGroup var options: ClusterStartOptions

    @Option(parsing: .unconditional, help: "Faults to inject (default 6).")
    var events = 6

    @Option(parsing: .unconditional, help: ArgumentHelp("The least time between two faults (default 0: the training steps alone decide).", valueName: "SECONDS"))
    var interval = 0.0

    @Option(parsing: .unconditional, help: "Seed of the fault sequence (default: a random one, printed); the training seed is a server flag: -- --seed 3.")
    var seed: UInt64?

    func validate() throws {
        guard events > 0 else { throw ValidationError("--events needs a whole number > 0, got \(events)") }
        guard interval >= 0 && interval.isFinite else { throw ValidationError("--interval needs a number of seconds >= 0, got \(interval)") }
    }

    func run() throws {
        try runCluster(stoppable: true) { context in
            let chosen = seed ?? UInt64.random(in: 0..<32768)
            let harness = ChaosHarness(context, options: ChaosOptions(events: events, interval: interval, seed: chosen))
            let program = ((context.launcher as? LocalLauncher)?.path(of: "backprop")) ?? "backprop"
            try harness.check(options.request, backprop: program)
        }
    }
}
