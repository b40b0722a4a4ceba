import Foundation

/// One connection the ZAP handler turned away.
public struct ZAPDenial: Sendable, Equatable, CustomStringConvertible {
    /// The peer's IP address, as libzmq reports it (no port).
    public let address: String
    /// The security mechanism the peer used: `CURVE`, `PLAIN` or `NULL`.
    public let mechanism: String
    /// The peer's CURVE public key in Z85, nil for other mechanisms.
    public let publicKey: String?
    /// Why it was refused, e.g. `public key not authorized`.
    public let reason: String
    /// How many times this key (or, without a key, this address) has been refused so far; 1 the first time.
    ///
    /// libzmq 4.3 does not reconnect a socket whose handshake was refused, but a restarted worker tries again.
    public let attempt: Int

    public init(address: String, mechanism: String, publicKey: String?, reason: String, attempt: Int) {
        self.address = address
        self.mechanism = mechanism
        self.publicKey = publicKey
        self.reason = reason
        self.attempt = attempt
    }

    /// `refused CURVE client 127.0.0.1 (key rq:rM>}…): public key not authorized (attempt 3)`.
    public var description: String {
        let key = publicKey.map { " (key \($0))" } ?? ""
        return "refused \(mechanism) client \(address)\(key): \(reason) (attempt \(attempt))"
    }
}

/// A ZAP handler (ZeroMQ RFC 27) that lets in exactly the CURVE clients whose public keys are authorized.
///
/// libzmq asks the handler bound at `inproc://zeromq.zap.01` in a socket's context whether each
/// new connection to a CURVE server may proceed; the answer is given during the handshake, so
/// a refused peer never gets a message delivered. Start the handler before the server socket
/// binds (`ZMQSocket.makeCurveServer` demands a running one), and stop it only after the server
/// socket is closed: libzmq 4.3 lets every CURVE client in when no handler is bound.
///
/// The handler answers on its own thread. Refusals are counted (`denied`), queued for the owner's
/// thread (`takeDenials()`) and, if given, passed to `onDenied` on the handler's thread.
public final class ZAPHandler: @unchecked Sendable {
    /// Where libzmq looks for the handler, in the server socket's context.
    public static let endpoint = "inproc://zeromq.zap.01"
    /// The ZAP domain Backprop's servers use.
    public static let defaultDomain = "backprop"
    /// Refusals kept for `takeDenials()`; more are counted in `denied` but not queued.
    public static let maxQueuedDenials = 1_000

    /// The ZAP domain this handler serves; requests for other domains are refused.
    public let domain: String
    /// The Z85 public keys let in.
    public let authorizedKeys: Set<String>
    let context: ZMQContext
    private let socket: ZMQSocket
    private let state = State()

    /// Binds the handler in `context` and starts answering; `authorizedKeys` are Z85 CURVE public keys.
    ///
    /// Throws `CurveError.invalidKey` for a malformed key and a `ZMQError` if a handler is already bound in the context.
    public init(context: ZMQContext, authorizedKeys: Set<String>, domain: String = ZAPHandler.defaultDomain,
                onDenied: (@Sendable (ZAPDenial) -> Void)? = nil) throws {
        for key in authorizedKeys {
            try Z85.validateKey(key, role: "authorized public key")
        }
        self.context = context
        self.domain = domain
        self.authorizedKeys = authorizedKeys
        socket = try ZMQSocket(context: context, kind: .router)
        do {
            try socket.bind(Self.endpoint)
        } catch {
            // No thread will run: let deinit's `stop()` return at once.
            state.finish()
            socket.close()
            throw error
        }
        let thread = Thread { [socket, state, authorizedKeys, domain] in
            Self.serve(socket: socket, state: state, authorized: authorizedKeys, domain: domain, onDenied: onDenied)
        }
        thread.name = "zap-handler"
        thread.start()
    }

    deinit {
        stop()
    }

    /// Connections refused so far.
    public var denied: Int { state.locked { $0.denied } }

    /// Connections let in so far.
    public var accepted: Int { state.locked { $0.accepted } }

    /// True until `stop()` is called or the context closes.
    public var isRunning: Bool { state.locked { !$0.stopping && !$0.finished } }

    /// The refusals since the last call, oldest first (at most `maxQueuedDenials`), for the owner to log on its own thread.
    public func takeDenials() -> [ZAPDenial] {
        state.locked { values in
            defer { values.pending.removeAll() }
            return values.pending
        }
    }

    /// Stops the thread and closes the socket; idempotent and never hangs. Call it after closing the server socket.
    public func stop() {
        state.condition.lock()
        state.values.stopping = true
        // The thread wakes from its receive at least every `pollMilliseconds`.
        let deadline = Date(timeIntervalSinceNow: 2)
        while !state.values.finished && state.condition.wait(until: deadline) {}
        state.condition.unlock()
        socket.close()
    }

    // MARK: - The handler's thread

