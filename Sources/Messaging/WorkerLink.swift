import Foundation

/// A worker's side of the wire: frames in, typed events out; typed messages out, frames sent.
///
/// One DEALER socket connected to the server. What it hides: frame indices, the assignment body
/// decoded into reused storage, the weights kept from one assignment to the next (replaced by
/// weights in full, stepped by a bfloat16 step, or used again), the shared-memory file a worker
/// on the server's machine offers, and gradients sent from reused buffers or written into that
/// file. One thread uses it.
public final class WorkerLink {
    private let context: ZMQContext
    private let socket: ZMQSocket
    private let inbox = ReceivedFrames()
    private var writer = FrameWriter()
    private var limits = MessageLimits()
    private var decoder = AssignmentDecoder()
    /// The run and the worker id the server gave, once welcomed.
    private var member: (runID: UInt64, id: UInt32) = (0, 0)
    private var parameterCount = 0
    private var gradients = PayloadPool(elements: 0)
    /// The gradient buffer `gradientBuffer(for:)` handed out last, when it is not in the shared file.
    private var pendingGradient: PayloadBuffer?
    /// Whether the last assignment's weights, and so its gradients, are in the shared file.
    private var assignmentShared = false
    /// The weights of `heldStep`, from the assignments that came with values (not through the shared file).
    private var weights = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    /// The step whose weights `weights` holds (nil: none yet, or they may be wrong).
    private var heldStep: UInt64?
    /// The memory file shared with a server on this machine, once offered.
    public private(set) var shared: SharedPayloads?
    /// Bytes of the last message received.
    public var lastMessageBytes: Int { inbox.byteCount }

    /// Connects to `server` under a routing id that stays the same across reconnects, so the server
    /// keeps knowing this worker; with `curve`, as a CurveZMQ client that checks the server's key.
    public init(server: String, routingID: [UInt8], curve: CurveClientKeys?) throws {
        context = try ZMQContext()
        do {
            socket = try ZMQSocket(context: context, kind: .dealer)
            try socket.setRoutingID(routingID)
            try socket.setReconnectInterval(milliseconds: 100)
            // A blocking send gives up after 100 ms, so a patient one can be bounded.
            try socket.setSendTimeout(milliseconds: 100)
            if let curve {
                try socket.makeCurveClient(keyPair: curve.keyPair, serverPublicKey: curve.serverPublicKey)
            }
            try socket.connect(server)
        } catch {
            context.close()
            throw error
        }
    }

    deinit {
        socket.close()
        context.close()
        weights.deallocate()
    }

    /// Takes the server's welcome: messages are now run `runID`'s from worker `id`, for a model of
    /// `parameterCount` values, gradients sent with `gradientValueBytes` per value (4, or
    /// `BFloat16.size` for values already rounded to bfloat16); forgets the shared file of an earlier membership.
    public func joined(runID: UInt64, id: UInt32, parameterCount: Int, gradientValueBytes: Int = MemoryLayout<Float>.size) throws {
        member = (runID, id)
        if parameterCount != self.parameterCount {
            self.parameterCount = parameterCount
            gradients = PayloadPool(elements: parameterCount)
            weights.deallocate()
            weights = .allocate(capacity: parameterCount)
        }
        heldStep = nil
        limits = MessageLimits(parameterCount: parameterCount)
        limits.gradientValueBytes = gradientValueBytes
        try socket.setMaxMessageSize(Int64(parameterCount * MemoryLayout<Float>.size + (1 << 20)))
        shared?.removeName()
        shared = nil
    }

    // MARK: - Inbox

    /// The next event within `timeoutMilliseconds` (0 polls), or nil; with `watch`, looked for
    /// without sleeping for up to that long first (`ZMQSocket.receive(into:timeoutMilliseconds:watch:)`).
    /// An assignment's microbatches and weights are valid until the next receive. An assignment
    /// whose weights this worker cannot make (they build on weights it does not hold) is `.weightsMissing`.
    public func receive(timeoutMilliseconds: Int32, watch: Duration = .zero) throws -> WorkerEvent? {
        guard try socket.receive(into: inbox, timeoutMilliseconds: timeoutMilliseconds, watch: watch) else { return nil }
        let envelope: Envelope
        do throws(WireError) {
            envelope = try Envelope(frameCount: inbox.count, header: inbox[0], body: inbox[1], payload: inbox[2], limits: limits)
        } catch {
            return .refused(Refusal(error))
        }
        let header = MessageHeader(envelope)
        guard envelope.kind == .assignment else {
            do throws(WireError) {
                return .control(try Message(envelope))
            } catch {
                return .refused(Refusal(error, header: header))
            }
        }
        do throws(WireError) {
            try decoder.decode(envelope)
        } catch {
            return .refused(Refusal(error, header: header))
        }
        let step = envelope.step
        switch decoder.form {
        case .full where envelope.payload.isEmpty:
            // No weights in the message: they, and the gradients, are in the shared file.
            guard let shared else { return .refused(Refusal(reason: "assignment without weights, and no shared file", header: header)) }
            guard decoder.microbatches.allSatisfy({ $0.index + 1 < shared.slots }) else {
                return .refused(Refusal(reason: "assignment of a microbatch past the shared file's \(shared.slots - 1) slots", header: header))
            }
            assignmentShared = true
            return .assignment(AssignmentArrival(header: header, epoch: decoder.epoch, microbatches: decoder.microbatches,
                                                 weights: UnsafePointer(shared.slot(0))))
        case .full:
            LittleEndianFloats.load(envelope.payload, into: weights)
        case .held:
            guard heldStep == step else { return .weightsMissing(step: step, held: heldStep) }
        case .bfloat16Step:
            guard step > 0, heldStep == step - 1 else { return .weightsMissing(step: step, held: heldStep) }
            BFloat16.subtract(envelope.payload, from: weights)
        }
        heldStep = step
        assignmentShared = false
        return .assignment(AssignmentArrival(header: header, epoch: decoder.epoch, microbatches: decoder.microbatches,
                                             weights: UnsafePointer(weights.baseAddress.unsafelyUnwrapped)))
    }

