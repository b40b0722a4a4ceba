import Foundation
import TrainingLog

/// The files of one run: `config.json`, `<process>.jsonl`, `history.csv`, `checkpoint.safetensors`, `summary.json`.
public struct RunDirectory: Sendable {
    public static let checkpointName = "checkpoint.safetensors"
    /// The best epoch's weights (`--save-best`, `--restore-best-weights`).
    public static let bestName = "best.safetensors"
    public let path: String
    /// Whether `init` made the directory (it did not exist).
    public let created: Bool

    /// Creates the directory. A directory that already holds a run is refused unless `resuming`.
    public init(path: String, resuming: Bool) throws {
        self.path = path
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        created = !manager.fileExists(atPath: path, isDirectory: &isDirectory)
        if !created {
            guard isDirectory.boolValue else { throw TrainingError.runDirectory(path: path, reason: "exists and is not a directory") }
            let holdsRun = manager.fileExists(atPath: (path as NSString).appendingPathComponent("config.json"))
            if holdsRun && !resuming {
                throw TrainingError.runDirectory(path: path, reason: "already holds a run; pick another --run-dir or continue it with --resume \(path)")
            }
        } else {
            do {
                try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw TrainingError.runDirectory(path: path, reason: "cannot create it: \(error.localizedDescription)")
            }
        }
    }

    /// A fresh directory name under `runs/`: `runs/<prefix>-YYYYMMDD-HHMMSS`.
    public static func defaultPath(prefix: String, date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return "runs/\(prefix)-\(formatter.string(from: date))"
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    public var checkpoint: String { file(Self.checkpointName) }

    /// Removes the directory if `init` made it and nothing has been written in it since.
    public func removeIfUnused() {
        guard created, (try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty == true else { return }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes `value` as pretty-printed JSON with sorted keys.
    public func writeJSON(_ value: Any, to name: String) throws {
        let target = file(name)
        do {
            let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: target), options: .atomic)
        } catch {
            throw TrainingError.runDirectory(path: path, reason: "cannot write \(name): \(error.localizedDescription)")
        }
    }

    /// The configuration in `<directory>/config.json`, as `writeConfig` (or `backprop train`) wrote it;
    /// nil when there is none. A file that is there but unreadable is an error naming it.
    public static func readConfig(in directory: String) throws -> RunConfig? {
        let path = (directory as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let fields = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TrainingError.runDirectory(path: directory, reason: "config.json is not a JSON object")
        }
        do {
            return try RunConfig(fields: fields)
        } catch {
            throw TrainingError.runDirectory(path: directory, reason: "config.json: \(error)")
        }
    }

    /// Writes the run's configuration as `config.json`.
    public func writeConfig(_ config: RunConfig) throws {
        try writeJSON(jsonDictionary(config.fields), to: "config.json")
    }
}
