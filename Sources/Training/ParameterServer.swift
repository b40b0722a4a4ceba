import Foundation
import Messaging
import NeuralNet
import TrainingLog

/// The parameter server: deals microbatches to workers, sums their gradients in global order, applies the optimiser.
///
/// One thread. Each step reads as the recipe: admit the workers that are ready, deal the step's
/// microbatches to them (contiguous, balanced shares, with the current weights), collect one
/// gradient per microbatch, sum them in microbatch order as soon as that order allows; the
/// training loop then updates and the next step's deal broadcasts the new weights. A worker that
/// leaves or falls silent loses its unfinished microbatches to the others. Because a
/// microbatch's gradient does not depend on who computed it, and the sum runs in microbatch
/// order, the weights are bit-for-bit the same for any number of workers.
///
/// The wire is `ServerLink`'s (frames, held gradients, shared memory); the step's books are
/// `StepLedger`'s; who is in the cluster is `Membership`'s.
public final class ParameterServer: StepGradientSource {
    public let run: PreparedRun
    private let options: ServerOptions
    private let directory: RunDirectory
    private let start: StartingState
    private let shouldStop: () -> Bool
    /// Where events go; set by `serve(sink:)`.
    private var sink: any EventSink = EventFanOut([])
    private let link: ServerLink
    private let welcome: String
    private var members: Membership
    private var ledger = StepLedger()
    /// Each microbatch's gradient from its arrival until it is summed (storage reused from step to step).
    private var held: [HeldGradient] = []
    /// Members a send found unreachable: lost once the messages they sent before going are read.
    private var unreachable: [UInt32] = []
    private var clock = StepClock()
    private var lastHeartbeat = 0.0
    /// Set once training is over: a worker that joins now is told so at once.
    private var shutdownReason: String?
    public private(set) var lastStepTiming: StepTiming?
    public private(set) var workersInLastStep = 0

    /// The endpoint actually bound (with the real port when `*` was asked for).
    public var endpoint: String { link.endpoint }
    /// The local endpoint bound as well, if one was asked for and could be bound.
    public var localEndpoint: String? { link.localEndpoint }
    /// Why the local endpoint asked for is not bound (nil when it is, or none was asked for).
    public var localEndpointProblem: String? { link.localEndpointProblem }

    /// Binds the server's socket (before anything is written, so a port in use leaves no trace); training starts with `serve(sink:)`.
    public init(run: PreparedRun, directory: RunDirectory, options: ServerOptions, start: StartingState,
                shouldStop: @escaping () -> Bool = { false }) throws {
        self.run = run
        self.options = options
        self.directory = directory
        self.start = start
        self.shouldStop = shouldStop
        var generator = SystemRandomNumberGenerator()
        do {
            link = try ServerLink(endpoint: options.endpoint, localEndpoint: options.localEndpoint, runID: generator.next() | 1,
                                  parameterCount: run.model.parameterCount, curve: options.curve)
        } catch let error as ServerLinkError {
            throw ClusterError.cannotListen("\(error); is another server using the port? (--port 0 picks a free one)")
        }
        members = Membership(firstID: Self.firstFreeWorkerID(in: directory))
        let info = WelcomeInfo(config: run.config, modelSpec: run.model.spec, parameterCount: run.model.parameterCount,
                               runDirectory: directory.path, heartbeatInterval: options.heartbeatInterval)
        welcome = String(decoding: try JSONEncoder().encode(info), as: UTF8.self)
    }

    /// Waits for `workersMin` workers, trains every epoch, tests, then tells the workers to stop; events go to `sink`.
    public func serve(sink: any EventSink) throws -> RunResult {
        self.sink = sink
        try waitForWorkers()
        do {
            let result = try TrainingLoop(run: run, directory: directory, sink: sink).train(from: start, using: self)
            shutdownWorkers(reason: "training finished")
            return result
        } catch {
            shutdownWorkers(reason: "the server stopped: \(error)")
            throw error
        }
    }

    /// Worker ids continue after those whose logs a previous server of this run left, so each `worker-<id>.jsonl` is one process's.
    private static func firstFreeWorkerID(in directory: RunDirectory) -> UInt32 {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let used = names.compactMap { name -> UInt32? in
            guard name.hasPrefix("worker-"), name.hasSuffix(".jsonl") else { return nil }
            return UInt32(name.dropFirst("worker-".count).dropLast(".jsonl".count))
        }
        return (used.max() ?? 0) + 1
    }

    // MARK: - A step: admit, deal, collect, sum

