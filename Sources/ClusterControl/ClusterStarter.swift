import Foundation

/// Starts a cluster: a fresh run directory, the server, then the workers once the server listens.
///
/// A start that fails before the server has written `config.json` leaves nothing behind: the run directory it made
/// is removed (in an existing `--run-dir`, only the files written here) and the `current` link points where it
/// pointed before.
public final class ClusterStarter {
    let context: ClusterContext
    /// The run being started, once its directory exists.
    public private(set) var run: ClusterRun?
    /// Whether the start is still under way (an interruption now undoes it).
    public private(set) var starting = false
    private var createdDirectory = false
    private var previousCurrent: String?
    private var movedCurrent = false

    public init(_ context: ClusterContext) { self.context = context }

    /// What a finished start produced.
    public struct Started {
        public let run: ClusterRun
        public let plan: StartPlan
        /// The server's TCP address.
        public let endpoint: String
        /// The workers started, by number.
        public let workers: [Int]
    }

    /// Starts the cluster `request` describes. Throws `.usage` for a bad definition or request, `.failure` or
    /// `.reported` when it could not start (after cleaning up), `.interrupted` when asked to stop meanwhile.
    public func start(_ request: StartRequest) throws -> Started {
        let settings = context.settings
        let console = context.console
        guard let definitionPath = settings.existing(request.config) else {
            throw ClusterCommandError.usage("config file not found: \(request.config)")
        }
        let definition: ClusterDefinition
        do {
            definition = try ClusterDefinition.read(path: definitionPath, file: request.config)
        } catch let error as DefinitionError {
            throw ClusterCommandError.usage("\(error)")
        }
        let plan = try StartPlan(definition: definition, request: request)

        if let current = RunLocator(context).current(), context.launcher.anythingRuns(in: current) {
            throw ClusterCommandError.failure("a cluster is still running in \(context.show(current.directory)); stop it with '\(settings.commandName) stop' (or watch it with '\(settings.commandName) status')")
        }
        try checkBinaries()
        let run = try makeRunDirectory(request.runDirectory)
        let serverArguments = plan.server.arguments + ["--run-dir", run.directory]
        try writeInfo(run, request: request, plan: plan, serverArguments: serverArguments)

        console.say("run directory \(context.show(run.directory)) (config \(request.config), \(plan.workers) worker(s))")
        let serverHandle = try context.launcher.launch(.server, arguments: serverArguments, in: run, appendingLog: false)
        let endpoint = try waitForEndpoint(run, port: plan.port)
        console.say("server \(context.launcher.handleName) \(serverHandle) listening on \(endpoint)")

        let workers = ClusterWorkers(context)
        let started = try workers.startMore(plan.workers, in: run, endpoint: endpoint)
        if !started.isEmpty { console.say("started \(workers.list(started, in: run))") }
        if plan.workers == 0 {
            console.say("no workers started; training begins when one joins: '\(settings.commandName) scale N' or backprop-worker --server \(endpoint)")
        } else if plan.workersMin > plan.workers && !plan.workersMinGiven {
            console.say("note: the server waits for \(plan.workersMin) worker(s); add some with '\(settings.commandName) scale \(plan.workersMin)'")
        }
        workers.warnAboutEarlyExits(started, in: run)
        if context.interrupted() { throw interruption() }
        starting = false
        return Started(run: run, plan: plan, endpoint: endpoint, workers: started)
    }

    /// After an interruption or failure: stops what was started and removes what the start left behind.
    public func interruption() -> ClusterCommandError {
        if let run, starting {
            context.console.say("interrupted while starting; stopping what was started")
            ClusterStopper(context).stopAll(run)
            abandon()
        }
        return .interrupted
    }

    // MARK: - Steps

    private func checkBinaries() throws {
        guard let local = context.launcher as? LocalLauncher else { return }
        let missing = ["backprop-server", "backprop-worker"].map(local.path(of:)).filter { !FileManager.default.isExecutableFile(atPath: $0) }
        if !missing.isEmpty {
            let names = missing.map(context.show).joined(separator: " and ")
            throw ClusterCommandError.failure("\(names) \(missing.count == 1 ? "is" : "are") missing; build with 'swift build -c release' or drop --no-build")
        }
    }

