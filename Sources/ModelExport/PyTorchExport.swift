import Foundation
import NeuralNet

/// A trained model for PyTorch: its weights in PyTorch's names and layouts (conv weights
/// (out, in, height, width), Linear (out, in)) and the Python source of a matching `torch.nn.Module`,
/// so that `model.load_state_dict(safetensors.torch.load_file(...))` gives Backprop's predictions.
///
/// The module takes images as PyTorch does, (N, C, H, W) float32 in [0, 1], and returns the
/// probabilities (the final sigmoid or softmax). TensorFlow's asymmetric `same` padding is an explicit
/// `F.pad`; a flatten flattens channels last, as Backprop does; batch norm runs on its moving statistics
/// in `eval()` mode; dropout is `nn.Dropout`, the identity in `eval()`.
public enum PyTorchExport {
    public static let weightsFile = "model.safetensors"
    public static let moduleFile = "model.py"

    /// The tensors (PyTorch's names and layouts) and the module's source for `model` with `parameters`.
    public static func export(_ model: Model, parameters: [Float]) throws -> (tensors: [NamedTensor], source: String) {
        var tensors: [NamedTensor] = []
        var members: [String] = []
        var steps: [String] = []
        let offsets = model.layout.layerOffsets
        func slice(_ start: Int, _ count: Int) -> [Float] { Array(parameters[start..<start + count]) }
        func variable(_ index: Int) -> String { index == Node.modelInput ? "x" : "v\(index)" }

        for (index, node) in model.nodes.enumerated() {
            let layer = node.layer
            let name = "\(layer.kind)_\(index)"
            let offset = offsets[index]
            let x = variable(node.inputs[0])
            let out = variable(index)
            switch layer {
            case let conv as Conv2D:
                let (h, w, c) = conv.inputShape.image!
                let k = conv.kernelSize
                members.append("self.\(name) = nn.Conv2d(\(c), \(conv.filters), \(k), stride=\(conv.stride), bias=\(conv.useBias ? "True" : "False"))")
                tensors.append(NamedTensor(name: name + ".weight", shape: [conv.filters, c, k, k], values: oihw(parameters, offset, k: k, inputs: c, outputs: conv.filters)))
                if conv.useBias { tensors.append(NamedTensor(name: name + ".bias", shape: [conv.filters], values: slice(offset + k * k * c * conv.filters, conv.filters))) }
                steps.append("\(out) = self.\(name)(\(pad(x, h, w, k, conv.stride, conv.padding, fill: "0.0")))")
            case let depthwise as DepthwiseConv2D:
                let (h, w, c) = depthwise.inputShape.image!
                let k = depthwise.kernelSize
                members.append("self.\(name) = nn.Conv2d(\(c), \(c), \(k), stride=\(depthwise.stride), groups=\(c), bias=\(depthwise.useBias ? "True" : "False"))")
                tensors.append(NamedTensor(name: name + ".weight", shape: [c, 1, k, k], values: oihw(parameters, offset, k: k, inputs: 1, outputs: c, depthwise: true)))
                if depthwise.useBias { tensors.append(NamedTensor(name: name + ".bias", shape: [c], values: slice(offset + k * k * c, c))) }
                steps.append("\(out) = self.\(name)(\(pad(x, h, w, k, depthwise.stride, depthwise.padding, fill: "0.0")))")
            case let separable as SeparableConv2D:
                let (h, w, c) = separable.inputShape.image!
                let k = separable.kernelSize, f = separable.filters
                members.append("self.\(name)_depthwise = nn.Conv2d(\(c), \(c), \(k), stride=\(separable.stride), groups=\(c), bias=False)")
                members.append("self.\(name)_pointwise = nn.Conv2d(\(c), \(f), 1)")
                tensors.append(NamedTensor(name: name + "_depthwise.weight", shape: [c, 1, k, k], values: oihw(parameters, offset, k: k, inputs: 1, outputs: c, depthwise: true)))
                let pointwise = offset + k * k * c
                tensors.append(NamedTensor(name: name + "_pointwise.weight", shape: [f, c, 1, 1], values: oihw(parameters, pointwise, k: 1, inputs: c, outputs: f)))
                tensors.append(NamedTensor(name: name + "_pointwise.bias", shape: [f], values: slice(pointwise + c * f, f)))
                steps.append("\(out) = self.\(name)_pointwise(self.\(name)_depthwise(\(pad(x, h, w, k, separable.stride, separable.padding, fill: "0.0"))))")
            case let pool as MaxPool2D:
                let (h, w, _) = pool.inputShape.image!
                steps.append("\(out) = F.max_pool2d(\(pad(x, h, w, pool.size, pool.stride, pool.padding, fill: "float('-inf')")), \(pool.size), \(pool.stride))")
            case let pool as AveragePool2D:
                let (h, w, _) = pool.inputShape.image!
                if pool.padding == .same {
                    // Divided by the real pixels under each window, as TensorFlow does: the mean of a padded
                    // ones-image counts them.
                    steps.append("\(out) = F.avg_pool2d(\(pad(x, h, w, pool.size, pool.stride, pool.padding, fill: "0.0")), \(pool.size), \(pool.stride)) / F.avg_pool2d(\(pad("torch.ones_like(\(x)[:1, :1])", h, w, pool.size, pool.stride, pool.padding, fill: "0.0")), \(pool.size), \(pool.stride))")
                } else {
                    steps.append("\(out) = F.avg_pool2d(\(x), \(pool.size), \(pool.stride))")
                }
            case is GlobalAveragePool2D:
                steps.append("\(out) = \(x).mean(dim=(2, 3))")
            case is Flatten:
                steps.append(layer.inputShape.image != nil ? "\(out) = \(x).permute(0, 2, 3, 1).flatten(1)" : "\(out) = \(x).flatten(1)")
            case let dense as Dense:
                let inputs = dense.inputShape.count, units = dense.units
                members.append("self.\(name) = nn.Linear(\(inputs), \(units))")
                var weight = [Float](repeating: 0, count: inputs * units)
                for i in 0..<inputs { for u in 0..<units { weight[u * inputs + i] = parameters[offset + i * units + u] } }
                tensors.append(NamedTensor(name: name + ".weight", shape: [units, inputs], values: weight))
                tensors.append(NamedTensor(name: name + ".bias", shape: [units], values: slice(offset + inputs * units, units)))
                steps.append("\(out) = self.\(name)(\(x))")
            case let norm as BatchNormalization:
                let c = norm.channels
                let kind = layer.inputShape.image != nil ? "BatchNorm2d" : "BatchNorm1d"
                members.append("self.\(name) = nn.\(kind)(\(c), eps=\(String(format: "%g", norm.epsilon)), momentum=\(String(format: "%g", 1 - Double(norm.momentum))))")
                for (k, field) in ["weight", "bias", "running_mean", "running_var"].enumerated() {
                    tensors.append(NamedTensor(name: "\(name).\(field)", shape: [c], values: slice(offset + k * c, c)))
                }
                steps.append("\(out) = self.\(name)(\(x))")
            case let dropout as Dropout:
                members.append("self.\(name) = nn.Dropout(\(dropout.rate))")
                steps.append("\(out) = self.\(name)(\(x))")
            case is ReLU:
                steps.append("\(out) = F.relu(\(x))")
            case is Sigmoid:
                steps.append("\(out) = torch.sigmoid(\(x))")
            case is Softmax:
                steps.append("\(out) = torch.softmax(\(x), dim=-1)")
            case is Add:
                steps.append("\(out) = " + node.inputs.map(variable).joined(separator: " + "))
            default:
                throw ExportError("layer \(name) (\(layer.kind)) cannot be exported to PyTorch")
            }
        }
        let result = variable(model.nodes.count - 1)
        let returned = model.outputShape.image != nil ? "\(result).permute(0, 2, 3, 1)" : result
        let shape = model.inputShape.dimensions
        let source = """
            # Generated by `backprop export --pytorch`: the model of a Backprop checkpoint as a torch.nn.Module.
            #
            #     import safetensors.torch
            #     from model import BackpropModel
            #     model = BackpropModel()
            #     model.load_state_dict(safetensors.torch.load_file("\(weightsFile)"))
            #     model.eval()
            #     probabilities = model(images)   # images: (N, \(shape.count == 3 ? "\(shape[2]), \(shape[0]), \(shape[1])" : "\(shape[0])")) float32, pixels in [0, 1]
            #
            # Spec: \(model.spec)
            import torch
            import torch.nn as nn
            import torch.nn.functional as F


            class BackpropModel(nn.Module):
                def __init__(self):
                    super().__init__()
            \((members.isEmpty ? ["pass"] : members).map { "        " + $0 }.joined(separator: "\n"))

                def forward(self, x):
            \((steps + ["return \(returned)"]).map { "        " + $0 }.joined(separator: "\n"))

            """ + "\n"
        return (tensors, source)
    }

