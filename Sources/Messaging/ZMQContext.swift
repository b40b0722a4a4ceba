import CZeroMQ
import Foundation

/// Owns a libzmq context; `close()` (idempotent, also in deinit) terminates it after its sockets are closed.
///
/// `close()` first shuts the context down, which wakes any thread blocked in a socket call
/// (that call throws a `ZMQError` with `isContextTerminated`), then closes every socket still
/// open on it, then terminates it — so it never hangs on a forgotten socket.
public final class ZMQContext: @unchecked Sendable {
    private let lock = NSLock()
    private var handle: UnsafeMutableRawPointer?
    private var sockets: [ObjectIdentifier: WeakSocket] = [:]

    /// Creates a libzmq context.
    public init() throws {
        handle = try zmqCall("zmq_ctx_new") { zmq_ctx_new() }
    }

    deinit {
        close()
    }

    /// Shuts down, closes the sockets still open on this context, and terminates it.
    public func close() {
        lock.lock()
        let context = handle
        let open = sockets.values.compactMap(\.socket)
        handle = nil
        sockets = [:]
        lock.unlock()

        guard let context else { return }
        _ = try? zmqCall("zmq_ctx_shutdown") { zmq_ctx_shutdown(context) }
        for socket in open {
            socket.close()
        }
        _ = try? zmqCall("zmq_ctx_term") { zmq_ctx_term(context) }
    }

    /// Creates a libzmq socket of `type` and remembers `owner` so `close()` can close it.
    func openSocket(type: Int32, owner: ZMQSocket) throws(ZMQError) -> UnsafeMutableRawPointer {
        lock.lock()
        defer { lock.unlock() }
        guard let context = handle else {
            throw ZMQError(call: "zmq_socket", code: ETERM)
        }
        let socket = try zmqCall("zmq_socket") { zmq_socket(context, type) }
        sockets[ObjectIdentifier(owner)] = WeakSocket(socket: owner)
        return socket
    }

    /// Forgets a socket that closed itself.
    func forget(_ owner: ZMQSocket) {
        lock.lock()
        sockets[ObjectIdentifier(owner)] = nil
        lock.unlock()
    }
}

private struct WeakSocket {
    weak var socket: ZMQSocket?
}
