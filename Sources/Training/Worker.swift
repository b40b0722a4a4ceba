import Datasets
import Foundation
import Messaging
import NeuralNet
import TrainingLog

/// A worker: joins a parameter server, computes the microbatches it is handed, sends their gradients.
///
/// It needs only the server's address: the welcome carries the run's config, from which the
/// worker builds the model and loads (or regenerates) the same training set. It touches only
/// the samples of the microbatches it is assigned. The wire is `WorkerLink`'s.
public final class Worker {
    private let options: WorkerOptions
    private let shouldStop: () -> Bool
    private let console: (any EventSink)?
    private let protocolVersion: UInt16

    /// `shouldStop` is polled between messages (a signal handler sets it); `console` sees the worker's events.
    public init(options: WorkerOptions, console: (any EventSink)? = nil, protocolVersion: UInt16 = Message.protocolVersion,
                shouldStop: @escaping () -> Bool = { false }) {
        self.options = options
        self.console = console
        self.protocolVersion = protocolVersion
        self.shouldStop = shouldStop
    }

    /// How the worker's run ended.
    public enum Outcome: Equatable, Sendable {
        /// The server finished training and said so.
        case finished(String)
        /// The worker was asked to stop (SIGINT/SIGTERM) and left cleanly.
        case stopped
    }

    /// How one membership ended: as the run ends, or with a request to join again.
    private enum MembershipEnd {
        case done(Outcome)
        case rejoin
    }

    /// What the server said when it let this worker in.
    private struct Welcome {
        var workerID: UInt32
        var runID: UInt64
        var info: WelcomeInfo
    }

    /// Joins, trains until the server shuts it down or it is stopped; throws `ClusterError` otherwise.
    public func run() throws -> Outcome {
        var generator = SystemRandomNumberGenerator()
        let link = try WorkerLink(server: options.server, routingID: Array("\(options.name)-\(String(generator.next(), radix: 36))".utf8),
                                  curve: options.curve)
        // A server that restarts, or that dropped this worker, asks it to join again.
        var prepared: (config: RunConfig, run: PreparedRun)?
        while true {
            guard let welcome = try join(link) else { return .stopped }
            let bfloat16 = welcome.info.config.bfloat16Gradients
            try link.joined(runID: welcome.runID, id: welcome.workerID, parameterCount: welcome.info.parameterCount,
                            gradientValueBytes: bfloat16 ? BFloat16.size : MemoryLayout<Float>.size)
            let run: PreparedRun
            if let prepared, prepared.config == welcome.info.config {
                run = prepared.run
            } else {
                do {
                    run = try PreparedRun(config: welcome.info.config, testSet: false, modelSpec: welcome.info.modelSpec)
                } catch {
                    _ = link.leave(reason: "cannot prepare the run: \(error)", patience: 1)
                    throw ClusterError.badWelcome("\(error)")
                }
                prepared = (welcome.info.config, run)
            }
            // Another decoder (version) may give other pixels for the same photos, and so other gradients.
            if let theirs = welcome.info.config.decoder, let ours = run.config.decoder, ours != theirs {
                let why = "this worker decodes the images with \(ours), the server with \(theirs): the pixels may differ, so its gradients would not be exact; install the same versions on both"
                _ = link.leave(reason: why, patience: 1)
                throw ClusterError.badWelcome(why)
            }
            guard run.model.parameterCount == welcome.info.parameterCount, run.model.spec == welcome.info.modelSpec else {
                let why = "the server's model \(welcome.info.modelSpec) has \(welcome.info.parameterCount) parameters; this build makes \(run.model.parameterCount) from it"
                _ = link.leave(reason: why, patience: 1)
                throw ClusterError.badWelcome(why)
            }
            let sink = logSink(workerID: welcome.workerID, info: welcome.info)
            let shared = offerSharedMemory(link, run: run, welcome: welcome)
            defer { shared?.removeName() }
            try send(.ready(sharedFile: shared?.path), on: link, sink: sink)
            if case .done(let outcome) = try work(link, run: run, welcome: welcome, sink: sink) {
                return outcome
            }
        }
    }

    /// On the server's machine (its Unix socket), a new shared-memory file for this membership:
    /// the weights and one slot per microbatch of a step. Nil elsewhere, or when it cannot be made;
    /// the server then sends and takes the values in payloads.
    private func offerSharedMemory(_ link: WorkerLink, run: PreparedRun, welcome: Welcome) -> SharedPayloads? {
        guard options.server.hasPrefix("ipc://") else { return nil }
        var generator = SystemRandomNumberGenerator()
        let name = "\(getpid())-\(String(welcome.runID, radix: 16))-\(welcome.workerID)-\(String(generator.next(), radix: 36))"
        return link.offerSharedMemory(name: name, slots: 1 + run.plan.microbatchesPerStep)
    }

