import NeuralNet

/// The teaching demos behind `backprop demo`: the perceptron on logic gates, and XOR.
public enum Demos {
    /// A two-input logic gate's truth table.
    public enum Gate: String, CaseIterable, Sendable {
        case or, and, xor

        public static let inputs: [[Double]] = [[0, 0], [0, 1], [1, 0], [1, 1]]

        public var targets: [Int] {
            switch self {
            case .or: return [0, 1, 1, 1]
            case .and: return [0, 0, 0, 1]
            case .xor: return [0, 1, 1, 0]
            }
        }
    }

    /// What a perceptron learned: its weights, how many epochs it took, and its answers.
    public struct PerceptronResult: Sendable {
        public let perceptron: Perceptron
        /// Mistakes made in each epoch, in order.
        public let mistakesPerEpoch: [Int]
        public let predictions: [Int]
        /// Epoch (from 1) after which a full pass made no mistake; nil if that never happened.
        public var convergedAfter: Int? { mistakesPerEpoch.firstIndex(of: 0).map { $0 + 1 } }
    }

    /// Trains a perceptron on `gate` with the perceptron rule, stopping after the first epoch without mistakes.
    public static func perceptron(gate: Gate, learningRate: Double = 0.1, maxEpochs: Int = 100) -> PerceptronResult {
        var perceptron = Perceptron(inputs: 2)
        var mistakes: [Int] = []
        for _ in 0..<maxEpochs {
            let count = perceptron.trainEpoch(inputs: Gate.inputs, targets: gate.targets, learningRate: learningRate)
            mistakes.append(count)
            if count == 0 { break }
        }
        return PerceptronResult(perceptron: perceptron, mistakesPerEpoch: mistakes, predictions: Gate.inputs.map(perceptron.predict))
    }

    /// A two-layer network trained on XOR by backpropagation.
    public struct NetworkResult: Sendable {
        public let spec: String
        public let steps: Int
        public let finalLoss: Double
        /// P(output = 1) for each of the four inputs.
        public let probabilities: [Float]
        public var predictions: [Int] { probabilities.map { $0 > 0.5 ? 1 : 0 } }
    }

    /// Trains `dense4-sigmoid,dense1-sigmoid` on the four XOR rows with full-batch Adam.
    public static func xorNetwork(seed: UInt64 = 1, steps: Int = 1500, learningRate: Float = 0.05) throws -> NetworkResult {
        let spec = "dense4-sigmoid,dense1-sigmoid"
        let model = try ModelSpec.build(spec, inputShape: Shape([2]))
        let workspace = Workspace(model: model, capacity: 4)
        for (n, x) in Gate.inputs.enumerated() {
            workspace.input[2 * n] = Float(x[0])
            workspace.input[2 * n + 1] = Float(x[1])
            workspace.labels[n] = Int32(Gate.xor.targets[n])
        }
        var parameters = model.initialParameters(seed: seed)
        var gradients = [Float](repeating: 0, count: model.parameterCount)
        var adam = Adam(parameterCount: model.parameterCount, learningRate: learningRate)
        var loss = 0.0
        for _ in 0..<steps {
            for i in gradients.indices { gradients[i] = 0 }
            loss = model.accumulateGradients(parameters: parameters, gradients: &gradients, workspace: workspace, batch: 4).meanLoss
            for i in gradients.indices { gradients[i] /= 4 }
            adam.update(&parameters, gradients: gradients)
        }
        let output = model.forward(parameters: parameters, workspace: workspace, batch: 4)
        return NetworkResult(spec: spec, steps: steps, finalLoss: loss, probabilities: (0..<4).map { output[$0] })
    }
}
