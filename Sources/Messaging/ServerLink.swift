import Foundation

/// The parameter server's side of the wire: frames in, typed events out; typed messages out, frames sent.
///
/// One ROUTER socket, bound to a TCP endpoint and optionally to a Unix socket for workers on this
/// machine, with a CurveZMQ authenticator when the server has keys. What it hides: routing-id
/// and frame indices, gradients left in libzmq's buffers until they are summed, workers'
/// shared-memory files and their slots, and payload alignment. One thread uses it.
public final class ServerLink {
    /// The TCP endpoint bound (with the real port when `*` was asked for).
    public let endpoint: String
    /// The local endpoint bound as well, if one was asked for and could be bound.
    public let localEndpoint: String?
    /// Why the local endpoint asked for is not bound (nil when it is, or none was asked for).
    public let localEndpointProblem: String?
    private let context: ZMQContext
    private let socket: ZMQSocket
    /// Checks workers' CurveZMQ keys, when the server has keys.
    private let zap: ZAPHandler?
    /// The run id stamped on every message the server sends.
    public let runID: UInt64
    private let parameterCount: Int
    private let limits: MessageLimits
    // Reused for every message, so a steady-state step allocates nothing here.
    private let inbox = ReceivedFrames()
    private var writer = FrameWriter()
    /// Snapshots of the weights, which libzmq sends to every worker from the same memory.
    private let weightBuffers: PayloadPool
    /// This step's snapshot, once taken.
    private var snapshot: (step: Int, buffer: PayloadBuffer)?
    /// Snapshots of the bfloat16 steps, apart from the weights' so neither overwrites the other's current one.
    private let stepBuffers: PayloadPool
    /// The bfloat16 step that led to this step's weights, packed, once taken.
    private var stepSnapshot: (step: Int, buffer: PayloadBuffer)?
    /// For each peer without a shared file, the step whose weights it was last sent (in full or as a step).
    private var heldSteps: [[UInt8]: Int] = [:]
    /// Peers that share a memory file with the server.
    private var sharing: [SharedPeer] = []
    /// CURVE clients refused since the last receive, to be reported one by one.
    private var denials: [ZAPDenial] = []

    private struct SharedPeer {
        let routing: [UInt8]
        let file: SharedPayloads
        /// The step whose weights are in slot 0 (-1: none yet).
        var step = -1
    }

    /// Binds `endpoint` (and `localEndpoint`, when given; failing to bind that is not an error) for
    /// run `runID` of a model of `parameterCount` values; with `curve`, only workers whose keys it authorizes get in.
    ///
    /// Throws `ServerLinkError.cannotListen` when `endpoint` cannot be bound.
    /// Gradients arrive with `gradientValueBytes` per value: 4, or `BFloat16.size`.
    public init(endpoint asked: String, localEndpoint askedLocal: String?, runID: UInt64, parameterCount: Int,
                gradientValueBytes: Int = MemoryLayout<Float>.size, curve: CurveServerKeys?) throws {
        self.runID = runID
        self.parameterCount = parameterCount
        var limits = MessageLimits(parameterCount: parameterCount)
        limits.gradientValueBytes = gradientValueBytes
        self.limits = limits
        weightBuffers = PayloadPool(elements: parameterCount)
        stepBuffers = PayloadPool(elements: parameterCount)
        context = try ZMQContext()
        // The ZAP handler must be bound before the server socket, in the same context.
        zap = try curve.map { [context] in try ZAPHandler(context: context, authorizedKeys: $0.authorizedWorkers) }
        socket = try ZMQSocket(context: context, kind: .router)
        do {
            try socket.setRouterMandatory(true)
            try socket.setMaxMessageSize(Int64(parameterCount * MemoryLayout<Float>.size + (1 << 20)))
            if let curve, let zap {
                try socket.makeCurveServer(secretKey: curve.keyPair.secretKey, authenticator: zap)
            }
            endpoint = try socket.bind(asked)
        } catch {
            socket.close()
            zap?.stop()
            context.close()
            throw ServerLinkError.cannotListen(endpoint: asked, reason: (error as? ZMQError)?.message ?? "\(error)")
        }
        var local: (endpoint: String?, problem: String?) = (nil, nil)
        if let askedLocal {
            do {
                local.endpoint = try socket.bind(askedLocal)
            } catch {
                local.problem = "cannot listen on \(askedLocal): \((error as? ZMQError)?.message ?? "\(error)")"
            }
        }
        (localEndpoint, localEndpointProblem) = local
    }

