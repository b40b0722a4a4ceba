import CZeroMQ
import Foundation

/// A libzmq socket (ROUTER, DEALER, PAIR, PUB or SUB) that moves multipart messages of byte frames.
///
/// Calls are serialised by a lock, so the socket may be handed between threads; a blocking
/// `receive` holds it until a message arrives, the timeout passes or the context closes.
public final class ZMQSocket: @unchecked Sendable {
    /// The socket patterns Backprop uses.
    public enum Kind: Sendable {
        /// Addresses peers by routing id: the parameter server.
        case router
        /// Load-balances to its peers: a worker.
        case dealer
        /// One exclusive peer: tests and in-process links.
        case pair
        /// Sends every message to all its subscribers, dropping it for one whose queue is full (the broadcast benchmark).
        case publisher
        /// Receives what a publisher sends, once subscribed.
        case subscriber

        var zmqType: Int32 {
            switch self {
            case .router: ZMQ_ROUTER
            case .dealer: ZMQ_DEALER
            case .pair: ZMQ_PAIR
            case .publisher: ZMQ_PUB
            case .subscriber: ZMQ_SUB
            }
        }
    }

    /// The pattern this socket was created with.
    public let kind: Kind
    private let context: ZMQContext
    private let lock = NSLock()
    private var handle: UnsafeMutableRawPointer?
    /// The message a payload frame is built in (under the lock), allocated once.
    private let payloadMessage = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)

    /// Creates a socket with linger 0 (closing never blocks).
    public init(context: ZMQContext, kind: Kind) throws {
        self.context = context
        self.kind = kind
        lock.lock()
        defer { lock.unlock() }
        let socket = try context.openSocket(type: kind.zmqType, owner: self)
        handle = socket
        do {
            try Self.setOption(socket, ZMQ_LINGER, Int32(0), "zmq_setsockopt(ZMQ_LINGER)")
        } catch {
            _ = try? zmqCall("zmq_close") { zmq_close(socket) }
            handle = nil
            context.forget(self)
            throw error
        }
    }

    deinit {
        close()
        payloadMessage.deallocate()
    }

    /// Closes the socket (idempotent; also in deinit).
    public func close() {
        lock.lock()
        let socket = handle
        handle = nil
        lock.unlock()
        guard let socket else { return }
        _ = try? zmqCall("zmq_close") { zmq_close(socket) }
        context.forget(self)
    }

    /// Binds and returns the resolved endpoint (ZMQ_LAST_ENDPOINT), so `tcp://127.0.0.1:*` yields the real port.
    @discardableResult
    public func bind(_ endpoint: String) throws -> String {
        try withSocket("zmq_bind") { socket throws(ZMQError) in
            try zmqCall("zmq_bind") { zmq_bind(socket, endpoint) }
            var buffer = [UInt8](repeating: 0, count: 1024)
            var size = buffer.count
            try zmqCall("zmq_getsockopt(ZMQ_LAST_ENDPOINT)") {
                zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &buffer, &size)
            }
            return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Connects to `endpoint` (libzmq connects, and reconnects, in the background).
    public func connect(_ endpoint: String) throws {
        try withSocket("zmq_connect") { socket throws(ZMQError) in
            try zmqCall("zmq_connect") { zmq_connect(socket, endpoint) }
        }
    }

    /// The largest inbound message libzmq will accept (ZMQ_MAXMSGSIZE); larger ones drop the connection.
    ///
    /// libzmq checks each frame against the limit; set it before `bind`/`connect`. -1 means no limit.
    public func setMaxMessageSize(_ bytes: Int64) throws {
        try setOption(ZMQ_MAXMSGSIZE, bytes, "zmq_setsockopt(ZMQ_MAXMSGSIZE)")
    }

    /// ZMQ_ROUTING_ID, set before connect, so a ROUTER peer keeps recognising this DEALER across reconnects.
    public func setRoutingID(_ id: [UInt8]) throws {
        try withSocket("zmq_setsockopt(ZMQ_ROUTING_ID)") { socket throws(ZMQError) in
            try zmqCall("zmq_setsockopt(ZMQ_ROUTING_ID)") {
                id.withUnsafeBytes { zmq_setsockopt(socket, ZMQ_ROUTING_ID, $0.baseAddress, $0.count) }
            }
        }
    }

    /// For SUB sockets: receive the messages whose first frame starts with `prefix` (empty: all).
    public func subscribe(_ prefix: [UInt8] = []) throws {
        try setBytesOption(ZMQ_SUBSCRIBE, prefix, "zmq_setsockopt(ZMQ_SUBSCRIBE)")
    }

    /// ZMQ_SNDHWM / ZMQ_RCVHWM.
    ///
    /// The most messages queued per peer in each direction (0 = no limit); set before `bind`/`connect`.
    public func setHighWaterMarks(send: Int32, receive: Int32) throws {
        try setOption(ZMQ_SNDHWM, send, "zmq_setsockopt(ZMQ_SNDHWM)")
        try setOption(ZMQ_RCVHWM, receive, "zmq_setsockopt(ZMQ_RCVHWM)")
    }

    /// ZMQ_RECONNECT_IVL in milliseconds.
    public func setReconnectInterval(milliseconds: Int32) throws {
        try setOption(ZMQ_RECONNECT_IVL, milliseconds, "zmq_setsockopt(ZMQ_RECONNECT_IVL)")
    }

    /// ZMQ_LINGER in milliseconds: how long closing the socket (and its context) may wait to send
    /// what is still queued. Sockets start at 0; a peer that must get a last message sets it first.
    public func setLinger(milliseconds: Int32) throws {
        try setOption(ZMQ_LINGER, milliseconds, "zmq_setsockopt(ZMQ_LINGER)")
    }

    /// ZMQ_SNDTIMEO in milliseconds: how long a blocking send waits for room before it gives up (-1: forever).
    public func setSendTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_SNDTIMEO, milliseconds, "zmq_setsockopt(ZMQ_SNDTIMEO)")
    }

    /// For ROUTER sockets: make sends to unknown peers fail (ZMQ_ROUTER_MANDATORY) instead of silently dropping.
    public func setRouterMandatory(_ on: Bool) throws {
        try setOption(ZMQ_ROUTER_MANDATORY, Int32(on ? 1 : 0), "zmq_setsockopt(ZMQ_ROUTER_MANDATORY)")
    }

    /// Sends the frames as one multipart message. With `dontWait`, returns false instead of blocking when it cannot be queued (EAGAIN); EHOSTUNREACH (ROUTER_MANDATORY) also returns false.
    ///
    /// On a ROUTER the first frame is the peer's routing id. libzmq queues a multipart message
    /// atomically, so only the first frame can be refused; an empty `frames` throws EINVAL.
    @discardableResult
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws -> Bool {
        try deliver(frames: frames, dontWait: dontWait) == .sent
    }

    /// `send(_:dontWait:)`, saying why a message was not queued (see `deliver(routing:header:body:payload:dontWait:)`).
    func deliver(frames: [[UInt8]], dontWait: Bool) throws(ZMQError) -> SendOutcome {
        try withSocket("zmq_send") { socket throws(ZMQError) in
            guard !frames.isEmpty else { throw ZMQError(call: "zmq_send", code: EINVAL) }
            let last = frames.count - 1
            for (index, frame) in frames.enumerated() {
                var flags: Int32 = index < last ? ZMQ_SNDMORE : 0
                if dontWait { flags |= ZMQ_DONTWAIT }
                do throws(ZMQError) {
                    try zmqCall("zmq_send") {
                        frame.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, flags) }
                    }
                } catch where index == 0 && error.code == EAGAIN {
                    return .wouldBlock
                } catch where index == 0 && error.code == EHOSTUNREACH {
                    return .unreachable
                }
            }
            return .sent
        }
    }

    /// Sends `routing` (when given, for a ROUTER), `header` and `body`, then `payload`'s values as the last frame.
    ///
    /// The byte frames are copied by libzmq (they are small); the payload is not: libzmq sends it
    /// from the buffer, which stays in flight until libzmq is done with it (see `PayloadBuffer`),
    /// so one buffer can go to many peers. A payload of 0 values sends no payload frame. Returns
    /// false like `send(_:dontWait:)` when the message cannot be queued or the peer is gone.
    @discardableResult
    public func send(routing: [UInt8]?, header: [UInt8], body: [UInt8], payload: PayloadBuffer?, dontWait: Bool = false) throws -> Bool {
        try deliver(routing: routing, header: header, body: body, payload: payload, dontWait: dontWait) == .sent
    }

    /// `send(routing:header:body:payload:dontWait:)`, saying why a message was not queued: the
    /// peer's queue is full (EAGAIN) or the peer is gone (EHOSTUNREACH, on a ROUTER with
    /// ROUTER_MANDATORY). Any other libzmq error is thrown.
    func deliver(routing: [UInt8]?, header: [UInt8], body: [UInt8], payload: PayloadBuffer?, dontWait: Bool) throws(ZMQError) -> SendOutcome {
        try withSocket("zmq_send") { socket throws(ZMQError) in
            let carriesPayload = (payload?.count ?? 0) > 0
            let wait: Int32 = dontWait ? ZMQ_DONTWAIT : 0
            var first = true
            // libzmq queues a multipart message atomically, so only its first frame can be refused.
            func sendBytes(_ frame: [UInt8], last: Bool) throws(ZMQError) -> SendOutcome {
                defer { first = false }
                do throws(ZMQError) {
                    try zmqCall("zmq_send") {
                        frame.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, (last ? 0 : ZMQ_SNDMORE) | wait) }
                    }
                } catch where first && error.code == EAGAIN {
                    return .wouldBlock
                } catch where first && error.code == EHOSTUNREACH {
                    return .unreachable
                }
                return .sent
            }
            if let routing {
                let outcome = try sendBytes(routing, last: false)
                guard outcome == .sent else { return outcome }
            }
            let outcome = try sendBytes(header, last: false)
            guard outcome == .sent else { return outcome }
            _ = try sendBytes(body, last: !carriesPayload)
            if let payload, carriesPayload {
                try Self.initializePayloadMessage(payloadMessage, payload)
                do throws(ZMQError) {
                    try zmqCall("zmq_msg_send") { zmq_msg_send(payloadMessage, socket, wait) }
                } catch {
                    // Not sent: the message still refers to the buffer until it is closed.
                    ReceivedFrames.close(payloadMessage)
                    throw error
                }
            }
            return .sent
        }
    }

    /// Makes `message` carry `payload`'s values: without a copy on little-endian hosts (libzmq calls the
    /// buffer's free function when done), in wire order on a copy on big-endian ones.
    private static func initializePayloadMessage(_ message: UnsafeMutablePointer<zmq_msg_t>, _ payload: PayloadBuffer) throws(ZMQError) {
        #if _endian(little)
        let bytes = payload.wireBytes
        let hint = payload.retainForSend()
        do throws(ZMQError) {
            try zmqCall("zmq_msg_init_data") {
                zmq_msg_init_data(message, UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count, PayloadBuffer.release, hint)
            }
        } catch {
            PayloadBuffer.release(nil, hint)
            throw error
        }
        #else
        let bytes = payload.wireBytes
        try zmqCall("zmq_msg_init_size") { zmq_msg_init_size(message, bytes.count) }
        let destination = UnsafeMutableRawBufferPointer(start: zmq_msg_data(message), count: bytes.count)
        if payload.bytesPerValue == MemoryLayout<Float>.size {
            LittleEndianFloats.store(UnsafeBufferPointer(start: payload.values, count: payload.count), into: destination)
        } else {
            // Packed bfloat16 is little-endian already.
            destination.copyMemory(from: bytes)
        }
        #endif
    }

    /// Receives one whole multipart message, or nil if none arrives within `timeoutMilliseconds` (-1 waits forever, 0 polls).
    ///
    /// Copies every frame into an array; `receive(into:timeoutMilliseconds:)` leaves them in libzmq's buffers.
    public func receive(timeoutMilliseconds: Int32) throws -> [[UInt8]]? {
        let frames = ReceivedFrames()
        guard try receive(into: frames, timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        return frames.copies()
    }

    /// Receives one whole multipart message into `frames` (releasing what it held); false if none
    /// arrives within `timeoutMilliseconds` (-1 waits forever, 0 polls). Allocates nothing once
    /// `frames` has room for the message's frames.
    ///
    /// With `watch`, it first looks for a message without sleeping for up to that long (within the
    /// timeout), yielding the processor between looks, then sleeps in `zmq_poll` as usual. A
    /// message that is due any moment is then taken without the wake-up of a sleeping thread,
    /// which costs tens of microseconds (more on a virtual machine whose idle CPU has halted, and
    /// up to a scheduler slice when every core is busy); yielding lets any other thread that is
    /// ready to run (libzmq's I/O thread, another process) have the processor meanwhile.
    public func receive(into frames: ReceivedFrames, timeoutMilliseconds: Int32, watch: Duration = .zero) throws -> Bool {
        try withSocket("zmq_poll") { socket throws(ZMQError) in
            frames.clear()
            let clock = ContinuousClock()
            let deadline = clock.now + .milliseconds(max(timeoutMilliseconds, 0))
            var item = zmq_pollitem_t(socket: socket, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
            if watch > .zero && timeoutMilliseconds != 0 {
                let watchEnd = timeoutMilliseconds < 0 ? clock.now + watch : min(clock.now + watch, deadline)
                while true {
                    let ready = try zmqCall("zmq_poll") {
                        item.revents = 0
                        return zmq_poll(&item, 1, 0)
                    }
                    if ready > 0, try Self.receiveFrames(socket, into: frames) {
                        return true
                    }
                    if clock.now >= watchEnd { break }
                    sched_yield()
                }
            }
            while true {
                let timeout = Self.millisecondsLeft(until: deadline, clock: clock, forever: timeoutMilliseconds < 0)
                let ready = try zmqCall("zmq_poll") {
                    item.revents = 0
                    return zmq_poll(&item, 1, timeout)
                }
                if ready > 0, try Self.receiveFrames(socket, into: frames) {
                    return true
                }
                if timeoutMilliseconds >= 0 && Self.millisecondsLeft(until: deadline, clock: clock, forever: false) == 0 {
                    return false
                }
            }
        }
    }

    /// Whole milliseconds (rounded up) from now to `deadline`, 0 once it has passed, -1 for `forever`.
    private static func millisecondsLeft(until deadline: ContinuousClock.Instant, clock: ContinuousClock, forever: Bool) -> Int {
        guard !forever else { return -1 }
        let left = deadline - clock.now
        guard left > .zero else { return 0 }
        let (seconds, attoseconds) = left.components
        return Int(seconds) * 1000 + Int((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }

    // MARK: - CurveZMQ

    /// Makes this socket a CurveZMQ server: every connection is encrypted, and `authenticator` decides who may connect.
    ///
    /// Sets ZMQ_ZAP_DOMAIN (the handler's domain), ZMQ_CURVE_SERVER = 1 and ZMQ_CURVE_SECRETKEY; call it
    /// before `bind`. The handler must be running in this socket's context: libzmq 4.3 lets any CURVE
    /// client in when no handler is bound, so this throws `CurveError.noAuthenticator` instead.
    public func makeCurveServer(secretKey: String, authenticator: ZAPHandler) throws {
        try CurveKeyPair.requireCurve()
        try Z85.validateKey(secretKey, role: "server secret key")
        guard authenticator.context === context else {
            throw CurveError.noAuthenticator("the ZAP handler belongs to another context")
        }
        guard authenticator.isRunning else {
            throw CurveError.noAuthenticator("the ZAP handler is stopped")
        }
        try setBytesOption(ZMQ_ZAP_DOMAIN, Array(authenticator.domain.utf8), "zmq_setsockopt(ZMQ_ZAP_DOMAIN)")
        try setOption(ZMQ_CURVE_SERVER, Int32(1), "zmq_setsockopt(ZMQ_CURVE_SERVER)")
        try setBytesOption(ZMQ_CURVE_SECRETKEY, Array(secretKey.utf8), "zmq_setsockopt(ZMQ_CURVE_SECRETKEY)")
    }

    /// Makes this socket a CurveZMQ client of the server whose public key is `serverPublicKey`.
    ///
    /// Sets ZMQ_CURVE_SERVERKEY, ZMQ_CURVE_PUBLICKEY and ZMQ_CURVE_SECRETKEY; call it before `connect`.
    /// A server whose key differs fails the handshake, so no message is exchanged with an impostor.
    public func makeCurveClient(keyPair: CurveKeyPair, serverPublicKey: String) throws {
        try CurveKeyPair.requireCurve()
        try Z85.validateKey(serverPublicKey, role: "server public key")
        try setBytesOption(ZMQ_CURVE_SERVERKEY, Array(serverPublicKey.utf8), "zmq_setsockopt(ZMQ_CURVE_SERVERKEY)")
        try setBytesOption(ZMQ_CURVE_PUBLICKEY, Array(keyPair.publicKey.utf8), "zmq_setsockopt(ZMQ_CURVE_PUBLICKEY)")
        try setBytesOption(ZMQ_CURVE_SECRETKEY, Array(keyPair.secretKey.utf8), "zmq_setsockopt(ZMQ_CURVE_SECRETKEY)")
    }

    // MARK: - Internals

    /// Runs `body` with the open socket under the lock; a closed socket throws ENOTSOCK naming `call`.
    @discardableResult
    private func withSocket<Result>(
        _ call: String,
        _ body: (UnsafeMutableRawPointer) throws(ZMQError) -> Result
    ) throws(ZMQError) -> Result {
        lock.lock()
        defer { lock.unlock() }
        guard let socket = handle else { throw ZMQError(call: call, code: ENOTSOCK) }
        return try body(socket)
    }

    private func setOption<Value: FixedWidthInteger>(_ option: Int32, _ value: Value, _ call: String) throws(ZMQError) {
        try withSocket(call) { socket throws(ZMQError) in
            try Self.setOption(socket, option, value, call)
        }
    }

    private static func setOption<Value: FixedWidthInteger>(
        _ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: Value, _ call: String
    ) throws(ZMQError) {
        var value = value
        try zmqCall(call) {
            withUnsafeBytes(of: &value) { zmq_setsockopt(socket, option, $0.baseAddress, $0.count) }
        }
    }

    private func setBytesOption(_ option: Int32, _ value: [UInt8], _ call: String) throws(ZMQError) {
        try withSocket(call) { socket throws(ZMQError) in
            try zmqCall(call) {
                value.withUnsafeBytes { zmq_setsockopt(socket, option, $0.baseAddress, $0.count) }
            }
        }
    }

    /// Reads every frame of the next message into `frames` without blocking; false if none is waiting.
    private static func receiveFrames(_ socket: UnsafeMutableRawPointer, into frames: ReceivedFrames) throws(ZMQError) -> Bool {
        while true {
            let (received, more) = try frames.receiveFrame(from: socket)
            guard received else {
                // libzmq delivers a multipart message whole, so only its first frame can be missing.
                if frames.count > 0 { throw ZMQError(call: "zmq_msg_recv", code: EAGAIN) }
                return false
            }
            if !more { return true }
        }
    }
}
