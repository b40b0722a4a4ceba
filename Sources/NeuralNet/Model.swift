import Randomness

/// Loss and accuracy counts over some samples.
public struct BatchMetrics: Sendable, Equatable {
    /// Sum of the per-sample losses.
    public var lossSum: Double
    public var correct: Int
    public var count: Int

    public init(lossSum: Double = 0, correct: Int = 0, count: Int = 0) {
        self.lossSum = lossSum
        self.correct = correct
        self.count = count
    }

    public var meanLoss: Double { count == 0 ? 0 : lossSum / Double(count) }
    public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }

    public static func += (lhs: inout BatchMetrics, rhs: BatchMetrics) {
        lhs.lossSum += rhs.lossSum
        lhs.correct += rhs.correct
        lhs.count += rhs.count
    }
}

/// One layer of a model and the layers whose outputs it reads.
public struct Node: Sendable {
    /// The input index that stands for the model's input.
    public static let modelInput = -1

    public let layer: any Layer
    /// The nodes it reads, by index (earlier nodes only), or `Node.modelInput`. One, except for an add.
    public let inputs: [Int]
    /// The name a model file gave it, or `<kind>_<index>`.
    public let name: String

    public init(_ layer: any Layer, inputs: [Int], name: String) {
        self.layer = layer
        self.inputs = inputs
        self.name = name
    }
}

/// A graph of layers trained against one loss, with every parameter in one flat buffer.
///
/// The nodes are in an order where each reads only earlier ones, so the forward pass runs them
/// first to last and the backward pass last to first; a chain is the graph where node i reads
/// node i − 1. The last node is the output. The model holds no weights itself: callers pass the
/// parameter buffer (and a gradient buffer of the same layout) in, so the same model value serves
/// a trainer, a worker and a parameter server.
public struct Model: Sendable {
    public let inputShape: Shape
    public let nodes: [Node]
    public let loss: Loss
    public let layout: ParameterLayout
    /// The model spec this model was built from: a chain spec, or a model file's canonical JSON.
    public let spec: String
    /// Keras's `label_smoothing` for the cross-entropies (0: none); see `Loss.evaluate`.
    public var labelSmoothing: Float = 0
    /// For each node, the nodes that read its output, in order.
    public let consumers: [[Int]]
    /// Which layers run through a neighbour's kernel.
    let fusion: Fusion

    /// A chain: each layer reads the one before it.
    public init(inputShape: Shape, layers: [any Layer], loss: Loss, spec: String = "") throws {
        let nodes = layers.enumerated().map { index, layer in
            Node(layer, inputs: [index - 1], name: "\(layer.kind)_\(index)")
        }
        try self.init(inputShape: inputShape, nodes: nodes, loss: loss, spec: spec)
    }

    /// A graph; throws unless every node reads earlier nodes of the shapes it expects, and every
    /// node but the last is read.
    public init(inputShape: Shape, nodes: [Node], loss: Loss, spec: String = "") throws {
        guard let last = nodes.last else { throw ModelError.badSpec("a model needs at least one layer") }
        if let activation = loss.fusedActivation {
            guard last.layer.kind == activation, last.inputs.count == 1 else {
                throw ModelError.lossMismatch("\(loss.rawValue) needs the model to end in \(activation), it ends in \(last.layer.kind)")
            }
        }
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() {
            guard !node.inputs.isEmpty, node.inputs.count == 1 || node.layer is Add else {
                throw ModelError.shapeMismatch("layer \(node.name) (\(node.layer.kind)) takes one input, it is given \(node.inputs.count)")
            }
            for input in node.inputs {
                guard input == Node.modelInput || (0..<index).contains(input) else {
                    throw ModelError.badSpec("layer \(node.name) reads a layer that does not come before it")
                }
                let shape = input == Node.modelInput ? inputShape : nodes[input].layer.outputShape
                guard node.layer.inputShape == shape else {
                    let source = input == Node.modelInput ? "the input" : nodes[input].name
                    throw ModelError.shapeMismatch("layer \(node.name) (\(node.layer.kind)) expects \(node.layer.inputShape), gets \(shape) from \(source)")
                }
                if input != Node.modelInput { consumers[input].append(index) }
            }
        }
        for (index, node) in nodes.enumerated().dropLast() where consumers[index].isEmpty {
            throw ModelError.badSpec("the output of layer \(node.name) is not used; the model's output is its last layer")
        }
        self.inputShape = inputShape
        self.nodes = nodes
        self.loss = loss
        self.spec = spec
        self.consumers = consumers
        layout = ParameterLayout(layers: nodes.map(\.layer))
        fusion = Fusion(nodes: nodes, consumers: consumers)
    }

