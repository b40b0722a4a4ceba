/// What became of a message handed to libzmq.
public enum SendOutcome: Equatable, Sendable {
    /// Queued for the peer.
    case sent
    /// The peer's queue is full (its link is slower than what it is sent): nothing was queued.
    case wouldBlock
    /// The peer is gone: libzmq has no connection to it.
    case unreachable
    /// libzmq refused the message for another reason, named (the call and `zmq_strerror`'s text).
    case failed(String)
}
