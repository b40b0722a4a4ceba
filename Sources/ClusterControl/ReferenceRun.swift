import Foundation

/// Trains a run's training flags undisturbed with `backprop train` into `RUN/reference/` and compares the final
/// checkpoints byte for byte.
public struct ReferenceRun {
    let context: ClusterContext
    /// The `backprop` executable.
    let program: String

    public init(_ context: ClusterContext, program: String) {
        self.context = context
        self.program = program
    }

    /// Trains the reference. Throws `.reported` when it fails, `.interrupted` (after stopping it) when asked to stop.
    public func train(_ run: ClusterRun, flags: ServerArguments) throws {
        let console = context.console
        let directory = run.file("reference")
        console.chaos("training the undisturbed reference: backprop train \(flags.arguments.joined(separator: " ")) (into \(context.show(directory)))")
        try? FileManager.default.removeItem(atPath: directory)
        let pid = try DetachedProcess.spawn(program, ["train"] + flags.arguments + ["--run-dir", directory, "--quiet"],
                                            log: run.file("reference.log"), append: false)
        var status: Int32?
        while status == nil {
            if context.interrupted() {
                kill(pid, SIGTERM)
                while DetachedProcess.reap(pid) == nil { Thread.sleep(forTimeInterval: 0.1) }
                throw ClusterCommandError.interrupted
            }
            Thread.sleep(forTimeInterval: 0.1)
            status = DetachedProcess.reap(pid)
        }
        if status != 0 || !run.exists("reference/checkpoint.safetensors") {
            console.chaos("the reference run failed (exit code \(status ?? -1)); the end of \(context.show(run.file("reference.log"))):")
            run.lastLines(of: "reference.log", 10).forEach { console.raw("  | " + $0) }
            throw ClusterCommandError.reported
        }
    }

    /// nil when the two checkpoints are the same bytes, else where they first differ.
    public func difference(_ run: ClusterRun) -> String? {
        let ours = run.file("checkpoint.safetensors"), reference = run.file("reference/checkpoint.safetensors")
        guard let a = FileManager.default.contents(atPath: ours) else { return "\(context.show(ours)) is missing" }
        guard let b = FileManager.default.contents(atPath: reference) else { return "\(context.show(reference)) is missing" }
        if a == b { return nil }
        if let index = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            return "the files first differ at byte \(index + 1)"
        }
        return "one file is a prefix of the other (\(a.count) and \(b.count) bytes)"
    }
}
