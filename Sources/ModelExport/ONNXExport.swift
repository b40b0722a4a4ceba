import Foundation
import NeuralNet
import SwiftProtobuf

/// Why a model could not be exported; the description is one line for people.
public struct ExportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A trained model as an ONNX file (opset 13): every layer Backprop has, residual graphs included.
///
/// The graph's input `image` is a batch of images as Backprop reads them: (N, height, width, channels),
/// channels last, float32 pixels scaled to [0, 1] (the byte value divided by 255). A Transpose turns
/// it to ONNX's (N, C, H, W) for the convolutions; a flatten turns back to channels last first, so
/// dense kernels keep Backprop's (and Keras's) row order. The output `probabilities` is (N, outputs):
/// the final sigmoid or softmax. Batch norm uses the moving statistics; dropout is the identity.
/// `metadata_props` holds the class names (a JSON array), image size, colour, layout and pixel scale.
public enum ONNXExport {
    public static let opset: Int64 = 13
    public static let inputName = "image"
    public static let outputName = "probabilities"

    /// The ONNX model of `model` with `parameters`; `properties` go into `metadata_props`.
    public static func model(_ model: Model, parameters: [Float], properties: [(String, String)]) throws -> Onnx_ModelProto {
        var graph = GraphBuilder(model: model, parameters: parameters)
        try graph.build()
        var proto = Onnx_ModelProto()
        proto.irVersion = 8
        proto.producerName = "backprop"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = ONNXExport.opset
        proto.opsetImport = [opset]
        proto.graph = graph.proto
        proto.metadataProps = properties.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return proto
    }

}

/// Builds the ONNX graph of a model node by node.
private struct GraphBuilder {
    let model: Model
    let parameters: [Float]
    var proto = Onnx_GraphProto()
    /// Each node's output value name, and whether it is an image in ONNX's (N, C, H, W).
    private var values: [(name: String, image: Bool)] = []
    private var counter = 0

    init(model: Model, parameters: [Float]) {
        self.model = model
        self.parameters = parameters
    }

    mutating func build() throws {
        proto.name = "backprop"
        let inputShape = model.inputShape.dimensions
        proto.input = [valueInfo(ONNXExport.inputName, dimensions: inputShape)]
        let input: (name: String, image: Bool)
        if inputShape.count == 3 {
            input = (node("Transpose", [ONNXExport.inputName], attributes: [ints("perm", [0, 3, 1, 2])]), true)
        } else {
            input = (ONNXExport.inputName, false)
        }
        for (index, node) in model.nodes.enumerated() {
            let sources = node.inputs.map { $0 == Node.modelInput ? input : values[$0] }
            values.append(try convert(node.layer, index: index, sources: sources))
        }
        var output = values[values.count - 1]
        if output.image { output = (node("Transpose", [output.name], attributes: [ints("perm", [0, 2, 3, 1])]), false) }
        _ = node("Identity", [output.name], output: ONNXExport.outputName)
        proto.output = [valueInfo(ONNXExport.outputName, dimensions: model.outputShape.dimensions)]
    }

    /// The ONNX nodes of one layer; returns its output value.
    private mutating func convert(_ layer: any Layer, index: Int, sources: [(name: String, image: Bool)]) throws -> (name: String, image: Bool) {
        let x = sources[0].name
        let offset = model.layout.layerOffsets[index]
        let prefix = "\(layer.kind)_\(index)"
        switch layer {
        case let conv as Conv2D:
            let (h, w, c) = conv.inputShape.image!
            let weight = initializer(prefix + ".weight", hwioToOIHW(offset, k: conv.kernelSize, inputs: c, outputs: conv.filters),
                                     dimensions: [conv.filters, c, conv.kernelSize, conv.kernelSize])
            var inputs = [x, weight]
            if conv.useBias {
                let count = conv.kernelSize * conv.kernelSize * c * conv.filters
                inputs.append(initializer(prefix + ".bias", Array(parameters[offset + count..<offset + count + conv.filters]), dimensions: [conv.filters]))
            }
            return (node("Conv", inputs, attributes: window(h, w, conv.kernelSize, conv.stride, conv.padding)), true)
        case let depthwise as DepthwiseConv2D:
            let (h, w, c) = depthwise.inputShape.image!
            return (depthwiseConv(x, depthwise, h: h, w: w, c: c, offset: offset, prefix: prefix), true)
        case let separable as SeparableConv2D:
            let (h, w, c) = separable.inputShape.image!
            let depthwise = try DepthwiseConv2D(inputShape: separable.inputShape, kernelSize: separable.kernelSize,
                                                stride: separable.stride, padding: separable.padding, useBias: false)
            let middle = depthwiseConv(x, depthwise, h: h, w: w, c: c, offset: offset, prefix: prefix + ".depthwise")
            let pointwise = offset + separable.kernelSize * separable.kernelSize * c
            let weight = initializer(prefix + ".pointwise.weight", hwioToOIHW(pointwise, k: 1, inputs: c, outputs: separable.filters),
                                     dimensions: [separable.filters, c, 1, 1])
            let biasStart = pointwise + c * separable.filters
            let bias = initializer(prefix + ".bias", Array(parameters[biasStart..<biasStart + separable.filters]), dimensions: [separable.filters])
            return (node("Conv", [middle, weight, bias], attributes: [ints("kernel_shape", [1, 1])]), true)
        case let pool as MaxPool2D:
            let (h, w, _) = pool.inputShape.image!
            return (node("MaxPool", [x], attributes: window(h, w, pool.size, pool.stride, pool.padding)), true)
        case let pool as AveragePool2D:
            let (h, w, _) = pool.inputShape.image!
            return (node("AveragePool", [x], attributes: window(h, w, pool.size, pool.stride, pool.padding) + [int("count_include_pad", 0)]), true)
        case is GlobalAveragePool2D:
            let pooled = node("GlobalAveragePool", [x])
            return (node("Flatten", [pooled], attributes: [int("axis", 1)]), false)
        case is Flatten:
            let channelsLast = sources[0].image ? node("Transpose", [x], attributes: [ints("perm", [0, 2, 3, 1])]) : x
            return (node("Flatten", [channelsLast], attributes: [int("axis", 1)]), false)
        case let dense as Dense:
            let inputs = dense.inputShape.count
            let weight = initializer(prefix + ".kernel", Array(parameters[offset..<offset + inputs * dense.units]), dimensions: [inputs, dense.units])
            let bias = initializer(prefix + ".bias", Array(parameters[offset + inputs * dense.units..<offset + (inputs + 1) * dense.units]), dimensions: [dense.units])
            return (node("Gemm", [x, weight, bias]), false)
        case let norm as BatchNormalization:
            let c = norm.channels
            let names = ["gamma", "beta", "moving_mean", "moving_variance"].enumerated().map { k, name in
                initializer(prefix + "." + name, Array(parameters[offset + k * c..<offset + (k + 1) * c]), dimensions: [c])
            }
            return (node("BatchNormalization", [x] + names, attributes: [float("epsilon", norm.epsilon)]), sources[0].image)
        case is Dropout:
            return (node("Identity", [x]), sources[0].image)
        case is ReLU:
            return (node("Relu", [x]), sources[0].image)
        case is Sigmoid:
            return (node("Sigmoid", [x]), sources[0].image)
        case is Softmax:
            return (node("Softmax", [x], attributes: [int("axis", -1)]), false)
        case is Add:
            return (node("Add", sources.map(\.name)), sources[0].image)
        default:
            throw ExportError("layer \(prefix) (\(layer.kind)) cannot be exported to ONNX")
        }
    }

