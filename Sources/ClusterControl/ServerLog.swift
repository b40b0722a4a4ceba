/// Shows the server's console log (`server.log`) on the console, indented, when something went wrong.
public struct ServerLog {
    let context: ClusterContext

    public init(_ context: ClusterContext) { self.context = context }

    /// Its first 40 lines, and how many more there are.
    public func printHead(_ run: ClusterRun) {
        let lines = run.lastLines(of: "server.log", Int.max)
        guard !lines.isEmpty else {
            context.console.say("(server.log is empty)")
            return
        }
        lines.prefix(40).forEach { context.console.raw("  | " + $0) }
        if lines.count > 40 { context.console.say("(\(lines.count - 40) more line(s) in server.log)") }
    }

    /// Its last `count` lines.
    public func printTail(_ run: ClusterRun, _ count: Int = 15) {
        let lines = run.lastLines(of: "server.log", count)
        let path = context.show(run.file("server.log"))
        guard !lines.isEmpty else {
            context.console.say("\(path) is empty")
            return
        }
        context.console.say("last lines of \(path):")
        lines.forEach { context.console.raw("  | " + $0) }
    }
}
