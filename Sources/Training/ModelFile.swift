import Foundation
import NeuralNet
import Yams

/// A model described in a file (`--model FILE.yaml` or `.json`), as Keras's functional API
/// describes one: a list of layers, each reading the layer before it unless it names its inputs.
///
///     name: tiny-residual
///     width: 1.0                   # optional: scales every filter count (at least 1 filter)
///     layers:
///       - {type: Conv2D, filters: 32, kernel_size: 3, padding: same, activation: relu, name: stem}
///       - {type: SeparableConv2D, filters: 32, kernel_size: 3, padding: same}
///       - {type: BatchNormalization, name: main}
///       - {type: Add, inputs: [main, stem]}
///       - {type: GlobalAveragePooling2D}
///       - {type: Dense, units: 1, activation: sigmoid}
///
/// Types and options are Keras's: Conv2D (filters, kernel_size, strides, padding, use_bias,
/// activation), SeparableConv2D (filters, kernel_size, strides, padding, activation),
/// DepthwiseConv2D (kernel_size, strides, padding, use_bias, activation), BatchNormalization,
/// Dropout (rate), MaxPooling2D and AveragePooling2D (pool_size, strides, padding),
/// GlobalAveragePooling2D, Flatten, Dense (units, activation), Add (inputs), ReLU, and Activation
/// (activation: relu, sigmoid or softmax). Every layer may have a `name`, and `input: NAME` or
/// `inputs: [NAME, …]` (`input` names the model's input). The file reads as a `ModelSpec` spec, which
/// is what checkpoints record and the server sends its workers, so they need no file.
public enum ModelFile {
    /// Whether `model` names a model file rather than a preset or spec.
    public static func isFile(_ model: String) -> Bool {
        [".yaml", ".yml", ".json"].contains { model.lowercased().hasSuffix($0) }
    }

    /// The spec of the model file at `path`.
    public static func spec(readingFile path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError.badConfig("model file \(path): cannot read it (no such file, or not readable)")
        }
        return try spec(parsing: String(decoding: data, as: UTF8.self), file: path)
    }

    /// The spec `model` stands for: a model file's, or `model` itself (a preset or a spec).
    public static func resolve(_ model: String) throws -> String {
        isFile(model) ? try spec(readingFile: model) : model
    }

    /// The spec of a model file's text (YAML, or JSON, which YAML reads too). `file` names it in errors.
    public static func spec(parsing text: String, file: String) throws -> String {
        func fail(_ why: String) -> TrainingError { .badConfig("model file \(file): \(why)") }
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw fail("not valid YAML or JSON: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        guard let root = document as? [String: Any] else { throw fail("expected a mapping with a 'layers' list") }
        for key in root.keys where !["name", "width", "layers"].contains(key) {
            throw fail("unknown key '\(key)' (keys: name, width, layers)")
        }
        let width = try root["width"].map { value -> Double in
            guard let width = number(value), width > 0, width.isFinite else { throw fail("width must be a positive number") }
            return width
        } ?? 1
        guard let list = root["layers"] as? [Any], !list.isEmpty else { throw fail("'layers' must be a non-empty list") }
        var layers: [FileLayer] = []
        for (index, item) in list.enumerated() {
            guard let fields = item as? [String: Any] else { throw fail("layer \(index + 1) is not a mapping") }
            do {
                layers.append(try FileLayer(fields, index: index, width: width))
            } catch let why as LayerProblem {
                let name = (fields["name"] as? String).map { " (\($0))" } ?? ""
                throw fail("layer \(index + 1)\(name): \(why.text)")
            }
        }
        return try chain(layers, fail: fail)
    }

    /// The layers in an order where each reads only earlier ones, written as a spec.
    private static func chain(_ layers: [FileLayer], fail: (String) -> TrainingError) throws -> String {
        var byName: [String: Int] = [:]
        for (index, layer) in layers.enumerated() {
            guard let name = layer.name else { continue }
            guard name != "input" else { throw fail("layer \(index + 1): 'input' names the model's input; choose another name") }
            guard byName[name] == nil else { throw fail("the name '\(name)' is given to two layers") }
            byName[name] = index
        }
        // Each layer's sources, as layer indices (-1: the model's input).
        let sources: [[Int]] = try layers.enumerated().map { index, layer in
            guard let names = layer.inputs else { return [index - 1] }
            return try names.map { name in
                if name == "input" { return -1 }
                guard let source = byName[name] else {
                    throw fail("layer \(index + 1)\(layer.label) reads '\(name)', and no layer has that name")
                }
                guard source != index else { throw fail("layer \(index + 1)\(layer.label) reads itself") }
                return source
            }
        }
        // Kahn's algorithm, always taking the first ready layer in file order.
        var order: [Int] = []
        var placed = [Bool](repeating: false, count: layers.count)
        while order.count < layers.count {
            guard let next = layers.indices.first(where: { !placed[$0] && sources[$0].allSatisfy { $0 == -1 || placed[$0] } }) else {
                // Leave out the layers that only read the cycle: those no stuck layer reads.
                var stuck = Set(layers.indices.filter { !placed[$0] })
                while let downstream = stuck.first(where: { node in !stuck.contains { sources[$0].contains(node) } }) {
                    stuck.remove(downstream)
                }
                let cycle = stuck.sorted().map { "\($0 + 1)\(layers[$0].label)" }
                throw fail("layers \(cycle.joined(separator: ", ")) form a cycle: each reads another")
            }
            placed[next] = true
            order.append(next)
        }
        // Names for the layers read out of order, where the file gave none.
        var names = layers.map(\.name)
        var position = [Int: Int]()
        for (place, index) in order.enumerated() { position[index] = place }
        func needsName(_ index: Int) -> Bool {
            layers.indices.contains { reader in
                sources[reader].contains(index) && (sources[reader] != [index] || position[reader] != position[index]! + 1)
            }
        }
        for index in layers.indices where names[index] == nil && needsName(index) {
            var candidate = "layer\(index + 1)"
            while byName[candidate] != nil { candidate += "_" }
            names[index] = candidate
        }
        return order.enumerated().map { place, index in
            var token = layers[index].token
            if let name = names[index] { token = "\(name)=" + token }
            let previous = place == 0 ? -1 : order[place - 1]
            if sources[index] != [previous] {
                token += "<" + sources[index].map { $0 == -1 ? "input" : names[$0]! }.joined(separator: "+")
            }
            return token
        }.joined(separator: ",")
    }

    private static func number(_ value: Any) -> Double? {
        if let value = value as? Double { return value }
        if let value = value as? Int { return Double(value) }
        return nil
    }
}

