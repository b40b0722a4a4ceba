/// Builds models from a short text spec or a named preset.
///
/// Grammar (layers separated by commas, no spaces):
///
///     spec       := node ("," node)*
///     node       := [NAME "="] layer ["-" activation] ["<" SOURCE ("+" SOURCE)*]
///     layer      := conv | sepconv | dwconv | maxpool | avgpool | dense | dropout
///                 | "batchnorm" | "gap" | "flatten" | "add" | activation
///     conv       := "conv" FILTERS "x" KERNEL ["s" STRIDE] ["same" | "valid"] ["nobias"]
///     sepconv    := "sepconv" FILTERS "x" KERNEL ["s" STRIDE] ["same" | "valid"]
///     dwconv     := "dwconv" KERNEL ["s" STRIDE] ["same" | "valid"] ["nobias"]
///     maxpool    := "maxpool" SIZE ["s" STRIDE] ["same" | "valid"]      (stride defaults to SIZE)
///     avgpool    := "avgpool" SIZE ["s" STRIDE] ["same" | "valid"]
///     dense      := "dense" UNITS
///     dropout    := "dropout" RATE
///     activation := "relu" | "sigmoid" | "softmax"
///
/// `conv32x3-relu` is a Conv2D of 32 filters 3x3 (`valid`, stride 1) followed by a ReLU layer.
/// A node reads the node before it unless it names its sources: `NAME=` names a node (with an
/// activation suffix, the activation's node), and `<a+b` reads the nodes named `a` and `b`, or the
/// model's input as `input`; only `add` reads more than one. So a residual block is
///
///     r=relu,sepconv64x3same,batchnorm,p=maxpool3s2same,s=conv64x1s2same<r,add<p+s
///
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
        Preset(name: "dlwp-convnet", spec: ModelLibrary.dlwpConvnet,
               about: "Deep Learning with Python's cats-vs-dogs convnet (models/dlwp-convnet.yaml): four conv/pool stages, dropout 0.5, dense 512, one sigmoid output"),
        Preset(name: "mini-xception", spec: ModelLibrary.miniXception,
               about: "keras.io's image classification from scratch (models/mini-xception.yaml): strided conv, batch norm, separable-conv residual blocks, global pooling, dropout; one sigmoid output"),
    ]

    /// The spec text of a preset name, or the text itself if it is not a preset.
    public static func resolve(_ specOrPreset: String) -> String {
        presets.first { $0.name == specOrPreset }?.spec ?? specOrPreset
    }

    static var presetNames: String { presets.map(\.name).joined(separator: ", ") }

    /// Builds the model `specOrPreset` describes for inputs of `inputShape`.
    public static func build(_ specOrPreset: String, inputShape: Shape, loss: Loss? = nil) throws -> Model {
        let spec = resolve(specOrPreset)
        guard !spec.isEmpty else { throw ModelError.badSpec("the spec is empty; try a preset: \(presetNames)") }
        var nodes: [Node] = []
        var names: [String: Int] = ["input": Node.modelInput]
        func shape(of source: Int) -> Shape { source == Node.modelInput ? inputShape : nodes[source].layer.outputShape }
        func add(_ layer: any Layer, inputs: [Int]) {
            nodes.append(Node(layer, inputs: inputs, name: "\(layer.kind)_\(nodes.count)"))
        }

        for token in spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            var body = Substring(token)
            var name: String?
            if let equals = body.firstIndex(of: "=") {
                name = String(body[..<equals])
                body = body[body.index(after: equals)...]
                guard let given = name, isName(given) else {
                    throw ModelError.badSpec("'\(name ?? "")' in '\(token)' is not a layer name (letters, digits and _, starting with a letter)")
                }
                guard names[given] == nil else { throw ModelError.badSpec("the name '\(given)' is given twice") }
            }
            var inputs = [nodes.count - 1]
            if let angle = body.firstIndex(of: "<") {
                inputs = try body[body.index(after: angle)...].split(separator: "+", omittingEmptySubsequences: false).map { source in
                    guard let index = names[String(source)] else {
                        throw ModelError.badSpec("'\(token)' reads '\(source)', which is not a layer named before it (or input)")
                    }
                    return index
                }
                body = body[..<angle]
            }
            let parts = body.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 2, let head = parts.first, !head.isEmpty else {
                throw ModelError.badSpec("cannot read '\(token)' in '\(specOrPreset)'")
            }
            if head == "add" {
                guard inputs.count >= 2 else { throw ModelError.badSpec("add needs two or more inputs, like add<a+b, in '\(token)'") }
                let first = shape(of: inputs[0])
                for source in inputs.dropFirst() where shape(of: source) != first {
                    throw ModelError.shapeMismatch("add in '\(token)' joins \(first) and \(shape(of: source)); its inputs must have one shape")
                }
                add(Add(inputShape: first), inputs: inputs)
            } else {
                guard inputs.count == 1 else { throw ModelError.badSpec("only add reads more than one layer, in '\(token)'") }
                do {
                    add(try layer(head, input: shape(of: inputs[0]), in: specOrPreset), inputs: inputs)
                } catch let error as ModelError {
                    throw error.naming(token)
                }
            }
            if parts.count == 2 {
                guard ["conv", "sepconv", "dwconv", "dense"].contains(where: head.hasPrefix) else {
                    throw ModelError.badSpec("only conv, sepconv, dwconv and dense take an activation suffix, in '\(token)'")
                }
                add(try activation(parts[1], input: shape(of: nodes.count - 1), in: specOrPreset), inputs: [nodes.count - 1])
            }
            if let name, let last = nodes.popLast() {
                nodes.append(Node(last.layer, inputs: last.inputs, name: name))
                names[name] = nodes.count - 1
            }
        }
        let chosenLoss = loss ?? {
            switch nodes.last?.layer.kind {
            case "sigmoid": return .binaryCrossEntropy
            case "softmax": return .softmaxCrossEntropy
            default: return .meanSquaredError
            }
        }()
        return try Model(inputShape: inputShape, nodes: nodes, loss: chosenLoss, spec: spec)
    }

    /// Whether `text` can name a node: a letter, then letters, digits and underscores.
    public static func isName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first.properties.isAlphabetic, first.isASCII else { return false }
        return text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }
    }

    private static func layer(_ text: String, input: Shape, in spec: String) throws -> any Layer {
        var scanner = SpecScanner(text)
        if scanner.take("flatten"), scanner.isAtEnd { return Flatten(inputShape: input) }
        scanner = SpecScanner(text)
        if scanner.take("batchnorm"), scanner.isAtEnd { return try BatchNormalization(inputShape: input) }
        scanner = SpecScanner(text)
        if scanner.take("gap"), scanner.isAtEnd { return try GlobalAveragePool2D(inputShape: input) }
        scanner = SpecScanner(text)
        if scanner.take("dropout") {
            guard let rate = scanner.decimal(), scanner.isAtEnd else {
                throw ModelError.badSpec("dropout needs a rate, like dropout0.5, got '\(text)'")
            }
            return try Dropout(inputShape: input, rate: rate)
        }
        for pool in ["maxpool", "avgpool"] {
            scanner = SpecScanner(text)
            guard scanner.take(pool) else { continue }
            guard let size = scanner.integer(), size > 0 else {
                throw ModelError.badSpec("\(pool) needs a window size, like \(pool)2 or \(pool)3s2same, got '\(text)'")
            }
            let (stride, padding) = try scanner.strideAndPadding(default: size, in: text)
            guard scanner.isAtEnd else { throw ModelError.badSpec("cannot read '\(text)': \(pool)SIZE[sSTRIDE][same|valid]") }
            return pool == "maxpool"
                ? try MaxPool2D(inputShape: input, size: size, stride: stride, padding: padding)
                : try AveragePool2D(inputShape: input, size: size, stride: stride, padding: padding)
        }
        scanner = SpecScanner(text)
        if scanner.take("dense") {
            guard let units = scanner.integer(), units > 0, scanner.isAtEnd else {
                throw ModelError.badSpec("dense needs a unit count, like dense10, got '\(text)'")
            }
            return try Dense(inputShape: input, units: units)
        }
        scanner = SpecScanner(text)
        if scanner.take("dwconv") {
            guard let kernel = scanner.integer(), kernel > 0 else {
                throw ModelError.badSpec("dwconv needs KERNEL, like dwconv3 or dwconv3s2same, got '\(text)'")
            }
            let (stride, padding) = try scanner.strideAndPadding(default: 1, in: text)
            let bias = !scanner.take("nobias")
            guard scanner.isAtEnd else { throw ModelError.badSpec("cannot read '\(text)': dwconvKERNEL[sSTRIDE][same|valid][nobias]") }
            return try DepthwiseConv2D(inputShape: input, kernelSize: kernel, stride: stride, padding: padding, useBias: bias)
        }
        for conv in ["sepconv", "conv"] {
            scanner = SpecScanner(text)
            guard scanner.take(conv) else { continue }
            guard let filters = scanner.integer(), scanner.take("x"), let kernel = scanner.integer(), filters > 0, kernel > 0 else {
                throw ModelError.badSpec("\(conv) needs FILTERSxKERNEL, like \(conv)32x3 or \(conv)32x3s2same, got '\(text)'")
            }
            let (stride, padding) = try scanner.strideAndPadding(default: 1, in: text)
            if conv == "sepconv" {
                guard scanner.isAtEnd else { throw ModelError.badSpec("cannot read '\(text)': sepconvFxK[sSTRIDE][same|valid]") }
                return try SeparableConv2D(inputShape: input, filters: filters, kernelSize: kernel, stride: stride, padding: padding)
            }
            let bias = !scanner.take("nobias")
            guard scanner.isAtEnd else { throw ModelError.badSpec("cannot read '\(text)': convFxK[sSTRIDE][same|valid][nobias]") }
            return try Conv2D(inputShape: input, filters: filters, kernelSize: kernel, stride: stride, padding: padding, useBias: bias)
        }
        return try activation(text, input: input, in: spec)
    }

    private static func activation(_ text: String, input: Shape, in spec: String) throws -> any Layer {
        switch text {
        case "relu": return ReLU(inputShape: input)
        case "sigmoid": return Sigmoid(inputShape: input)
        case "softmax": return try Softmax(inputShape: input)
        default:
            throw ModelError.badSpec("unknown layer '\(text)' in '\(spec)' (layers: convFxK[sS][same], sepconvFxK[sS][same], dwconvK[sS][same], maxpoolN[sS][same], avgpoolN[sS][same], gap, flatten, denseN, batchnorm, dropoutR, add<a+b, relu, sigmoid, softmax; presets: \(presetNames))")
        }
    }
}

