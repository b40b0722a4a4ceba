import ArgumentParser
import CommandSupport
import Foundation
import ModelExport
import NeuralNet
import SwiftProtobuf
import Training

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's model for other runtimes: ONNX (onnxruntime, phones, browsers) or PyTorch.",
        discussion: """
            --onnx FILE writes an ONNX model (opset 13) whose input `image` is (N, height, width, channels), \
            channels last, float32 pixels in [0, 1] (the byte value / 255), and whose output `probabilities` is the \
            model's final sigmoid or softmax. --pytorch DIR writes model.safetensors in PyTorch's names and layouts and \
            model.py, the matching torch.nn.Module, which takes (N, channels, height, width). An existing output is \
            replaced only with --force; nothing is written when the export fails.
            """
    )

    @Option(help: "Checkpoint file (or a run directory holding checkpoint.safetensors).")
    var checkpoint: String

    @Option(help: ArgumentHelp("Write an ONNX model to this file.", valueName: "FILE"))
    var onnx: String?

    @Option(help: ArgumentHelp("Write PyTorch weights and module into this directory.", valueName: "DIR"))
    var pytorch: String?

    @Flag(help: "Replace an existing output.")
    var force = false

    func validate() throws {
        guard (onnx == nil) != (pytorch == nil) else { throw ValidationError("give one of --onnx FILE and --pytorch DIR") }
    }

    func run() throws {
        try runReportingErrors {
            let metadata = try CheckpointFile.metadata(checkpoint)
            let spec = try CheckpointFile.recordedModel(checkpoint)
            let dimensions = (metadata["input_shape"] ?? "").split(separator: "x").compactMap { Int($0) }
            guard !dimensions.isEmpty, dimensions.allSatisfy({ $0 > 0 }) else {
                throw ExportError("\(checkpoint): the checkpoint records no input shape (input_shape \(metadata["input_shape"] ?? "missing"))")
            }
            let model = try ModelSpec.build(spec, inputShape: Shape(dimensions))
            let saved = try CheckpointFile.read(checkpoint, fitting: model)
            if let onnx {
                try refuseExisting(onnx)
                var properties = [("model", spec), ("input_layout", "NHWC"), ("pixel_scale", "byte / 255, in [0, 1]")]
                for key in ["class_names", "image_size", "color"] { if let value = metadata[key] { properties.append((key, value)) } }
                let proto = try ONNXExport.model(model, parameters: saved.parameters, properties: properties)
                try write([UInt8](try proto.serializedBytes() as [UInt8]), to: onnx)
                print("wrote \(onnx): ONNX opset \(ONNXExport.opset), input \(ONNXExport.inputName) (N, \(dimensions.map(String.init).joined(separator: ", "))), output \(ONNXExport.outputName)")
            } else if let pytorch {
                let weights = (pytorch as NSString).appendingPathComponent(PyTorchExport.weightsFile)
                let module = (pytorch as NSString).appendingPathComponent(PyTorchExport.moduleFile)
                try refuseExisting(weights)
                try refuseExisting(module)
                let (tensors, source) = try PyTorchExport.export(model, parameters: saved.parameters)
                try FileManager.default.createDirectory(atPath: pytorch, withIntermediateDirectories: true)
                try write(SafeTensorsFile(metadata: ["format": "pt"], tensors: tensors).encoded(), to: weights)
                try write(Array(source.utf8), to: module)
                print("wrote \(weights) and \(module)")
            }
        }
    }

    private func refuseExisting(_ path: String) throws {
        if !force && FileManager.default.fileExists(atPath: path) {
            throw ExportError("\(path) exists; pass --force to replace it")
        }
    }

    /// Writes `bytes` to a temporary file beside `path`, then renames it: never a partial file.
    private func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
            throw ExportError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ExportError("cannot write \(path): \(reason)")
        }
    }
}
