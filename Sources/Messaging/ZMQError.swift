import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A libzmq failure: the call, errno and zmq_strerror's text.
public struct ZMQError: Error, CustomStringConvertible, Equatable {
    /// The libzmq function that failed, e.g. `"zmq_bind"`.
    public let call: String
    /// The errno value libzmq reported.
    public let code: Int32
    /// `zmq_strerror(code)`.
    public let message: String

    /// Creates an error with an explicit message.
    public init(call: String, code: Int32, message: String) {
        self.call = call
        self.code = code
        self.message = message
    }

    /// Creates an error whose message is `zmq_strerror(code)`.
    public init(call: String, code: Int32) {
        self.init(call: call, code: code, message: String(cString: zmq_strerror(code)))
    }

    /// `zmq_bind failed: Address already in use (errno 98)`.
    public var description: String {
        "\(call) failed: \(message) (errno \(code))"
    }

    /// True when the socket's context was shut down (ETERM): the caller should stop using the socket.
    public var isContextTerminated: Bool { code == ETERM }
}

/// Runs one libzmq call: retries it while it fails with EINTR and turns any other failure into a `ZMQError` naming `call`.
///
/// Every libzmq call in this module goes through here; `failed` says how the call signals an error (libzmq then sets `zmq_errno()`).
@inline(__always)
func zmqCall<Result>(
    _ call: String,
    failed: (Result) -> Bool,
    _ body: () -> Result
) throws(ZMQError) -> Result {
    while true {
        let result = body()
        guard failed(result) else { return result }
        let code = zmq_errno()
        if code == EINTR { continue }
        throw ZMQError(call: call, code: code)
    }
}

/// `zmqCall` for the libzmq functions that return -1 on failure.
@inline(__always)
@discardableResult
func zmqCall(_ call: String, _ body: () -> Int32) throws(ZMQError) -> Int32 {
    try zmqCall(call, failed: { $0 == -1 }, body)
}

/// `zmqCall` for the libzmq functions that return NULL on failure.
@inline(__always)
func zmqCall(_ call: String, _ body: () -> UnsafeMutableRawPointer?) throws(ZMQError) -> UnsafeMutableRawPointer {
    let pointer = try zmqCall(call, failed: { $0 == nil }, body)
    guard let pointer else { throw ZMQError(call: call, code: EFAULT) }
    return pointer
}