    private func makeRunDirectory(_ given: String?) throws -> ClusterRun {
        let settings = context.settings
        let manager = FileManager.default
        var path: String
        if let given {
            path = settings.absolute(given)
        } else {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "yyyyMMdd-HHmmss"
            formatter.timeZone = TimeZone(identifier: "UTC")
            let base = (settings.runs as NSString).appendingPathComponent("cluster-" + formatter.string(from: Date()))
            path = base
            var n = 2
            while manager.fileExists(atPath: path) {
                path = "\(base)-\(n)"
                n += 1
            }
        }
        let probe = ClusterRun(directory: path)
        if probe.exists("config.json") || probe.exists("pids") {
            throw ClusterCommandError.failure("\(context.show(path)) already holds a run; pick another --run-dir")
        }
        createdDirectory = !manager.fileExists(atPath: path)
        do {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
            try manager.createDirectory(atPath: settings.runs, withIntermediateDirectories: true)
        } catch {
            throw ClusterCommandError.failure("cannot create \(path): \(error.localizedDescription)")
        }
        let run = ClusterRun(directory: ClusterSettings.canonical(path) ?? path)
        self.run = run
        starting = true
        try context.launcher.prepare(run)
        pointCurrent(at: run)
        return run
    }

    /// Points `current` at `run`: by its name when it is directly in the runs directory, else by its full path.
    private func pointCurrent(at run: ClusterRun) {
        let runs = ClusterSettings.canonical(context.settings.runs) ?? context.settings.runs
        let current = (runs as NSString).appendingPathComponent("current")
        previousCurrent = try? FileManager.default.destinationOfSymbolicLink(atPath: current)
        movedCurrent = true
        let parent = (run.directory as NSString).deletingLastPathComponent
        let target = parent == runs ? (run.directory as NSString).lastPathComponent : run.directory
        Self.link(current, to: target)
    }

    private static func link(_ path: String, to target: String) {
        let temporary = path + ".new-\(getpid())"
        try? FileManager.default.removeItem(atPath: temporary)
        guard (try? FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: target)) != nil else { return }
        if rename(temporary, path) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
    }

    private func writeInfo(_ run: ClusterRun, request: StartRequest, plan: StartPlan, serverArguments: [String]) throws {
        let formatter = ISO8601DateFormatter()
        let program = (context.launcher as? LocalLauncher)?.path(of: "backprop-server") ?? "backprop-server"
        let text = """
            # written by \(context.settings.commandName) start
            config=\(request.config)
            started=\(formatter.string(from: Date()))
            workers=\(plan.workers)
            server_command=\(ShellQuoting.commandLine([program] + serverArguments))
            worker_server_timeout=\(plan.workerServerTimeout ?? "")

            """
        do {
            try text.write(toFile: run.file("cluster.txt"), atomically: true, encoding: .utf8)
        } catch {
            throw ClusterCommandError.failure("cannot write \(run.file("cluster.txt")): \(error.localizedDescription)")
        }
    }

    /// Waits for the server to bind and name its endpoint; on failure, says why, cleans up and throws.
    private func waitForEndpoint(_ run: ClusterRun, port: Int) throws -> String {
        let console = context.console
        let launcher = context.launcher
        let deadline = Date().addingTimeInterval(context.settings.startTimeout)
        while true {
            if let endpoint = run.endpoint { return endpoint }
            if context.interrupted() { throw interruption() }
            if !launcher.isRunning(.server, in: run) {
                let code = (launcher as? LocalLauncher)?.waitForExit(.server, in: run, timeout: 1) ?? launcher.exitStatus(of: .server, in: run)
                console.say("the server exited\(code.map { " (code \($0))" } ?? "") before it listened; its output:")
                ServerLog(context).printHead(run)
                if (try? String(contentsOfFile: run.file("server.log"), encoding: .utf8))?.contains("Address already in use") == true {
                    console.say("port \(port) is taken; pick another with --port P, or --port 0 for any free port")
                }
                abandon()
                throw ClusterCommandError.reported
            }
            if Date() >= deadline {
                console.say("the server wrote no endpoint file within \(ClusterStopper.seconds(context.settings.startTimeout))s (set CLUSTER_START_TIMEOUT to wait longer)")
                ServerLog(context).printTail(run)
                ClusterStopper(context).stopAll(run)
                abandon()
                throw ClusterCommandError.reported
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// Undoes a start that failed: keeps a run the server began (it has `config.json`), else removes what this
    /// start wrote and points `current` back.
    public func abandon() {
        starting = false
        guard let run else { return }
        let manager = FileManager.default
        if run.exists("config.json") {
            context.console.say("run directory kept: \(context.show(run.directory))")
            return
        }
        if createdDirectory {
            try? manager.removeItem(atPath: run.directory)
            context.console.say("removed the run directory \(context.show(run.directory))")
        } else {
            for name in ["pids", "cluster.txt", "server.log"] { try? manager.removeItem(atPath: run.file(name)) }
            context.console.say("removed what was written in \(context.show(run.directory))")
        }
        guard movedCurrent else { return }
        movedCurrent = false
        let current = context.settings.current
        if let previousCurrent {
            Self.link(current, to: previousCurrent)
            context.console.say("\(context.show(current)) points at \(previousCurrent) again")
        } else {
            try? manager.removeItem(atPath: current)
        }
    }
}