/// Why a layer of a model file cannot be read.
private struct LayerProblem: Error {
    let text: String
}

/// One layer of a model file: its spec token, name and inputs.
private struct FileLayer {
    let token: String
    let name: String?
    /// The names it reads, or nil for the layer before it.
    let inputs: [String]?

    var label: String { name.map { " (\($0))" } ?? "" }

    /// Each type's options (besides `type`, `name`, `input` and `inputs`).
    static let options: [(type: String, keys: [String])] = [
        ("Conv2D", ["filters", "kernel_size", "strides", "padding", "use_bias", "activation"]),
        ("SeparableConv2D", ["filters", "kernel_size", "strides", "padding", "activation"]),
        ("DepthwiseConv2D", ["kernel_size", "strides", "padding", "use_bias", "activation"]),
        ("BatchNormalization", []),
        ("Dropout", ["rate"]),
        ("MaxPooling2D", ["pool_size", "strides", "padding"]),
        ("AveragePooling2D", ["pool_size", "strides", "padding"]),
        ("GlobalAveragePooling2D", []),
        ("Flatten", []),
        ("Dense", ["units", "activation"]),
        ("Add", []),
        ("ReLU", []),
        ("Activation", ["activation"]),
    ]

    init(_ fields: [String: Any], index: Int, width: Double) throws {
        let types = Self.options.map(\.type).joined(separator: ", ")
        guard let type = fields["type"] as? String else { throw LayerProblem(text: "needs a 'type' (one of \(types))") }
        guard let allowed = Self.options.first(where: { $0.type == type })?.keys else {
            throw LayerProblem(text: "unknown layer type '\(type)' (types: \(types))")
        }
        for key in fields.keys.sorted() where !(allowed + ["type", "name", "input", "inputs"]).contains(key) {
            throw LayerProblem(text: "\(type) has no option '\(key)'" + (allowed.isEmpty ? "" : " (options: \(allowed.joined(separator: ", ")))"))
        }
        func value<T>(_ key: String, _ kind: T.Type) throws -> T? {
            guard let raw = fields[key] else { return nil }
            if T.self == Double.self, let int = raw as? Int { return Double(int) as? T }
            guard let typed = raw as? T else { throw LayerProblem(text: "\(type) option '\(key)' has the wrong type") }
            return typed
        }
        func positive(_ key: String, default fallback: Int? = nil) throws -> Int {
            guard let number = try value(key, Int.self) ?? fallback else { throw LayerProblem(text: "\(type) needs '\(key)'") }
            guard number > 0 else { throw LayerProblem(text: "\(type) option '\(key)' must be positive, got \(number)") }
            return number
        }
        func geometry(window: Int, defaultStride: Int) throws -> String {
            let strides = try positive("strides", default: defaultStride)
            let padding = try value("padding", String.self) ?? "valid"
            guard padding == "valid" || padding == "same" else { throw LayerProblem(text: "padding must be valid or same, got '\(padding)'") }
            return (strides == defaultStride ? "" : "s\(strides)") + (padding == "same" ? "same" : "")
        }
        func activation() throws -> String {
            guard let name = try value("activation", String.self), name != "linear" else { return "" }
            guard ["relu", "sigmoid", "softmax"].contains(name) else {
                throw LayerProblem(text: "unknown activation '\(name)' (relu, sigmoid, softmax, linear)")
            }
            return "-" + name
        }
        func filters() throws -> Int { max(1, Int((Double(try positive("filters")) * width).rounded())) }
        func bias() throws -> String { try value("use_bias", Bool.self) == false ? "nobias" : "" }

        switch type {
        case "Conv2D":
            let f = try filters(), k = try positive("kernel_size")
            token = "conv\(f)x\(k)" + (try geometry(window: k, defaultStride: 1)) + (try bias()) + (try activation())
        case "SeparableConv2D":
            let f = try filters(), k = try positive("kernel_size")
            token = "sepconv\(f)x\(k)" + (try geometry(window: k, defaultStride: 1)) + (try activation())
        case "DepthwiseConv2D":
            let k = try positive("kernel_size")
            token = "dwconv\(k)" + (try geometry(window: k, defaultStride: 1)) + (try bias()) + (try activation())
        case "BatchNormalization": token = "batchnorm"
        case "Dropout":
            guard let rate = try value("rate", Double.self) else { throw LayerProblem(text: "Dropout needs 'rate'") }
            guard rate >= 0, rate < 1 else { throw LayerProblem(text: "Dropout rate must be in [0, 1), got \(rate)") }
            token = "dropout\(rate)"
        case "MaxPooling2D", "AveragePooling2D":
            let size = try positive("pool_size", default: 2)
            token = (type == "MaxPooling2D" ? "maxpool" : "avgpool") + "\(size)" + (try geometry(window: size, defaultStride: size))
        case "GlobalAveragePooling2D": token = "gap"
        case "Flatten": token = "flatten"
        case "Dense": token = "dense\(try positive("units"))" + (try activation())
        case "Add": token = "add"
        case "ReLU": token = "relu"
        case "Activation":
            let suffix = try activation()
            guard !suffix.isEmpty else { throw LayerProblem(text: "Activation needs 'activation' (relu, sigmoid or softmax)") }
            token = String(suffix.dropFirst())
        default:
            throw LayerProblem(text: "unknown layer type '\(type)' (types: \(types))")
        }
        if let name = fields["name"] {
            guard let text = name as? String, ModelSpec.isName(text) else {
                throw LayerProblem(text: "name must be letters, digits and _, starting with a letter")
            }
            self.name = text
        } else {
            name = nil
        }
        if fields["input"] != nil && fields["inputs"] != nil { throw LayerProblem(text: "give 'input' or 'inputs', not both") }
        if let input = fields["input"] {
            guard let text = input as? String else { throw LayerProblem(text: "'input' must be a layer name") }
            inputs = [text]
        } else if let list = fields["inputs"] {
            guard let names = list as? [String], !names.isEmpty else { throw LayerProblem(text: "'inputs' must be a list of layer names") }
            inputs = names
        } else {
            inputs = nil
        }
        if type == "Add" && (inputs?.count ?? 1) < 2 { throw LayerProblem(text: "Add needs 'inputs' with two or more layer names") }
        if type != "Add" && (inputs?.count ?? 1) > 1 { throw LayerProblem(text: "only Add reads more than one layer") }
    }
}