    public var layers: [any Layer] { nodes.map(\.layer) }
    public var outputShape: Shape { nodes[nodes.count - 1].layer.outputShape }
    public var parameterCount: Int { layout.count }
    /// Whether each node reads the one before it alone.
    public var isChain: Bool { nodes.enumerated().allSatisfy { $1.inputs == [$0 - 1] } }

    /// Keras-style initial parameters (Glorot-uniform kernels, zero biases, unit gammas and
    /// moving variances), fixed by `seed`.
    public func initialParameters(seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed, stream: "init")
        var parameters = [Float](repeating: 0, count: parameterCount)
        parameters.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            for (index, layer) in layers.enumerated() {
                layer.initialize(base + layout.layerOffsets[index], using: &generator)
            }
        }
        return parameters
    }

    /// Runs the samples in `workspace.input` through the model; returns the output (batch, outputShape).
    @discardableResult
    public func forward(
        parameters: UnsafePointer<Float>, workspace: Workspace, batch: Int, pass: Pass = .inference
    ) -> UnsafeMutablePointer<Float> {
        precondition(batch <= workspace.capacity, "batch \(batch) exceeds workspace capacity \(workspace.capacity)")
        for (index, node) in nodes.enumerated() {
            let output = workspace.activations[index]
            let parameters = parameters + layout.layerOffsets[index]
            switch fusion.forward[index] {
            case .alone:
                if let add = node.layer as? Add {
                    add.forward(workspace.output(of: node.inputs[0]), output, parameters: parameters, batch: batch)
                    for source in node.inputs.dropFirst() { add.accumulate(workspace.output(of: source), into: output, batch: batch) }
                } else {
                    var layerPass = pass
                    layerPass.layer = index
                    layerPass.cache = workspace.caches[index]
                    node.layer.forward(workspace.output(of: node.inputs[0]), output, parameters: parameters, batch: batch, pass: layerPass)
                }
            case .convolveWithReLU(let conv):
                conv.forward(workspace.output(of: node.inputs[0]), output, parameters: parameters, batch: batch, relu: true)
            case .skip: break
            }
        }
        return workspace.activations[nodes.count - 1]
    }

    /// Loss and accuracy of the samples in the workspace, without gradients (an inference pass).
    public func evaluate(parameters: UnsafePointer<Float>, workspace: Workspace, batch: Int) -> BatchMetrics {
        let output = forward(parameters: parameters, workspace: workspace, batch: batch)
        let lossSum = loss.evaluate(
            lossInput(workspace), labels: workspace.labels, gradient: nil, batch: batch, width: outputShape.count,
            labelSmoothing: labelSmoothing)
        let correct = correctPredictions(output, labels: workspace.labels, batch: batch, width: outputShape.count)
        return BatchMetrics(lossSum: lossSum, correct: correct, count: batch)
    }

    /// Forward, loss and backward over the samples in the workspace, in a training pass.
    ///
    /// Adds the gradient of the *sum* of the per-sample losses into `gradients` (same layout
    /// as the parameters); the caller divides by the sample count once a whole step is summed.
    /// Moving statistics get `batch ×` the batch's statistics in their slots (see `Layer`).
    public func accumulateGradients(
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>,
        workspace: Workspace, batch: Int, pass: Pass = Pass(training: true)
    ) -> BatchMetrics {
        precondition(workspace.hasGradients, "a workspace made without gradient buffers")
        let output = forward(parameters: parameters, workspace: workspace, batch: batch, pass: pass)
        let width = outputShape.count
        let last = nodes.count - 1
        // A fused loss gives the gradient at the final activation's input.
        let top = loss.fusedActivation != nil ? nodes[last].inputs[0] : last
        let written = workspace.written
        written.update(repeating: false, count: nodes.count)
        let lossGradient = top == Node.modelInput ? workspace.spareGradient : workspace.gradient(of: top)
        let lossSum = loss.evaluate(lossInput(workspace), labels: workspace.labels, gradient: lossGradient, batch: batch,
                                    width: width, labelSmoothing: labelSmoothing)
        let correct = correctPredictions(output, labels: workspace.labels, batch: batch, width: width)
        guard top != Node.modelInput else { return BatchMetrics(lossSum: lossSum, correct: correct, count: batch) }
        written[fusion.gradientOwner[top]] = true

        for index in stride(from: top, through: 0, by: -1) where written[fusion.gradientOwner[index]] {
            let node = nodes[index]
            let delta = UnsafePointer(workspace.gradient(of: index))
            let input = UnsafePointer(workspace.output(of: node.inputs[0]))
            let output = UnsafePointer(workspace.activations[index])
            let parameters = parameters + layout.layerOffsets[index]
            let gradients = gradients + layout.layerOffsets[index]
            switch fusion.backward[index] {
            case .skip:
                continue
            case .alone where node.layer is Add:
                for source in node.inputs where source != Node.modelInput {
                    sendGradient(to: source, batch: batch, workspace: workspace) { target in
                        target?.update(from: delta, count: batch * node.layer.outputShape.count)
                    }
                }
            case .alone:
                var layerPass = pass
                layerPass.layer = index
                layerPass.cache = workspace.caches[index]
                sendGradient(to: node.inputs[0], batch: batch, workspace: workspace) { target in
                    node.layer.backward(input: input, output: output, outputGradient: delta, inputGradient: target,
                                        parameters: parameters, gradients: gradients, batch: batch, pass: layerPass)
                }
            case .convolve(let conv):
                sendGradient(to: node.inputs[0], batch: batch, workspace: workspace) { target in
                    conv.backward(input: input, outputGradient: delta, inputGradient: target, parameters: parameters,
                                  gradients: gradients, batch: batch, scratch: workspace.scratch)
                }
            case .poolThroughReLU(let pool):
                let relu = nodes[node.inputs[0]]
                sendGradient(to: relu.inputs[0], batch: batch, workspace: workspace) { target in
                    pool.backward(input: input, output: output, outputGradient: delta, inputGradient: target, batch: batch, relu: true)
                }
            }
        }
        return BatchMetrics(lossSum: lossSum, correct: correct, count: batch)
    }

    /// Has `write` produce the gradient for node `source`'s output: straight into its buffer when
    /// nothing has yet, else into a spare buffer that is then added to it (in node order, so always
    /// the same sum). `write` gets nil for the model's input, whose gradient nobody needs.
    private func sendGradient(
        to source: Int, batch: Int, workspace: Workspace, _ write: (UnsafeMutablePointer<Float>?) -> Void
    ) {
        guard source != Node.modelInput else { return write(nil) }
        let written = workspace.written
        let owner = fusion.gradientOwner[source]
        let target = workspace.gradient(of: source)
        if !written[owner] {
            write(target)
            written[owner] = true
            return
        }
        let spare = workspace.spareGradient
        write(spare)
        for i in 0..<batch * nodes[source].layer.outputShape.count { target[i] += spare[i] }
    }

    /// What the loss reads: the final activation's input for the fused losses, the output otherwise.
    private func lossInput(_ workspace: Workspace) -> UnsafePointer<Float> {
        let last = nodes.count - 1
        if loss.fusedActivation != nil { return UnsafePointer(workspace.output(of: nodes[last].inputs[0])) }
        return UnsafePointer(workspace.activations[last])
    }
}
