import Foundation

/// Why a log file could not be written.
public struct LogFileError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// An append-only text file; each line goes to the kernel in one `write`, so a crash loses at most the last line.
///
/// A failed write (a full disk, a size limit) never stops training: the line is lost, and the
/// first such failure is reported once on standard error.
final class TextAppender {
    let path: String
    private let fd: Int32
    private var reportedFailure = false

    init(path: String, truncate: Bool) throws {
        self.path = path
        let flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else {
            throw LogFileError(path: path, reason: "cannot open the file for writing: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
    }

    func append(line: String) {
        var bytes = Array((line + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return write(fd, base + written, raw.count - written)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if !reportedFailure {
                    reportedFailure = true
                    FileHandle.standardError.write(Data("warning: \(path): cannot write (\(String(cString: strerror(errno)))); log lines are being lost\n".utf8))
                }
                return
            }
            written += n
        }
    }

    deinit { close(fd) }
}

/// Writes each event as one JSON Lines record: `{"time":<unix seconds>,"event":…,"process":…,…}`.
public final class JSONLinesSink: EventSink {
    private let file: TextAppender
    private let process: String
    private let clock: () -> Double

    /// Appends to `path` (created if missing); `process` names the writer, e.g. `trainer`, `server`, `worker-3`.
    public init(path: String, process: String, clock: @escaping () -> Double = { Date().timeIntervalSince1970 }) throws {
        file = try TextAppender(path: path, truncate: false)
        self.process = process
        self.clock = clock
    }

    public func record(_ event: TrainingEvent) {
        let head: [(String, LogValue)] = [("time", .double(clock())), ("event", .string(event.kind)), ("process", .string(process))]
        file.append(line: jsonObject(head + event.fields))
    }
}

/// Writes `history.csv`: a header, then one row per epoch (Keras's History as a table).
public final class HistoryCSVSink: EventSink {
    private let file: TextAppender

    /// Starts `path` afresh with the header row, or appends to it when `append` is set (a resumed run).
    ///
    /// A resumed run passes `keepingEpochsThrough`: rows of later epochs, written by a run that
    /// died before checkpointing them, are dropped, since the resumed run writes them again.
    /// A file written before the last columns were added (no `learning_rate`) gets today's header,
    /// and its rows an empty cell for each column they lack, so that every row has every column.
    public init(path: String, append: Bool = false, keepingEpochsThrough: Int? = nil) throws {
        let existing = append ? (try? String(contentsOfFile: path, encoding: .utf8)) : nil
        let lines = existing?.split(separator: "\n") ?? []
        let oldColumns = lines.first.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
        let columns = EpochRecord.columns
        let older = oldColumns.count < columns.count && Array(columns.prefix(oldColumns.count)) == oldColumns
        let rewrite = existing == nil || keepingEpochsThrough != nil || older
        var keep: [String] = []
        if rewrite {
            let padding = older ? String(repeating: ",", count: columns.count - oldColumns.count) : ""
            keep = lines.dropFirst().filter { row in
                guard let last = keepingEpochsThrough else { return true }
                guard let epoch = Int(row.prefix { $0 != "," }) else { return false }
                return epoch <= last
            }.map { String($0) + padding }
        }
        file = try TextAppender(path: path, truncate: rewrite)
        if rewrite {
            file.append(line: columns.joined(separator: ","))
            keep.forEach { file.append(line: $0) }
        }
    }

    public func record(_ event: TrainingEvent) {
        guard case .epoch(let record) = event else { return }
        file.append(line: record.row.map(\.csv).joined(separator: ","))
    }
}
