import Foundation
import Messaging
import XCTest

/// CurveZMQ over real TCP sockets: who gets in, and what an eavesdropper sees.
final class CurveSocketTests: XCTestCase {
    private var context: ZMQContext!
    private var handler: ZAPHandler?

    override func setUpWithError() throws {
        context = try ZMQContext()
    }

    override func tearDown() {
        handler?.stop()
        handler = nil
        context.close()
        context = nil
    }

    /// A ROUTER that is a CURVE server letting in `authorized`, bound on an ephemeral loopback port.
    private func curveRouter(_ server: CurveKeyPair, authorized: Set<String>) throws -> (ZMQSocket, String, ZAPHandler) {
        let handler = try ZAPHandler(context: context, authorizedKeys: authorized)
        self.handler = handler
        let router = try ZMQSocket(context: context, kind: .router)
        try router.setRouterMandatory(true)
        try router.makeCurveServer(secretKey: server.secretKey, authenticator: handler)
        return (router, try router.bind("tcp://127.0.0.1:*"), handler)
    }

    private func dealer(_ id: String, connectingTo endpoint: String, curve: (CurveKeyPair, String)?) throws -> ZMQSocket {
        let dealer = try ZMQSocket(context: context, kind: .dealer)
        try dealer.setRoutingID(Array(id.utf8))
        try dealer.setReconnectInterval(milliseconds: 50)
        if let (pair, serverKey) = curve {
            try dealer.makeCurveClient(keyPair: pair, serverPublicKey: serverKey)
        }
        try dealer.connect(endpoint)
        return dealer
    }

    // MARK: - Authentication

    func testAnAuthorizedWorkerTalksAndAnUnknownKeyIsRefusedAndCounted() throws {
        let server = try CurveKeyPair.generate(), a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        let (router, endpoint, handler) = try curveRouter(server, authorized: [a.publicKey])

        let good = try dealer("worker-a", connectingTo: endpoint, curve: (a, server.publicKey))
        XCTAssertTrue(try good.send([[1, 2, 3], Array("hello".utf8)]))
        XCTAssertEqual(try router.receive(timeoutMilliseconds: 5_000), [Array("worker-a".utf8), [1, 2, 3], Array("hello".utf8)])
        XCTAssertTrue(try router.send([Array("worker-a".utf8), Array("welcome".utf8)]))
        XCTAssertEqual(try good.receive(timeoutMilliseconds: 5_000), [Array("welcome".utf8)])
        XCTAssertEqual(handler.accepted, 1)
        XCTAssertEqual(handler.denied, 0)

        let rogue = try dealer("worker-b", connectingTo: endpoint, curve: (b, server.publicKey))
        XCTAssertTrue(try rogue.send([Array("let me in".utf8)]))
        try waitUntil("the handler refuses key B") { handler.denied >= 1 }
        XCTAssertNil(try router.receive(timeoutMilliseconds: 500), "a refused worker's message reached the server")
        // The server cannot even address it.
        XCTAssertFalse(try router.send([Array("worker-b".utf8), [0]]))

        let denials = handler.takeDenials()
        let first = try XCTUnwrap(denials.first)
        XCTAssertEqual(first, ZAPDenial(address: "127.0.0.1", mechanism: "CURVE", publicKey: b.publicKey,
                                        reason: "public key not authorized", attempt: 1))
        XCTAssertEqual(first.description, "refused CURVE client 127.0.0.1 (key \(b.publicKey)): public key not authorized (attempt 1)")
        XCTAssertEqual(denials.count, 1)
        // libzmq 4.3 does not reconnect a refused socket; a new one with the same key is the second attempt.
        let again = try dealer("worker-b2", connectingTo: endpoint, curve: (b, server.publicKey))
        XCTAssertTrue(try again.send([Array("me again".utf8)]))
        try waitUntil("the second refusal") { handler.denied >= 2 }
        XCTAssertEqual(handler.takeDenials().map(\.attempt), [2])
        XCTAssertNil(try router.receive(timeoutMilliseconds: 200))
        XCTAssertEqual(handler.accepted, 1)

        // The authorized worker is unaffected.
        XCTAssertTrue(try good.send([Array("still here".utf8)]))
        XCTAssertEqual(try router.receive(timeoutMilliseconds: 5_000), [Array("worker-a".utf8), Array("still here".utf8)])
    }