    public func accumulate(
        microbatches: [Range<Int>], epoch: Int, order: [Int], version: Int,
        parameters: [Float], into step: inout StepGradient
    ) throws {
        admitReadyWorkers(version: version)
        ledger.start(version: version, epoch: epoch, microbatches: microbatches)
        while held.count < microbatches.count { held.append(HeldGradient()) }
        clock = StepClock()
        defer {
            ledger.finish()
            for gradient in held where gradient.isHolding { gradient.release() }
        }
        var waitingSince: Double?
        while !ledger.isComplete {
            if shouldStop() { throw ClusterError.stopped(RunVerdict.signalStop) }
            if ledger.hasPending {
                if members.count(in: .active) == 0 { admitReadyWorkers(version: version) }
                if members.count(in: .active) > 0 {
                    waitingSince = nil
                    deal(parameters)
                } else if waitingSince == nil {
                    waitingSince = monotonicSeconds()
                    sink.record(.waitingForWorkers(have: 0, need: 1))
                }
            }
            try collect(seconds: 0.05)
            sum(into: &step)
            expireSilentWorkers()
            sendHeartbeats()
        }
        workersInLastStep = ledger.contributors.count
        lastStepTiming = clock.timing
    }

    private func admitReadyWorkers(version: Int) {
        for index in members.workers.indices where members.workers[index].state == .ready {
            members.setState(index, .active)
            sink.record(.workerAdmitted(worker: Int(members.workers[index].id), step: version))
        }
    }

    /// Gives the waiting microbatches to the active workers in contiguous, balanced shares, each
    /// with the step's weights. A share whose worker's queue is full waits for the next deal.
    private func deal(_ parameters: [Float]) {
        let started = monotonicSeconds()
        defer { clock.assign += monotonicSeconds() - started }
        let parts = members.count(in: .active)
        var part = 0
        for (position, worker) in members.workers.enumerated() where worker.state == .active {
            let share = ledger.share(part, of: parts)
            part += 1
            guard !share.isEmpty else { continue }
            let outcome = link.sendAssignment(to: worker.routing, step: ledger.version, epoch: ledger.epoch, count: share.count,
                                              weights: parameters) { entry in
                let index = share[share.startIndex + entry]
                return MicrobatchRef(index: index, positions: ledger.microbatches[index])
            }
            switch outcome {
            case .sent:
                ledger.assign(share, to: worker.id)
            case .wouldBlock:
                guard worker.blockedStep != ledger.version else { break }
                members.setBlockedStep(position, ledger.version)
                sink.record(.sendFailed(worker: Int(worker.id), message: "assignment",
                                        reason: "its queue is full (a slow link); dealt again shortly"))
            case .unreachable, .failed:
                sendFailed(outcome, message: "assignment", to: worker.id)
            }
        }
    }

    /// Handles every event that arrives within `seconds`, then drops the members a send found unreachable.
    private func collect(seconds: Double) throws {
        var wait = Int32(seconds * 1000)
        while true {
            let started = monotonicSeconds()
            let event = try link.receive(timeoutMilliseconds: wait)
            if ledger.isCollecting { clock.wait += monotonicSeconds() - started }
            guard let event else { break }
            switch event {
            case let .gradient(arrival, peer): try take(arrival, from: peer)
            case let .control(message, peer): handle(message, from: peer)
            case let .refused(refusal, peer): try refuse(refusal, from: peer)
            }
            wait = 0
        }
        // Whatever a vanished worker sent before it went (its goodbye, say) has been read by now.
        for id in unreachable where members[id] != nil {
            lose(id, reason: "unreachable", event: .workerLeft(worker: Int(id), reason: "unreachable"))
        }
        unreachable.removeAll()
    }

    /// A checked gradient: held until summed if it is one its sender owes for this step.
    private func take(_ arrival: GradientArrival, from peer: Peer) throws {
        let known = members.index(routing: peer.routing)
        // Once training has stopped, members' last gradients are of no use, and not an error.
        if shutdownReason != nil, known != nil { return }
        guard let known else { return stranger(sent: .gradients, from: peer) }
        let worker = members.workers[known]
        guard belongs(arrival.header.runID, arrival.header.sender, to: worker) else { return }
        members.touch(known, now: monotonicSeconds())
        if ledger.isCollecting {
            clock.wait -= arrival.checkSeconds
            clock.sum += arrival.checkSeconds
        }
        let stats = arrival.stats
        guard arrival.hasValues else {
            return reject(worker.id, "gradients for microbatch \(stats.microbatch) without values, and no shared file slot for them")
        }
        let figures = BatchMetrics(lossSum: stats.lossSum, correct: stats.correct, count: stats.samples)
        switch ledger.collect(step: Int(exactly: arrival.header.step) ?? -1, microbatch: stats.microbatch, figures: figures, from: worker.id) {
        case .accepted: link.hold(arrival, in: held[stats.microbatch])
        case .refused(let reason): reject(worker.id, reason)
        }
    }

