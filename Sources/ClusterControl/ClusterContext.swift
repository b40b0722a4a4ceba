import Foundation

/// What every cluster operation works with: the settings, the launcher, the console, and whether the user asked
/// to stop (SIGINT or SIGTERM to the command).
public struct ClusterContext {
    public let settings: ClusterSettings
    public let launcher: any ClusterLauncher
    public let console: ClusterConsole
    /// True once the command was asked to stop; long waits check it.
    public let interrupted: () -> Bool

    public init(settings: ClusterSettings, launcher: any ClusterLauncher, console: ClusterConsole,
                interrupted: @escaping () -> Bool) {
        self.settings = settings
        self.launcher = launcher
        self.console = console
        self.interrupted = interrupted
    }

    /// The same context with another launcher (the one a run's records call for).
    public func with(launcher: any ClusterLauncher) -> ClusterContext {
        ClusterContext(settings: settings, launcher: launcher, console: console, interrupted: interrupted)
    }

    /// `path` as messages show it.
    public func show(_ path: String) -> String { settings.show(path) }

    /// Polls `done` every `interval` seconds until it holds or `timeout` passes (nil: no limit); returns whether it held.
    /// Returns false at once when the user asks to stop.
    public func wait(timeout: Double?, interval: Double = 0.2, until done: () -> Bool) -> Bool {
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while !done() {
            if interrupted() { return false }
            if let deadline, Date() >= deadline { return false }
            Thread.sleep(forTimeInterval: interval)
        }
        return true
    }
}