    func testAPlainWorkerNeverDelivers() throws {
        let server = try CurveKeyPair.generate(), a = try CurveKeyPair.generate()
        let (router, endpoint, handler) = try curveRouter(server, authorized: [a.publicKey])
        let plain = try dealer("plain", connectingTo: endpoint, curve: nil)
        XCTAssertTrue(try plain.send([Array("no keys".utf8)]))
        XCTAssertNil(try router.receive(timeoutMilliseconds: 1_000), "a worker without CURVE reached the server")
        // The mechanisms differ, so libzmq drops the connection before asking the handler.
        XCTAssertEqual(handler.accepted, 0)
    }

    func testAWorkerRefusesAnImpostorServer() throws {
        let server = try CurveKeyPair.generate(), impostor = try CurveKeyPair.generate(), a = try CurveKeyPair.generate()
        let (router, endpoint, handler) = try curveRouter(impostor, authorized: [a.publicKey])
        // The worker expects `server`'s key; the socket it reaches holds `impostor`'s.
        let worker = try dealer("a", connectingTo: endpoint, curve: (a, server.publicKey))
        XCTAssertTrue(try worker.send([Array("weights?".utf8)]))
        XCTAssertNil(try router.receive(timeoutMilliseconds: 1_000), "a worker talked to a server with the wrong key")
        XCTAssertEqual(handler.accepted, 0)
    }

    func testACurveServerNeedsARunningHandlerInItsOwnContext() throws {
        let server = try CurveKeyPair.generate()
        let router = try ZMQSocket(context: context, kind: .router)

        let elsewhere = try ZMQContext()
        defer { elsewhere.close() }
        let foreign = try ZAPHandler(context: elsewhere, authorizedKeys: [])
        XCTAssertThrowsError(try router.makeCurveServer(secretKey: server.secretKey, authenticator: foreign)) { error in
            XCTAssertEqual(error as? CurveError, .noAuthenticator("the ZAP handler belongs to another context"))
        }
        foreign.stop()

        let stoppedContext = try ZMQContext()
        defer { stoppedContext.close() }
        let stopped = try ZAPHandler(context: stoppedContext, authorizedKeys: [])
        stopped.stop()
        XCTAssertFalse(stopped.isRunning)
        let routerOfStopped = try ZMQSocket(context: stoppedContext, kind: .router)
        XCTAssertThrowsError(try routerOfStopped.makeCurveServer(secretKey: server.secretKey, authenticator: stopped)) { error in
            XCTAssertEqual("\(error)", "cannot make a CURVE server: the ZAP handler is stopped")
        }

        let running = try ZAPHandler(context: context, authorizedKeys: [])
        handler = running
        XCTAssertThrowsError(try router.makeCurveServer(secretKey: "too short", authenticator: running)) { error in
            XCTAssertEqual(error as? CurveError, .invalidKey(role: "server secret key", reason: "9 characters, expected 40 Z85 characters"))
        }
        XCTAssertThrowsError(try ZMQSocket(context: context, kind: .dealer)
            .makeCurveClient(keyPair: server, serverPublicKey: String(server.publicKey.dropFirst()))) { error in
            XCTAssertEqual(error as? CurveError, .invalidKey(role: "server public key", reason: "39 characters, expected 40 Z85 characters"))
        }
        XCTAssertNoThrow(try router.makeCurveServer(secretKey: server.secretKey, authenticator: running))
    }

    func testMaxMessageSizeStillGuardsACurveServer() throws {
        let server = try CurveKeyPair.generate(), a = try CurveKeyPair.generate()
        let handler = try ZAPHandler(context: context, authorizedKeys: [a.publicKey])
        self.handler = handler
        let router = try ZMQSocket(context: context, kind: .router)
        try router.setMaxMessageSize(1_024)
        try router.makeCurveServer(secretKey: server.secretKey, authenticator: handler)
        let endpoint = try router.bind("tcp://127.0.0.1:*")

        // libzmq checks the encrypted frame, about 33 bytes longer than the plaintext.
        let big = try dealer("big", connectingTo: endpoint, curve: (a, server.publicKey))
        XCTAssertTrue(try big.send([[UInt8](repeating: 1, count: 4_096)]))
        XCTAssertNil(try router.receive(timeoutMilliseconds: 300))
        let small = try dealer("small", connectingTo: endpoint, curve: (a, server.publicKey))
        XCTAssertTrue(try small.send([[UInt8](repeating: 2, count: 512)]))
        XCTAssertEqual(try router.receive(timeoutMilliseconds: 5_000), [Array("small".utf8), [UInt8](repeating: 2, count: 512)])
    }

