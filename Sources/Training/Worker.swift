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
                    run = try PreparedRun(config: info.config)
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
            send(socket, Message(runID: runID, sender: workerID, step: 0, body: .ready))
            if case .done(let outcome) = try work(socket, run: run, workerID: workerID, runID: runID, sink: sink) {
                return outcome
            }
        }
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

    private func work(_ socket: ZMQSocket, run: PreparedRun, workerID: UInt32, runID: UInt64, sink: any EventSink) throws -> MembershipEnd {
        let computer = GradientComputer(model: run.model, data: run.train, microbatch: run.config.microbatch)
        var gradient = [Float](repeating: 0, count: run.model.parameterCount)
        var orders: (epoch: Int, order: [Int])?
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
            guard let frames = try socket.receive(timeoutMilliseconds: Int32(options.heartbeatInterval * 1000)) else {
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
            bytesReceived += frames.reduce(0) { $0 + $1.count }
            let message: Message
            do {
                message = try Message(frames: frames, limits: limits)
            } catch {
                sink.record(.messageRejected(worker: 0, reason: "\(error)"))
                continue
            }
            // A restarted server has a new run id; its request to join again is the one message to take from it.
            guard message.runID == runID || message.body.kind == .rejoin else {
                sink.record(.messageRejected(worker: 0, reason: "message for run \(message.runID), this worker is in run \(runID)"))
                continue
            }
            switch message.body {
            case let .assignment(epoch, microbatches, weights):
                let received = bytesReceived
                bytesReceived = 0
                let wait = lastHeard - idleSince
                if orders?.epoch != epoch {
                    orders = (epoch, EpochPlan.order(sampleCount: run.train.count, epoch: epoch, seed: run.config.seed))
                }
                guard let order = orders?.order,
                      microbatches.allSatisfy({ $0.positions.upperBound <= order.count && $0.positions.count <= run.config.microbatch })
                else {
                    sink.record(.messageRejected(worker: 0, reason: "assignment outside the training set"))
                    continue
                }
                var computeSeconds = 0.0
                var sent = 0
                var samples = 0
                for ref in microbatches {
                    let started = monotonicSeconds()
                    let metrics = computer.compute(order: order, positions: ref.positions, parameters: weights, gradient: &gradient)
                    let seconds = monotonicSeconds() - started
                    computeSeconds += seconds
                    samples += metrics.count
                    let report = GradientReport(microbatch: ref.index, samples: metrics.count, lossSum: metrics.lossSum,
                                                correct: metrics.correct, computeSeconds: seconds, values: gradient)
                    sent += send(socket, Message(runID: runID, sender: workerID, step: message.step, body: .gradients(report)))
                }
                lastSent = monotonicSeconds()
                idleSince = lastSent
                sink.record(.workerStep(WorkerStepRecord(
                    worker: Int(workerID), epoch: epoch + 1, globalStep: Int(message.step), microbatches: microbatches.count,
                    samples: samples, computeSeconds: computeSeconds, waitSeconds: wait, bytesSent: sent, bytesReceived: received)))
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
