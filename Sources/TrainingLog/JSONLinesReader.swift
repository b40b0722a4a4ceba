import Foundation

/// Reads a JSON Lines file in fixed-size chunks as it grows, handing out complete lines only.
///
/// Nothing holds the whole file: each chunk is scanned for newlines and lines are passed on as
/// byte buffers. Bytes after the last newline wait for the next read; `tail` gives them to the
/// caller that wants to know about a line torn by a crash.
public final class JSONLinesReader {
    public let path: String
    /// Lines handed out so far (the number of the last complete line).
    public private(set) var lineCount = 0
    /// Bytes read so far.
    public private(set) var offset: UInt64 = 0
    private var handle: FileHandle?
    private var pending: [UInt8] = []
    private let chunkSize: Int

    public init(path: String, chunkSize: Int = 1 << 20) {
        self.path = path
        self.chunkSize = max(chunkSize, 1)
    }

    deinit { try? handle?.close() }

    /// Whether the file exists (it may appear later, while a run starts).
    public var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// Calls `body` with the number (1-based) and bytes (without the newline) of every complete line
    /// written since the last call. Each buffer is followed in memory by a newline. Returns whether
    /// any bytes were read.
    @discardableResult
    public func readNewLines(_ body: (Int, UnsafeBufferPointer<UInt8>) -> Void) throws -> Bool {
        if handle == nil {
            guard exists else { return false }
            guard let opened = FileHandle(forReadingAtPath: path) else {
                throw LogFileError(path: path, reason: "cannot open the file for reading")
            }
            handle = opened
        }
        guard let handle else { return false }
        var readAny = false
        while true {
            let chunk: Data
            do {
                chunk = try handle.read(upToCount: chunkSize) ?? Data()
            } catch {
                throw LogFileError(path: path, reason: "cannot read: \(error.localizedDescription)")
            }
            if chunk.isEmpty { break }
            readAny = true
            offset += UInt64(chunk.count)
            split(chunk, body)
            if chunk.count < chunkSize { break }
        }
        return readAny
    }

    /// The bytes after the last newline: a line still being written, or torn when its writer died.
    public var tailByteCount: Int { pending.count }

    /// Calls `body` with the bytes after the last newline (followed in memory by a newline), if there are any.
    public func withTail(_ body: (Int, UnsafeBufferPointer<UInt8>) -> Void) {
        guard !pending.isEmpty else { return }
        var bytes = pending
        bytes.append(0x0A)
        let number = lineCount + 1
        let count = pending.count
        bytes.withUnsafeBufferPointer { all in
            body(number, UnsafeBufferPointer(rebasing: all[0..<count]))
        }
    }

    private func split(_ chunk: Data, _ body: (Int, UnsafeBufferPointer<UInt8>) -> Void) {
        chunk.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard let base = bytes.baseAddress else { return }
            var start = 0
            while start < bytes.count, let found = memchr(base + start, 0x0A, bytes.count - start) {
                let end = UnsafeRawPointer(found) - UnsafeRawPointer(base)
                lineCount += 1
                if pending.isEmpty {
                    body(lineCount, UnsafeBufferPointer(rebasing: bytes[start..<end]))
                } else {
                    pending.append(contentsOf: bytes[start...end])
                    let number = lineCount
                    pending.withUnsafeBufferPointer { all in body(number, UnsafeBufferPointer(rebasing: all[0..<(all.count - 1)])) }
                    pending.removeAll(keepingCapacity: true)
                }
                start = end + 1
            }
            if start < bytes.count {
                pending.append(contentsOf: bytes[start...])
            }
        }
    }
}
