extension Model {
    /// A table of layers, output shapes and parameter counts, laid out like Keras's `model.summary()`;
    /// for a graph also the layers each one reads ("Connected to"). Non-trainable parameters are the
    /// moving statistics, as Keras counts them.
    public func summary(name: String) -> String {
        let graph = !isChain
        let width = graph ? 98 : 65
        let rule = String(repeating: "_", count: width)
        let double = String(repeating: "=", count: width)
        func row(_ a: String, _ b: String, _ c: String, _ d: String = "") -> String {
            " " + a.padding(27) + " " + b.padding(25) + " " + (graph ? c.padding(11) + " " + d : c)
        }
        var lines = ["Model: \"\(name)\"", rule, graph ? row("Layer (type)", "Output Shape", "Param #", "Connected to")
                                                    : row("Layer (type)", "Output Shape", "Param #"), double]
        for node in nodes {
            let sources = node.inputs.map { $0 == Node.modelInput ? "input" : nodes[$0].name }.joined(separator: ", ")
            lines.append(row("\(node.name) (\(typeName(node.layer)))", node.layer.outputShape.description,
                             grouped(node.layer.parameterCount), sources))
        }
        let trainable = layout.trainableCount
        lines += [
            double,
            "Total params: \(grouped(parameterCount)) (\(bytes(parameterCount * 4)))",
            "Trainable params: \(grouped(trainable)) (\(bytes(trainable * 4)))",
            "Non-trainable params: \(grouped(parameterCount - trainable)) (\(bytes((parameterCount - trainable) * 4)))",
            "Loss: \(loss.rawValue)",
            rule,
        ]
        return lines.joined(separator: "\n")
    }

    private func typeName(_ layer: any Layer) -> String {
        String(describing: type(of: layer))
    }
}

/// `1234567` → `1,234,567`.
func grouped(_ value: Int) -> String {
    let digits = String(value)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return out
}

private func bytes(_ count: Int) -> String {
    if count < 1024 { return "\(count) B" }
    if count < 1024 * 1024 { return String(Double(count) / 1024, decimals: 2) + " KB" }
    return String(Double(count) / 1_048_576, decimals: 2) + " MB"
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    /// A fixed-point rendering with `decimals` digits after the point, without Foundation.
    init(_ value: Double, decimals: Int) {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled) - whole * Int(scale)
        var fractionText = String(fraction)
        while fractionText.count < decimals { fractionText = "0" + fractionText }
        self = (value < 0 && scaled != 0 ? "-" : "") + String(whole) + (decimals > 0 ? "." + fractionText : "")
    }
}