    /// Adds the collected gradients to the step in microbatch order, as far as that order allows.
    private func sum(into step: inout StepGradient) {
        let started = monotonicSeconds()
        defer { clock.sum += monotonicSeconds() - started }
        while let index = ledger.nextToSum() {
            step.add(held[index].values(count: run.model.parameterCount), metrics: ledger.metrics[index])
            held[index].release()
        }
    }

    // MARK: - Membership

    private func waitForWorkers() throws {
        sink.record(.waitingForWorkers(have: 0, need: options.workersMin))
        while members.count(in: .ready) + members.count(in: .active) < options.workersMin {
            if shouldStop() { throw ClusterError.stopped("\(RunVerdict.signalStop) while waiting for workers") }
            try collect(seconds: 0.1)
            expireSilentWorkers()
            sendHeartbeats()
        }
    }

    /// A message other than gradients.
    private func handle(_ message: Message, from peer: Peer) {
        if case let .join(name, pid, model) = message.body {
            return join(peer.id, name: name, pid: pid, model: model, runID: message.runID)
        }
        guard let known = members.index(routing: peer.routing) else { return stranger(sent: message.kind, from: peer) }
        let worker = members.workers[known]
        guard belongs(message.runID, message.sender, to: worker) else { return }
        members.touch(known, now: monotonicSeconds())
        switch message.body {
        case .ready(let sharedFile):
            guard worker.state == .loading else { break }
            if let sharedFile {
                do throws(SharedPayloadsError) {
                    try link.share(sharedFile, with: worker.routing, slots: 1 + run.plan.microbatchesPerStep)
                } catch {
                    reject(worker.id, "cannot share memory with worker \(worker.id): \(error); sending payloads instead")
                }
            }
            members.setState(known, .ready)
        case .heartbeat, .gradients:
            break
        case .leave(let reason):
            lose(worker.id, reason: "left: \(reason)", event: .workerLeft(worker: Int(worker.id), reason: reason))
        case .join, .welcome, .assignment, .shutdown, .error, .rejoin:
            reject(worker.id, "a worker may not send \(message.kind)")
        }
    }

    private func join(_ routing: [UInt8], name: String, pid: Int, model: String?, runID joinRun: UInt64) {
        if let model, ModelSpec.resolve(model) != run.model.spec {
            reject(0, "join from \(name) refused: it wants model \(model)")
            return reply(.error(reason: "this server trains \(run.config.model) (\(run.model.spec)); the worker wants \(model)"), to: routing)
        }
        if joinRun != 0 && joinRun != link.runID {
            reject(0, "join from \(name) refused: it belongs to run \(joinRun)")
            return reply(.error(reason: "the worker belongs to run \(joinRun); this server runs \(link.runID)"), to: routing)
        }
        if let shutdownReason { return reply(.shutdown(reason: shutdownReason), to: routing) }
        let id: UInt32
        if let existing = members.live(routing: routing) {
            id = existing.id
        } else {
            id = members.add(routing: routing, name: name, pid: pid, now: monotonicSeconds())
            sink.record(.workerJoined(worker: Int(id), name: name, pid: pid))
        }
        reply(.welcome(configJSON: welcome), to: routing, sender: id, step: ledger.isCollecting ? ledger.version : 0)
    }

    /// A message from a peer that is not a member: a worker this server dropped, or one that knew a
    /// previous server. It is asked to join again.
    private func stranger(sent kind: MessageKind, from peer: Peer) {
        let routing = peer.id
        let why = members.droppedReason(routing: routing) ?? "this server does not know the worker (it may have restarted)"
        // A heartbeat or ready is what such a worker sends first: not garbage.
        if kind != .heartbeat && kind != .ready {
            reject(0, "\(kind) from a peer that is not a member: \(why)")
        }
        reply(.rejoin(reason: why), to: routing)
    }

    /// Whether a member's message carries this run's id and the member's own; logs it when not.
    private func belongs(_ runID: UInt64, _ sender: UInt32, to worker: WorkerRecord) -> Bool {
        if runID == link.runID && sender == worker.id { return true }
        reject(worker.id, "run id \(runID) / sender \(sender) do not match this run's worker \(worker.id)")
        return false
    }

    private func expireSilentWorkers() {
        let now = monotonicSeconds()
        for worker in members.workers.reversed() {
            // A worker loading its data sends nothing until it is ready; give it longer than one that trains.
            let timeout = worker.state == .loading ? max(options.workerTimeout, 120) : options.workerTimeout
            let silent = now - worker.lastSeen
            guard silent > timeout else { continue }
            lose(worker.id, reason: "dropped after \(Int(silent)) s of silence", event: .workerTimedOut(worker: Int(worker.id), silentSeconds: silent))
        }
    }