    // MARK: - The handler itself

    func testTheHandlerAnswersRFC27RequestsAndRefusesWhatItMust() throws {
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        let seen = DenialLog()
        let handler = try ZAPHandler(context: context, authorizedKeys: [a.publicKey], onDenied: { seen.append($0) })
        self.handler = handler
        // Play libzmq's part: a DEALER speaking the REQ envelope to the handler's endpoint.
        let zap = try ZMQSocket(context: context, kind: .dealer)
        try zap.connect(ZAPHandler.endpoint)

        func ask(version: String = "1.0", domain: String = "backprop", mechanism: String = "CURVE",
                 credentials: [[UInt8]]) throws -> [String] {
            let request: [[UInt8]] = [[], Array(version.utf8), Array("42".utf8), Array(domain.utf8), Array("10.0.0.7".utf8),
                                      Array("peer".utf8), Array(mechanism.utf8)] + credentials
            XCTAssertTrue(try zap.send(request))
            let reply = try XCTUnwrap(zap.receive(timeoutMilliseconds: 5_000))
            XCTAssertEqual(reply.count, 7, "\(reply)")
            XCTAssertEqual(reply.first, [])
            return reply.dropFirst().map { String(decoding: $0, as: UTF8.self) }
        }

        XCTAssertEqual(try ask(credentials: [Z85.decodeKey(a.publicKey)]), ["1.0", "42", "200", "OK", a.publicKey, ""])
        XCTAssertEqual(try ask(credentials: [Z85.decodeKey(b.publicKey)]), ["1.0", "42", "400", "public key not authorized", "", ""])
        XCTAssertEqual(try ask(mechanism: "NULL", credentials: []),
                       ["1.0", "42", "400", "mechanism NULL is not allowed; CURVE is required", "", ""])
        XCTAssertEqual(try ask(credentials: [[1, 2, 3]]), ["1.0", "42", "400", "malformed CURVE credentials", "", ""])
        XCTAssertEqual(try ask(domain: "other", credentials: [Z85.decodeKey(a.publicKey)]),
                       ["1.0", "42", "400", "ZAP domain \"other\" is not \"backprop\"", "", ""])
        XCTAssertEqual(try ask(version: "2.0", credentials: [Z85.decodeKey(a.publicKey)]),
                       ["1.0", "42", "400", "unsupported ZAP version \"2.0\"", "", ""])
        // Too few frames to answer: dropped, and the handler carries on.
        XCTAssertTrue(try zap.send([[], Array("1.0".utf8)]))
        XCTAssertEqual(try ask(credentials: [Z85.decodeKey(a.publicKey)])[2], "200")

        XCTAssertEqual(handler.accepted, 2)
        XCTAssertEqual(handler.denied, 5)
        let denials = handler.takeDenials()
        XCTAssertEqual(denials.map(\.reason), [
            "public key not authorized", "mechanism NULL is not allowed; CURVE is required", "malformed CURVE credentials",
            "ZAP domain \"other\" is not \"backprop\"", "unsupported ZAP version \"2.0\"",
        ])
        // Counted per key, or per address for a request without one.
        XCTAssertEqual(denials.map(\.attempt), [1, 1, 2, 1, 2])
        XCTAssertEqual(denials.first?.publicKey, b.publicKey)
        XCTAssertEqual(denials.first?.address, "10.0.0.7")
        XCTAssertEqual(handler.takeDenials(), [])
        XCTAssertEqual(seen.all, denials)
    }

    func testAuthorizedKeysAreChecked() throws {
        XCTAssertThrowsError(try ZAPHandler(context: context, authorizedKeys: ["nope"])) { error in
            XCTAssertEqual(error as? CurveError, .invalidKey(role: "authorized public key", reason: "4 characters, expected 40 Z85 characters"))
        }
        // The failed handler bound nothing: a good one can take the endpoint.
        handler = try ZAPHandler(context: context, authorizedKeys: [try CurveKeyPair.generate().publicKey])
        XCTAssertThrowsError(try ZAPHandler(context: context, authorizedKeys: [])) { error in
            XCTAssertEqual((error as? ZMQError)?.code, EADDRINUSE)
        }
    }

