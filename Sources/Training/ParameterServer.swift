import Foundation
import Messaging
import NeuralNet
import TrainingLog

/// The parameter server: hands microbatches to workers, sums their gradients in global order, applies the optimiser.
///
/// One thread, one ROUTER socket. Each step the server cuts the global batch into
/// microbatches, deals them out to the active workers (contiguous, balanced shares) together
/// with the current weights, and collects one gradient message per microbatch, adding each to
/// the step's sum as soon as microbatch order allows. The weights go out from one shared buffer
/// and the gradients are summed where libzmq received them: no copy per worker. A worker on this
/// machine shares a memory file with the server instead, and its messages carry no values. A worker that
/// leaves or falls silent loses its unfinished microbatches to the others. Because a
/// microbatch's gradient does not depend on who computed it, and the sum runs in microbatch
/// order, the weights are bit-for-bit the same for any number of workers.
public final class ParameterServer: StepGradientSource {
    public let run: PreparedRun
    /// The endpoint actually bound (with the real port when `*` was asked for).
    public let endpoint: String
    /// The local endpoint bound as well, if one was asked for and could be bound.
    public let localEndpoint: String?
    /// Why the local endpoint asked for is not bound (nil when it is, or none was asked for).
    public let localEndpointProblem: String?
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
    /// The step being collected, in storage reused from step to step.
    private var collection = StepCollection()
    private var lastHeartbeat = 0.0
    /// Set once training is over: a worker that joins now is told so at once.
    private var shutdownReason: String?
    private let shouldStop: () -> Bool

    // Reused on every message, so a steady-state step allocates nothing here.
    private let inbox = ReceivedFrames()
    private var writer = FrameWriter()
    /// Snapshots of the weights that libzmq sends to every worker from the same memory.
    private let weightBuffers: PayloadPool
    /// The snapshot of this step's weights, once taken.
    private var stepWeights: PayloadBuffer?
    /// Where gradients that are not 4-byte aligned in libzmq's buffer are copied to be summed (rare).
    private var alignedScratch: [Float] = []
    /// The microbatches `deal` hands out, in order.
    private var pending: [Int] = []
    private var clock = StepClock()
    public private(set) var lastStepTiming: StepTiming?

    /// What the server knows about the step it is collecting: who computes each microbatch, and what has come back.
    ///
    /// Gradients are added to the step in microbatch order as soon as that order allows: a
    /// microbatch that arrives early stays in libzmq's buffer (a `HeldFrame`) until those before
    /// it are in, so the sum is the same whoever computes what and in which order they finish.
    private struct StepCollection {
        var isCollecting = false
        var version = 0
        var epoch = 0
        var microbatches: [Range<Int>] = []
        /// The worker computing each microbatch; 0 while it waits for one.
        var owner: [UInt32] = []
        var received: [Bool] = []
        var metrics: [BatchMetrics] = []
        /// Received gradients not yet added (only past `summed`).
        var payloads: [HeldFrame] = []
        /// For a received gradient in its worker's shared-memory file (instead of `payloads`), that file.
        var sharedFiles: [SharedPayloads?] = []
        /// Microbatches `[0, summed)` are in the step's sum.
        var summed = 0
        /// Workers whose gradients were accepted.
        var contributors = Set<UInt32>()

        var done: Bool { summed == microbatches.count }

        /// Starts collecting a step, keeping every array's storage.
        mutating func start(version: Int, epoch: Int, microbatches: [Range<Int>]) {
            isCollecting = true
            self.version = version
            self.epoch = epoch
            self.microbatches = microbatches
            let count = microbatches.count
            owner.removeAll(keepingCapacity: true)
            owner.append(contentsOf: repeatElement(0, count: count))
            received.removeAll(keepingCapacity: true)
            received.append(contentsOf: repeatElement(false, count: count))
            metrics.removeAll(keepingCapacity: true)
            metrics.append(contentsOf: repeatElement(BatchMetrics(), count: count))
            while payloads.count < count { payloads.append(HeldFrame()) }
            sharedFiles.removeAll(keepingCapacity: true)
            sharedFiles.append(contentsOf: repeatElement(nil, count: count))
            summed = 0
            contributors.removeAll(keepingCapacity: true)
        }

