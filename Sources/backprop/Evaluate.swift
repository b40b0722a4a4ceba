import ArgumentParser
import CommandSupport
import Datasets
import Foundation
import NeuralNet
import Training

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a checkpoint's loss and accuracy on a dataset's test set.",
        discussion: """
            Without --data, --image-size and --color, the checkpoint's own are used: the data it was trained on, \
            and for a folder the size and colour its images were decoded at. Flags given win over the checkpoint's.
            """
    )

    @Option(help: "Checkpoint file (or a run directory holding checkpoint.safetensors).")
    var checkpoint: String

    @Option(help: "Data: synthetic, synthetic10, idx:DIR or folder:DIR (default: the data the checkpoint was trained on).")
    var data: String?

    @Option(help: ArgumentHelp("folder: data: the size images are resized to (default: the checkpoint's input size).", valueName: "HxW"))
    var imageSize: String?

    @Option(help: "folder: data: grayscale or rgb (default: the checkpoint's input colour).")
    var color: String?

    @Option(help: "Model spec or preset (default: the one recorded in the checkpoint).")
    var model: String?

    @Option(parsing: .unconditional, help: "Use only the first N test samples.")
    var testLimit: Int?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let metadata = try CheckpointFile.metadata(checkpoint)
            let dataText = data ?? metadata["data"] ?? "synthetic"
            let source = try DataSource(parsing: dataText)
            let format: ImageFormat
            if case .folder = source {
                format = try folderFormat(metadata)
            } else {
                guard imageSize == nil && color == nil else {
                    throw ValidationError("--image-size and --color apply to folder:DIR data only, and the data is \(dataText)")
                }
                format = ImageFormat()
            }
            try evaluate(on: source, format: format, dataFromCheckpoint: data == nil)
        }
    }

    /// The size and colour a folder's images are decoded at: the flags, else what the model was trained on
    /// (`image_size` and `color`, or its `input_shape`), else 28x28 grayscale.
    private func folderFormat(_ metadata: [String: String]) throws -> ImageFormat {
        let input = (metadata["input_shape"] ?? "").split(separator: "x").compactMap { Int($0) }
        let trainedSize = metadata["image_size"] ?? (input.count == 3 ? "\(input[0])x\(input[1])" : nil)
        let trainedColor = metadata["color"] ?? (input.count == 3 ? (input[2] == 3 ? "rgb" : "grayscale") : nil)
        let size = imageSize ?? trainedSize ?? "28x28", colour = color ?? trainedColor ?? "grayscale"
        guard let format = ImageFormat(size: size, color: colour) else {
            if ImageFormat.Color(rawValue: colour) == nil {
                throw ValidationError("--color must be grayscale or rgb, got '\(colour)'")
            }
            throw ValidationError("--image-size must look like 28x28 (HxW, each side 1...\(ImageFormat.maximumSide)), got '\(size)'")
        }
        return format
    }

    /// The test set of `source`; when the checkpoint named it, a failure says so.
    private func load(_ source: DataSource, format: ImageFormat, dataFromCheckpoint: Bool) throws -> Dataset {
        do {
            return try Dataset.load(source, trainLimit: 1, testLimit: testLimit, images: format)
        } catch {
            guard dataFromCheckpoint else { throw error }
            throw ValidationError("\(error) (the checkpoint was trained on --data \(source); give --data to evaluate on other data)")
        }
    }

    private func evaluate(on source: DataSource, format: ImageFormat, dataFromCheckpoint: Bool) throws {
        let dataset = try load(source, format: format, dataFromCheckpoint: dataFromCheckpoint)
        let test = dataset.test
        guard test.count > 0 else {
            throw ValidationError("\(dataset.name) has no test set to evaluate on (for a folder: DIR/test/<class>/...)")
        }
        let spec = try model ?? CheckpointFile.recordedModel(checkpoint)
        let network = try ModelSpec.build(spec, inputShape: Shape(height: test.height, width: test.width, channels: test.channels))
        try checkModel(network, named: spec, fits: test.classCount, of: dataset.name, classNames: dataset.classNames)
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
