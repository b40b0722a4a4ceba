import ArgumentParser
import CommandSupport
import Datasets
import Foundation
import NeuralNet
import Training

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify image files with a checkpoint's model: the class name and its probability for each file.",
        discussion: """
            Each JPEG or PNG file is decoded and resized as training decoded the folder (the checkpoint records the \
            image size, colour and class names). A directory stands for its image files, at any depth. A file that \
            cannot be decoded is reported and the others are still classified; the exit code is then 1.
            """
    )

    @Option(help: "Checkpoint file (or a run directory holding checkpoint.safetensors).")
    var checkpoint: String

    @Argument(help: ArgumentHelp("Image files, or directories of them.", valueName: "FILE_OR_DIR"))
    var paths: [String]

    @Flag(help: "Print one JSON object per line: file, class, class_index, probability, outputs (the model's whole output), or file and error.")
    var json = false

    /// The most images decoded and classified at once (fewer for a model whose workspace would pass 256 MB).
    private static let batch = 64

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("give at least one image file or directory") }
    }

    func run() throws {
        var failed = 0
        try runReportingErrors {
            let metadata = try CheckpointFile.metadata(checkpoint)
            let spec = try CheckpointFile.recordedModel(checkpoint)
            let dimensions = (metadata["input_shape"] ?? "").split(separator: "x").compactMap { Int($0) }
            guard dimensions.count == 3, dimensions[2] == 1 || dimensions[2] == 3,
                  let format = ImageFormat(size: "\(dimensions[0])x\(dimensions[1])", color: dimensions[2] == 3 ? "rgb" : "grayscale")
            else { throw ValidationError("\(checkpoint): the checkpoint records no image input shape (input_shape \(metadata["input_shape"] ?? "missing"))") }
            let network = try ModelSpec.build(spec, inputShape: Shape(dimensions))
            let saved = try CheckpointFile.read(checkpoint, fitting: network)
            let outputs = network.outputShape.count
            let classCount = outputs == 1 ? 2 : outputs
            let names = metadata["class_names"].flatMap(ClassNames.decode).flatMap { $0.count == classCount ? $0 : nil }
                ?? (0..<classCount).map(String.init)

            let workspace = Workspace(model: network, capacity: Workspace.capacity(for: network, fitting: 256 << 20, limit: Self.batch), gradients: false)
            let files = ImageFiles.list(paths)
            var start = 0
            while start < files.count {
                let chunk = files[start..<min(start + workspace.capacity, files.count)]
                start = chunk.endIndex
                // Decode the chunk on every core, classify what decoded, then report every file in the order given.
                var problems: [String?] = []
                var decoded = 0
                for result in ImageFiles.decode(Array(chunk), format: format) {
                    switch result {
                    case let .success(pixels):
                        let input = workspace.input + decoded * format.sampleSize
                        for i in 0..<pixels.count { input[i] = Float(pixels[i]) / 255 }
                        decoded += 1
                        problems.append(nil)
                    case let .failure(problem):
                        problems.append(problem.reason)
                    }
                }
                let output = decoded == 0 ? nil : saved.parameters.withUnsafeBufferPointer { parameters in
                    network.forward(parameters: parameters.baseAddress!, workspace: workspace, batch: decoded)
                }
                var row = 0
                for (file, problem) in zip(chunk, problems) {
                    if let problem {
                        failed += 1
                        try report(file: file, error: problem)
                        continue
                    }
                    guard let output else { continue }
                    let scores = UnsafeBufferPointer(start: output + row * outputs, count: outputs)
                    row += 1
                    let (label, probability): (Int, Float)
                    if outputs == 1 {
                        (label, probability) = scores[0] >= 0.5 ? (1, scores[0]) : (0, 1 - scores[0])
                    } else {
                        let best = scores.indices.max { scores[$0] < scores[$1] } ?? 0
                        (label, probability) = (best, scores[best])
                    }
                    try report(file: file, label: label, name: names[label], probability: probability, outputs: Array(scores))
                }
            }
            if failed > 0 {
                FileHandle.standardError.write(Data("\(failed) of \(files.count) file\(files.count == 1 ? "" : "s") could not be classified\n".utf8))
            }
        }
        if failed > 0 { throw ExitCode.failure }
    }

    private func report(file: String, label: Int, name: String, probability: Float, outputs: [Float]) throws {
        if json {
            try printJSON(["file": file, "class": name, "class_index": label, "probability": Double(probability),
                           "outputs": outputs.map(Double.init)])
        } else {
            print("\(file): \(name) (\(fixed(Double(probability))))")
        }
    }

    private func report(file: String, error: String) throws {
        if json {
            try printJSON(["file": file, "error": error])
        } else {
            FileHandle.standardError.write(Data("\(file): cannot classify: \(error)\n".utf8))
        }
    }

    private func printJSON(_ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    }
}