    // MARK: - Joining

    /// Sends `join` until the server welcomes or refuses this worker, or stays silent too long; nil when stopped.
    private func join(_ link: WorkerLink) throws -> Welcome? {
        let started = monotonicSeconds()
        var lastJoin = -Double.infinity
        while true {
            if shouldStop() { return nil }
            if monotonicSeconds() - lastJoin >= 1 {
                // Before the server is up the queue may fill; the join is sent again every second.
                if case .failed(let reason) = link.sendJoin(name: options.name, pid: Int(getpid()), model: options.expectedModel,
                                                            protocolVersion: protocolVersion) {
                    throw ClusterError.serverGone("cannot send to \(options.server): \(reason)")
                }
                lastJoin = monotonicSeconds()
            }
            if case .control(let message) = try link.receive(timeoutMilliseconds: 200) {
                switch message.body {
                case .welcome(let json):
                    do {
                        let info = try JSONDecoder().decode(WelcomeInfo.self, from: Data(json.utf8))
                        return Welcome(workerID: message.sender, runID: message.runID, info: info)
                    } catch {
                        throw ClusterError.badWelcome("\(error)")
                    }
                case .error(let reason):
                    throw ClusterError.refused(reason)
                default:
                    break
                }
            }
            let waited = monotonicSeconds() - started
            if waited > options.serverTimeout {
                let keys = options.curve == nil ? "" : " (if it uses --keys, is this worker's public key in its authorized_workers?)"
                throw ClusterError.serverGone("no answer from \(options.server) for \(Int(waited)) s; is the server running?\(keys)")
            }
        }
    }

    // MARK: - Working

    /// How long a worker that has sent its gradients looks for its next assignment before it sleeps.
    ///
    /// On one machine the next assignment usually follows within a millisecond (the slowest
    /// worker's last gradients, the server's sum and update); taking it without the wake-up of a
    /// sleeping thread keeps that off every step (see `ZMQSocket.receive(into:timeoutMilliseconds:watch:)`).
    /// A worker that finished first and watched only 0.3 ms was asleep again when its next
    /// assignment came, and so started that step late.
    static let assignmentWatch = Duration.microseconds(1000)

