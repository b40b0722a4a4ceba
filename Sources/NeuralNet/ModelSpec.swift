/// Builds models from a short text spec or a named preset.
///
/// Grammar (layers separated by commas, no spaces):
///
///     spec       := layer ("," layer)*
///     layer      := conv | maxpool | "flatten" | dense | activation
///     conv       := "conv" FILTERS "x" KERNEL ["same" | "valid"] ["-" activation]
///     maxpool    := "maxpool" SIZE
///     dense      := "dense" UNITS ["-" activation]
///     activation := "relu" | "sigmoid" | "softmax"
///
/// `conv32x3-relu` is a Conv2D of 32 filters 3x3 (`valid`) followed by a ReLU layer.
/// Unless given, the loss follows the final activation: sigmoid → binary cross-entropy,
/// softmax → softmax cross-entropy, anything else → mean squared error.
public enum ModelSpec {
    /// A named model.
    public struct Preset: Sendable {
        public let name: String
        public let spec: String
        public let about: String
    }

    public static let presets: [Preset] = [
        Preset(name: "seed-cnn", spec: "conv32x3-relu,maxpool2,flatten,dense1-sigmoid",
               about: "the Keras model of the seed documents: two classes, binary cross-entropy"),
        Preset(name: "mnist-cnn", spec: "conv32x3-relu,maxpool2,flatten,dense10-softmax",
               about: "the same trunk with ten classes, softmax cross-entropy"),
        Preset(name: "large-cnn", spec: "conv32x3-relu,conv64x3-relu,maxpool2,flatten,dense128-relu,dense10-softmax",
               about: "about 1.2 M parameters, for benchmarks"),
    ]

    /// The spec text of a preset name, or the text itself if it is not a preset.
    public static func resolve(_ specOrPreset: String) -> String {
        presets.first { $0.name == specOrPreset }?.spec ?? specOrPreset
    }

    /// Builds the model `specOrPreset` describes for inputs of `inputShape`.
    public static func build(_ specOrPreset: String, inputShape: Shape, loss: Loss? = nil) throws -> Sequential {
        let spec = resolve(specOrPreset)
        var layers: [any Layer] = []
        var shape = inputShape
        func add(_ layer: any Layer) {
            layers.append(layer)
            shape = layer.outputShape
        }
        let tokens = spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !spec.isEmpty else { throw ModelError.badSpec("the spec is empty; try a preset: \(presetNames)") }
        for token in tokens {
            let parts = token.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 2, let head = parts.first, !head.isEmpty else {
                throw ModelError.badSpec("cannot read '\(token)' in '\(specOrPreset)'")
            }
            add(try layer(head, input: shape, in: specOrPreset))
            if parts.count == 2 {
                guard head.hasPrefix("conv") || head.hasPrefix("dense") else {
                    throw ModelError.badSpec("only conv and dense take an activation suffix, in '\(token)'")
                }
                add(try activation(parts[1], input: shape, in: specOrPreset))
            }
        }
        let chosenLoss = loss ?? {
            switch layers.last?.kind {
            case "sigmoid": return .binaryCrossEntropy
            case "softmax": return .softmaxCrossEntropy
            default: return .meanSquaredError
            }
        }()
        return try Sequential(inputShape: inputShape, layers: layers, loss: chosenLoss, spec: spec)
    }

    static var presetNames: String { presets.map(\.name).joined(separator: ", ") }

    private static func layer(_ text: String, input: Shape, in spec: String) throws -> any Layer {
        if text == "flatten" { return Flatten(inputShape: input) }
        if let rest = text.dropPrefix("maxpool") {
            guard let size = Int(rest), size > 0 else { throw ModelError.badSpec("maxpool needs a window size, like maxpool2, got '\(text)'") }
            return try MaxPool2D(inputShape: input, size: size)
        }
        if let rest = text.dropPrefix("dense") {
            guard let units = Int(rest), units > 0 else { throw ModelError.badSpec("dense needs a unit count, like dense10, got '\(text)'") }
            return try Dense(inputShape: input, units: units)
        }
        if var rest = text.dropPrefix("conv") {
            var padding = Conv2D.Padding.valid
            for candidate in [Conv2D.Padding.same, .valid] where rest.hasSuffix(candidate.rawValue) {
                padding = candidate
                rest = String(rest.dropLast(candidate.rawValue.count))
            }
            let numbers = rest.split(separator: "x", omittingEmptySubsequences: false)
            guard numbers.count == 2, let filters = Int(numbers[0]), let kernel = Int(numbers[1]), filters > 0, kernel > 0 else {
                throw ModelError.badSpec("conv needs FILTERSxKERNEL, like conv32x3 or conv32x3same, got '\(text)'")
            }
            return try Conv2D(inputShape: input, filters: filters, kernelSize: kernel, padding: padding)
        }
        return try activation(text, input: input, in: spec)
    }

    private static func activation(_ text: String, input: Shape, in spec: String) throws -> any Layer {
        switch text {
        case "relu": return ReLU(inputShape: input)
        case "sigmoid": return Sigmoid(inputShape: input)
        case "softmax": return try Softmax(inputShape: input)
        default:
            throw ModelError.badSpec("unknown layer '\(text)' in '\(spec)' (layers: convFxK[same], maxpoolN, flatten, denseN, relu, sigmoid, softmax; presets: \(presetNames))")
        }
    }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
