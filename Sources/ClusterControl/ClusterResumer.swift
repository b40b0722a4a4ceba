import Foundation
import TrainingLog

/// What `backprop cluster resume` was asked for on its command line.
public struct ResumeRequest: Sendable {
    /// Workers to start; nil: as many as the run started with.
    public var workers: Int?
    /// The server's port; nil: the one it was started with.
    public var port: Int?
    /// Flags after `--`, for `backprop-server`: they replace the run's own settings (`config.json`) and how its
    /// server was started.
    public var serverFlags: [String]

    public init(workers: Int? = nil, port: Int? = nil, serverFlags: [String] = []) {
        self.workers = workers
        self.port = port
        self.serverFlags = serverFlags
    }
}

/// `backprop cluster resume`: continues a stopped (or killed) cluster run in its own directory, from its last
/// checkpoint, with its own settings: a new server with `--resume RUN` and fresh workers.
///
/// The server's flags are how the run's server was started (`cluster.txt`'s `server_command`) without the training
/// flags, which the server takes from `config.json`, and then the flags after `--`. Because the checkpoint holds the
/// step it stopped at, and a step's gradient is the same whoever computes it, the run ends on the bits of one that
/// was never stopped.
public final class ClusterResumer {
    let context: ClusterContext
    /// The flags about how the server runs, not what it trains: kept from the command that started the run.
    static let processFlags: Set<String> = ["--host", "--port", "--workers-min", "--worker-timeout", "--keys", "--insecure", "--quiet"]

    public init(_ context: ClusterContext) { self.context = context }

    /// What a resume started.
    public struct Resumed {
        public let run: ClusterRun
        /// The server's TCP address.
        public let endpoint: String
        /// The workers started, by number.
        public let workers: [Int]
    }

    /// The server's flags to resume `run`: how its server ran, then `request`'s, then `--resume`.
    public static func serverArguments(_ run: ClusterRun, _ request: ResumeRequest, workers: Int) throws -> [String] {
        let given = ServerArguments(request.serverFlags)
        for flag in ["--run-dir", "--resume", "--init"] where given.flagNames.contains(flag) {
            throw ClusterCommandError.usage("resume continues the run in its own directory from its checkpoint; drop \(flag) after --")
        }
        guard let command = run.info("server_command") else {
            throw ClusterCommandError.failure("\(run.file("cluster.txt")) names no server_command; cannot tell how the run's server was started")
        }
        var process = ServerArguments(Array(ShellQuoting.words(command).dropFirst())).keeping(processFlags)
        if let port = request.port { process = process.setting("--port", to: String(port)) }
        // The server waits for no more workers than are started.
        let least = process.value(of: "--workers-min").flatMap { Int($0) } ?? 1
        if request.workers != nil && workers < least { process = process.setting("--workers-min", to: String(max(workers, 1))) }
        return process.dropping(given.flagNames).arguments + request.serverFlags + ["--resume", run.directory]
    }

    /// Resumes `run`. Throws `.usage` for bad flags, `.failure` when the run cannot be resumed (it runs, finished,
    /// has no checkpoint), `.reported` when its server did not start, `.interrupted` when asked to stop meanwhile
    /// (what was started is stopped; the run directory stays as it was).
    public func resume(_ run: ClusterRun, _ request: ResumeRequest) throws -> Resumed {
        let settings = context.settings
        let console = context.console
        let launcher = context.launcher
        let name = context.show(run.directory)
        if launcher.anythingRuns(in: run) {
            throw ClusterCommandError.failure("\(name) is still running; there is nothing to resume (watch it with '\(settings.commandName) status', stop it with '\(settings.commandName) stop')")
        }
        if run.isFinished {
            throw ClusterCommandError.failure("training in \(name) has finished; there is nothing to resume (start a new run with '\(settings.commandName) start')")
        }
        guard run.exists("checkpoint.safetensors") else {
            throw ClusterCommandError.failure("\(name) has no checkpoint to continue from (it stopped before its first step); start a new run with '\(settings.commandName) start'")
        }
        let workers = request.workers ?? run.info("workers").flatMap { Int($0) } ?? 1
        let arguments = try Self.serverArguments(run, request, workers: workers)
        let port = ServerArguments(arguments).value(of: "--port").flatMap { Int($0) } ?? 5555

        let reader = try? RunLogReader.read(run.directory)
        let from = reader?.log.checkpoints.last.map { "its checkpoint of global step \($0.step)" } ?? "its checkpoint"
        let flags = request.serverFlags.isEmpty ? "its own settings (config.json)" : "its own settings (config.json) and \(ShellQuoting.commandLine(request.serverFlags))"
        console.say("resuming \(name) from \(from) with \(flags), \(workers) worker(s)")

        // Endpoint files a killed server left behind would look like the new server's.
        for file in ["endpoint", "local-endpoint"] { try? FileManager.default.removeItem(atPath: run.file(file)) }
        let logOffset = (try? FileManager.default.attributesOfItem(atPath: run.file("server.log"))[.size] as? NSNumber)?.uint64Value ?? 0
        run.append("\n--- \(settings.commandName) resume \(ClusterConsole.timeOfDay()): a new server continues the run from \(from) ---\n\n", to: "server.log")
        let program = (launcher as? LocalLauncher)?.path(of: "backprop-server") ?? "backprop-server"
        run.record([("resumed", ISO8601DateFormatter().string(from: Date())), ("resume_command", ShellQuoting.commandLine([program] + arguments))])
        RunLocator(context).pointCurrent(at: run)

        let stopStarted = { [context] () -> ClusterCommandError in
            console.say("interrupted while resuming; stopping what was started")
            ClusterStopper(context).stopAll(run)
            return .interrupted
        }
        let launched = Date().timeIntervalSince1970
        let serverHandle = try launcher.launch(.server, arguments: arguments, in: run, appendingLog: true)
        let endpoint = try ServerStartup(context).waitForEndpoint(run, port: port, logOffset: logOffset, giveUp: {},
                                                                  interruption: stopStarted)
        console.say("server \(launcher.handleName) \(serverHandle) listening on \(endpoint)")
        let starter = ClusterWorkers(context)
        let started = try starter.startMore(workers, in: run, endpoint: endpoint)
        if !started.isEmpty { console.say("started \(starter.list(started, in: run))") }
        if workers == 0 {
            console.say("no workers started; training goes on when one joins: '\(settings.commandName) scale N'")
        } else if let shares = StepShares(of: run, workers: workers), !shares.isEven || shares.spares > 0 {
            console.say("note: " + shares.sentence)
        }
        starter.warnAboutEarlyExits(started, in: run, since: launched)
        if context.interrupted() { throw stopStarted() }
        return Resumed(run: run, endpoint: endpoint, workers: started)
    }
}