/// Reads one layer token of a spec from left to right.
struct SpecScanner {
    private var rest: Substring

    init(_ text: String) { rest = Substring(text) }

    var isAtEnd: Bool { rest.isEmpty }

    /// Consumes `word` if the rest starts with it.
    mutating func take(_ word: String) -> Bool {
        guard rest.hasPrefix(word) else { return false }
        rest = rest.dropFirst(word.count)
        return true
    }

    /// A run of digits.
    mutating func integer() -> Int? {
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        rest = rest.dropFirst(digits.count)
        return value
    }

    /// Digits with at most one decimal point.
    mutating func decimal() -> Float? {
        let text = rest.prefix { ($0.isASCII && $0.isNumber) || $0 == "." }
        guard !text.isEmpty, let value = Float(text) else { return nil }
        rest = rest.dropFirst(text.count)
        return value
    }

    /// `["s" STRIDE] ["same" | "valid"]`.
    mutating func strideAndPadding(default stride: Int, in text: String) throws -> (Int, Padding) {
        var stride = stride
        if !rest.hasPrefix("same"), take("s") {
            guard let value = integer(), value > 0 else { throw ModelError.badSpec("a stride needs a positive number, like s2, in '\(text)'") }
            stride = value
        }
        if take("same") { return (stride, .same) }
        _ = take("valid")
        return (stride, .valid)
    }
}

extension ModelError {
    /// The same error, saying which spec token it came from.
    func naming(_ token: String) -> ModelError {
        switch self {
        case .shapeMismatch(let why) where !why.contains("'\(token)'"): return .shapeMismatch("\(why) (at '\(token)')")
        default: return self
        }
    }
}
