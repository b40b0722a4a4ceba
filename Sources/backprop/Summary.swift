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

    @Option(help: "Input shape HxWxC.")
    var input = "28x28x1"

    func run() throws {
        let dims = input.split(separator: "x").compactMap { Int($0) }
        guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--input must look like 28x28x1, got '\(input)'")
        }
        try runReportingErrors {
            let network = try ModelSpec.build(ModelFile.resolve(model), inputShape: Shape(dims))
            print(network.summary(name: model))
            for preset in ModelSpec.presets where preset.name == model {
                print("\(preset.name): \(preset.spec) — \(preset.about)")
            }
        }
    }
}
