import CZeroMQ
import Foundation

/// The frames of the last message a socket received, left in libzmq's buffers: reading them copies nothing.
///
/// Reuse one instance for every `ZMQSocket.receive(into:timeoutMilliseconds:)`; each receive
/// releases the previous message's frames, so pointers into them are valid until then (or until
/// a frame is moved out with `move(_:to:)`). It grows only for a message with more frames than
/// it has held before.
public final class ReceivedFrames {
    private var messages: UnsafeMutablePointer<zmq_msg_t>
    private var capacity: Int
    /// Frames in the message (on a ROUTER, the routing id is frame 0).
    public private(set) var count = 0
    /// Bytes in all its frames.
    public private(set) var byteCount = 0

    /// Room for `capacity` frames before it grows.
    public init(capacity: Int = 4) {
        self.capacity = max(capacity, 1)
        messages = .allocate(capacity: self.capacity)
        for index in 0..<self.capacity {
            Self.initialize(messages + index)
        }
    }

    deinit {
        for index in 0..<capacity {
            Self.close(messages + index)
        }
        messages.deallocate()
    }

    /// zmq_msg_init, which cannot fail.
    static func initialize(_ message: UnsafeMutablePointer<zmq_msg_t>) {
        _ = try? zmqCall("zmq_msg_init") { zmq_msg_init(message) }
    }

    /// zmq_msg_close, which fails only for a message that is not initialised.
    static func close(_ message: UnsafeMutablePointer<zmq_msg_t>) {
        _ = try? zmqCall("zmq_msg_close") { zmq_msg_close(message) }
    }

    /// The bytes of frame `index`; empty when the message has no such frame (or it was moved out).
    public subscript(index: Int) -> UnsafeRawBufferPointer {
        guard index >= 0, index < count else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let message = messages + index
        return UnsafeRawBufferPointer(start: zmq_msg_data(message), count: zmq_msg_size(message))
    }

    /// A copy of frame `index` (for the rare messages kept as values).
    public func copy(_ index: Int) -> [UInt8] {
        Array(self[index])
    }

    /// Copies of every frame, in order.
    public func copies() -> [[UInt8]] {
        (0..<count).map(copy)
    }

    /// Moves frame `index` into `frame` (whose previous frame is released); this message's frame becomes empty.
    public func move(_ index: Int, to frame: HeldFrame) {
        precondition(index >= 0 && index < count, "no frame \(index) in a message of \(count)")
        frame.take(from: messages + index)
    }

    /// Releases every frame.
    func clear() {
        for index in 0..<count {
            Self.close(messages + index)
            Self.initialize(messages + index)
        }
        count = 0
        byteCount = 0
    }

    /// Receives the next frame into the next slot without blocking; false with EAGAIN when none is waiting.
    func receiveFrame(from socket: UnsafeMutableRawPointer) throws(ZMQError) -> (received: Bool, more: Bool) {
        if count == capacity { grow() }
        let message = messages + count
        do throws(ZMQError) {
            try zmqCall("zmq_msg_recv") { zmq_msg_recv(message, socket, ZMQ_DONTWAIT) }
        } catch where error.code == EAGAIN {
            return (false, false)
        }
        count += 1
        byteCount += zmq_msg_size(message)
        return (true, zmq_msg_more(message) != 0)
    }

    private func grow() {
        let larger = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: capacity * 2)
        for index in 0..<(capacity * 2) {
            Self.initialize(larger + index)
        }
        for index in 0..<capacity {
            _ = try? zmqCall("zmq_msg_move") { zmq_msg_move(larger + index, messages + index) }
            Self.close(messages + index)
        }
        messages.deallocate()
        messages = larger
        capacity *= 2
    }
}

/// One received frame kept past the next receive, still in libzmq's buffer (no copy).
public final class HeldFrame {
    private let message: UnsafeMutablePointer<zmq_msg_t>
    /// Whether it holds a frame.
    public private(set) var isHolding = false

    /// An empty holder.
    public init() {
        message = .allocate(capacity: 1)
        ReceivedFrames.initialize(message)
    }