        /// Whether a microbatch waits for a worker.
        var hasPending: Bool {
            owner.indices.contains { owner[$0] == 0 && !received[$0] }
        }

        /// Hands the microbatches `worker` owed back to the queue; returns how many.
        mutating func unassign(_ worker: UInt32) -> Int {
            var count = 0
            for index in owner.indices where owner[index] == worker && !received[index] {
                owner[index] = 0
                count += 1
            }
            return count
        }

        /// Ends the step, giving back any frame still held.
        mutating func finish() {
            isCollecting = false
            for payload in payloads where payload.isHolding { payload.release() }
            for index in sharedFiles.indices { sharedFiles[index] = nil }
        }
    }

    /// Seconds of the current step in each of its phases.
    private struct StepClock {
        var assign = 0.0
        var wait = 0.0
        var sum = 0.0

        mutating func reset() { self = StepClock() }
        var timing: StepTiming { StepTiming(assignSeconds: assign, waitSeconds: wait, sumSeconds: sum) }
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
        weightBuffers = PayloadPool(elements: run.model.parameterCount)
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
        var local: (endpoint: String?, problem: String?) = (nil, nil)
        if let asked = options.localEndpoint {
            do {
                local.endpoint = try socket.bind(asked)
            } catch {
                local.problem = "cannot listen on \(asked): \((error as? ZMQError)?.message ?? "\(error)")"
            }
        }
        (localEndpoint, localEndpointProblem) = local
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
        collection.start(version: version, epoch: epoch, microbatches: microbatches)
        clock.reset()
        stepWeights = nil
        defer {
            collection.finish()
            stepWeights = nil
        }
        var waitingSince: Double?
        while !collection.done {
            if shouldStop() { throw ClusterError.stopped(RunVerdict.signalStop) }
            if collection.hasPending {
                if members.count(in: .active) == 0 { admitReadyWorkers(version: version) }
                if members.count(in: .active) == 0 {
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
            sumReceived(into: &step)
            expireSilentWorkers()
            sendHeartbeats()
        }
        workersInLastStep = collection.contributors.count
        lastStepTiming = clock.timing
    }

    /// Gives the pending microbatches to the active workers in contiguous, balanced shares, each
    /// with the step's weights: one snapshot per step, which libzmq sends to every worker from the same memory.
    private func deal(parameters: [Float]) {
        let started = monotonicSeconds()
        defer { clock.assign += monotonicSeconds() - started }
        pending.removeAll(keepingCapacity: true)
        for index in collection.owner.indices where collection.owner[index] == 0 && !collection.received[index] {
            pending.append(index)
        }
        let active = members.count(in: .active)
        var k = 0
        var lost: [UInt32] = []
        for (position, worker) in members.workers.enumerated() where worker.state == .active {
            let share = pending[pending.count * k / active..<pending.count * (k + 1) / active]
            k += 1
            guard !share.isEmpty else { continue }
            // A worker with a shared file finds the weights in its slot 0, written once per step.
            var weights: PayloadBuffer?
            if let shared = worker.shared {
                if worker.sharedStep != collection.version {
                    parameters.withUnsafeBufferPointer { shared.slot(0).update(from: $0.baseAddress!, count: $0.count) }
                    members.setSharedStep(position, collection.version)
                }
            } else {
                weights = stepWeights ?? snapshot(parameters)
                stepWeights = weights
            }
            writer.assignment(runID: runID, step: UInt64(collection.version), epoch: collection.epoch, count: share.count,
                              elementCount: weights?.count ?? 0) { entry in
                let index = share[share.startIndex + entry]
                return MicrobatchRef(index: index, positions: collection.microbatches[index])
            }
            if (try? socket.send(routing: worker.routing, header: writer.header, body: writer.body, payload: weights, dontWait: true)) ?? false {
                for index in share { collection.owner[index] = worker.id }
            } else {
                lost.append(worker.id)
            }
        }
        for id in lost {
            lose(id, reason: "unreachable", event: .workerLeft(worker: Int(id), reason: "unreachable"))
        }
    }

    /// The weights in a send buffer libzmq is not reading (the optimiser changes `parameters` in place while libzmq may still be sending).
    private func snapshot(_ parameters: [Float]) -> PayloadBuffer {
        let buffer = weightBuffers.take()
        parameters.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return }
            buffer.values.update(from: base, count: source.count)
        }
        return buffer
    }

