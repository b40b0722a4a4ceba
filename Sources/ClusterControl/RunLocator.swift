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

    /// The current run, if the `current` link points at a cluster run.
    public func current() -> ClusterRun? {
        guard let canonical = ClusterSettings.canonical(context.settings.current) else { return nil }
        let run = ClusterRun(directory: canonical)
        return context.launcher.holdsRecords(run) ? run : nil
    }
}
