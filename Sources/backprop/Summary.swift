import ArgumentParser
import CommandSupport
import NeuralNet
import Training

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's layers, output shapes and parameter counts, like Keras's model.summary()."
    )

    @Option(help: "Model: a preset, a spec, or a model file (.yaml or .json).")
    var model = "seed-cnn"

    @Option(help: ArgumentHelp("Input image size, as train's --image-size (HxWxC, with the channels, is accepted too).", valueName: "HxW"))
    var input = "28x28"

    @Option(help: "Input colour, as train's --color: grayscale (1 channel) or rgb (3) (default: grayscale, or the C of HxWxC).")
    var color: String?

    func validate() throws {
        _ = try inputShape
    }

    /// `--input` and `--color` as a shape: HxW with the colour's channels, or HxWxC (which `--color` must agree with).
    private var inputShape: Shape {
        get throws {
            let dims = input.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
            guard (2...3).contains(dims.count), dims.allSatisfy({ ($0 ?? 0) > 0 }) else {
                throw ValidationError("--input must look like 28x28 (HxW, with --color rgb for colour) or 28x28x1, got '\(input)'")
            }
            let channels: Int
            switch color {
            case nil: channels = dims.count == 3 ? dims[2]! : 1
            case "grayscale": channels = 1
            case "rgb": channels = 3
            case let other?: throw ValidationError("--color must be grayscale or rgb, got '\(other)'")
            }
            if dims.count == 3, dims[2] != channels {
                throw ValidationError("--input \(input) has \(dims[2]!) channel\(dims[2] == 1 ? "" : "s") but --color \(color ?? "") has \(channels)")
            }
            return Shape(height: dims[0]!, width: dims[1]!, channels: channels)
        }
    }

    func run() throws {
        try runReportingErrors {
            let network = try ModelSpec.build(ModelFile.resolve(model), inputShape: inputShape)
            print(network.summary(name: model))
            for preset in ModelSpec.presets where preset.name == model {
                print("\(preset.name): \(preset.spec) — \(preset.about)")
            }
        }
    }
}
