/// A model's training state as a safetensors file: weights, optimiser state, progress.
///
/// Tensors: every parameter under its layout name (`conv2d_0.kernel`, `dense_4.bias`, …) with
/// its natural shape, and each optimiser buffer as `optimizer.<state>.<name>` (Adam: `m`, `v`;
/// SGD with momentum: `velocity`). Metadata (all strings): `format` = `backprop-checkpoint`,
/// `format_version`, `model` (the spec), `input_shape`, `loss`, `optimizer`, `step` (optimiser
/// steps done), `epoch` (epochs completed), `seed`, and any extra fields the caller adds.
public struct Checkpoint: Sendable {
    public static let format = "backprop-checkpoint"
    public static let formatVersion = "1"

    public var parameters: [Float]
    public var optimizerName: String
    public var optimizerState: [String: [Float]]
    public var step: Int
    public var epoch: Int
    public var seed: UInt64
    /// Every metadata field, including the standard ones.
    public var metadata: [String: String]

    /// Captures the state of a run.
    public init(model: Model, parameters: [Float], optimizer: any Optimizer, epoch: Int, seed: UInt64, extra: [String: String] = [:]) {
        precondition(parameters.count == model.parameterCount, "parameter count does not match the model")
        self.parameters = parameters
        optimizerName = optimizer.name
        optimizerState = Dictionary(uniqueKeysWithValues: optimizer.state.map { ($0.name, $0.values) })
        step = optimizer.step
        self.epoch = epoch
        self.seed = seed
        var metadata = extra
        metadata["format"] = Checkpoint.format
        metadata["format_version"] = Checkpoint.formatVersion
        metadata["model"] = model.spec
        metadata["input_shape"] = model.inputShape.dimensions.map(String.init).joined(separator: "x")
        metadata["loss"] = model.loss.rawValue
        metadata["optimizer"] = optimizer.name
        metadata["step"] = String(optimizer.step)
        metadata["epoch"] = String(epoch)
        metadata["seed"] = String(seed)
        self.metadata = metadata
    }

    /// The safetensors bytes, tensors in layout order, then the optimiser's buffers.
    public func encoded(for model: Model) -> [UInt8] {
        var tensors = model.layout.entries.map {
            NamedTensor(name: $0.name, shape: $0.shape, values: Array(parameters[$0.range]))
        }
        for stateName in optimizerState.keys.sorted() {
            guard let values = optimizerState[stateName] else { continue }
            tensors += model.layout.entries.map {
                NamedTensor(name: "optimizer.\(stateName).\($0.name)", shape: $0.shape, values: Array(values[$0.range]))
            }
        }
        return SafeTensorsFile(metadata: metadata, tensors: tensors).encoded()
    }

    /// Reads a checkpoint and checks that it fits `model`: every tensor present with the right shape, nothing extra.
    public init(decoding bytes: [UInt8], fitting model: Model) throws {
        let file = try SafeTensorsFile(decoding: bytes)
        let metadata = file.metadata
        guard metadata["format"] == Checkpoint.format else {
            throw ModelError.checkpointMismatch("not a Backprop checkpoint (metadata 'format' is \(metadata["format"].map { "'\($0)'" } ?? "missing"))")
        }
        guard metadata["format_version"] == Checkpoint.formatVersion else {
            throw ModelError.checkpointMismatch("checkpoint format version \(metadata["format_version"] ?? "?") is not supported (this build reads \(Checkpoint.formatVersion))")
        }
        func number<T: FixedWidthInteger>(_ key: String) throws -> T {
            guard let text = metadata[key], let value = T(text), value >= 0 else {
                throw ModelError.checkpointMismatch("metadata '\(key)' is missing or not a whole number ≥ 0")
            }
            return value
        }
        let saved = metadata["model"] ?? "?"
        let describe = saved == model.spec ? "" : " (the checkpoint was saved from '\(saved)', the model is '\(model.spec)')"
        var parameters = [Float](repeating: 0, count: model.parameterCount)
        var byName: [String: NamedTensor] = [:]
        for tensor in file.tensors { byName[tensor.name] = tensor }
        for entry in model.layout.entries {
            guard let tensor = byName.removeValue(forKey: entry.name) else {
                throw ModelError.checkpointMismatch("tensor \(entry.name) is missing\(describe)")
            }
            guard tensor.shape == entry.shape else {
                throw ModelError.checkpointMismatch("tensor \(entry.name) has shape \(tensor.shape), the model needs \(entry.shape)\(describe)")
            }
            parameters.replaceSubrange(entry.range, with: tensor.values)
        }
        var state: [String: [Float]] = [:]
        for name in byName.keys.sorted() {
            let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "optimizer", let entry = model.layout.entry(named: parts[2]) else {
                throw ModelError.checkpointMismatch("tensor \(name) is not part of the model\(describe)")
            }
            guard let tensor = byName[name], tensor.shape == entry.shape else {
                throw ModelError.checkpointMismatch("tensor \(name) has the wrong shape, the model needs \(entry.shape)")
            }
            state[parts[1], default: [Float](repeating: 0, count: model.parameterCount)].replaceSubrange(entry.range, with: tensor.values)
        }
        for (stateName, _) in state {
            for entry in model.layout.entries where byName["optimizer.\(stateName).\(entry.name)"] == nil {
                throw ModelError.checkpointMismatch("tensor optimizer.\(stateName).\(entry.name) is missing")
            }
        }
        self.parameters = parameters
        optimizerState = state
        optimizerName = metadata["optimizer"] ?? ""
        step = try number("step")
        epoch = try number("epoch")
        seed = try number("seed")
        self.metadata = metadata
    }

    /// Puts the saved optimiser state into `optimizer`; throws if it is another kind of optimiser.
    public func restore(into optimizer: inout any Optimizer) throws {
        guard optimizer.name == optimizerName else {
            throw ModelError.checkpointMismatch("the checkpoint was trained with \(optimizerName), the run uses \(optimizer.name)")
        }
        try optimizer.restore(state: optimizerState, step: step)
    }
}
