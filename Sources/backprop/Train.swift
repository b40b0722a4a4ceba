import ArgumentParser
import CommandSupport
import Foundation
import NeuralNet
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

    @OptionGroup var start: RunStartOptions

    @Option(parsing: .unconditional, help: "Threads computing microbatches at once, 1 to 64. The weights are the same bits with any number.")
    var threads = 1

    @Flag(help: "Print only the final test line.")
    var quiet = false

    func validate() throws {
        guard (1...64).contains(threads) else {
            throw ValidationError("--threads must be between 1 and 64, got \(threads)")
        }
    }

    func run() throws {
        try runReportingErrors {
            let (run, state, directory) = try start.prepare(options, directoryPrefix: "train")
            // The run's settings, and how this process computed it (which does not change its results).
            try directory.writeJSON(jsonDictionary(run.config.fields + [("threads", .int(threads)), ("kernels", .string(kernelVariant))]), to: "config.json")
            let console = ConsoleSink(epochs: run.config.epochs)
            var sinks = try start.fileSinks(in: directory, start: state, events: "train.jsonl", process: "trainer")
            if !quiet {
                print(run.model.summary(name: run.modelName))
                print("data: \(run.dataName) - \(run.train.count) train, \(run.validation.count) validation, \(run.test.count) test samples")
                print("run directory: \(directory.path)")
                sinks.append(console)
            }
            let result = try LocalTrainer(run: run, directory: directory, start: state, threads: threads, sink: EventFanOut(sinks)).train()
            if quiet {
                print(run.test.count == 0 ? "test: no test set"
                      : "test: loss \(fixed(result.testLoss)) - accuracy \(fixed(result.testAccuracy))")
            }
        }
    }
}