    private func work(_ link: WorkerLink, run: PreparedRun, welcome: Welcome, sink: any EventSink) throws -> MembershipEnd {
        let computer = AssignmentComputer(run: run)
        var lastHeard = monotonicSeconds()
        var lastSent = monotonicSeconds()
        var idleSince = monotonicSeconds()
        var bytesReceived = 0
        var tally = ReportTally(since: lastSent)
        var expectingAssignment = false
        /// Sends what was measured since the last report, if anything; kept for the next try when the queue is full.
        func report(patience: Double) {
            guard let (figures, step) = tally.pending else { return }
            let outcome = link.send(.report(figures), step: step, patience: patience)
            if outcome == .sent {
                tally.reset(now: monotonicSeconds())
            } else if outcome != .wouldBlock {
                sink.record(.sendFailed(worker: Int(welcome.workerID), message: "report", reason: "\(outcome)"))
            }
        }

        while true {
            if shouldStop() {
                report(patience: 1)
                // The goodbye must reach the server before the socket closes, or it reads the worker as vanished.
                let outcome = link.leave(reason: "stopped by a signal", patience: 2)
                if outcome != .sent { sink.record(.sendFailed(worker: Int(welcome.workerID), message: "leave", reason: "\(outcome)")) }
                return .done(.stopped)
            }
            let watch = expectingAssignment ? Self.assignmentWatch : .zero
            expectingAssignment = false
            guard let event = try link.receive(timeoutMilliseconds: Int32(options.heartbeatInterval * 1000), watch: watch) else {
                let now = monotonicSeconds()
                if now - lastHeard > options.serverTimeout {
                    throw ClusterError.serverGone("the server at \(options.server) has been silent for \(Int(now - lastHeard)) s; giving up")
                }
                // Idle for a heartbeat interval: what the last assignments took goes out now.
                report(patience: 0)
                if now - lastSent >= options.heartbeatInterval {
                    // A full queue means messages are on their way to the server already.
                    if case .failed(let reason) = link.send(.heartbeat, patience: 0) {
                        sink.record(.sendFailed(worker: Int(welcome.workerID), message: "heartbeat", reason: reason))
                    }
                    lastSent = now
                }
                continue
            }
            lastHeard = monotonicSeconds()
            bytesReceived += link.lastMessageBytes
            switch event {
            case .refused(let refusal):
                sink.record(.messageRejected(worker: 0, reason: refusal.reason))
            case let .weightsMissing(step, held):
                // A message from the server was lost (a connection that broke and came back): the server
                // thinks this worker holds weights it does not. Leaving and joining again starts afresh.
                let holds = held.map { "step \($0)'s" } ?? "no"
                let reason = "the assignment of step \(step) builds on weights this worker does not hold (it holds \(holds)); joining again"
                sink.record(.workerRejoining(worker: Int(welcome.workerID), reason: reason))
                report(patience: 1)
                _ = link.leave(reason: reason, patience: 1)
                return .rejoin
            case .assignment(let assignment):
                // A restarted server has a new run id; its request to join again is the one message to take from it.
                guard assignment.header.runID == welcome.runID else {
                    sink.record(.messageRejected(worker: 0, reason: "message for run \(assignment.header.runID), this worker is in run \(welcome.runID)"))
                    continue
                }
                let wait = lastHeard - idleSince
                let done: AssignmentComputer.Done
                do throws(AssignmentComputer.Refusal) {
                    done = try computer.compute(assignment, on: link, patience: options.serverTimeout)
                } catch {
                    // This worker cannot do its share (its data is not the server's): it says so and goes, so
                    // that the server hands the share to the others instead of waiting for it.
                    _ = link.leave(reason: "cannot compute the assignment: \(error.reason)", patience: 1)
                    throw ClusterError.cannotCompute(error.reason)
                }
                if let failure = done.sendFailure {
                    sink.record(.sendFailed(worker: Int(welcome.workerID), message: "gradients", reason: failure))
                    throw ClusterError.serverGone("cannot send gradients to \(options.server) for \(Int(options.serverTimeout)) s: \(failure)")
                }
                lastSent = monotonicSeconds()
                idleSince = lastSent
                expectingAssignment = true
                // What this assignment took goes to the server's log, so the run reads whole wherever this worker
                // runs: added up and sent once per heartbeat interval and per epoch, not as a message of every step.
                let figures = StepFigures(epoch: assignment.epoch + 1, microbatches: assignment.microbatches.count, samples: done.samples,
                                          computeSeconds: done.computeSeconds, waitSeconds: wait, sendSeconds: done.sendSeconds,
                                          bytesSent: done.bytesSent, bytesReceived: bytesReceived)
                if let last = tally.pending?.figures, last.epoch != figures.epoch {
                    report(patience: 1)
                    if tally.pending != nil {
                        sink.record(.sendFailed(worker: Int(welcome.workerID), message: "report",
                                                reason: "no room in 1 s; the figures of \(last.assignments) assignments of epoch \(last.epoch) are not logged"))
                        tally.reset(now: lastSent)
                    }
                }
                tally.add(figures, step: assignment.header.step)
                if lastSent - tally.since >= options.heartbeatInterval { report(patience: 0) }
                bytesReceived = 0
            case .control(let message):
                guard message.runID == welcome.runID || message.kind == .rejoin else {
                    sink.record(.messageRejected(worker: 0, reason: "message for run \(message.runID), this worker is in run \(welcome.runID)"))
                    continue
                }
                switch message.body {
                case .heartbeat, .welcome, .assignment:
                    break
                case .shutdown(let reason):
                    report(patience: 1)
                    _ = link.leave(reason: "finished", patience: 1)
                    return .done(.finished(reason))
                case .error(let reason):
                    throw ClusterError.refused(reason)
                case .rejoin(let reason):
                    sink.record(.workerRejoining(worker: Int(welcome.workerID), reason: reason))
                    return .rejoin
                case .join, .ready, .gradients, .leave, .report:
                    sink.record(.messageRejected(worker: 0, reason: "a server may not send \(message.kind)"))
                }
            }
        }
    }

    /// Sends a control message the run cannot go on without, waiting up to the server timeout for room.
    private func send(_ body: Body, on link: WorkerLink, sink: any EventSink) throws {
        let outcome = link.send(body, patience: options.serverTimeout)
        guard outcome != .sent else { return }
        sink.record(.sendFailed(worker: 0, message: "\(body.kind)", reason: "\(outcome)"))
        throw ClusterError.serverGone("cannot send \(body.kind) to \(options.server): \(outcome)")
    }

    /// `worker-<id>.jsonl` in the log directory (or the server's run directory, when it exists here), plus the console.
    private func logSink(workerID: UInt32, info: WelcomeInfo) -> any EventSink {
        var sinks: [any EventSink] = console.map { [$0] } ?? []
        let directory = options.logDirectory ?? info.runDirectory
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue,
           let file = try? JSONLinesSink(path: (directory as NSString).appendingPathComponent("worker-\(workerID).jsonl"),
                                         process: "worker-\(workerID)") {
            sinks.append(file)
        }
        return EventFanOut(sinks)
    }
}

