import Foundation

/// Where `backprop cluster` finds things and how long it waits: the values its executable reads from the
/// environment (`CLUSTER_RUNS`, `CLUSTER_START_TIMEOUT`, …) and from where it was called, passed down as one value.
public struct ClusterSettings: Sendable {
    /// The repository: relative config paths not found in `workingDirectory` are looked up here.
    public var repository: String
    /// The directory the command was called from; relative paths the user gives start here.
    public var workingDirectory: String
    /// Where new runs and the `current` link go (absolute).
    public var runs: String
    /// Seconds to wait for a starting server to write its endpoint file.
    public var startTimeout: Double = 30
    /// Seconds between SIGTERM and SIGKILL when stopping.
    public var stopTimeout: Double = 10
    /// Seconds `chaos` waits for the server to log anything before it gives up.
    public var stallTimeout: Double = 60
    /// How the user calls the cluster command, for hints in messages (`scripts/cluster`).
    public var commandName = "scripts/cluster"

    public init(repository: String, workingDirectory: String, runs: String? = nil) {
        self.repository = repository
        self.workingDirectory = workingDirectory
        let given = runs ?? (repository as NSString).appendingPathComponent("runs")
        let absolute = given.hasPrefix("/") ? given : (workingDirectory as NSString).appendingPathComponent(given)
        self.runs = Self.canonical(absolute) ?? absolute
    }

    /// The `current` link: the latest run started.
    public var current: String { (runs as NSString).appendingPathComponent("current") }

    /// `path` relative to the working directory when it is inside it, else as it is.
    public func show(_ path: String) -> String {
        let prefix = workingDirectory.hasSuffix("/") ? workingDirectory : workingDirectory + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }

    /// `path` made absolute against the working directory.
    public func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : (workingDirectory as NSString).appendingPathComponent(path)
    }

    /// An existing file the user named: relative to the working directory first, then to the repository.
    public func existing(_ path: String) -> String? {
        let candidates = path.hasPrefix("/") ? [path] : [absolute(path), (repository as NSString).appendingPathComponent(path)]
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The canonical path of an existing file or directory (symbolic links resolved).
    public static func canonical(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