    deinit {
        ReceivedFrames.close(message)
        message.deallocate()
    }

    /// The frame's bytes (empty when it holds none); valid until `release()` or the next `ReceivedFrames.move`.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: zmq_msg_data(message), count: zmq_msg_size(message))
    }

    /// Gives the frame back to libzmq.
    public func release() {
        ReceivedFrames.close(message)
        ReceivedFrames.initialize(message)
        isHolding = false
    }

    fileprivate func take(from source: UnsafeMutablePointer<zmq_msg_t>) {
        // zmq_msg_move releases what `message` held and leaves `source` empty.
        _ = try? zmqCall("zmq_msg_move") { zmq_msg_move(message, source) }
        isHolding = true
    }
}

/// Float32 values that libzmq sends straight from this memory (`zmq_msg_init_data` with a free
/// function): one buffer can go to any number of peers without a copy.
///
/// Write `values`, set `count`, send it; then leave it alone while `isInFlight`: libzmq reads it
/// from its I/O thread until the last message carrying it has gone out or been dropped, and then
/// says so. A `PayloadPool` hands out buffers that are not in flight.
public final class PayloadBuffer: @unchecked Sendable {
    /// The most values it holds.
    public let capacity: Int
    /// The values to send (`count` of them), 16-byte aligned.
    public let values: UnsafeMutablePointer<Float>
    /// How many of `values` a message carries.
    public var count: Int {
        didSet { precondition(count >= 0 && count <= capacity, "payload count \(count) outside 0...\(capacity)") }
    }
    private let lock = NSLock()
    /// Messages libzmq still holds that point into `values`.
    private var sends = 0

    /// A buffer of `capacity` values, all 0, with `count` = `capacity`.
    public init(capacity: Int) {
        self.capacity = capacity
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1) * MemoryLayout<Float>.size, alignment: 16)
        values = raw.initializeMemory(as: Float.self, repeating: 0, count: max(capacity, 1))
        count = capacity
    }

    deinit {
        values.deinitialize(count: max(capacity, 1))
        values.deallocate()
    }

    /// Whether libzmq may still be reading the values.
    public var isInFlight: Bool {
        lock.lock()
        defer { lock.unlock() }
        return sends > 0
    }

    /// Bytes per value on the wire: 4, or `BFloat16.size` once the values are packed as bfloat16 (`BFloat16.packInPlace`).
    public var bytesPerValue = MemoryLayout<Float>.size

    /// The wire bytes of the first `count` values.
    var wireBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: values, count: count * bytesPerValue)
    }

    /// Notes one more message pointing into the buffer, and keeps the buffer alive for it; the hint for `release`.
    func retainForSend() -> UnsafeMutableRawPointer {
        lock.lock()
        sends += 1
        lock.unlock()
        return Unmanaged.passRetained(self).toOpaque()
    }

    /// libzmq's free function: one message carrying the buffer is done with it.
    static let release: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { _, hint in
        guard let hint else { return }
        let buffer = Unmanaged<PayloadBuffer>.fromOpaque(hint).takeRetainedValue()
        buffer.lock.lock()
        buffer.sends -= 1
        buffer.lock.unlock()
    }
}

/// Payload buffers of one size, handed out again once libzmq has let go of them: after the first
/// steps, sending a payload allocates nothing.
public final class PayloadPool {
    /// Values per buffer.
    public let elements: Int
    private var buffers: [PayloadBuffer] = []

    /// An empty pool of buffers of `elements` values.
    public init(elements: Int) {
        self.elements = elements
    }

    /// A buffer libzmq is not reading, with `count` = `elements`; a new one only when every buffer is in flight.
    public func take() -> PayloadBuffer {
        for buffer in buffers where !buffer.isInFlight {
            buffer.count = elements
            buffer.bytesPerValue = MemoryLayout<Float>.size
            return buffer
        }
        let buffer = PayloadBuffer(capacity: elements)
        buffers.append(buffer)
        return buffer
    }

    /// Buffers allocated so far.
    public var allocated: Int { buffers.count }
}
