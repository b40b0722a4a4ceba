import ArgumentParser
import Foundation
import Training
import TrainingLog

/// Where a run's files go and what it starts from: the flags `backprop train` and `backprop-server` share.
public struct RunStartOptions: ParsableArguments {
    @Option(help: "Run directory (default: runs/<command>-<date>-<time>).")
    public var runDir: String?

    @Option(help: "Start from the weights of this checkpoint (a fresh optimiser, epoch 1).")
    public var `init`: String?

    @Option(help: "Continue the run saved in this checkpoint or run directory, with its optimiser state and epoch.")
    public var resume: String?

    public init() {}

    public func validate() throws {
        if `init` != nil && resume != nil {
            throw ValidationError("--init and --resume cannot be used together")
        }
    }

    /// The run, its starting state and its directory; a checkpoint is read and checked before the directory is touched.
    ///
    /// The directory is created but nothing is written in it yet: callers write `config.json` once they are sure to run.
    ///
    /// A resumed run takes the settings in its `config.json` for every flag not given again.
    public func prepare(_ options: TrainingOptions, directoryPrefix: String) throws -> (run: PreparedRun, start: StartingState, directory: RunDirectory) {
        var config = options.config
        if let directory = resume.flatMap(runDirectory(of:)), let stored = try RunDirectory.readConfig(in: directory) {
            config = options.config(over: stored)
            try config.validate()
        }
        let run = try PreparedRun(config: config, progress: ImageFolderConsole.progress())
        for line in ImageFolderConsole.notes(for: run) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        let point: StartingPoint = `init`.map { .weights(from: $0) } ?? resume.map { .resume(from: $0) } ?? .fresh
        let start = try StartingState(point, for: run)
        let path = runDir ?? resume.flatMap(runDirectory(of:)) ?? RunDirectory.defaultPath(prefix: directoryPrefix)
        return (run, start, try RunDirectory(path: path, resuming: resume != nil))
    }

    /// The run directory's log files: `<events>` (JSON Lines), `history.csv` (trimmed to the checkpoint on a resume) and TensorBoard events.
    public func fileSinks(in directory: RunDirectory, start: StartingState, events: String, process: String) throws -> [any EventSink] {
        [
            try JSONLinesSink(path: directory.file(events), process: process),
            try HistoryCSVSink(path: directory.file("history.csv"), append: resume != nil,
                               keepingEpochsThrough: resume != nil ? start.firstEpoch : nil),
            try TensorBoardSink(directory: directory.path),
        ]
    }
}