    /// Adds the received gradients to the step in microbatch order, as far as that order allows.
    private func sumReceived(into step: inout StepGradient) {
        guard collection.summed < collection.microbatches.count, collection.received[collection.summed] else { return }
        let started = monotonicSeconds()
        defer { clock.sum += monotonicSeconds() - started }
        let count = run.model.parameterCount
        while collection.summed < collection.microbatches.count, collection.received[collection.summed] {
            let index = collection.summed
            let payload = collection.payloads[index]
            let bytes = collection.sharedFiles[index]?.bytes(1 + index) ?? payload.bytes
            precondition(bytes.count == count * MemoryLayout<Float>.size, "a held gradient of the wrong size")
            #if _endian(little)
            let aligned = Int(bitPattern: bytes.baseAddress) % MemoryLayout<Float>.alignment == 0
            #else
            let aligned = false
            #endif
            if aligned, let base = bytes.baseAddress {
                step.add(base.bindMemory(to: Float.self, capacity: count), metrics: collection.metrics[index])
            } else {
                if alignedScratch.count != count { alignedScratch = [Float](repeating: 0, count: count) }
                alignedScratch.withUnsafeMutableBufferPointer { LittleEndianFloats.load(bytes, into: $0) }
                step.add(alignedScratch, metrics: collection.metrics[index])
            }
            if payload.isHolding { payload.release() }
            collection.sharedFiles[index] = nil
            collection.summed += 1
        }
    }

    private func admitReadyWorkers(version: Int) {
        for index in members.workers.indices where members.workers[index].state == .ready {
            members.setState(index, .active)
            sink.record(.workerAdmitted(worker: Int(members.workers[index].id), step: version))
        }
    }

    // MARK: - Membership

    private func waitForWorkers() throws {
        sink.record(.waitingForWorkers(have: 0, need: options.workersMin))
        while members.count(in: .ready) + members.count(in: .active) < options.workersMin {
            if shouldStop() { throw ClusterError.stopped("\(RunVerdict.signalStop) while waiting for workers") }
            try pump(seconds: 0.1)
            expireSilentWorkers()
            sendHeartbeats()
        }
    }

    private func expireSilentWorkers() {
        let now = monotonicSeconds()
        var index = members.workers.count
        while index > 0 {
            index -= 1
            let worker = members.workers[index]
            // A worker loading its data sends nothing until it is ready; give it longer than one that trains.
            let timeout = worker.state == .loading ? max(options.workerTimeout, 120) : options.workerTimeout
            guard now - worker.lastSeen > timeout else { continue }
            let silent = now - worker.lastSeen
            lose(worker.id, reason: "dropped after \(Int(silent)) s of silence",
                 event: .workerTimedOut(worker: Int(worker.id), silentSeconds: silent))
        }
    }

    /// Drops a worker and puts the microbatches it owed back in the queue.
    private func lose(_ id: UInt32, reason: String, event: TrainingEvent) {
        members.remove(id, reason: reason)
        sink.record(event)
        guard collection.isCollecting else { return }
        let owed = collection.unassign(id)
        guard owed > 0 else { return }
        sink.record(.reassigned(worker: Int(id), microbatches: owed, step: collection.version))
    }

    private func sendHeartbeats() {
        let now = monotonicSeconds()
        guard now - lastHeartbeat >= options.heartbeatInterval else { return }
        lastHeartbeat = now
        writer.heartbeat(runID: runID, sender: 0, step: UInt64(collection.isCollecting ? collection.version : 0))
        var index = members.workers.count
        while index > 0 {
            index -= 1
            let worker = members.workers[index]
            let sent = (try? socket.send(routing: worker.routing, header: writer.header, body: writer.body, payload: nil, dontWait: true)) ?? false
            if !sent {
                // libzmq knows the connection is gone: no need to wait for the timeout.
                lose(worker.id, reason: "unreachable", event: .workerLeft(worker: Int(worker.id), reason: "unreachable"))
            }
        }
    }

