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

/// A stack of layers trained against one loss, with every parameter in one flat buffer.
///
/// The model holds no weights itself: callers pass the parameter buffer (and a gradient
/// buffer of the same layout) in, so the same model value serves a trainer, a worker
/// and a parameter server.
public struct Sequential: Sendable {
    public let inputShape: Shape
    public let layers: [any Layer]
    public let loss: Loss
    public let layout: ParameterLayout
    /// The model spec this model was built from, if any (recorded in checkpoints).
    public let spec: String
    /// Which layers run through a neighbour's kernel.
    let fusion: Fusion

    public init(inputShape: Shape, layers: [any Layer], loss: Loss, spec: String = "") throws {
        guard let last = layers.last else { throw ModelError.badSpec("a model needs at least one layer") }
        if let activation = loss.fusedActivation, last.kind != activation {
            throw ModelError.lossMismatch("\(loss.rawValue) needs the model to end in \(activation), it ends in \(last.kind)")
        }
        var shape = inputShape
        for (index, layer) in layers.enumerated() {
            guard layer.inputShape == shape else {
                throw ModelError.shapeMismatch("layer \(index) (\(layer.kind)) expects \(layer.inputShape), gets \(shape)")
            }
            shape = layer.outputShape
        }
        self.inputShape = inputShape
        self.layers = layers
        self.loss = loss
        self.spec = spec
        layout = ParameterLayout(layers: layers)
        fusion = Fusion(layers: layers)
    }

    public var outputShape: Shape { layers[layers.count - 1].outputShape }
    public var parameterCount: Int { layout.count }

    /// Keras-style initial parameters (Glorot-uniform kernels, zero biases), fixed by `seed`.
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
    public func forward(parameters: UnsafePointer<Float>, workspace: Workspace, batch: Int) -> UnsafeMutablePointer<Float> {
        precondition(batch <= workspace.capacity, "batch \(batch) exceeds workspace capacity \(workspace.capacity)")
        var input = UnsafePointer(workspace.input)
        for (index, layer) in layers.enumerated() {
            let output = workspace.activations[index]
            let parameters = parameters + layout.layerOffsets[index]
            switch fusion.forward[index] {
            case .alone: layer.forward(input, output, parameters: parameters, batch: batch)
            case .convolveWithReLU(let conv): conv.forward(input, output, parameters: parameters, batch: batch, relu: true)
            case .skip: break
            }
            input = UnsafePointer(output)
        }
        return workspace.activations[layers.count - 1]
    }

    /// Loss and accuracy of the samples in the workspace, without gradients.
    public func evaluate(parameters: UnsafePointer<Float>, workspace: Workspace, batch: Int) -> BatchMetrics {
        let output = forward(parameters: parameters, workspace: workspace, batch: batch)
        let lossSum = loss.evaluate(
            lossInput(workspace), labels: workspace.labels, gradient: nil, batch: batch, width: outputShape.count)
        let correct = correctPredictions(output, labels: workspace.labels, batch: batch, width: outputShape.count)
        return BatchMetrics(lossSum: lossSum, correct: correct, count: batch)
    }

    /// Forward, loss and backward over the samples in the workspace.
    ///
    /// Adds the gradient of the *sum* of the per-sample losses into `gradients` (same layout
    /// as the parameters); the caller divides by the sample count once a whole step is summed.
    public func accumulateGradients(
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>,
        workspace: Workspace, batch: Int
    ) -> BatchMetrics {
        let output = forward(parameters: parameters, workspace: workspace, batch: batch)
        let width = outputShape.count
        let fused = loss.fusedActivation != nil
        var delta = workspace.deltaA
        var spare = workspace.deltaB
        let lossSum = loss.evaluate(lossInput(workspace), labels: workspace.labels, gradient: delta, batch: batch, width: width)
        let correct = correctPredictions(output, labels: workspace.labels, batch: batch, width: width)

        // A fused loss already gave the gradient at the final activation's input.
        let top = fused ? layers.count - 2 : layers.count - 1
        for index in stride(from: top, through: 0, by: -1) {
            let input = index == 0 ? UnsafePointer(workspace.input) : UnsafePointer(workspace.activations[index - 1])
            let output = UnsafePointer(workspace.activations[index])
            let inputGradient = index == 0 ? nil : spare
            switch fusion.backward[index] {
            case .alone:
                layers[index].backward(
                    input: input, output: output, outputGradient: delta, inputGradient: inputGradient,
                    parameters: parameters + layout.layerOffsets[index],
                    gradients: gradients + layout.layerOffsets[index], batch: batch)
            case .poolThroughReLU(let pool):
                pool.backward(input: input, output: output, outputGradient: delta, inputGradient: inputGradient, batch: batch, relu: true)
            case .convolve(let conv):
                conv.backward(
                    input: input, outputGradient: delta, inputGradient: inputGradient,
                    parameters: parameters + layout.layerOffsets[index],
                    gradients: gradients + layout.layerOffsets[index], batch: batch, scratch: workspace.scratch)
            case .skip:
                continue
            }
            swap(&delta, &spare)
        }
        return BatchMetrics(lossSum: lossSum, correct: correct, count: batch)
    }

    /// What the loss reads: the final activation's input for the fused losses, the output otherwise.
    private func lossInput(_ workspace: Workspace) -> UnsafePointer<Float> {
        if loss.fusedActivation != nil {
            return layers.count >= 2 ? UnsafePointer(workspace.activations[layers.count - 2]) : UnsafePointer(workspace.input)
        }
        return UnsafePointer(workspace.activations[layers.count - 1])
    }
}
