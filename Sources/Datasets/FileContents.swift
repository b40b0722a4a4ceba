#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads whole files, unpacking gzip, with errors that name the file.
enum FileContents {
    /// The bytes of the file at `path`, decompressed when they start with the gzip magic 1f 8b.
    ///
    /// A name ending in `.gz` promises gzip: such a file without the magic throws `.notGzip`.
    static func load(_ path: String) throws(DatasetError) -> [UInt8] {
        let bytes = try loadRaw(path)
        if bytes.starts(with: [0x1F, 0x8B]) {
            return try gunzip(bytes, path: path)
        }
        if path.hasSuffix(".gz") {
            throw .notGzip(path: path, found: Array(bytes.prefix(2)))
        }
        return bytes
    }

    /// The file's bytes as stored.
    static func loadRaw(_ path: String) throws(DatasetError) -> [UInt8] {
        let descriptor = try retryingInterrupts(path) { open(path, O_RDONLY) }
        defer { close(descriptor) }
        var info = stat()
        _ = try retryingInterrupts(path) { fstat(descriptor, &info) }
        // One byte of room beyond the size, so the read that meets the end needs no extra growth.
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size) + 1)
        var filled = 0
        while true {
            if filled == bytes.count {
                bytes.append(contentsOf: repeatElement(0, count: max(4096, bytes.count)))
            }
            let capacity = bytes.count - filled
            let received = try retryingInterrupts(path) {
                bytes.withUnsafeMutableBytes { buffer in
                    read(descriptor, buffer.baseAddress.map { $0 + filled }, capacity)
                }
            }
            if received == 0 { break }
            filled += received
        }
        bytes.removeLast(bytes.count - filled)
        return bytes
    }

    /// Calls `operation` until it does not fail with EINTR; a negative result becomes `.unreadable` with errno's text.
    private static func retryingInterrupts<Result: BinaryInteger>(
        _ path: String,
        _ operation: () -> Result
    ) throws(DatasetError) -> Result {
        while true {
            let result = operation()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            throw .unreadable(path: path, reason: String(cString: strerror(code)))
        }
    }
}
