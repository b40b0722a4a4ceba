import Foundation
import TrainingLog

/// The files of one run: `config.json`, `<process>.jsonl`, `history.csv`, `checkpoint.safetensors`, `summary.json`.
public struct RunDirectory: Sendable {
    public static let checkpointName = "checkpoint.safetensors"
    public let path: String
    /// Whether `init` made the directory (it did not exist).
    public let created: Bool

    /// Creates the directory. A directory that already holds a run is refused unless `resuming`.
    public init(path: String, resuming: Bool) throws {
        self.path = path
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        created = !manager.fileExists(atPath: path)
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
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

    /// Removes the directory if `init` made it and nothing has been written in it since.
    public func removeIfUnused() {
        guard created, (try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty == true else { return }
        try? FileManager.default.removeItem(atPath: path)
    }
    public var checkpoint: String { file(Self.checkpointName) }

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
        func value<T>(_ key: String, _ type: T.Type) throws -> T? {
            guard let raw = fields[key] else { return nil }
            guard let typed = raw as? T else { throw TrainingError.runDirectory(path: directory, reason: "config.json: \(key) is \(raw)") }
            return typed
        }
        var config = RunConfig()
        if let model = try value("model", String.self) { config.model = model }
        if let data = try value("data", String.self) { config.data = data }
        if let epochs = try value("epochs", Int.self) { config.epochs = epochs }
        if let batch = try value("batch_size", Int.self) { config.batchSize = batch }
        if let microbatch = try value("microbatch", Int.self) { config.microbatch = microbatch }
        if let rate = try value("learning_rate", Double.self) { config.learningRate = rate }
        if let optimizer = try value("optimizer", String.self) { config.optimizer = optimizer }
        if let momentum = try value("momentum", Double.self) { config.momentum = momentum }
        if let seed = try value("seed", String.self) {
            guard let parsed = UInt64(seed) else { throw TrainingError.runDirectory(path: directory, reason: "config.json: seed is \(seed)") }
            config.seed = parsed
        }
        if let split = try value("validation_split", Double.self) { config.validationSplit = split }
        config.trainLimit = try value("train_limit", Int.self)
        config.testLimit = try value("test_limit", Int.self)
        config.checkpointEvery = try value("checkpoint_every", Int.self)
        return config
    }

    /// Writes the run's configuration as `config.json`.
    public func writeConfig(_ config: RunConfig) throws {
        try writeJSON(jsonDictionary(config.fields), to: "config.json")
    }
}