    deinit {
        socket.close()
        zap?.stop()
        context.close()
    }

    // MARK: - Inbox

    /// The next event within `timeoutMilliseconds` (0 polls), or nil; with `watch`, looked for
    /// without sleeping for up to that long first (`ZMQSocket.receive(into:timeoutMilliseconds:watch:)`).
    ///
    /// A gradient's values stay in libzmq's buffer (or the sender's file) until `hold(_:in:)`
    /// keeps them; otherwise the next `receive` lets them go. `from` is valid until then too.
    public func receive(timeoutMilliseconds: Int32, watch: Duration = .zero) throws -> ServerEvent? {
        if denials.isEmpty { denials = zap?.takeDenials() ?? [] }
        if !denials.isEmpty {
            let denial = denials.removeFirst()
            // The reason without the key and attempt number, so a report can count refusals by reason.
            return .refused(Refusal(reason: "refused a CURVE client from \(denial.address): \(denial.reason)"), from: nil)
        }
        guard try socket.receive(into: inbox, timeoutMilliseconds: timeoutMilliseconds, watch: watch) else { return nil }
        let peer = Peer(routing: inbox[0])
        guard inbox.count >= 2 else { return .refused(Refusal(reason: "a message with no frames after the routing id"), from: peer) }
        let envelope: Envelope
        do throws(WireError) {
            envelope = try Envelope(frameCount: inbox.count - 1, header: inbox[1], body: inbox[2], payload: inbox[3], limits: limits)
        } catch {
            return .refused(Refusal(error), from: peer)
        }
        let header = MessageHeader(envelope)
        guard envelope.kind == .gradients else {
            do throws(WireError) {
                return .control(try Message(envelope), from: peer)
            } catch {
                return .refused(Refusal(error, header: header), from: peer)
            }
        }
        let started = ContinuousClock.now
        let stats: GradientStats
        do throws(WireError) {
            stats = try envelope.gradientStats()
        } catch {
            return .refused(Refusal(error, header: header), from: peer)
        }
        var values = GradientArrival.Values.payload
        if envelope.payload.isEmpty {
            // No values: they are in the sender's shared file, slot 1 + microbatch, if it has one.
            values = .missing
            if let file = sharing.first(where: { $0.routing.elementsEqual(inbox[0]) })?.file {
                guard stats.microbatch + 1 < file.slots else {
                    return .refused(Refusal(reason: "gradients for microbatch \(stats.microbatch) without values, and no shared file slot for them",
                                            header: header), from: peer)
                }
                if let bad = LittleEndianFloats.firstNonFinite(in: file.bytes(1 + stats.microbatch)) {
                    let error = WireError.nonFiniteGradient(index: bad)
                    return .refused(Refusal(error, header: header, note: " (in the shared file)"), from: peer)
                }
                values = .shared(file)
            }
        }
        return .gradient(GradientArrival(header: header, stats: stats, values: values, checkSeconds: Self.seconds(since: started)), from: peer)
    }