    // MARK: - Shared memory

    /// Creates a shared-memory file of `slots` slots (the weights, then one per microbatch of a
    /// step) for a server on this machine; nil when it cannot be made (then values go in payloads).
    public func offerSharedMemory(name: String, slots: Int) -> SharedPayloads? {
        guard SharedPayloads.byteCount(slots: slots, elements: parameterCount) <= 1 << 30 else { return nil }
        shared = try? SharedPayloads.create(name: name, slots: slots, elements: parameterCount)
        return shared
    }

    // MARK: - Outbox

    /// Where to compute the gradient of microbatch `index` of the last assignment: its slot in the
    /// shared file when the assignment came through it, otherwise a buffer libzmq sends without a copy.
    public func gradientBuffer(for index: Int) -> UnsafeMutablePointer<Float> {
        if assignmentShared, let shared {
            pendingGradient = nil
            return shared.slot(1 + index)
        }
        let buffer = gradients.take()
        pendingGradient = buffer
        return buffer.values
    }

    /// Sends the gradient last written into `gradientBuffer(for:)` with its statistics, waiting up
    /// to `patience` seconds for room in the queue to the server. Returns what happened and the bytes sent.
    public func sendGradients(step: UInt64, stats: GradientStats, patience: Double) -> (outcome: SendOutcome, bytes: Int) {
        let payload = assignmentShared ? nil : pendingGradient
        if let payload, limits.gradientValueBytes == BFloat16.size {
            BFloat16.packInPlace(payload.values, count: payload.count)
            payload.bytesPerValue = BFloat16.size
        }
        writer.gradients(runID: member.runID, sender: member.id, step: step, stats: stats, elementCount: payload?.count ?? 0)
        let outcome = deliverPatiently(patience) { [writer, socket] (dontWait: Bool) throws(ZMQError) -> SendOutcome in
            try socket.deliver(routing: nil, header: writer.header, body: writer.body, payload: payload, dontWait: dontWait)
        }
        pendingGradient = nil
        let bytes = writer.header.count + writer.body.count + (payload?.wireBytes.count ?? 0)
        return (outcome, outcome == .sent ? bytes : 0)
    }

    /// Asks to join (a worker of no run yet), speaking `protocolVersion` (another than this build's only to test servers).
    public func sendJoin(name: String, pid: Int, model: String?, protocolVersion: UInt16 = Message.protocolVersion) -> SendOutcome {
        let join = Message(runID: 0, sender: 0, step: 0, body: .join(name: name, pid: pid, model: model))
        return deliver(join.encoded(protocolVersion: protocolVersion), patience: 0)
    }

    /// Sends a control message (ready, heartbeat, report, leave) as this member, about `step`, waiting up to `patience` seconds for room.
    public func send(_ body: Body, step: UInt64 = 0, patience: Double) -> SendOutcome {
        deliver(Message(runID: member.runID, sender: member.id, step: step, body: body).encoded(), patience: patience)
    }

    private func deliver(_ frames: [[UInt8]], patience: Double) -> SendOutcome {
        deliverPatiently(patience) { [socket] (dontWait: Bool) throws(ZMQError) -> SendOutcome in
            try socket.deliver(frames: frames, dontWait: dontWait)
        }
    }

    /// Says goodbye: sends `leave` and lets closing wait up to `patience` seconds for it to go out
    /// (sockets otherwise drop what is queued when they close).
    public func leave(reason: String, patience: Double) -> SendOutcome {
        do {
            try socket.setLinger(milliseconds: Int32(patience * 1000))
        } catch {
            return .failed("\(error)")
        }
        return send(.leave(reason: reason), patience: patience)
    }

    /// Tries `deliver` at once, then, while the queue is full, with blocking sends of at most 100 ms
    /// each until it is queued or `patience` seconds have passed.
    private func deliverPatiently(_ patience: Double, _ deliver: (_ dontWait: Bool) throws(ZMQError) -> SendOutcome) -> SendOutcome {
        do throws(ZMQError) {
            let first = try deliver(true)
            guard first == .wouldBlock, patience > 0 else { return first }
            let deadline = ContinuousClock.now + .milliseconds(Int(patience * 1000))
            while true {
                let outcome = try deliver(false)
                if outcome != .wouldBlock || ContinuousClock.now >= deadline { return outcome }
            }
        } catch {
            return .failed("\(error)")
        }
    }
}

/// An assignment from the server: valid until the next receive.
public struct AssignmentArrival {
    public let header: MessageHeader
    public let epoch: Int
    /// The microbatches to compute, in the order sent.
    public let microbatches: [MicrobatchRef]
    /// The weights to compute them with (the model's parameter count of them).
    public let weights: UnsafePointer<Float>
}

/// What a worker's socket received.
public enum WorkerEvent {
    /// An assignment whose body and weights checked out.
    case assignment(AssignmentArrival)
    /// Any other well-formed message.
    case control(Message)
    /// A message that was refused.
    case refused(Refusal)
    /// An assignment of `step` whose weights build on weights this worker does not hold (`held`:
    /// the step it holds): a message from the server was lost. The worker must join again.
    case weightsMissing(step: UInt64, held: UInt64?)
}
