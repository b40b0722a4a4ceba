import Foundation

/// Why a log file could not be written.
public struct LogFileError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// An append-only text file, flushed after every write so a crash loses at most the last line.
final class TextAppender {
    let path: String
    private let handle: FileHandle

    init(path: String, truncate: Bool) throws {
        self.path = path
        let manager = FileManager.default
        if truncate || !manager.fileExists(atPath: path) {
            guard manager.createFile(atPath: path, contents: nil) else {
                throw LogFileError(path: path, reason: "cannot create the file")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw LogFileError(path: path, reason: "cannot open the file for writing")
        }
        self.handle = handle
        handle.seekToEndOfFile()
    }

    func append(line: String) {
        handle.write(Data((line + "\n").utf8))
    }

    deinit { try? handle.close() }
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
    public init(path: String, append: Bool = false) throws {
        let exists = FileManager.default.fileExists(atPath: path)
        file = try TextAppender(path: path, truncate: !append)
        if !append || !exists {
            file.append(line: EpochRecord.columns.joined(separator: ","))
        }
    }

    public func record(_ event: TrainingEvent) {
        guard case .epoch(let record) = event else { return }
        file.append(line: record.fields.map(\.1.csv).joined(separator: ","))
    }
}
