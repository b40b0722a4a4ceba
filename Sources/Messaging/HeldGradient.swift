/// One microbatch's gradient, kept from its arrival until it is summed: a frame left in libzmq's
/// buffer, or a slot of the sender's shared-memory file. Reused from step to step.
public final class HeldGradient {
    private let frame = HeldFrame()
    private var file: SharedPayloads?
    private var slot = 0
    /// Where values that are not 4-byte aligned in libzmq's buffer are copied to be read (rare).
    private var scratch: UnsafeMutableBufferPointer<Float>?
    /// Whether it holds a gradient.
    public private(set) var isHolding = false

    /// An empty holder.
    public init() {}

    deinit {
        scratch?.deallocate()
    }

    /// Takes frame `index` of `inbox` (the payload of the message just received).
    func hold(_ index: Int, of inbox: ReceivedFrames) {
        release()
        inbox.move(index, to: frame)
        isHolding = true
    }

    /// Points at slot `slot` of `file`, which the sender has written.
    func hold(slot: Int, of file: SharedPayloads) {
        release()
        (self.file, self.slot) = (file, slot)
        isHolding = true
    }

    /// The `count` values as host-order Float32s, valid until `release()`: where they lie when
    /// that memory is aligned (on a little-endian host), otherwise a copy; bfloat16 values widened.
    public func values(count: Int) -> UnsafePointer<Float> {
        let bytes = file?.bytes(slot) ?? frame.bytes
        let bfloat16 = bytes.count == count * BFloat16.size
        precondition(bfloat16 || bytes.count == count * MemoryLayout<Float>.size, "a held gradient of \(bytes.count) bytes, expected \(count) values")
        #if _endian(little)
        if !bfloat16, let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            return base.bindMemory(to: Float.self, capacity: count)
        }
        #endif
        let copy: UnsafeMutableBufferPointer<Float>
        if let scratch, scratch.count == count {
            copy = scratch
        } else {
            scratch?.deallocate()
            copy = .allocate(capacity: max(count, 1))
            scratch = copy
        }
        if bfloat16 {
            BFloat16.load(bytes, into: copy)
        } else {
            LittleEndianFloats.load(bytes, into: copy)
        }
        return UnsafePointer(copy.baseAddress.unsafelyUnwrapped)
    }

    /// Lets go of the gradient: the frame back to libzmq, or the file.
    public func release() {
        if frame.isHolding { frame.release() }
        file = nil
        isHolding = false
    }
}
