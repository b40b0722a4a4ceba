import Foundation
import Messaging
import NeuralNet
import TrainingLog

/// The parameter server: deals microbatches to workers, sums their gradients in the step's fixed tree order, applies the optimiser.
///
/// One thread. Each step reads as the recipe: admit the workers that are ready, deal the step's
/// microbatches to them (contiguous shares cut at aligned points, with the current weights),
/// collect one summed gradient per whole node of the step's `SumTree` a worker holds, add the
/// blocks in the tree's order as soon as that order allows; the
/// training loop then updates and the next step's deal broadcasts the new weights. A worker that
/// leaves or falls silent loses its unfinished microbatches to the others. Because a node's sum
/// does not depend on who computed it, and the tree is fixed by the step's microbatch count,
/// the weights are bit-for-bit the same for any number of workers.
///
/// The wire is `ServerLink`'s (frames, held gradients, shared memory); the step's books are
/// `StepLedger`'s; who is in the cluster is `Membership`'s.
public final class ParameterServer: StepGradientSource {
    public let run: PreparedRun
    let options: ServerOptions
    private let directory: RunDirectory
    private let start: StartingState
    let shouldStop: () -> Bool
    /// Where events go; set by `serve(sink:)`.
    var sink: any EventSink = EventFanOut([])
    let link: ServerLink
    let welcome: String
    var members: Membership
    var ledger = StepLedger()
    /// Each block's gradient (at its first microbatch) from its arrival until the step is summed; storage reused from step to step.
    private var held: [HeldGradient] = []
    /// The step's sum, added in the `SumTree`'s order as blocks come in.
    private let pairwise: PairwiseSum
    /// Members a send found unreachable: lost once the messages they sent before going are read.
    var unreachable: [UInt32] = []
    private var clock = StepClock()
    var lastHeartbeat = 0.0
    /// Set once training is over: a worker that joins now is told so at once.
    var shutdownReason: String?
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
                                  parameterCount: run.model.parameterCount,
                                  gradientValueBytes: run.config.bfloat16Gradients ? BFloat16.size : MemoryLayout<Float>.size,
                                  curve: options.curve)
        } catch let error as ServerLinkError {
            throw ClusterError.cannotListen("\(error); is another server using the port? (--port 0 picks a free one)")
        }
        members = Membership(firstID: Self.firstFreeWorkerID(in: directory))
        pairwise = PairwiseSum(parameterCount: run.model.parameterCount, roundsToBFloat16: run.config.bfloat16Gradients)
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
        parameters: [Float], previousStep: [Float]?, into step: inout StepGradient
    ) throws {
        admitReadyWorkers(version: version)
        ledger.start(version: version, epoch: epoch, microbatches: microbatches)
        pairwise.reset()
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
                    deal(parameters, previousStep: previousStep)
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

    func admitReadyWorkers(version: Int) {
        for index in members.workers.indices where members.workers[index].state == .ready {
            members.setState(index, .active)
            sink.record(.workerAdmitted(worker: Int(members.workers[index].id), step: version))
        }
    }

    /// Gives the waiting microbatches to the active workers in contiguous, balanced shares, each
    /// with the step's weights (`ServerLink` sends only what a worker lacks: none, the rounded
    /// `previousStep`, or the weights). A share whose worker's queue is full waits for the next deal.
    private func deal(_ parameters: [Float], previousStep: [Float]?) {
        let started = monotonicSeconds()
        defer { clock.assign += monotonicSeconds() - started }
        let parts = members.count(in: .active)
        var part = 0
        for (position, worker) in members.workers.enumerated() where worker.state == .active {
            let share = ledger.share(part, of: parts)
            part += 1
            guard !share.isEmpty else { continue }
            let outcome = link.sendAssignment(to: worker.routing, step: ledger.version, epoch: ledger.epoch, count: share.count,
                                              weights: parameters, previousStep: previousStep) { entry in
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

    /// Once a step's first gradient is in, how long the server looks for the next message before it sleeps.
    ///
    /// The gradients of a step come close together (the workers started together, on the same
    /// weights); taking the next one without the wake-up of a sleeping thread keeps that off the
    /// step (see `ZMQSocket.receive(into:timeoutMilliseconds:watch:)`). Before the first one the
    /// workers are computing, and a server watching then takes processor time from one of them.
    static let gradientWatch = Duration.microseconds(300)

    /// Handles every event that arrives within `seconds`, then drops the members a send found unreachable.
    func collect(seconds: Double) throws {
        var wait = Int32(seconds * 1000)
        while true {
            let started = monotonicSeconds()
            let watching = ledger.isCollecting && !ledger.contributors.isEmpty && wait > 0
            let event = try link.receive(timeoutMilliseconds: wait, watch: watching ? Self.gradientWatch : .zero)
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
        let block = stats.microbatch..<stats.microbatch + stats.microbatches
        switch ledger.collect(step: Int(exactly: arrival.header.step) ?? -1, block: block, figures: figures, from: worker.id) {
        case .accepted: link.hold(arrival, in: held[stats.microbatch])
        case .refused(let reason): reject(worker.id, reason)
        }
    }

    /// Adds the collected blocks in the sum tree's order, as far as that order allows; the whole
    /// step goes into `step` once every block is in. Held gradients are let go when the step ends.
    private func sum(into step: inout StepGradient) {
        let started = monotonicSeconds()
        defer { clock.sum += monotonicSeconds() - started }
        while let block = ledger.nextToSum() {
            pairwise.push(held[block.lowerBound].values(count: run.model.parameterCount), metrics: ledger.metrics[block.lowerBound],
                          block: block)
        }
        if ledger.isComplete { step.take(pairwise) }
    }
}

/// Seconds of the current step in each of its phases.
private struct StepClock {
    var assign = 0.0
    var wait = 0.0
    var sum = 0.0

    var timing: StepTiming { StepTiming(assignSeconds: assign, waitSeconds: wait, sumSeconds: sum) }
}
