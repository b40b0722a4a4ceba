import Foundation

/// Where a cluster command's words go: progress for people (standard error, `cluster: …`) and results a caller
/// may capture (standard output). The executable decides where each really goes; tests collect them.
public final class ClusterConsole: @unchecked Sendable {
    private let progressLine: (String) -> Void
    private let resultLine: (String) -> Void

    public init(progress: @escaping (String) -> Void, result: @escaping (String) -> Void) {
        progressLine = progress
        resultLine = result
    }

    /// A progress line, prefixed `cluster: `.
    public func say(_ text: String) { progressLine("cluster: " + text) }

    /// A line of `chaos`, prefixed `chaos: `; with `clock`, the time of day follows the prefix.
    public func chaos(_ text: String, clock: Bool = false) {
        progressLine("chaos: " + (clock ? Self.timeOfDay() + " " : "") + text)
    }

    /// A progress line as it is (a blank one, an indented log excerpt).
    public func raw(_ text: String) { progressLine(text) }

    /// A result line on standard output.
    public func result(_ text: String) { resultLine(text) }

    /// `HH:MM:SS`, local time.
    public static func timeOfDay(_ date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: date)
    }
}