    private func shutdownWorkers(reason: String) {
        shutdownReason = reason
        for worker in members.workers {
            send(Message(runID: runID, sender: 0, step: 0, body: .shutdown(reason: reason)), to: worker.routing)
        }
        // Give the workers a moment to say goodbye, so the shutdown reaches them before the socket closes.
        let deadline = monotonicSeconds() + 2
        while !members.workers.isEmpty && monotonicSeconds() < deadline {
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
        while true {
            let started = monotonicSeconds()
            let received = try socket.receive(into: inbox, timeoutMilliseconds: wait)
            if collection.isCollecting { clock.wait += monotonicSeconds() - started }
            guard received else { return }
            try handleReceived()
            wait = 0
        }
    }

    /// Handles the message in `inbox`: gradients straight from libzmq's buffers, the rest as `Message` values.
    /// Throws `TrainingError.diverged` when a member's gradient or loss for this step is not finite.
    private func handleReceived() throws {
        guard inbox.count >= 2 else { return reject(0, "a message with no frames after the routing id") }
        let known = members.index(routing: inbox[0])
        let envelope: Envelope
        var stats: GradientStats?
        do throws(WireError) {
            envelope = try Envelope(frameCount: inbox.count - 1, header: inbox[1], body: inbox[2], payload: inbox[3], limits: limits)
        } catch {
            return refuse(error, from: known)
        }
        // Once training has stopped, members' last gradients are of no use, and not an error.
        if envelope.kind == .gradients, shutdownReason != nil, known != nil { return }
        if envelope.kind == .gradients {
            let started = monotonicSeconds()
            defer { if collection.isCollecting { clock.sum += monotonicSeconds() - started } }
            do throws(WireError) {
                stats = try envelope.gradientStats()
            } catch {
                try divergedIfMember(error, envelope: envelope, known: known)
                return refuse(error, from: known)
            }
        }
        if let stats {
            guard let known, envelope.runID == runID, envelope.sender == members.workers[known].id else {
                return handleMessage(Message(runID: envelope.runID, sender: envelope.sender, step: envelope.step,
                                             body: .gradients(GradientReport(stats, values: []))), known: known)
            }
            members.touch(known, now: monotonicSeconds())
            let worker = members.workers[known]
            guard envelope.payload.isEmpty else { return accept(stats, step: envelope.step, from: worker.id, shared: nil) }
            // No values: they are in the worker's shared file, slot 1 + microbatch.
            guard let shared = worker.shared, stats.microbatch + 1 < shared.slots else {
                return reject(Int(worker.id), "gradients for microbatch \(stats.microbatch) without values, and no shared file slot for them")
            }
            let started = monotonicSeconds()
            let bad = LittleEndianFloats.firstNonFinite(in: shared.bytes(1 + stats.microbatch))
            if collection.isCollecting { clock.sum += monotonicSeconds() - started }
            if let bad {
                let error = WireError.nonFiniteGradient(index: bad)
                try divergedIfMember(error, envelope: envelope, known: known)
                return reject(Int(worker.id), "\(error) (in the shared file)")
            }
            return accept(stats, step: envelope.step, from: worker.id, shared: shared)
        }
        do throws(WireError) {
            handleMessage(try Message(envelope), known: known)
        } catch {
            refuse(error, from: known)
        }
    }

    /// A member's gradients for the step being collected whose values or loss are not finite: the
    /// model has diverged (the same microbatch gives the same values on any worker), so training
    /// stops before the step is applied, rather than waiting for a gradient that will never come.
    private func divergedIfMember(_ error: WireError, envelope: Envelope, known: Int?) throws {
        let what: String
        switch error {
        case .nonFiniteGradient(let index): what = "the gradient (value \(index), from worker \(envelope.sender))"
        case .nonFiniteLoss: what = "the loss (from worker \(envelope.sender))"
        default: return
        }
        guard let known, collection.isCollecting, envelope.runID == runID, envelope.sender == members.workers[known].id,
              Int(envelope.step) == collection.version else { return }
        throw TrainingError.diverged(step: collection.version + 1, what: what)
    }

    /// Logs a message that failed to decode; a peer of another protocol version is told so.
    private func refuse(_ error: WireError, from known: Int?) {
        reject(Int(known.map { members.workers[$0].id } ?? 0), "\(error)")
        if case .versionMismatch(let version) = error {
            sendError("protocol version \(version) is not supported; this server speaks version \(Message.protocolVersion)", to: inbox.copy(0))
        }
    }

    /// Handles a decoded message other than gradients from a member (those take `accept`'s path).
    private func handleMessage(_ message: Message, known: Int?) {
        let routing = inbox.copy(0)
        if case let .join(name, pid, model) = message.body {
            return join(routing: routing, name: name, pid: pid, model: model, runID: message.runID)
        }
        guard let known else {
            // A worker this server dropped, or one that knew a previous server: it may join again.
            let why = members.droppedReason(routing: routing) ?? "this server does not know the worker (it may have restarted)"
            // A heartbeat or ready is what a worker of a previous server, or a dropped one, sends first: not garbage.
            if message.body.kind != .heartbeat && message.body.kind != .ready {
                reject(0, "\(message.body.kind) from a peer that is not a member: \(why)")
            }
            send(Message(runID: runID, sender: 0, step: 0, body: .rejoin(reason: why)), to: routing)
            return
        }
        let worker = members.workers[known]
        guard message.runID == runID, message.sender == worker.id else {
            return reject(Int(worker.id), "run id \(message.runID) / sender \(message.sender) do not match this run's worker \(worker.id)")
        }
        members.touch(known, now: monotonicSeconds())
        switch message.body {
        case .ready(let sharedFile):
            guard worker.state == .loading else { break }
            if let sharedFile { useSharedFile(sharedFile, of: known) }
            members.setState(known, .ready)
        case .heartbeat:
            break
        case .gradients:
            // Decoded on the fast path; a member's gradients never get here.
            break
        case .leave(let reason):
            lose(worker.id, reason: "left: \(reason)", event: .workerLeft(worker: Int(worker.id), reason: reason))
        case .join, .welcome, .assignment, .shutdown, .error, .rejoin:
            reject(Int(worker.id), "a worker may not send \(message.body.kind)")
        }
    }

    /// Maps the shared-memory file a worker on this machine named in its ready message, and removes
    /// its name; a file that cannot be used is logged, and the worker gets payloads instead.
    private func useSharedFile(_ path: String, of known: Int) {
        let worker = members.workers[known]
        do throws(SharedPayloadsError) {
            let file = try SharedPayloads.open(path: path, slots: 1 + run.plan.microbatchesPerStep, elements: run.model.parameterCount)
            file.removeName()
            members.share(known, file)
        } catch {
            reject(Int(worker.id), "cannot share memory with worker \(worker.id): \(error); sending payloads instead")
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
        send(Message(runID: runID, sender: id, step: UInt64(collection.isCollecting ? collection.version : 0),
                     body: .welcome(configJSON: welcome)), to: routing)
    }

    /// Takes a member's checked gradients: keeps the payload where libzmq put it (frame 3 of `inbox`),
    /// or the worker's shared file, until it is summed.
    private func accept(_ stats: GradientStats, step: UInt64, from id: UInt32, shared: SharedPayloads?) {
        guard collection.isCollecting, Int(step) == collection.version else {
            return reject(Int(id), "stale gradients for step \(step); the server is at step \(collection.isCollecting ? collection.version : -1)")
        }
        let index = stats.microbatch
        guard collection.owner.indices.contains(index), collection.owner[index] == id, !collection.received[index] else {
            return reject(Int(id), "gradients for microbatch \(index), which is not assigned to worker \(id)")
        }
        guard stats.samples == collection.microbatches[index].count else {
            return reject(Int(id), "microbatch \(index) has \(collection.microbatches[index].count) samples, the worker reported \(stats.samples)")
        }
        if let shared {
            collection.sharedFiles[index] = shared
        } else {
            inbox.move(3, to: collection.payloads[index])
        }
        collection.received[index] = true
        collection.metrics[index] = BatchMetrics(lossSum: stats.lossSum, correct: stats.correct, count: stats.samples)
        collection.contributors.insert(id)
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