    private static func seconds(since start: ContinuousClock.Instant) -> Double {
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    /// Keeps the values of `arrival`, the gradient just received, in `holder` until it lets them go.
    public func hold(_ arrival: GradientArrival, in holder: HeldGradient) {
        switch arrival.values {
        case .payload: holder.hold(3, of: inbox)
        case .shared(let file): holder.hold(slot: 1 + arrival.stats.microbatch, of: file)
        case .missing: preconditionFailure("hold(_:in:) of gradients without values")
        }
    }

    // MARK: - Shared memory

    /// Maps the shared-memory file a worker on this machine named in its ready message and removes
    /// its name: from now on its weights and gradients go through the file, its messages carry no values.
    public func share(_ path: String, with peer: [UInt8], slots: Int) throws(SharedPayloadsError) {
        let file = try SharedPayloads.open(path: path, slots: slots, elements: parameterCount)
        file.removeName()
        forget(peer)
        sharing.append(SharedPeer(routing: peer, file: file))
    }

    /// Stops sharing memory with a peer (a gradient already held keeps its file until released) and
    /// forgets which weights it holds: its next assignment carries them in full.
    public func forget(_ peer: [UInt8]) {
        sharing.removeAll { $0.routing == peer }
        heldSteps[peer] = nil
    }

    // MARK: - Outbox

    /// Sends step `step`'s assignment of `count` microbatches (`microbatch(i)` gives the i-th) with
    /// `weights`: into the peer's shared file, once per step; otherwise only what the peer lacks:
    /// nothing when it was sent this step's weights already, `previousStep` (the bfloat16 step from
    /// the weights of `step − 1`, when the optimiser rounds its steps) when it was sent those, and
    /// the weights in full else. A payload comes from one snapshot per step, which libzmq sends to
    /// every worker from the same memory. Never blocks.
    public func sendAssignment(to peer: [UInt8], step: Int, epoch: Int, count: Int, weights: [Float], previousStep: [Float]?,
                               microbatch: (Int) -> MicrobatchRef) -> SendOutcome {
        var payload: PayloadBuffer?
        var form = WeightsForm.full
        let shared = sharing.firstIndex(where: { $0.routing == peer })
        if let index = shared {
            if sharing[index].step != step {
                weights.withUnsafeBufferPointer { sharing[index].file.slot(0).update(from: $0.baseAddress.unsafelyUnwrapped, count: $0.count) }
                sharing[index].step = step
            }
        } else if heldSteps[peer] == step {
            form = .held
        } else if let previousStep, heldSteps[peer] == step - 1 {
            form = .bfloat16Step
            payload = bfloat16StepSnapshot(previousStep, step: step)
        } else {
            payload = weightsSnapshot(weights, step: step)
        }
        writer.assignment(runID: runID, step: UInt64(step), epoch: epoch, count: count, form: form, elementCount: payload?.count ?? 0,
                          microbatch: microbatch)
        let outcome = deliver(to: peer, payload: payload)
        if shared == nil {
            switch outcome {
            case .sent: heldSteps[peer] = step
            case .wouldBlock: break
            case .unreachable, .failed: heldSteps[peer] = nil
            }
        }
        return outcome
    }

    /// Sends a heartbeat (the step being collected, or 0). Never blocks.
    public func sendHeartbeat(to peer: [UInt8], step: Int) -> SendOutcome {
        writer.heartbeat(runID: runID, sender: 0, step: UInt64(step))
        return deliver(to: peer, payload: nil)
    }

    /// Sends `message` (welcome, shutdown, error, rejoin). Never blocks.
    public func send(_ message: Message, to peer: [UInt8]) -> SendOutcome {
        do throws(ZMQError) {
            return try socket.deliver(frames: [peer] + message.encoded(), dontWait: true)
        } catch {
            return .failed("\(error)")
        }
    }

    private func deliver(to peer: [UInt8], payload: PayloadBuffer?) -> SendOutcome {
        do throws(ZMQError) {
            return try socket.deliver(routing: peer, header: writer.header, body: writer.body, payload: payload, dontWait: true)
        } catch {
            return .failed("\(error)")
        }
    }

    /// The bfloat16 step to the weights of `step`, packed 2 bytes a value in a send buffer libzmq is not reading.
    private func bfloat16StepSnapshot(_ values: [Float], step: Int) -> PayloadBuffer {
        if let stepSnapshot, stepSnapshot.step == step { return stepSnapshot.buffer }
        let buffer = Self.copy(values, into: stepBuffers)
        BFloat16.packInPlace(buffer.values, count: buffer.count)
        buffer.bytesPerValue = BFloat16.size
        stepSnapshot = (step, buffer)
        return buffer
    }

    /// The weights of `step` in a send buffer libzmq is not reading (the optimiser changes them
    /// in place while libzmq may still be sending the previous step's).
    private func weightsSnapshot(_ weights: [Float], step: Int) -> PayloadBuffer {
        if let snapshot, snapshot.step == step { return snapshot.buffer }
        let buffer = Self.copy(weights, into: weightBuffers)
        snapshot = (step, buffer)
        return buffer
    }

    /// `values` in a buffer of `pool` that libzmq is not reading.
    private static func copy(_ values: [Float], into pool: PayloadPool) -> PayloadBuffer {
        let buffer = pool.take()
        values.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return }
            buffer.values.update(from: base, count: source.count)
        }
        return buffer
    }
}