    private mutating func depthwiseConv(_ x: String, _ layer: DepthwiseConv2D, h: Int, w: Int, c: Int, offset: Int, prefix: String) -> String {
        let k = layer.kernelSize
        // (k, k, C, 1) → (C, 1, k, k)
        var weight = [Float](repeating: 0, count: k * k * c)
        for ky in 0..<k { for kx in 0..<k { for channel in 0..<c {
            weight[(channel * k + ky) * k + kx] = parameters[offset + (ky * k + kx) * c + channel]
        } } }
        var inputs = [x, initializer(prefix + ".weight", weight, dimensions: [c, 1, k, k])]
        if layer.useBias {
            inputs.append(initializer(prefix + ".bias", Array(parameters[offset + k * k * c..<offset + k * k * c + c]), dimensions: [c]))
        }
        return node("Conv", inputs, attributes: window(h, w, k, layer.stride, layer.padding) + [int("group", c)])
    }

    /// kernel_shape, strides and pads of a window on an (h, w) image, with TensorFlow's padding.
    private func window(_ h: Int, _ w: Int, _ size: Int, _ stride: Int, _ padding: Padding) -> [Onnx_AttributeProto] {
        func pads(_ length: Int) -> (Int, Int) {
            guard padding == .same, let geometry = padding.geometry(length: length, window: size, stride: stride) else { return (0, 0) }
            let total = max((geometry.output - 1) * stride + size - length, 0)
            return (geometry.before, total - geometry.before)
        }
        let (top, bottom) = pads(h), (left, right) = pads(w)
        return [ints("kernel_shape", [size, size]), ints("strides", [stride, stride]), ints("pads", [top, left, bottom, right])]
    }

    /// A (k, k, inputs, outputs) kernel at `offset` as (outputs, inputs, k, k).
    private func hwioToOIHW(_ offset: Int, k: Int, inputs: Int, outputs: Int) -> [Float] {
        var out = [Float](repeating: 0, count: k * k * inputs * outputs)
        for ky in 0..<k { for kx in 0..<k { for i in 0..<inputs { for o in 0..<outputs {
            out[((o * inputs + i) * k + ky) * k + kx] = parameters[offset + ((ky * k + kx) * inputs + i) * outputs + o]
        } } } }
        return out
    }

    // MARK: - Protocol-buffer pieces

    /// Adds a node; returns its output's name.
    @discardableResult
    private mutating func node(_ op: String, _ inputs: [String], attributes: [Onnx_AttributeProto] = [], output: String? = nil) -> String {
        counter += 1
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = "\(op)_\(counter)"
        node.input = inputs
        node.output = [output ?? "\(op.lowercased())_\(counter)"]
        node.attribute = attributes
        proto.node.append(node)
        return node.output[0]
    }

    private mutating func initializer(_ name: String, _ values: [Float], dimensions: [Int]) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.dims = dimensions.map(Int64.init)
        tensor.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
        proto.initializer.append(tensor)
        return name
    }

    private func valueInfo(_ name: String, dimensions: [Int]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        var batch = Onnx_TensorShapeProto.Dimension()
        batch.dimParam = "N"
        shape.dim = [batch] + dimensions.map { size in
            var dimension = Onnx_TensorShapeProto.Dimension()
            dimension.dimValue = Int64(size)
            return dimension
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }

    private func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values.map(Int64.init)
        return attribute
    }

    private func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    private func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }
}
