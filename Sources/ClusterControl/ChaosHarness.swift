import Foundation
import TrainingLog

/// `backprop cluster chaos`: starts a cluster, injects faults while it trains, lets the run end, then checks that
/// its final weights are those of an undisturbed `backprop train` with the same training flags.
///
/// Faults follow training progress, read from `server.jsonl` (see `FaultPlan`), so they all fall inside training
/// however fast the run goes.
public final class ChaosHarness {
    let context: ClusterContext
    let options: ChaosOptions
    private var plan: FaultPlan
    private var run = ClusterRun(directory: "/")
    private var endpoint = ""
    private var port = ""
    private var resumeArguments: [String] = []
    private var reader: RunLogReader?
    private var lastFault = Date.distantPast
    private var frozen: (worker: Int, handle: String, since: Date, until: Date)?
    private var logSize: UInt64 = 0
    private var logChanged = Date()

    public init(_ context: ClusterContext, options: ChaosOptions) {
        self.context = context
        self.options = options
        plan = FaultPlan(events: options.events, seed: options.seed)
    }

    private var launcher: any ClusterLauncher { context.launcher }
    private var console: ClusterConsole { context.console }

    /// Runs the whole check. Returns normally iff the run finished and the weights are identical; throws
    /// `.usage`, `.failure`, `.reported` or `.interrupted` otherwise.
    public func check(_ request: StartRequest, backprop: String) throws {
        var request = request
        let given = ServerArguments(request.serverFlags).flagNames
        if given.contains("--resume") {
            throw ClusterCommandError.usage("chaos restarts the server with --resume itself; do not pass --resume")
        }
        if !given.contains("--checkpoint-every") { request.serverFlags += ["--checkpoint-every", String(options.checkpointEvery)] }
        guard FileManager.default.isExecutableFile(atPath: backprop) else {
            throw ClusterCommandError.failure("\(context.show(backprop)) is missing; build it with 'swift build -c release --product backprop' or drop --no-build")
        }

        let starter = ClusterStarter(context)
        let started: ClusterStarter.Started
        do {
            started = try starter.start(request)
        } catch ClusterCommandError.interrupted {
            throw starter.interruption()
        }
        run = started.run
        endpoint = started.endpoint
        port = String(endpoint.split(separator: ":").last ?? "")
        resumeArguments = started.plan.server.dropping(["--port", "--init"]).arguments + ["--port", port, "--resume", run.directory, "--run-dir", run.directory]
        run.record([("chaos_seed", String(options.seed)), ("chaos_events", String(options.events)), ("chaos_interval", String(options.interval))])
        let spacing = options.interval > 0 ? ", at least \(ClusterStopper.seconds(options.interval))s apart" : ""
        console.chaos("seed \(options.seed) (repeat with --seed \(options.seed)): up to \(options.events) faults, spread over the training steps\(spacing); the server restarts on port \(port)")

        let stalled = try disturb()
        thaw(now: true)
        if stalled {
            console.chaos("the server logged nothing for \(ClusterStopper.seconds(context.settings.stallTimeout))s\(atStep()); giving up (CLUSTER_CHAOS_STALL_TIMEOUT waits longer)")
            ServerLog(context).printTail(run)
            ClusterStopper(context).stopAll(run)
            console.chaos("run failed after \(plan.injected) fault(s): \(plan.summary); run directory \(context.show(run.directory))")
            throw ClusterCommandError.reported
        }
        let finished = RunOutcome(context).report(run, serverExit: launcher.exitStatus(of: .server, in: run))
        if launcher.anythingRuns(in: run) { ClusterStopper(context).stopAll(run) }
        guard finished else {
            console.chaos("the run failed after \(plan.injected) fault(s): \(plan.summary)")
            throw ClusterCommandError.reported
        }
        if plan.injected < options.events {
            console.chaos("the run ended after \(plan.injected) of \(options.events) faults")
        }
        if plan.tally[.restartServer] == nil {
            console.chaos("note: the server was not restarted (the run ended before the fault that would have, or before a checkpoint existed)")
        }

        let reference = ReferenceRun(context, program: backprop)
        try reference.train(run, flags: started.plan.server.keeping(ServerArguments.trainingFlags))
        let faults = "\(plan.injected) fault\(plan.injected == 1 ? "" : "s")" + (plan.injected > 0 ? ": " + plan.summary : "")
        if let difference = reference.difference(run) {
            console.result("chaos: final weights DIFFER from an undisturbed run (\(faults)): \(difference)")
            console.result("chaos: compare \(context.show(run.file("checkpoint.safetensors"))) with \(context.show(run.file("reference/checkpoint.safetensors")))")
            throw ClusterCommandError.reported
        }
        console.result("chaos: final weights identical to an undisturbed run (\(faults))")
    }