/// Why the server cannot start listening.
public enum ServerLinkError: Error, CustomStringConvertible {
    case cannotListen(endpoint: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotListen(endpoint, reason): "cannot listen on \(endpoint): \(reason)"
        }
    }
}

/// A peer of the server's socket, by its routing id: valid until the next receive.
public struct Peer {
    /// The routing id's bytes, in libzmq's buffer.
    public let routing: UnsafeRawBufferPointer

    /// A copy of the routing id, to keep.
    public var id: [UInt8] { Array(routing) }
}

/// The fields of a message header that say whose it is and what about.
public struct MessageHeader: Sendable, Equatable {
    public let kind: MessageKind
    public let runID: UInt64
    public let sender: UInt32
    public let step: UInt64

    public init(kind: MessageKind, runID: UInt64, sender: UInt32, step: UInt64) {
        (self.kind, self.runID, self.sender, self.step) = (kind, runID, sender, step)
    }

    init(_ envelope: Envelope) {
        self.init(kind: envelope.kind, runID: envelope.runID, sender: envelope.sender, step: envelope.step)
    }
}

/// A gradients message whose header, body and values checked out.
public struct GradientArrival {
    /// Where its values are.
    public enum Values {
        /// In the message's payload.
        case payload
        /// In the sender's shared-memory file.
        case shared(SharedPayloads)
        /// Nowhere: the message has none, and the sender shares no file with the server.
        case missing
    }

    public let header: MessageHeader
    public let stats: GradientStats
    public let values: Values
    /// Seconds spent checking the body and values.
    public let checkSeconds: Double

    /// Whether the values can be held.
    public var hasValues: Bool {
        if case .missing = values { return false }
        return true
    }
}

/// A message that was not accepted, and why.
public struct Refusal: Sendable {
    /// The decoding error, when it was one.
    public let error: WireError?
    /// One line naming the problem.
    public let reason: String
    /// Whose message it was, when its header checked out.
    public let header: MessageHeader?

    init(reason: String, header: MessageHeader? = nil) {
        (error, self.reason, self.header) = (nil, reason, header)
    }

    init(_ error: WireError, header: MessageHeader? = nil, note: String = "") {
        (self.error, reason, self.header) = (error, "\(error)\(note)", header)
    }
}

/// What the server's socket received.
public enum ServerEvent {
    /// A checked gradient.
    case gradient(GradientArrival, from: Peer)
    /// Any other well-formed message.
    case control(Message, from: Peer)
    /// A message or connection that was refused (`from` is nil for a CURVE client refused before it could send).
    case refused(Refusal, from: Peer?)
}