    private static let pollMilliseconds: Int32 = 100

    private static func serve(socket: ZMQSocket, state: State, authorized: Set<String>, domain: String,
                              onDenied: (@Sendable (ZAPDenial) -> Void)?) {
        defer { state.finish() }
        while !state.locked({ $0.stopping }) {
            let frames: [[UInt8]]?
            do {
                frames = try socket.receive(timeoutMilliseconds: pollMilliseconds)
            } catch {
                // The context closed (or the socket did): nothing left to answer. On any other failure the
                // socket stays bound and unanswered, so handshakes stall rather than pass unauthenticated.
                return
            }
            guard let frames, let request = ZAPRequest(frames: frames) else { continue }
            let verdict = request.verdict(authorized: authorized, domain: domain)
            // Counted before the answer, so whoever sees the answer's effect also sees the count.
            var denial: ZAPDenial?
            switch verdict {
            case .accept: state.locked { $0.accepted += 1 }
            case .deny(let reason): denial = state.recordDenial(request: request, reason: reason)
            }
            _ = try? socket.send(request.reply(verdict), dontWait: true)
            if let denial { onDenied?(denial) }
        }
    }

    /// What the handler's thread and its owner share, under one lock.
    private final class State: @unchecked Sendable {
        struct Values {
            var stopping = false
            var finished = false
            var denied = 0
            var accepted = 0
            var pending: [ZAPDenial] = []
            var attempts: [String: Int] = [:]
        }

        let condition = NSCondition()
        var values = Values()

        func locked<Result>(_ body: (inout Values) -> Result) -> Result {
            condition.lock()
            defer { condition.unlock() }
            return body(&values)
        }

        func finish() {
            condition.lock()
            values.finished = true
            condition.broadcast()
            condition.unlock()
        }

        func recordDenial(request: ZAPRequest, reason: String) -> ZAPDenial {
            locked { values in
                values.denied += 1
                let who = request.publicKey ?? "address \(request.address)"
                // Bounded, so a flood of random keys cannot grow it without limit.
                if values.attempts.count >= 10_000 && values.attempts[who] == nil { values.attempts.removeAll() }
                let attempt = values.attempts[who, default: 0] + 1
                values.attempts[who] = attempt
                let denial = ZAPDenial(address: request.address, mechanism: request.mechanism,
                                       publicKey: request.publicKey, reason: reason, attempt: attempt)
                if values.pending.count < ZAPHandler.maxQueuedDenials { values.pending.append(denial) }
                return denial
            }
        }
    }
}

/// A ZAP request as libzmq sends it to a ROUTER: routing id, empty delimiter, then RFC 27's frames.
struct ZAPRequest {
    enum Verdict: Equatable {
        case accept
        case deny(String)
    }

    let routingID: [UInt8]
    let version: String
    let requestID: [UInt8]
    let domain: String
    let address: String
    let mechanism: String
    let credentials: [[UInt8]]

    /// nil when the frames are too few to answer (no routing id, delimiter or request id).
    init?(frames: [[UInt8]]) {
        guard frames.count >= 8, frames[1].isEmpty else { return nil }
        routingID = frames[0]
        version = String(decoding: frames[2], as: UTF8.self)
        requestID = frames[3]
        domain = String(decoding: frames[4], as: UTF8.self)
        address = String(decoding: frames[5], as: UTF8.self)
        // frames[6] is the peer's routing id, which a client chooses freely: not evidence of anything.
        mechanism = String(decoding: frames[7], as: UTF8.self)
        credentials = Array(frames.dropFirst(8))
    }

    /// The client's Z85 public key, for a CURVE request with one 32-byte credential.
    var publicKey: String? {
        guard mechanism == "CURVE", credentials.count == 1, credentials[0].count == 32 else { return nil }
        return try? Z85.encode(credentials[0])
    }

    func verdict(authorized: Set<String>, domain expected: String) -> Verdict {
        guard version == "1.0" else { return .deny("unsupported ZAP version \(version.debugDescription)") }
        guard domain == expected else { return .deny("ZAP domain \(domain.debugDescription) is not \(expected.debugDescription)") }
        guard mechanism == "CURVE" else { return .deny("mechanism \(mechanism) is not allowed; CURVE is required") }
        guard let key = publicKey else { return .deny("malformed CURVE credentials") }
        return authorized.contains(key) ? .accept : .deny("public key not authorized")
    }

    /// The reply frames, routing id first; a CURVE client let in gets its Z85 key as user id.
    func reply(_ verdict: Verdict) -> [[UInt8]] {
        let (status, text, user): (String, String, String) = switch verdict {
        case .accept: ("200", "OK", publicKey ?? "")
        case .deny(let reason): ("400", reason, "")
        }
        return [routingID, [], Array("1.0".utf8), requestID, Array(status.utf8), Array(text.utf8), Array(user.utf8), []]
    }
}
