import Foundation

/// Copies what a growing file gains to a sink, line by line, like `tail -f`.
public final class LogTail {
    public let path: String
    private var offset: UInt64 = 0
    private var pending = Data()

    public init(path: String) { self.path = path }

    /// Passes each complete new line to `line`; with `flush`, a last line without a newline too.
    public func drain(flush: Bool = false, _ line: (String) -> Void) {
        if let handle = FileHandle(forReadingAtPath: path) {
            defer { try? handle.close() }
            try? handle.seek(toOffset: offset)
            if let data = try? handle.readToEnd(), !data.isEmpty {
                offset += UInt64(data.count)
                pending.append(data)
            }
        }
        while let newline = pending.firstIndex(of: 0x0A) {
            line(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
            pending.removeSubrange(pending.startIndex...newline)
        }
        if flush && !pending.isEmpty {
            line(String(decoding: pending, as: UTF8.self))
            pending.removeAll()
        }
    }
}
