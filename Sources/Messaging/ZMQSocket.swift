import CZeroMQ
import Foundation

/// A libzmq socket (ROUTER, DEALER or PAIR) that moves multipart messages of byte frames.
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

        var zmqType: Int32 {
            switch self {
            case .router: ZMQ_ROUTER
            case .dealer: ZMQ_DEALER
            case .pair: ZMQ_PAIR
            }
        }
    }

    /// The pattern this socket was created with.
    public let kind: Kind
    private let context: ZMQContext
    private let lock = NSLock()
    private var handle: UnsafeMutableRawPointer?

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
                } catch where index == 0 && (error.code == EAGAIN || error.code == EHOSTUNREACH) {
                    return false
                }
            }
            return true
        }
    }

    /// Receives one whole multipart message, or nil if none arrives within `timeoutMilliseconds` (-1 waits forever, 0 polls).
    public func receive(timeoutMilliseconds: Int32) throws -> [[UInt8]]? {
        try withSocket("zmq_poll") { socket throws(ZMQError) in
            let clock = ContinuousClock()
            let deadline = clock.now + .milliseconds(max(timeoutMilliseconds, 0))
            let remaining = { () -> Int in
                guard timeoutMilliseconds >= 0 else { return -1 }
                let left = deadline - clock.now
                guard left > .zero else { return 0 }
                let (seconds, attoseconds) = left.components
                return Int(seconds) * 1000 + Int((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            }
            var item = zmq_pollitem_t(socket: socket, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
            while true {
                let ready = try zmqCall("zmq_poll") {
                    item.revents = 0
                    return zmq_poll(&item, 1, remaining())
                }
                if ready > 0, let frames = try Self.receiveFrames(socket) {
                    return frames
                }
                if timeoutMilliseconds >= 0 && remaining() == 0 { return nil }
            }
        }
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

    /// Reads every frame of the next message without blocking; nil if none is waiting.
    private static func receiveFrames(_ socket: UnsafeMutableRawPointer) throws(ZMQError) -> [[UInt8]]? {
        let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        defer { message.deallocate() }
        var frames: [[UInt8]] = []
        while true {
            try zmqCall("zmq_msg_init") { zmq_msg_init(message) }
            defer { _ = try? zmqCall("zmq_msg_close") { zmq_msg_close(message) } }
            do throws(ZMQError) {
                try zmqCall("zmq_msg_recv") { zmq_msg_recv(message, socket, ZMQ_DONTWAIT) }
            } catch where frames.isEmpty && error.code == EAGAIN {
                return nil
            }
            let size = zmq_msg_size(message)
            let data = UnsafeRawBufferPointer(start: zmq_msg_data(message), count: size)
            frames.append([UInt8](unsafeUninitializedCapacity: size) { buffer, count in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: data)
                count = size
            })
            if zmq_msg_more(message) == 0 { return frames }
        }
    }
}
