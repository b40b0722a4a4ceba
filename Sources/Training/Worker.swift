import Datasets
import Foundation
import Messaging
import NeuralNet
import TrainingLog

/// A worker: joins a parameter server, computes the microbatches it is handed, sends their gradients.
///
/// It needs only the server's address: the welcome carries the run's config, from which the
/// worker builds the model and loads (or regenerates) the same training set. It touches only
/// the samples of the microbatches it is assigned.
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

    /// Joins, trains until the server shuts it down or it is stopped; throws `ClusterError` otherwise.
    public func run() throws -> Outcome {
        let context = try ZMQContext()
        defer { context.close() }
        let socket = try ZMQSocket(context: context, kind: .dealer)
        defer { socket.close() }
        var generator = SystemRandomNumberGenerator()
        try socket.setRoutingID(Array("\(options.name)-\(String(generator.next(), radix: 36))".utf8))
        try socket.setReconnectInterval(milliseconds: 100)
        if let keys = options.curve {
            try socket.makeCurveClient(keyPair: keys.keyPair, serverPublicKey: keys.serverPublicKey)
        }
        try socket.connect(options.server)

        // A server that restarts, or that dropped this worker, asks it to join again.
        var prepared: (config: RunConfig, run: PreparedRun)?
        while true {
            guard let (workerID, runID, info) = try join(socket) else { return .stopped }
            let run: PreparedRun
            if let prepared, prepared.config == info.config {
                run = prepared.run
            } else {
                do {
                    run = try PreparedRun(config: info.config, testSet: false)
                } catch {
                    send(socket, Message(runID: runID, sender: workerID, step: 0, body: .leave(reason: "cannot prepare the run: \(error)")))
                    throw ClusterError.badWelcome("\(error)")
                }
                prepared = (info.config, run)
            }
            guard run.model.parameterCount == info.parameterCount, run.model.spec == info.modelSpec else {
                let why = "the server's model \(info.modelSpec) has \(info.parameterCount) parameters; this build makes \(run.model.parameterCount) from it"
                send(socket, Message(runID: runID, sender: workerID, step: 0, body: .leave(reason: why)))
                throw ClusterError.badWelcome(why)
            }
            let sink = logSink(workerID: workerID, info: info)
            try socket.setMaxMessageSize(Int64(run.model.parameterCount * 4 + (1 << 20)))
            let shared = sharedFile(run: run, workerID: workerID, runID: runID)
            defer { shared?.removeName() }
            send(socket, Message(runID: runID, sender: workerID, step: 0, body: .ready(sharedFile: shared?.path)))
            if case .done(let outcome) = try work(socket, run: run, shared: shared, workerID: workerID, runID: runID, sink: sink) {
                return outcome
            }
        }
    }

    /// On the server's machine (its Unix socket), a new shared-memory file for this membership:
    /// the weights and one slot per microbatch of a step, when that is at most 1 GiB and /dev/shm
    /// has room. Nil otherwise; the server then sends and takes the values in payloads.
    private func sharedFile(run: PreparedRun, workerID: UInt32, runID: UInt64) -> SharedPayloads? {
        guard options.server.hasPrefix("ipc://") else { return nil }
        let slots = 1 + run.plan.microbatchesPerStep
        guard SharedPayloads.byteCount(slots: slots, elements: run.model.parameterCount) <= 1 << 30 else { return nil }
        var generator = SystemRandomNumberGenerator()
        let name = "\(getpid())-\(String(runID, radix: 16))-\(workerID)-\(String(generator.next(), radix: 36))"
        return try? SharedPayloads.create(name: name, slots: slots, elements: run.model.parameterCount)
    }

    // MARK: - Joining

    /// Sends `join` until the server welcomes or refuses this worker, or stays silent too long.
    private func join(_ socket: ZMQSocket) throws -> (UInt32, UInt64, WelcomeInfo)? {
        let started = monotonicSeconds()
        var lastJoin = -Double.infinity
        let join = Message(runID: 0, sender: 0, step: 0,
                           body: .join(name: options.name, pid: Int(getpid()), model: options.expectedModel))
        var frames = join.encoded()
        if protocolVersion != Message.protocolVersion {
            frames[0][4] = UInt8(protocolVersion & 0xFF)
            frames[0][5] = UInt8(protocolVersion >> 8)
        }
        while true {
            if shouldStop() { return nil }
            if monotonicSeconds() - lastJoin >= 1 {
                _ = try? socket.send(frames, dontWait: true)
                lastJoin = monotonicSeconds()
            }
            if let reply = try socket.receive(timeoutMilliseconds: 200) {
                let message = try? Message(frames: reply, limits: MessageLimits())
                switch message?.body {
                case .welcome(let json):
                    guard let message else { continue }
                    do {
                        let info = try JSONDecoder().decode(WelcomeInfo.self, from: Data(json.utf8))
                        return (message.sender, message.runID, info)
                    } catch {
                        throw ClusterError.badWelcome("\(error)")
                    }
                case .error(let reason):
                    throw ClusterError.refused(reason)
                default:
                    continue
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

    private func work(_ socket: ZMQSocket, run: PreparedRun, shared: SharedPayloads?, workerID: UInt32, runID: UInt64,
                      sink: any EventSink) throws -> MembershipEnd {
        let steps = StepComputer(run: run, socket: socket, shared: shared, runID: runID, workerID: workerID)
        // Received frames are read where libzmq put them, and the storage is reused for every message.
        let inbox = ReceivedFrames()
        let limits = MessageLimits(parameterCount: run.model.parameterCount)
        var lastHeard = monotonicSeconds()
        var lastSent = monotonicSeconds()
        var idleSince = monotonicSeconds()
        var bytesReceived = 0

        while true {
            if shouldStop() {
                send(socket, Message(runID: runID, sender: workerID, step: 0, body: .leave(reason: "stopped by a signal")))
                return .done(.stopped)
            }
            guard try socket.receive(into: inbox, timeoutMilliseconds: Int32(options.heartbeatInterval * 1000)) else {
                let now = monotonicSeconds()
                if now - lastHeard > options.serverTimeout {
                    throw ClusterError.serverGone("the server at \(options.server) has been silent for \(Int(now - lastHeard)) s; giving up")
                }
                if now - lastSent >= options.heartbeatInterval {
                    send(socket, Message(runID: runID, sender: workerID, step: 0, body: .heartbeat))
                    lastSent = now
                }
                continue
            }
            lastHeard = monotonicSeconds()
            bytesReceived += inbox.byteCount
            // An assignment's body is decoded into reused storage and its weights stay in `inbox`; the rest become `Message`s.
            let envelope: Envelope
            var message: Message?
            do throws(WireError) {
                envelope = try Envelope(frameCount: inbox.count, header: inbox[0], body: inbox[1], payload: inbox[2], limits: limits)
                if envelope.kind == .assignment {
                    try steps.assignment.decode(envelope)
                } else {
                    message = try Message(envelope)
                }
            } catch {
                sink.record(.messageRejected(worker: 0, reason: "\(error)"))
                continue
            }
            // A restarted server has a new run id; its request to join again is the one message to take from it.
            guard envelope.runID == runID || envelope.kind == .rejoin else {
                sink.record(.messageRejected(worker: 0, reason: "message for run \(envelope.runID), this worker is in run \(runID)"))
                continue
            }
            guard let message else {
                let wait = lastHeard - idleSince
                let done: StepComputer.Done
                switch steps.compute(envelope) {
                case .success(let result): done = result
                case .failure(let problem):
                    sink.record(.messageRejected(worker: 0, reason: problem.reason))
                    continue
                }
                lastSent = monotonicSeconds()
                idleSince = lastSent
                sink.record(.workerStep(WorkerStepRecord(
                    worker: Int(workerID), epoch: steps.assignment.epoch + 1, globalStep: Int(envelope.step),
                    microbatches: steps.assignment.microbatches.count, samples: done.samples, computeSeconds: done.computeSeconds,
                    waitSeconds: wait, bytesSent: done.bytesSent, bytesReceived: bytesReceived, sendSeconds: done.sendSeconds)))
                bytesReceived = 0
                continue
            }
            switch message.body {
            case .heartbeat, .welcome:
                break
            case .shutdown(let reason):
                send(socket, Message(runID: runID, sender: workerID, step: 0, body: .leave(reason: "finished")))
                return .done(.finished(reason))
            case .error(let reason):
                throw ClusterError.refused(reason)
            case .rejoin(let reason):
                sink.record(.workerRejoining(worker: Int(workerID), reason: reason))
                return .rejoin
            case .assignment:
                // Decoded into `steps.assignment` above; never a `Message` here.
                break
            case .join, .ready, .gradients, .leave:
                sink.record(.messageRejected(worker: 0, reason: "a server may not send \(message.body.kind)"))
            }
        }
    }

    /// Sends a message; returns the bytes sent (0 if it could not be queued).
    @discardableResult
    private func send(_ socket: ZMQSocket, _ message: Message) -> Int {
        let frames = message.encoded()
        let queued = (try? socket.send(frames, dontWait: true)) ?? false
        return queued ? frames.reduce(0) { $0 + $1.count } : 0
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

/// Computes a worker's assignments: each microbatch against the weights where libzmq received
/// them, its gradient straight into a buffer that libzmq then sends without a copy. With a
/// shared-memory file, an assignment without weights means they are in the file's slot 0, and
/// each gradient goes into the file (slot 1 + its microbatch index) with a message saying so.
///
/// What it needs from step to step is kept here, so a steady-state step allocates nothing of
/// its own: the model's workspace, the decoded microbatch list, the gradient buffers, the
/// header and body frames.
private final class StepComputer {
    /// The microbatches of the last assignment decoded.
    var assignment = AssignmentDecoder()
    private let run: PreparedRun
    private let socket: ZMQSocket
    private let runID: UInt64
    private let workerID: UInt32
    private let computer: GradientComputer
    private let gradients: PayloadPool
    private let shared: SharedPayloads?
    private var writer = FrameWriter()
    private var orders: (epoch: Int, order: [Int])?
    /// Where weights that are not 4-byte aligned in libzmq's buffer are copied (rare).
    private var alignedWeights: UnsafeMutablePointer<Float>?

    init(run: PreparedRun, socket: ZMQSocket, shared: SharedPayloads?, runID: UInt64, workerID: UInt32) {
        self.run = run
        self.socket = socket
        self.shared = shared
        self.runID = runID
        self.workerID = workerID
        computer = GradientComputer(model: run.model, data: run.train, microbatch: run.config.microbatch)
        gradients = PayloadPool(elements: run.model.parameterCount)
    }

    deinit {
        alignedWeights?.deallocate()
    }

    /// What one assignment took.
    struct Done {
        var samples = 0
        var computeSeconds = 0.0
        var sendSeconds = 0.0
        var bytesSent = 0
    }

    /// Why an assignment was not computed.
    struct Refusal: Error {
        var reason: String
    }

    /// Computes `assignment`'s microbatches with the weights in `envelope`'s payload (or, without
    /// one, in the shared file), sending each gradient as soon as it is done; a refusal (nothing
    /// sent) when a microbatch lies outside the training set or the weights are nowhere.
    func compute(_ envelope: Envelope) -> Result<Done, Refusal> {
        let epoch = assignment.epoch
        if orders?.epoch != epoch {
            orders = (epoch, EpochPlan.order(sampleCount: run.train.count, epoch: epoch, seed: run.config.seed))
        }
        guard let order = orders?.order,
              assignment.microbatches.allSatisfy({ $0.positions.upperBound <= order.count && $0.positions.count <= run.config.microbatch })
        else { return .failure(Refusal(reason: "assignment outside the training set")) }
        let count = run.model.parameterCount
        // No weights in the message: they, and the gradients, are in the shared file.
        var file: SharedPayloads?
        if envelope.payload.isEmpty {
            guard let shared else { return .failure(Refusal(reason: "assignment without weights, and no shared file")) }
            guard assignment.microbatches.allSatisfy({ $0.index + 1 < shared.slots }) else {
                return .failure(Refusal(reason: "assignment of a microbatch past the shared file's \(shared.slots - 1) slots"))
            }
            file = shared
        }
        let weights = file.map { UnsafePointer($0.slot(0)) } ?? floats(envelope.payload, count: count)
        let inFile = file != nil
        var done = Done()
        for ref in assignment.microbatches {
            let started = monotonicSeconds()
            // The gradient goes into the file's slot, or into a buffer libzmq sends.
            let gradient: PayloadBuffer?, values: UnsafeMutablePointer<Float>
            if let file {
                (gradient, values) = (nil, file.slot(1 + ref.index))
            } else {
                let buffer = gradients.take()
                (gradient, values) = (buffer, buffer.values)
            }
            let metrics = computer.compute(order: order, positions: ref.positions, parameters: weights, gradient: values)
            let computed = monotonicSeconds()
            done.computeSeconds += computed - started
            done.samples += metrics.count
            let stats = GradientStats(microbatch: ref.index, samples: metrics.count, lossSum: metrics.lossSum,
                                      correct: metrics.correct, computeSeconds: computed - started)
            writer.gradients(runID: runID, sender: workerID, step: envelope.step, stats: stats, elementCount: inFile ? 0 : count)
            if (try? socket.send(routing: nil, header: writer.header, body: writer.body, payload: gradient, dontWait: true)) ?? false {
                done.bytesSent += writer.header.count + writer.body.count + (inFile ? 0 : count * MemoryLayout<Float>.size)
            }
            done.sendSeconds += monotonicSeconds() - computed
        }
        return .success(done)
    }

    /// The weights in a received payload as Float32 values: the payload itself when it is aligned
    /// (on a little-endian host), otherwise a copy in `alignedWeights`.
    private func floats(_ payload: UnsafeRawBufferPointer, count: Int) -> UnsafePointer<Float> {
        precondition(payload.count == count * MemoryLayout<Float>.size, "weights of the wrong size")
        #if _endian(little)
        if let base = payload.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            return base.bindMemory(to: Float.self, capacity: count)
        }
        #endif
        let copy = alignedWeights ?? .allocate(capacity: count)
        alignedWeights = copy
        LittleEndianFloats.load(payload, into: UnsafeMutableBufferPointer(start: copy, count: count))
        return UnsafePointer(copy)
    }
}
