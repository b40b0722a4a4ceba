import Foundation
import Messaging
import NeuralNet
import TrainingLog

/// The parameter server: hands microbatches to workers, sums their gradients in global order, applies the optimiser.
///
/// One thread, one ROUTER socket. Each step the server cuts the global batch into
/// microbatches, deals them out to the active workers (contiguous, balanced shares) together
/// with the current weights, and collects one gradient message per microbatch. A worker that
/// leaves or falls silent loses its unfinished microbatches to the others. Because a
/// microbatch's gradient does not depend on who computed it, and the sum runs in microbatch
/// order, the weights are bit-for-bit the same for any number of workers.
public final class ParameterServer: StepGradientSource {
    public let run: PreparedRun
    /// The endpoint actually bound (with the real port when `*` was asked for).
    public let endpoint: String
    private let options: ServerOptions
    private let directory: RunDirectory
    /// Where events go; set by `serve(sink:)`.
    private var sink: any EventSink = EventFanOut([])
    private let start: StartingState
    private let context: ZMQContext
    private let socket: ZMQSocket
    /// Checks workers' CurveZMQ keys, when the server has keys.
    private let zap: ZAPHandler?
    private let runID: UInt64
    private let limits: MessageLimits
    private let welcome: String
    private var members: Membership
    private var current: StepState?
    private var lastHeartbeat = 0.0
    /// Set once training is over: a worker that joins now is told so at once.
    private var shutdownReason: String?
    private let shouldStop: () -> Bool

    /// The step being collected.
    private struct StepState {
        let version: Int
        let epoch: Int
        let microbatches: [Range<Int>]
        var pending: [Int]
        var gradients: [[Float]?]
        var metrics: [BatchMetrics?]
        /// Workers whose gradients were accepted.
        var contributors: Set<UInt32> = []
        var done: Bool { !gradients.contains { $0 == nil } }
    }

    /// Binds the server's socket (before anything is written, so a port in use leaves no trace); training starts with `serve(sink:)`.
    public init(run: PreparedRun, directory: RunDirectory, options: ServerOptions, start: StartingState,
                shouldStop: @escaping () -> Bool = { false }) throws {
        self.run = run
        self.options = options
        self.directory = directory
        self.start = start
        self.shouldStop = shouldStop
        var generator = SystemRandomNumberGenerator()
        runID = generator.next() | 1
        limits = MessageLimits(parameterCount: run.model.parameterCount)
        members = Membership(firstID: ParameterServer.firstFreeWorkerID(in: directory))
        let info = WelcomeInfo(config: run.config, modelSpec: run.model.spec, parameterCount: run.model.parameterCount,
                               runDirectory: directory.path, heartbeatInterval: options.heartbeatInterval)
        welcome = String(decoding: try JSONEncoder().encode(info), as: UTF8.self)
        context = try ZMQContext()
        // The ZAP handler must be bound before the server socket, in the same context.
        zap = try options.curve.map { [context] in try ZAPHandler(context: context, authorizedKeys: $0.authorizedWorkers) }
        socket = try ZMQSocket(context: context, kind: .router)
        do {
            try socket.setRouterMandatory(true)
            try socket.setMaxMessageSize(Int64(run.model.parameterCount * 4 + (1 << 20)))
            if let keys = options.curve, let zap {
                try socket.makeCurveServer(secretKey: keys.keyPair.secretKey, authenticator: zap)
            }
            endpoint = try socket.bind(options.endpoint)
        } catch {
            socket.close()
            zap?.stop()
            context.close()
            let reason = (error as? ZMQError)?.message ?? "\(error)"
            throw ClusterError.cannotListen("cannot listen on \(options.endpoint): \(reason); is another server using the port? (--port 0 picks a free one)")
        }
    }

