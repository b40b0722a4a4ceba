import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file in shared memory that a worker and a server on one machine both map: the weights a
/// worker computes with and the gradients it computes, without a trip through a socket.
///
/// Slot 0 holds the weights; slot 1 + i holds the gradient of the step's microbatch i. Each slot
/// is `elements` Float32 values in the host's byte order. The worker creates the file (`create`)
/// and names it in its ready message; the server maps it (`open`), checking it is a regular file
/// of this user, under `directory`, of exactly the expected size, then removes its name, so
/// nothing is left behind once both processes have let go of it.
public final class SharedPayloads: @unchecked Sendable {
    /// Where the files go: memory, not disk.
    public static let directory = "/dev/shm"
    /// Every file's name starts with this.
    public static let prefix = "backprop-"

    /// The path the file had when it was created or opened.
    public let path: String
    /// Values per slot.
    public let elements: Int
    /// Slots: 1 for the weights, then one per microbatch of a step.
    public let slots: Int
    private let base: UnsafeMutableRawPointer
    private let byteCount: Int

    /// Bytes a file of `slots` slots of `elements` values takes.
    public static func byteCount(slots: Int, elements: Int) -> Int {
        slots * elements * MemoryLayout<Float>.size
    }

    private init(path: String, elements: Int, slots: Int, base: UnsafeMutableRawPointer, byteCount: Int) {
        self.path = path
        self.elements = elements
        self.slots = slots
        self.base = base
        self.byteCount = byteCount
    }

    deinit {
        munmap(base, byteCount)
    }

    /// Creates a new file `<directory>/backprop-<name>` of `slots` slots, with its memory reserved
    /// up front (so a full /dev/shm is an error here, never a fault later), and maps it.
    public static func create(name: String, slots: Int, elements: Int) throws(SharedPayloadsError) -> SharedPayloads {
        guard slots >= 1, elements >= 1 else { throw .unusable("no slots to share") }
        let path = "\(directory)/\(prefix)\(name)"
        let bytes = byteCount(slots: slots, elements: elements)
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system("cannot create \(path)", errno) }
        defer { close(fd) }
        let reserved = posix_fallocate(fd, 0, off_t(bytes))
        guard reserved == 0 else {
            unlink(path)
            throw .system("cannot reserve \(bytes) bytes for \(path)", reserved)
        }
        guard let base = map(fd, bytes: bytes) else {
            let code = errno
            unlink(path)
            throw .system("cannot map \(path)", code)
        }
        return SharedPayloads(path: path, elements: elements, slots: slots, base: base, byteCount: bytes)
    }

    /// Maps a file a worker created, after checking that `path` is `<directory>/backprop-…` with
    /// no further directories, a regular file (not a link) owned by this user, of exactly
    /// `slots` slots of `elements` values.
    public static func open(path: String, slots: Int, elements: Int) throws(SharedPayloadsError) -> SharedPayloads {
        let folder = directory + "/"
        guard path.hasPrefix(folder + prefix), !path.dropFirst(folder.count).contains("/") else {
            throw .unusable("\(String(reflecting: path)) is not a file \(folder)\(prefix)…")
        }
        guard slots >= 1, elements >= 1 else { throw .unusable("no slots to share") }
        let bytes = byteCount(slots: slots, elements: elements)
        let fd = Glibc.open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .system("cannot open \(path)", errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system("cannot stat \(path)", errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .unusable("\(path) is not a regular file") }
        guard info.st_uid == geteuid() else { throw .unusable("\(path) belongs to another user") }
        guard Int(info.st_size) == bytes else {
            throw .unusable("\(path) has \(info.st_size) bytes, expected \(bytes) (\(slots) slots of \(elements) values)")
        }
        guard let base = map(fd, bytes: bytes) else { throw .system("cannot map \(path)", errno) }
        return SharedPayloads(path: path, elements: elements, slots: slots, base: base, byteCount: bytes)
    }

    private static func map(_ fd: Int32, bytes: Int) -> UnsafeMutableRawPointer? {
        let base = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        return base == MAP_FAILED ? nil : base
    }

    /// Slot `index`'s values.
    public func slot(_ index: Int) -> UnsafeMutablePointer<Float> {
        precondition(index >= 0 && index < slots, "slot \(index) outside 0..<\(slots)")
        return (base + index * elements * MemoryLayout<Float>.size).bindMemory(to: Float.self, capacity: elements)
    }

    /// Slot `index`'s bytes.
    public func bytes(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: slot(index), count: elements * MemoryLayout<Float>.size)
    }

    /// Removes the file's name; the mappings stay valid. Quietly does nothing when it is already gone.
    public func removeName() {
        unlink(path)
    }
}

/// Why a shared-memory file cannot be used; one line for people.
public enum SharedPayloadsError: Error, CustomStringConvertible, Equatable {
    /// The path, kind, owner or size is not what it must be.
    case unusable(String)
    /// A system call failed, with its errno.
    case system(String, Int32)

    public var description: String {
        switch self {
        case .unusable(let why): why
        case .system(let what, let code): "\(what): \(String(cString: strerror(code)))"
        }
    }
}
