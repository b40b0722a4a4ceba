import ArgumentParser
import CommandSupport
import Training

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Small demonstrations of how neurons learn.",
        subcommands: [PerceptronDemo.self, XorDemo.self]
    )
}

struct PerceptronDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perceptron",
        abstract: "Learn a logic gate with a single perceptron and the perceptron rule."
    )

    @Option(help: "Gate to learn: or, and (xor cannot be learned; see `backprop demo xor`).")
    var gate = "or"

    @Option(parsing: .unconditional, help: "Learning rate of the perceptron rule.")
    var lr = 0.1

    func validate() throws {
        guard gate == "or" || gate == "and" else { throw ValidationError("--gate must be or or and, got '\(gate)'") }
        guard lr > 0 else { throw ValidationError("--lr must be positive") }
    }

    func run() throws {
        let chosen = Demos.Gate(rawValue: gate) ?? .or
        let result = Demos.perceptron(gate: chosen, learningRate: lr)
        print("Perceptron learning \(gate.uppercased()) with the perceptron rule (learning rate \(lr))")
        for (epoch, mistakes) in result.mistakesPerEpoch.enumerated() {
            print("  epoch \(epoch + 1): \(mistakes) mistake\(mistakes == 1 ? "" : "s")")
        }
        let p = result.perceptron
        print("weights [\(fixed(p.weights[0], 2)), \(fixed(p.weights[1], 2))], bias \(fixed(p.bias, 2))")
        printTable(targets: chosen.targets, predictions: result.predictions)
    }
}

struct XorDemo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xor",
        abstract: "Show that one perceptron cannot learn XOR and a two-layer network trained by backpropagation can."
    )

    func run() throws {
        try runReportingErrors {
            let single = Demos.perceptron(gate: .xor, learningRate: 0.1, maxEpochs: 100)
            let wrong = zip(single.predictions, Demos.Gate.xor.targets).filter { $0 != $1 }.count
            print("1. One perceptron, perceptron rule, 100 epochs: it still made \(single.mistakesPerEpoch.last ?? 0) updates in the last epoch.")
            print("   No straight line separates XOR's 1s from its 0s, so it never converges.")
            printTable(targets: Demos.Gate.xor.targets, predictions: single.predictions)
            print("   After training, \(wrong) of 4 are wrong.\n")

            let network = try Demos.xorNetwork()
            print("2. Two layers (\(network.spec)), backpropagation + Adam, \(network.steps) steps: loss \(fixed(network.finalLoss))")
            printTable(targets: Demos.Gate.xor.targets, predictions: network.predictions, probabilities: network.probabilities)
        }
    }
}

private func printTable(targets: [Int], predictions: [Int], probabilities: [Float]? = nil) {
    print("   input   target  predicted")
    for (i, x) in Demos.Gate.inputs.enumerated() {
        let mark = predictions[i] == targets[i] ? "ok" : "WRONG"
        let p = probabilities.map { "  (p = \(fixed(Double($0[i]), 3)))" } ?? ""
        print("   [\(Int(x[0])), \(Int(x[1]))]  \(targets[i])       \(predictions[i])  \(mark)\(p)")
    }
}
