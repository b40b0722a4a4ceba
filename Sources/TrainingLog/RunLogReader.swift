import Foundation

/// A line of a log that was skipped, and why.
public struct LogProblem: Sendable, Equatable, CustomStringConvertible {
    /// The file's name within the run directory.
    public var file: String
    public var line: Int
    public var reason: String
    public var description: String { "\(file) line \(line): \(reason)" }

    public init(file: String, line: Int, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }
}

/// What kind of process wrote a run directory.
public enum RunKind: String, Sendable {
    /// `backprop-server` and workers: `server.jsonl`, `worker-<id>.jsonl`.
    case cluster
    /// `backprop train`: `train.jsonl`.
    case single
}

/// Reads a run directory's logs, and reads them again as they grow.
///
/// `refresh()` reads whatever was appended to `server.jsonl` (or `train.jsonl`) and every
/// `worker-<id>.jsonl` since the last call, a chunk at a time, and folds it into `log`. A line
/// that does not parse is skipped and listed in `problems`; the bytes after the last newline
/// wait for the next refresh, and `finish()` reports them as a torn line.
public final class RunLogReader {
    public let directory: String
    public private(set) var log = RunLog()
    public private(set) var kind: RunKind?
    /// Skipped lines (the first 20; `problemCount` counts them all).
    public private(set) var problems: [LogProblem] = []
    public private(set) var problemCount = 0
    /// Events of kinds this version does not know, skipped.
    public private(set) var unknownEvents = 0
    private var main: JSONLinesReader?
    private var workerFiles: [Int: JSONLinesReader] = [:]
    private var finished = false

    public static let serverLog = "server.jsonl"
    public static let trainerLog = "train.jsonl"

    /// Fails if `directory` is not a directory; the logs in it may appear later.
    public init(directory: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw LogFileError(path: directory, reason: "no such run directory")
        }
        guard isDirectory.boolValue else { throw LogFileError(path: directory, reason: "not a directory") }
        self.directory = directory
    }

    /// Reads a whole run directory as it is now, torn last lines included.
    public static func read(_ directory: String) throws -> RunLogReader {
        let reader = try RunLogReader(directory: directory)
        try reader.refresh()
        reader.finish()
        guard reader.kind != nil else {
            throw LogFileError(path: directory, reason: "no \(serverLog) or \(trainerLog): not a Backprop run directory")
        }
        return reader
    }

    public func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// The main log's path, once it exists.
    public var mainLogPath: String? { main?.path }

    /// Worker ids that have a log file here.
    public var workerLogIDs: [Int] { workerFiles.keys.sorted() }

    /// Reads what the logs gained since the last call; returns whether there was anything new.
    @discardableResult
    public func refresh() throws -> Bool {
        if main == nil {
            for (name, kind) in [(Self.serverLog, RunKind.cluster), (Self.trainerLog, RunKind.single)]
            where FileManager.default.fileExists(atPath: file(name)) {
                main = JSONLinesReader(path: file(name))
                self.kind = kind
                break
            }
        }
        var grew = false
        if let main {
            let name = (main.path as NSString).lastPathComponent
            grew = try main.readNewLines { number, bytes in take(bytes, line: number, file: name, worker: nil) } || grew
        }
        for id in try discoverWorkerLogs() {
            guard let reader = workerFiles[id] else { continue }
            grew = try reader.readNewLines { number, bytes in take(bytes, line: number, file: "worker-\(id).jsonl", worker: id) } || grew
        }
        return grew
    }

    /// Takes the bytes after each file's last newline as a final line: read if complete, else reported as torn.
    /// Call once, when the logs will not grow any more (or to read a live run as it is now).
    public func finish() {
        guard !finished else { return }
        finished = true
        var readers: [(JSONLinesReader, Int?)] = main.map { [($0, nil)] } ?? []
        readers += workerFiles.keys.sorted().compactMap { id in workerFiles[id].map { ($0, id) } }
        for (reader, worker) in readers {
            let name = (reader.path as NSString).lastPathComponent
            let count = reader.tailByteCount
            reader.withTail { number, bytes in
                if (try? LogLine.parse(bytes)) != nil {
                    take(bytes, line: number, file: name, worker: worker)
                } else {
                    report(LogProblem(file: name, line: number,
                                      reason: "the last line is incomplete (\(count) bytes, no newline): torn by a crash or still being written; skipped"))
                }
            }
        }
    }

    private func discoverWorkerLogs() throws -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasPrefix("worker-") && name.hasSuffix(".jsonl") {
            guard let id = Int(name.dropFirst(7).dropLast(6)), workerFiles[id] == nil else { continue }
            workerFiles[id] = JSONLinesReader(path: file(name))
        }
        return workerFiles.keys.sorted()
    }

    private func take(_ bytes: UnsafeBufferPointer<UInt8>, line number: Int, file name: String, worker: Int?) {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
        do {
            let line = try LogLine.parse(bytes)
            guard let event = try LoggedEvent(line: line) else {
                unknownEvents += 1
                return
            }
            if let worker { log.ingest(event, fromWorker: worker) } else { log.ingest(event) }
        } catch {
            report(LogProblem(file: name, line: number, reason: "\(error); skipped"))
        }
    }

    private func report(_ problem: LogProblem) {
        problemCount += 1
        if problems.count < 20 { problems.append(problem) }
    }

    // MARK: - Status

    /// `summary.json`'s test figures, once the run has written it.
    public func summaryFile() -> (testLoss: Double, testAccuracy: Double)? {
        guard let data = FileManager.default.contents(atPath: file("summary.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        let loss = (object["test_loss"] as? NSNumber)?.doubleValue ?? .nan
        let accuracy = (object["test_accuracy"] as? NSNumber)?.doubleValue ?? .nan
        return (loss, accuracy)
    }

    /// Whether the process writing this run is still alive (see `RunLiveness`).
    public func writerIsAlive() -> Bool {
        if let path = main?.path, RunLiveness.someProcessWrites(path) == true { return true }
        let endpoint = file("endpoint")
        if FileManager.default.fileExists(atPath: endpoint) { return RunLiveness.endpointAnswers(endpoint) }
        if let path = main?.path, RunLiveness.someProcessWrites(path) == nil, let last = log.lastTime {
            // No /proc here: a log written to in the last two minutes counts as live.
            return Date().timeIntervalSince1970 - last < 120
        }
        return false
    }

    /// The one-line verdict, asking the system whether the writer is alive when it matters.
    public func verdict(now: Double = Date().timeIntervalSince1970, zone: TimeZone = .current) -> RunVerdict {
        RunVerdict(log: log, kind: kind ?? .cluster, summary: summaryFile(), writerAlive: { self.writerIsAlive() }, now: now, zone: zone)
    }
}
