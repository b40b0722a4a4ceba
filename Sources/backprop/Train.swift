import ArgumentParser
import CommandSupport
import Foundation
import Training
import TrainingLog

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model in this process and write its run directory.",
        discussion: """
            Writes config.json, train.jsonl (one JSON event per line), history.csv (one row per epoch), \
            checkpoint.safetensors (after every epoch) and summary.json into the run directory.
            """
    )

    @OptionGroup var options: TrainingOptions

    @Option(help: "Run directory (default: runs/train-<date>-<time>).")
    var runDir: String?

    @Option(help: "Start from the weights of this checkpoint (a fresh optimiser, epoch 1).")
    var `init`: String?

    @Option(help: "Continue the run saved in this checkpoint or run directory, with its optimiser state and epoch.")
    var resume: String?

    @Flag(help: "Print only the final test line.")
    var quiet = false

    func validate() throws {
        if `init` != nil && resume != nil {
            throw ValidationError("--init and --resume cannot be used together")
        }
    }

    func run() throws {
        try runReportingErrors {
            let run = try PreparedRun(config: options.config)
            let startingPoint: StartingPoint = `init`.map { .weights(from: $0) } ?? resume.map { .resume(from: $0) } ?? .fresh
            let start = try StartingState(startingPoint, for: run)
            let path = runDir ?? resume.flatMap(runDirectory(of:)) ?? RunDirectory.defaultPath(prefix: "train")
            let directory = try RunDirectory(path: path, resuming: resume != nil)
            try directory.writeConfig(run.config)
            let console = ConsoleSink(epochs: run.config.epochs)
            var sinks: [any EventSink] = [
                try JSONLinesSink(path: directory.file("train.jsonl"), process: "trainer"),
                try HistoryCSVSink(path: directory.file("history.csv"), append: resume != nil, keepingEpochsThrough: resume != nil ? start.firstEpoch : nil),
                try TensorBoardSink(directory: directory.path),
            ]
            if !quiet {
                print(run.model.summary(name: run.modelName))
                print("data: \(run.dataName) - \(run.train.count) train, \(run.validation.count) validation, \(run.test.count) test samples")
                print("run directory: \(directory.path)")
                sinks.append(console)
            }
            let result = try LocalTrainer(run: run, directory: directory, start: start, sink: EventFanOut(sinks)).train()
            if quiet {
                print("test: loss \(fixed(result.testLoss)) - accuracy \(fixed(result.testAccuracy))")
            }
        }
    }
}