/// What a worker measured since its last report: the figures of its assignments since then, added
/// up, with the step of the last one. Figures of one epoch only: a new epoch is reported apart.
private struct ReportTally {
    /// The figures to send and the step of the last assignment they count; nil when there are none.
    private(set) var pending: (figures: StepFigures, step: UInt64)?
    /// When the last report went (or the tally started).
    private(set) var since: Double

    init(since: Double) {
        self.since = since
    }

    /// Counts one more assignment, of step `step`, of the same epoch as those counted.
    mutating func add(_ figures: StepFigures, step: UInt64) {
        guard var sum = pending?.figures else {
            pending = (figures, step)
            return
        }
        sum += figures
        pending = (sum, step)
    }

    /// Starts counting afresh once a report has gone.
    mutating func reset(now: Double) {
        pending = nil
        since = now
    }
}

/// Computes a worker's assignments against the weights the link received: the assigned
/// microbatches cut into the fewest whole nodes of the step's `SumTree`, each node added up in
/// the tree's order and sent as one gradient as soon as it is done, straight from the buffer the
/// link sends (or the shared file's slot). What it needs from step to step is kept, so a
/// steady-state step allocates nothing of its own.
private final class AssignmentComputer {
    private let run: PreparedRun
    private let computer: GradientComputer
    private let sum: PairwiseSum
    private var orders: (epoch: Int, order: [Int])?

    init(run: PreparedRun) {
        self.run = run
        computer = GradientComputer(model: run.model, data: run.train, microbatch: run.config.microbatch,
                                    augmentation: run.augmentation, seed: run.config.seed)
        sum = PairwiseSum(parameterCount: run.model.parameterCount, roundsToBFloat16: run.config.bfloat16Gradients)
    }

    /// What one assignment took.
    struct Done {
        var samples = 0
        var computeSeconds = 0.0
        var sendSeconds = 0.0
        var bytesSent = 0
        /// Why a gradient could not be sent within the patience given (the rest are not computed).
        var sendFailure: String?
    }

    /// Why an assignment was not computed.
    struct Refusal: Error {
        var reason: String
    }

    /// Computes `assignment`'s microbatches, sending each node's gradient as soon as it is done and
    /// waiting up to `patience` seconds for room to send it; a refusal (nothing sent) when a
    /// microbatch lies outside this worker's training set or is larger than a microbatch.
    func compute(_ assignment: AssignmentArrival, on link: WorkerLink, patience: Double) throws(Refusal) -> Done {
        if orders?.epoch != assignment.epoch {
            orders = (assignment.epoch, EpochPlan.order(sampleCount: run.train.count, epoch: assignment.epoch, seed: run.config.seed))
        }
        let order = orders?.order ?? []
        if let outside = assignment.microbatches.first(where: { $0.positions.upperBound > order.count }) {
            throw Refusal(reason: "microbatch \(outside.index) reaches sample \(outside.positions.upperBound), past this worker's "
                          + "\(order.count) training samples; does it read the same data as the server?")
        }
        if let large = assignment.microbatches.first(where: { $0.positions.count > run.config.microbatch }) {
            throw Refusal(reason: "microbatch \(large.index) has \(large.positions.count) samples, more than the run's microbatch of \(run.config.microbatch)")
        }
        var done = Done()
        var next = 0
        for block in SumTree.blocks(of: assignment.microbatches.lazy.map(\.index)) {
            let refs = assignment.microbatches[next..<next + block.count]
            next += block.count
            let started = monotonicSeconds()
            let gradient = link.gradientBuffer(for: block.lowerBound)
            let metrics: BatchMetrics
            if let only = refs.first, refs.count == 1 {
                metrics = computer.compute(order: order, positions: only.positions, epoch: assignment.epoch,
                                           parameters: assignment.weights, gradient: gradient)
                // A leaf of the tree, rounded as the tree rounds it.
                if sum.roundsToBFloat16 { BFloat16.round(gradient, count: run.model.parameterCount) }
            } else {
                for ref in refs {
                    sum.pushComputed(block: ref.index - block.lowerBound..<ref.index - block.lowerBound + 1) { values in
                        computer.compute(order: order, positions: ref.positions, epoch: assignment.epoch,
                                         parameters: assignment.weights, gradient: values)
                    }
                }
                metrics = sum.finish(into: gradient)
            }
            let computed = monotonicSeconds()
            done.computeSeconds += computed - started
            done.samples += metrics.count
            let stats = GradientStats(microbatch: block.lowerBound, microbatches: block.count, samples: metrics.count,
                                      lossSum: metrics.lossSum, correct: metrics.correct, computeSeconds: computed - started)
            let sent = link.sendGradients(step: assignment.header.step, stats: stats, patience: patience)
            done.sendSeconds += monotonicSeconds() - computed
            guard sent.outcome == .sent else {
                done.sendFailure = "\(sent.outcome)"
                return done
            }
            done.bytesSent += sent.bytes
        }
        return done
    }
}
