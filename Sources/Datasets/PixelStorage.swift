#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes behind an image set: a buffer this process owns, or a read-only mapping of an image cache file.
///
/// A mapping costs no memory until a sample is read, and then only the pages that hold it, shared
/// with every other process on the machine that maps the same file. Immutable once made.
public final class PixelStorage: @unchecked Sendable {
    /// The first byte.
    @usableFromInline let base: UnsafePointer<UInt8>
    /// Bytes from `base` that may be read.
    public let byteCount: Int
    private let owner: Owner

    private enum Owner {
        /// Allocated here; freed on deinit.
        case allocated(UnsafeMutableRawPointer)
        /// A whole file mapped with mmap: its start and length; unmapped on deinit.
        case mapped(UnsafeMutableRawPointer, Int)
    }

    /// A private copy of `bytes`.
    public init(copying bytes: [UInt8]) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { source in
            if let address = source.baseAddress { memory.copyMemory(from: address, byteCount: source.count) }
        }
        base = UnsafePointer(memory.assumingMemoryBound(to: UInt8.self))
        byteCount = bytes.count
        owner = .allocated(memory)
    }

    /// Bytes `offset..<offset + byteCount` of a mapping of `length` bytes starting at `mapping`, which this storage unmaps when it goes.
    init(mapping: UnsafeMutableRawPointer, length: Int, offset: Int, byteCount: Int) {
        precondition(offset >= 0 && byteCount >= 0 && offset + byteCount <= length, "pixel range outside the mapping")
        base = UnsafePointer((mapping + offset).assumingMemoryBound(to: UInt8.self))
        self.byteCount = byteCount
        owner = .mapped(mapping, length)
    }

    /// True when the bytes are a file mapping rather than memory of this process.
    public var isMapped: Bool {
        if case .mapped = owner { return true }
        return false
    }

    deinit {
        switch owner {
        case let .allocated(memory): memory.deallocate()
        case let .mapped(start, length): munmap(start, length)
        }
    }
}
