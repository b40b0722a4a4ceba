import ArgumentParser
import CommandSupport
import Datasets
import Foundation
import NeuralNet
import Training

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a checkpoint's loss and accuracy on a dataset's test set."
    )

    @Option(help: "Checkpoint file (or a run directory holding checkpoint.safetensors).")
    var checkpoint: String

    @Option(help: "Data: synthetic, synthetic10, idx:DIR or folder:DIR (a folder's images at the checkpoint's size and colour).")
    var data = "synthetic"

    @Option(help: "Model spec or preset (default: the one recorded in the checkpoint).")
    var model: String?

    @Option(parsing: .unconditional, help: "Use only the first N test samples.")
    var testLimit: Int?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let source = try DataSource(parsing: data)
            // Images from a folder are decoded at the size and colour the model was trained on.
            let metadata = try CheckpointFile.metadata(checkpoint)
            let format = metadata["image_size"].flatMap { ImageFormat(size: $0, color: metadata["color"] ?? "grayscale") } ?? ImageFormat()
            let dataset = try Dataset.load(source, trainLimit: 1, testLimit: testLimit, images: format)
            let test = dataset.test
            guard test.count > 0 else {
                throw ValidationError("\(dataset.name) has no test set to evaluate on (for a folder: DIR/test/<class>/...)")
            }
            let spec = try model ?? CheckpointFile.recordedModel(checkpoint)
            let network = try ModelSpec.build(spec, inputShape: Shape(height: test.height, width: test.width, channels: test.channels))
            try checkModel(network, named: spec, fits: test.classCount, of: dataset.name)
            let saved = try CheckpointFile.read(checkpoint, fitting: network)
            let metrics = Training.evaluate(model: network, parameters: saved.parameters, on: test, workspace: Workspace(model: network, capacity: Workspace.capacity(for: network, fitting: 256 << 20, limit: 256), gradients: false))
            if json {
                let object: [String: Any] = ["loss": metrics.meanLoss, "accuracy": metrics.accuracy, "samples": metrics.count,
                                             "checkpoint": checkpoint, "data": dataset.name, "model": spec]
                let text = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: text, as: UTF8.self))
            } else {
                print("\(dataset.name) test: loss \(fixed(metrics.meanLoss)) - accuracy \(fixed(metrics.accuracy)) (\(metrics.count) samples)")
            }
        }
    }
}