    /// `x` padded as TensorFlow pads a window of `size` every `stride` on an (h, w) image, or `x` itself.
    private static func pad(_ x: String, _ h: Int, _ w: Int, _ size: Int, _ stride: Int, _ padding: Padding, fill: String) -> String {
        guard padding == .same,
              let rows = padding.geometry(length: h, window: size, stride: stride),
              let columns = padding.geometry(length: w, window: size, stride: stride) else { return x }
        let bottom = max((rows.output - 1) * stride + size - h, 0) - rows.before
        let right = max((columns.output - 1) * stride + size - w, 0) - columns.before
        guard rows.before + bottom + columns.before + right > 0 else { return x }
        return "F.pad(\(x), (\(columns.before), \(right), \(rows.before), \(bottom)), value=\(fill))"
    }

    /// A Keras kernel at `offset`, (k, k, inputs, outputs) — or (k, k, channels, 1) for a depthwise one,
    /// whose `outputs` are its channels — as PyTorch's (outputs, inputs, k, k).
    private static func oihw(_ parameters: [Float], _ offset: Int, k: Int, inputs: Int, outputs: Int, depthwise: Bool = false) -> [Float] {
        var out = [Float](repeating: 0, count: k * k * inputs * outputs)
        for ky in 0..<k { for kx in 0..<k { for o in 0..<outputs { for i in 0..<inputs {
            let source = depthwise ? (ky * k + kx) * outputs + o : ((ky * k + kx) * inputs + i) * outputs + o
            out[((o * inputs + i) * k + ky) * k + kx] = parameters[offset + source]
        } } } }
        return out
    }
}