    func testStopIsIdempotentAndQuick() throws {
        let first = try ZAPHandler(context: context, authorizedKeys: [])
        XCTAssertTrue(first.isRunning)
        let start = Date()
        first.stop()
        first.stop()
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
        XCTAssertFalse(first.isRunning)
        // libzmq releases an inproc endpoint once the closed socket is reaped, a moment later.
        var second: ZAPHandler?
        try waitUntil("the endpoint is free again") {
            second = try? ZAPHandler(context: context, authorizedKeys: [])
            return second != nil
        }
        handler = second
    }

    func testClosingTheContextFirstNeverHangs() throws {
        let other = try ZMQContext()
        let orphan = try ZAPHandler(context: other, authorizedKeys: [])
        let start = Date()
        other.close()
        orphan.stop()
        orphan.stop()
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        XCTAssertFalse(orphan.isRunning)
    }

    // MARK: - What crosses the wire

    func testACapturedSecureSessionIsNotPlaintext() throws {
        let marker = Array("BACKPROP-SECRET-MARKER".utf8)
        let payload = Array((0..<190).flatMap { _ in marker }.prefix(4_096))

        // Control: without CURVE the relay sees the marker, so the capture works.
        let plain = try capture(payload: payload, curve: false)
        XCTAssertTrue(plain.upstream.contains(bytes: marker), "the plain capture lacks the marker; the relay records nothing useful")
        XCTAssertTrue(plain.downstream.contains(bytes: marker))

        let secure = try capture(payload: payload, curve: true)
        XCTAssertGreaterThan(secure.upstream.count, payload.count, "the relay did not carry the secure session")
        XCTAssertTrue(secure.upstream.contains(bytes: Array("CURVE".utf8)), "the greeting does not name CURVE")
        for fragment in ["BACKPROP-SECRET-MARKER", "SECRET", "worker-1"].map({ Array($0.utf8) }) {
            XCTAssertFalse(secure.upstream.contains(bytes: fragment), "\(String(decoding: fragment, as: UTF8.self)) crossed the wire in clear")
            XCTAssertFalse(secure.downstream.contains(bytes: fragment), "\(String(decoding: fragment, as: UTF8.self)) came back in clear")
        }
    }

    /// Sends `payload` from a DEALER through a recording relay to a ROUTER and back; returns what the relay saw.
    private func capture(payload: [UInt8], curve: Bool) throws -> (upstream: [UInt8], downstream: [UInt8]) {
        let server = try CurveKeyPair.generate(), worker = try CurveKeyPair.generate()
        let context = try ZMQContext()
        defer { context.close() }
        var zap: ZAPHandler?
        defer { zap?.stop() }
        let router = try ZMQSocket(context: context, kind: .router)
        if curve {
            zap = try ZAPHandler(context: context, authorizedKeys: [worker.publicKey])
            try router.makeCurveServer(secretKey: server.secretKey, authenticator: try XCTUnwrap(zap))
        }
        let endpoint = try router.bind("tcp://127.0.0.1:*")
        let relay = try TCPRelay(targetPort: try XCTUnwrap(UInt16(endpoint.split(separator: ":").last ?? "")))
        defer { relay.stop() }

        let dealer = try ZMQSocket(context: context, kind: .dealer)
        try dealer.setRoutingID(Array("worker-1".utf8))
        if curve { try dealer.makeCurveClient(keyPair: worker, serverPublicKey: server.publicKey) }
        try dealer.connect(relay.endpoint)
        XCTAssertTrue(try dealer.send([Array("gradients".utf8), payload]))
        XCTAssertEqual(try router.receive(timeoutMilliseconds: 5_000), [Array("worker-1".utf8), Array("gradients".utf8), payload])
        XCTAssertTrue(try router.send([Array("worker-1".utf8), Array("weights".utf8), payload]))
        XCTAssertEqual(try dealer.receive(timeoutMilliseconds: 5_000), [Array("weights".utf8), payload])
        dealer.close()
        router.close()
        return relay.captured
    }

    // MARK: - Helpers

    private func waitUntil(_ what: String, timeout: TimeInterval = 5, _ condition: () -> Bool) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !condition() {
            guard Date() < deadline else { return XCTFail("timed out waiting until \(what)") }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}

/// Denials seen by a handler's callback, on its thread.
private final class DenialLog: @unchecked Sendable {
    private let lock = NSLock()
    private var denials: [ZAPDenial] = []

    func append(_ denial: ZAPDenial) {
        lock.lock()
        denials.append(denial)
        lock.unlock()
    }

    var all: [ZAPDenial] {
        lock.lock()
        defer { lock.unlock() }
        return denials
    }
}
