import Foundation

/// Finds the run directory a command is about: one the user names (a path, or a name under the runs directory),
/// or the `current` link.
public struct RunLocator {
    let context: ClusterContext

    public init(_ context: ClusterContext) { self.context = context }

    /// The run `given` names (nil: the current one); fails with one line when there is none or it is no cluster run.
    public func locate(_ given: String?) throws -> ClusterRun {
        let run = try directory(given)
        guard context.launcher.holdsRecords(run) else {
            throw ClusterCommandError.failure("\(context.show(run.directory)) is not a cluster run (it has no pids/ directory)")
        }
        return run
    }

    /// The run directory `given` names (nil: the current one), whoever's records it holds; fails with one line when
    /// there is none.
    public func directory(_ given: String?) throws -> ClusterRun {
        let settings = context.settings
        let path: String
        if let given {
            let underRuns = (settings.runs as NSString).appendingPathComponent(given)
            if let found = settings.existing(given) {
                path = found
            } else if !given.hasPrefix("/"), FileManager.default.fileExists(atPath: underRuns) {
                path = underRuns
            } else {
                throw ClusterCommandError.failure("no such run directory: \(given)")
            }
        } else {
            guard FileManager.default.fileExists(atPath: settings.current) else {
                throw ClusterCommandError.failure("no current cluster run (\(context.show(settings.current)) does not exist); start one with '\(settings.commandName) start'")
            }
            path = settings.current
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue,
              let canonical = ClusterSettings.canonical(path) else {
            throw ClusterCommandError.failure("not a directory: \(given ?? path)")
        }
        return ClusterRun(directory: canonical)
    }

    /// Points `current` at `run`: by its name when it is directly in the runs directory, else by its full path.
    /// Returns where it pointed before.
    @discardableResult
    public func pointCurrent(at run: ClusterRun) -> String? {
        let runs = ClusterSettings.canonical(context.settings.runs) ?? context.settings.runs
        let current = (runs as NSString).appendingPathComponent("current")
        let previous = try? FileManager.default.destinationOfSymbolicLink(atPath: current)
        let parent = (run.directory as NSString).deletingLastPathComponent
        let target = parent == runs ? (run.directory as NSString).lastPathComponent : run.directory
        Self.link(current, to: target)
        return previous
    }

    /// Makes `path` a symbolic link to `target`, replacing what is there in one rename.
    static func link(_ path: String, to target: String) {
        let temporary = path + ".new-\(getpid())"
        try? FileManager.default.removeItem(atPath: temporary)
        guard (try? FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: target)) != nil else { return }
        if rename(temporary, path) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
    }

    /// The current run, if the `current` link points at a cluster run.
    public func current() -> ClusterRun? {
        guard let canonical = ClusterSettings.canonical(context.settings.current) else { return nil }
        let run = ClusterRun(directory: canonical)
        return context.launcher.holdsRecords(run) ? run : nil
    }
}