    /// Injects the faults as training reaches their steps, then waits for the server to exit. Returns whether the
    /// server stalled (logged nothing for the stall timeout).
    private func disturb() throws -> Bool {
        logChanged = Date()
        while !run.isFinished && launcher.isRunning(.server, in: run) && plan.injected < options.events {
            try checkInterruption()
            thaw(now: false)
            if stalled() { return true }
            refresh()
            if let total = totalSteps, let step = currentStep, step >= plan.dueStep(plan.injected, totalSteps: total),
               Date().timeIntervalSince(lastFault) >= options.interval, let kind = plan.next(checkpointExists: run.exists("checkpoint.safetensors")) {
                try inject(kind)
                lastFault = Date()
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        if launcher.isRunning(.server, in: run) {
            console.chaos("\(plan.injected) fault(s) injected; waiting for the run to end")
            while launcher.isRunning(.server, in: run) {
                try checkInterruption()
                thaw(now: false)
                if stalled() { return true }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        return false
    }

    private func checkInterruption() throws {
        guard context.interrupted() else { return }
        thaw(now: true)
        throw ClusterFollower(context).stop(run)
    }

    // MARK: - Progress

    private func refresh() {
        if reader == nil { reader = try? RunLogReader(directory: run.directory) }
        _ = try? reader?.refresh()
    }

    private var currentStep: Int? { reader?.log.lastStep?.record.globalStep }

    private var totalSteps: Int? {
        guard let log = reader?.log, let last = log.lastStep?.record, let epochs = log.epochs else { return nil }
        return last.stepsPerEpoch * epochs
    }

    private func atStep() -> String {
        refresh()
        return currentStep.map { " at step \($0)" } ?? ""
    }

    private func stalled() -> Bool {
        let size = (try? FileManager.default.attributesOfItem(atPath: run.file(RunLogReader.serverLog))[.size] as? NSNumber)?.uint64Value ?? 0
        if size != logSize {
            logSize = size
            logChanged = Date()
            return false
        }
        return Date().timeIntervalSince(logChanged) > context.settings.stallTimeout
    }

    // MARK: - Faults

    private func inject(_ kind: FaultKind) throws {
        switch kind {
        case .killWorker: try killWorker()
        case .freezeWorker: try freezeWorker()
        case .extraWorker: try extraWorker()
        case .restartServer: try restartServer()
        }
    }

    private func handle(_ member: ClusterMember) -> String { "\(launcher.handleName) \(launcher.handle(of: member, in: run) ?? "?")" }

    /// Running workers that are not frozen.
    private var candidates: [Int] { launcher.runningWorkers(in: run).filter { $0 != frozen?.worker } }

    private func startWorker() throws -> Int {
        try ClusterWorkers(context).startMore(1, in: run, endpoint: endpoint)[0]
    }

    private func killWorker() throws {
        let workers = candidates
        guard !workers.isEmpty else { return try extraWorker() }
        let k = workers[plan.pick(below: workers.count)]
        let victim = handle(.worker(k)), at = atStep()
        launcher.signal(.worker(k), SIGKILL, in: run)
        let replacement = try startWorker()
        plan.record(.killWorker)
        console.chaos("killed worker-\(k) (\(victim))\(at), started worker-\(replacement) (\(handle(.worker(replacement))))", clock: true)
    }

    private func freezeWorker() throws {
        let workers = candidates
        guard frozen == nil, !workers.isEmpty else { return try killWorker() }
        let k = workers[plan.pick(below: workers.count)]
        let seconds = plan.freezeSeconds()
        guard launcher.signal(.worker(k), SIGSTOP, in: run) else { return try killWorker() }
        frozen = (k, handle(.worker(k)), Date(), Date().addingTimeInterval(Double(seconds)))
        plan.record(.freezeWorker)
        console.chaos("froze worker-\(k) (\(handle(.worker(k))))\(atStep()) with SIGSTOP for \(seconds)s", clock: true)
    }

    /// Wakes the frozen worker when its time has come (or `now`).
    private func thaw(now: Bool) {
        guard let frozen, now || Date() >= frozen.until else { return }
        self.frozen = nil
        if launcher.signal(.worker(frozen.worker), SIGCONT, in: run) {
            let seconds = String(format: "%.1f", Date().timeIntervalSince(frozen.since))
            console.chaos("woke worker-\(frozen.worker) (\(frozen.handle)) with SIGCONT after \(seconds)s", clock: true)
        }
    }

    private func extraWorker() throws {
        guard launcher.runningWorkers(in: run).count < options.maximumWorkers else { return try killWorker() }
        let k = try startWorker()
        plan.record(.extraWorker)
        console.chaos("started an extra worker-\(k) (\(handle(.worker(k))))\(atStep())", clock: true)
    }

    /// SIGKILL the server and start it again on the same port with `--resume`; the running workers rejoin it.
    private func restartServer() throws {
        guard launcher.isRunning(.server, in: run) else { return }
        let old = handle(.server)
        launcher.signal(.server, SIGKILL, in: run)
        _ = context.wait(timeout: 5, interval: 0.05) { !launcher.isRunning(.server, in: run) }
        let at = atStep()
        plan.record(.restartServer)
        if run.isFinished {
            console.chaos("killed the server (\(old)) after it had finished the run; nothing to restart", clock: true)
            return
        }
        let checkpoint = reader?.log.checkpoints.last.map { " from the checkpoint of step \($0.step)" } ?? ""
        try? FileManager.default.removeItem(atPath: run.file("endpoint"))
        run.append("\n--- chaos \(ClusterConsole.timeOfDay()): server \(old) killed with SIGKILL\(at); restarting it with --resume ---\n\n", to: "server.log")
        try launcher.launch(.server, arguments: resumeArguments, in: run, appendingLog: true)
        let program = (launcher as? LocalLauncher)?.path(of: "backprop-server") ?? "backprop-server"
        run.record([("restart_command", ShellQuoting.commandLine([program] + resumeArguments))])
        let new = handle(.server)
        let listening = context.wait(timeout: context.settings.startTimeout, interval: 0.05) {
            run.endpoint != nil || !launcher.isRunning(.server, in: run)
        }
        if run.endpoint != nil {
            console.chaos("killed the server (\(old))\(at), restarted it (\(new)) on port \(port) with --resume\(checkpoint)", clock: true)
        } else if listening {
            console.chaos("killed the server (\(old))\(at); the restarted server (\(new)) exited before it listened", clock: true)
        } else {
            console.chaos("killed the server (\(old))\(at); the restarted server (\(new)) wrote no endpoint within \(ClusterStopper.seconds(context.settings.startTimeout))s", clock: true)
        }
    }
}
