import Foundation
import Messaging
import NeuralNet
import TrainingLog

/// Who is in the cluster: joins, goodbyes, silences, heartbeats, and what is refused and why.
extension ParameterServer {
    func waitForWorkers() throws {
        sink.record(.waitingForWorkers(have: 0, need: options.workersMin))
        while members.count(in: .ready) + members.count(in: .active) < options.workersMin {
            if shouldStop() { throw ClusterError.stopped("\(RunVerdict.signalStop) while waiting for workers") }
            try collect(seconds: 0.1)
            expireSilentWorkers()
            sendHeartbeats()
        }
    }

    /// A message other than gradients.
    func handle(_ message: Message, from peer: Peer) {
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
        case .report(let figures):
            // What the worker measured goes into this run's log, wherever the worker runs.
            sink.record(.workerStep(WorkerStepRecord(
                worker: Int(worker.id), epoch: figures.epoch, globalStep: Int(clamping: message.step), assignments: figures.assignments,
                microbatches: figures.microbatches,
                samples: figures.samples, computeSeconds: figures.computeSeconds, waitSeconds: figures.waitSeconds,
                bytesSent: figures.bytesSent, bytesReceived: figures.bytesReceived, sendSeconds: figures.sendSeconds)))
        case .leave(let reason):
            lose(worker.id, reason: "left: \(reason)", event: .workerLeft(worker: Int(worker.id), reason: reason))
        case .join, .welcome, .assignment, .shutdown, .error, .rejoin:
            reject(worker.id, "a worker may not send \(message.kind)")
        }
    }

    func join(_ routing: [UInt8], name: String, pid: Int, model: String?, runID joinRun: UInt64) {
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
            // Joining again, it starts afresh: it is sent the weights in full.
            link.forget(routing)
            id = existing.id
        } else {
            id = members.add(routing: routing, name: name, pid: pid, now: monotonicSeconds())
            sink.record(.workerJoined(worker: Int(id), name: name, pid: pid))
        }
        reply(.welcome(configJSON: welcome), to: routing, sender: id, step: ledger.isCollecting ? ledger.version : 0)
    }

    /// A message from a peer that is not a member: a worker this server dropped, or one that knew a
    /// previous server. It is asked to join again.
    func stranger(sent kind: MessageKind, from peer: Peer) {
        let routing = peer.id
        let why = members.droppedReason(routing: routing) ?? "this server does not know the worker (it may have restarted)"
        // A heartbeat or ready is what such a worker sends first, and a report what it sends after the work
        // it did before it was dropped: not garbage.
        if kind != .heartbeat && kind != .ready && kind != .report {
            reject(0, "\(kind) from a peer that is not a member: \(why)")
        }
        reply(.rejoin(reason: why), to: routing)
    }

    /// Whether a member's message carries this run's id and the member's own; logs it when not.
    func belongs(_ runID: UInt64, _ sender: UInt32, to worker: WorkerRecord) -> Bool {
        if runID == link.runID && sender == worker.id { return true }
        reject(worker.id, "run id \(runID) / sender \(sender) do not match this run's worker \(worker.id)")
        return false
    }

    func expireSilentWorkers() {
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
    func lose(_ id: UInt32, reason: String, event: TrainingEvent) {
        if let worker = members[id] { link.forget(worker.routing) }
        members.remove(id, reason: reason)
        sink.record(event)
        guard ledger.isCollecting else { return }
        let owed = ledger.reassign(from: id)
        guard owed > 0 else { return }
        sink.record(.reassigned(worker: Int(id), microbatches: owed, step: ledger.version))
    }

    /// Tells every worker the server is alive; one libzmq no longer reaches is dropped without waiting for the timeout.
    func sendHeartbeats() {
        let now = monotonicSeconds()
        guard now - lastHeartbeat >= options.heartbeatInterval else { return }
        lastHeartbeat = now
        for worker in members.workers {
            let outcome = link.sendHeartbeat(to: worker.routing, step: ledger.isCollecting ? ledger.version : 0)
            // A full queue means messages are on their way to the worker already.
            if outcome != .sent && outcome != .wouldBlock { sendFailed(outcome, message: "heartbeat", to: worker.id) }
        }
    }

    func shutdownWorkers(reason: String) {
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
    func refuse(_ refusal: Refusal, from peer: Peer?) throws {
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
    func stopIfDiverged(_ refusal: Refusal, header: MessageHeader, worker: WorkerRecord) throws {
        let what: String
        switch refusal.error {
        case .nonFiniteGradient(let index): what = "the gradient (value \(index), from worker \(header.sender))"
        case .nonFiniteLoss: what = "the loss (from worker \(header.sender))"
        default: return
        }
        guard ledger.isCollecting, header.runID == link.runID, header.sender == worker.id, header.step == UInt64(ledger.version) else { return }
        throw TrainingError.diverged(step: ledger.version + 1, what: what)
    }

    func reject(_ worker: UInt32, _ reason: String) {
        sink.record(.messageRejected(worker: Int(worker), reason: reason))
    }

    /// Sends a control message; one that does not go out is logged (the peer will ask again, or time out).
    func reply(_ body: Body, to routing: [UInt8], sender: UInt32 = 0, step: Int = 0) {
        let outcome = link.send(Message(runID: link.runID, sender: sender, step: UInt64(step), body: body), to: routing)
        guard outcome != .sent else { return }
        let worker = members.live(routing: routing)?.id ?? 0
        sink.record(.sendFailed(worker: Int(worker), message: "\(body.kind)", reason: Self.describe(outcome)))
    }

    /// A member that could not be sent `message`: logged, and dropped once what it sent has been read.
    func sendFailed(_ outcome: SendOutcome, message: String, to id: UInt32) {
        if case .failed = outcome { sink.record(.sendFailed(worker: Int(id), message: message, reason: Self.describe(outcome))) }
        if !unreachable.contains(id) { unreachable.append(id) }
    }

    static func describe(_ outcome: SendOutcome) -> String {
        switch outcome {
        case .sent: "sent"
        case .wouldBlock: "its queue is full"
        case .unreachable: "it is unreachable"
        case .failed(let reason): reason
        }
    }
}