    deinit {
        socket.close()
        zap?.stop()
        context.close()
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

    public private(set) var workersInLastStep = 0

    /// Worker ids continue after those whose logs a previous server of this run left, so each `worker-<id>.jsonl` is one process's.
    private static func firstFreeWorkerID(in directory: RunDirectory) -> UInt32 {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let used = names.compactMap { name -> UInt32? in
            guard name.hasPrefix("worker-"), name.hasSuffix(".jsonl") else { return nil }
            return UInt32(name.dropFirst("worker-".count).dropLast(".jsonl".count))
        }
        return (used.max() ?? 0) + 1
    }

    // MARK: - Steps

    public func accumulate(
        microbatches: [Range<Int>], epoch: Int, order: [Int], version: Int,
        parameters: [Float], into step: inout StepGradient
    ) throws {
        admitReadyWorkers(version: version)
        current = StepState(version: version, epoch: epoch, microbatches: microbatches, pending: Array(microbatches.indices),
                            gradients: Array(repeating: nil, count: microbatches.count),
                            metrics: Array(repeating: nil, count: microbatches.count))
        var waitingSince: Double?
        while let state = current, !state.done {
            if shouldStop() { throw ClusterError.stopped("stopped by a signal") }
            if !state.pending.isEmpty {
                if members.ids(in: .active).isEmpty { admitReadyWorkers(version: version) }
                if members.ids(in: .active).isEmpty {
                    if waitingSince == nil {
                        waitingSince = monotonicSeconds()
                        sink.record(.waitingForWorkers(have: 0, need: 1))
                    }
                } else {
                    waitingSince = nil
                    deal(parameters: parameters)
                }
            }
            try pump(seconds: 0.05)
            expireSilentWorkers()
            sendHeartbeats()
        }
        guard let state = current else { return }
        for index in state.microbatches.indices {
            guard let gradient = state.gradients[index], let metrics = state.metrics[index] else { continue }
            step.add(gradient, metrics: metrics)
        }
        workersInLastStep = state.contributors.count
        current = nil
    }

    /// Gives the pending microbatches to the active workers in contiguous, balanced shares.
    private func deal(parameters: [Float]) {
        guard var state = current else { return }
        let workers = members.ids(in: .active)
        let pending = state.pending
        state.pending = []
        current = state
        for (k, id) in workers.enumerated() {
            let share = Array(pending[pending.count * k / workers.count..<pending.count * (k + 1) / workers.count])
            guard !share.isEmpty, var worker = members[id] else { continue }
            let refs = share.map { MicrobatchRef(index: $0, positions: state.microbatches[$0]) }
            let message = Message(runID: runID, sender: 0, step: UInt64(state.version),
                                  body: .assignment(epoch: state.epoch, microbatches: refs, weights: parameters))
            if send(message, to: worker.routing) {
                worker.outstanding.formUnion(share)
                members[id] = worker
            } else {
                current?.pending += share
                lose(id, reason: "unreachable", event: .workerLeft(worker: Int(id), reason: "unreachable"))
            }
        }
    }

    private func admitReadyWorkers(version: Int) {
        for id in members.ids(in: .ready) {
            members[id]?.state = .active
            sink.record(.workerAdmitted(worker: Int(id), step: version))
        }
    }

    // MARK: - Membership

    private func waitForWorkers() throws {
        sink.record(.waitingForWorkers(have: 0, need: options.workersMin))
        while members.ids(in: .ready).count + members.ids(in: .active).count < options.workersMin {
            if shouldStop() { throw ClusterError.stopped("stopped by a signal while waiting for workers") }
            try pump(seconds: 0.1)
            expireSilentWorkers()
            sendHeartbeats()
        }
    }

    private func expireSilentWorkers() {
        let now = monotonicSeconds()
        // A worker loading its data sends nothing until it is ready; give it longer than one that trains.
        for worker in members.live where now - worker.lastSeen > (worker.state == .loading ? max(options.workerTimeout, 120) : options.workerTimeout) {
            let silent = now - worker.lastSeen
            lose(worker.id, reason: "dropped after \(Int(silent)) s of silence",
                 event: .workerTimedOut(worker: Int(worker.id), silentSeconds: silent))
        }
    }

    /// Drops a worker and puts the microbatches it owed back in the queue.
    private func lose(_ id: UInt32, reason: String, event: TrainingEvent) {
        let owed = members.remove(id, reason: reason)
        sink.record(event)
        guard !owed.isEmpty, current != nil else { return }
        current?.pending += owed.sorted()
        sink.record(.reassigned(worker: Int(id), microbatches: owed.count, step: current?.version ?? 0))
    }

    private func sendHeartbeats() {
        let now = monotonicSeconds()
        guard now - lastHeartbeat >= options.heartbeatInterval else { return }
        lastHeartbeat = now
        for worker in members.live
        where !send(Message(runID: runID, sender: 0, step: UInt64(current?.version ?? 0), body: .heartbeat), to: worker.routing) {
            // libzmq knows the connection is gone: no need to wait for the timeout.
            lose(worker.id, reason: "unreachable", event: .workerLeft(worker: Int(worker.id), reason: "unreachable"))
        }
    }

    private func shutdownWorkers(reason: String) {
        shutdownReason = reason
        let live = members.live
        for worker in live {
            send(Message(runID: runID, sender: 0, step: 0, body: .shutdown(reason: reason)), to: worker.routing)
        }
        // Give the workers a moment to say goodbye, so the shutdown reaches them before the socket closes.
        let deadline = monotonicSeconds() + 2
        while !members.live.isEmpty && monotonicSeconds() < deadline {
            try? pump(seconds: 0.05)
        }
    }

    // MARK: - Messages

    /// Handles every message that arrives within `seconds`.
    private func pump(seconds: Double) throws {
        for denial in zap?.takeDenials() ?? [] {
            // The reason without the key and attempt number, so a report can count refusals by reason.
            reject(0, "refused a CURVE client from \(denial.address): \(denial.reason)")
        }
        var wait = Int32(seconds * 1000)
        while let frames = try socket.receive(timeoutMilliseconds: wait) {
            handle(frames)
            wait = 0
        }
    }

    private func handle(_ frames: [[UInt8]]) {
        guard frames.count >= 2 else { return reject(0, "a message with no frames after the routing id") }
        let routing = frames[0]
        let known = members.live(routing: routing)
        let message: Message
        do {
            message = try Message(frames: Array(frames.dropFirst()), limits: limits)
        } catch {
            reject(Int(known?.id ?? 0), "\(error)")
            if case .versionMismatch(let version) = error {
                sendError("protocol version \(version) is not supported; this server speaks version \(Message.protocolVersion)", to: routing)
            }
            return
        }
        if case let .join(name, pid, model) = message.body {
            return join(routing: routing, name: name, pid: pid, model: model, runID: message.runID)
        }
        guard var worker = known else {
            // A worker this server dropped, or one that knew a previous server: it may join again.
            let why = members.droppedReason(routing: routing) ?? "this server does not know the worker (it may have restarted)"
            // A heartbeat or ready is what a worker of a previous server, or a dropped one, sends first: not garbage.
            if message.body.kind != .heartbeat && message.body.kind != .ready {
                reject(0, "\(message.body.kind) from a peer that is not a member: \(why)")
            }
            send(Message(runID: runID, sender: 0, step: 0, body: .rejoin(reason: why)), to: routing)
            return
        }
        guard message.runID == runID, message.sender == worker.id else {
            return reject(Int(worker.id), "run id \(message.runID) / sender \(message.sender) do not match this run's worker \(worker.id)")
        }
        worker.lastSeen = monotonicSeconds()
        members[worker.id] = worker
        switch message.body {
        case .ready:
            if worker.state == .loading { members[worker.id]?.state = .ready }
        case .heartbeat:
            break
        case .gradients(let report):
            accept(report, step: message.step, from: worker.id)
        case .leave(let reason):
            lose(worker.id, reason: "left: \(reason)", event: .workerLeft(worker: Int(worker.id), reason: reason))
        case .join, .welcome, .assignment, .shutdown, .error, .rejoin:
            reject(Int(worker.id), "a worker may not send \(message.body.kind)")
        }
    }

    private func join(routing: [UInt8], name: String, pid: Int, model: String?, runID joinRun: UInt64) {
        if let model, ModelSpec.resolve(model) != run.model.spec {
            reject(0, "join from \(name) refused: it wants model \(model)")
            return sendError("this server trains \(run.config.model) (\(run.model.spec)); the worker wants \(model)", to: routing)
        }
        if joinRun != 0 && joinRun != runID {
            reject(0, "join from \(name) refused: it belongs to run \(joinRun)")
            return sendError("the worker belongs to run \(joinRun); this server runs \(runID)", to: routing)
        }
        if let shutdownReason {
            send(Message(runID: runID, sender: 0, step: 0, body: .shutdown(reason: shutdownReason)), to: routing)
            return
        }
        let id: UInt32
        if let existing = members.live(routing: routing) {
            id = existing.id
        } else {
            id = members.add(routing: routing, name: name, pid: pid, now: monotonicSeconds())
            sink.record(.workerJoined(worker: Int(id), name: name, pid: pid))
        }
        send(Message(runID: runID, sender: id, step: UInt64(current?.version ?? 0), body: .welcome(configJSON: welcome)), to: routing)
    }

    private func accept(_ report: GradientReport, step: UInt64, from id: UInt32) {
        guard var state = current, Int(step) == state.version else {
            return reject(Int(id), "stale gradients for step \(step); the server is at step \(current?.version ?? -1)")
        }
        guard var worker = members[id], worker.outstanding.contains(report.microbatch) else {
            return reject(Int(id), "gradients for microbatch \(report.microbatch), which is not assigned to worker \(id)")
        }
        guard report.samples == state.microbatches[report.microbatch].count else {
            return reject(Int(id), "microbatch \(report.microbatch) has \(state.microbatches[report.microbatch].count) samples, the worker reported \(report.samples)")
        }
        state.gradients[report.microbatch] = report.values
        state.metrics[report.microbatch] = BatchMetrics(lossSum: report.lossSum, correct: report.correct, count: report.samples)
        state.contributors.insert(id)
        current = state
        worker.outstanding.remove(report.microbatch)
        members[id] = worker
    }

    private func reject(_ worker: Int, _ reason: String) {
        sink.record(.messageRejected(worker: worker, reason: reason))
    }

    private func sendError(_ reason: String, to routing: [UInt8]) {
        send(Message(runID: runID, sender: 0, step: 0, body: .error(reason: reason)), to: routing)
    }

    /// Sends without blocking; false if the peer is gone or its queue is full.
    @discardableResult
    private func send(_ message: Message, to routing: [UInt8]) -> Bool {
        (try? socket.send([routing] + message.encoded(), dontWait: true)) ?? false
    }
}
