import Foundation

/// A cluster's run directory and the files in it that `backprop cluster` reads and writes.
///
/// Besides the server's own files (`config.json`, `server.jsonl`, `summary.json`, `endpoint`, …) it holds each
/// process's console log (`server.log`, `worker-<k>.log`) and `cluster.txt`: the definition used, the server's
/// command line and the worker settings, as `key=value` lines.
public struct ClusterRun: Sendable, Equatable {
    /// The absolute, canonical path.
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    public func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }

    /// The server wrote `summary.json`: training finished.
    public var isFinished: Bool { exists("summary.json") }

    /// The server's TCP address while it listens, with a wildcard host made the loopback address.
    public var endpoint: String? {
        guard var text = firstLine(of: "endpoint"), text.hasPrefix("tcp://"), text.dropFirst(6).contains(":") else { return nil }
        for wildcard in ["tcp://*:", "tcp://0.0.0.0:"] where text.hasPrefix(wildcard) {
            text = "tcp://127.0.0.1:" + text.dropFirst(wildcard.count)
        }
        return text
    }

    /// The server's Unix socket address (`ipc://…`), for workers on this machine.
    public var localEndpoint: String? {
        firstLine(of: "local-endpoint").flatMap { $0.hasPrefix("ipc://") ? $0 : nil }
    }

    /// The value recorded for `key` in `cluster.txt` (the first one).
    public func info(_ key: String) -> String? {
        guard let text = try? String(contentsOfFile: file("cluster.txt"), encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    /// Appends `key=value` lines to `cluster.txt`.
    public func record(_ entries: [(String, String)]) {
        append(entries.map { "\($0)=\($1)\n" }.joined(), to: "cluster.txt")
    }

    /// Appends `text` to the file `name` (created if missing).
    public func append(_ text: String, to name: String) {
        let path = file(name)
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: Data(text.utf8))
    }

    /// The last `count` lines of the file `name` (none if it is missing).
    public func lastLines(of name: String, _ count: Int) -> [String] {
        guard let text = try? String(contentsOfFile: file(name), encoding: .utf8) else { return [] }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let trimmed = lines.last == "" ? Array(lines.dropLast()) : lines
        return Array(trimmed.suffix(count))
    }

    private func firstLine(of name: String) -> String? {
        guard let text = try? String(contentsOfFile: file(name), encoding: .utf8) else { return nil }
        let line = text.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) }
        return line?.isEmpty == false ? line : nil
    }
}