    /// Drops a worker and puts the microbatches it owed back in the queue.
    private func lose(_ id: UInt32, reason: String, event: TrainingEvent) {
        if let worker = members[id] { link.forget(worker.routing) }
        members.remove(id, reason: reason)
        sink.record(event)
        guard ledger.isCollecting else { return }
        let owed = ledger.reassign(from: id)
        guard owed > 0 else { return }
        sink.record(.reassigned(worker: Int(id), microbatches: owed, step: ledger.version))
    }

    /// Tells every worker the server is alive; one libzmq no longer reaches is dropped without waiting for the timeout.
    private func sendHeartbeats() {
        let now = monotonicSeconds()
        guard now - lastHeartbeat >= options.heartbeatInterval else { return }
        lastHeartbeat = now
        for worker in members.workers {
            let outcome = link.sendHeartbeat(to: worker.routing, step: ledger.isCollecting ? ledger.version : 0)
            // A full queue means messages are on their way to the worker already.
            if outcome != .sent && outcome != .wouldBlock { sendFailed(outcome, message: "heartbeat", to: worker.id) }
        }
    }

    private func shutdownWorkers(reason: String) {
        shutdownReason = reason
        for worker in members.workers {
            reply(.shutdown(reason: reason), to: worker.routing)
        }
        // Give the workers a moment to say goodbye, so the shutdown reaches them before the socket closes.
        let deadline = monotonicSeconds() + 2
        while !members.workers.isEmpty && monotonicSeconds() < deadline {
            do {
                try collect(seconds: 0.05)
            } catch {
                break
            }
        }
    }

    // MARK: - Logging and replies

    /// A message that failed its checks: logged; a peer of another protocol version is told so, and a
    /// member's non-finite gradient for this step stops training.
    private func refuse(_ refusal: Refusal, from peer: Peer?) throws {
        let known = peer.flatMap { members.index(routing: $0.routing) }
        if let header = refusal.header, let known {
            if header.kind == .gradients, shutdownReason != nil { return }
            try stopIfDiverged(refusal, header: header, worker: members.workers[known])
        }
        reject(known.map { members.workers[$0].id } ?? 0, refusal.reason)
        if case .versionMismatch(let version) = refusal.error, let peer {
            reply(.error(reason: "protocol version \(version) is not supported; this server speaks version \(Message.protocolVersion)"), to: peer.id)
        }
    }

    /// A member's gradients for the step being collected whose values or loss are not finite: the
    /// model has diverged (the same microbatch gives the same values on any worker), so training
    /// stops before the step is applied, rather than waiting for a gradient that will never come.
    private func stopIfDiverged(_ refusal: Refusal, header: MessageHeader, worker: WorkerRecord) throws {
        let what: String
        switch refusal.error {
        case .nonFiniteGradient(let index): what = "the gradient (value \(index), from worker \(header.sender))"
        case .nonFiniteLoss: what = "the loss (from worker \(header.sender))"
        default: return
        }
        guard ledger.isCollecting, header.runID == link.runID, header.sender == worker.id, header.step == UInt64(ledger.version) else { return }
        throw TrainingError.diverged(step: ledger.version + 1, what: what)
    }

    private func reject(_ worker: UInt32, _ reason: String) {
        sink.record(.messageRejected(worker: Int(worker), reason: reason))
    }

    /// Sends a control message; one that does not go out is logged (the peer will ask again, or time out).
    private func reply(_ body: Body, to routing: [UInt8], sender: UInt32 = 0, step: Int = 0) {
        let outcome = link.send(Message(runID: link.runID, sender: sender, step: UInt64(step), body: body), to: routing)
        guard outcome != .sent else { return }
        let worker = members.live(routing: routing)?.id ?? 0
        sink.record(.sendFailed(worker: Int(worker), message: "\(body.kind)", reason: Self.describe(outcome)))
    }

    /// A member that could not be sent `message`: logged, and dropped once what it sent has been read.
    private func sendFailed(_ outcome: SendOutcome, message: String, to id: UInt32) {
        if case .failed = outcome { sink.record(.sendFailed(worker: Int(id), message: message, reason: Self.describe(outcome))) }
        if !unreachable.contains(id) { unreachable.append(id) }
    }

    private static func describe(_ outcome: SendOutcome) -> String {
        switch outcome {
        case .sent: "sent"
        case .wouldBlock: "its queue is full"
        case .unreachable: "it is unreachable"
        case .failed(let reason): reason
        }
    }
}

/// Seconds of the current step in each of its phases.
private struct StepClock {
    var assign = 0.0
    var wait = 0.0
    var sum = 0.0

    var timing: StepTiming { StepTiming(assignSeconds: assign, waitSeconds: wait, sumSeconds: sum) }
}
