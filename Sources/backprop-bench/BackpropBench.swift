import Datasets
import Foundation
import NeuralNet
import Training

/// Times the kernels in one thread: each model's forward and forward+backward, the unit of
/// work as a worker runs it (`GradientComputer.compute`, gathering included), and every
/// layer's forward and backward on its own, per sample, at several microbatch sizes.
///
///     swift build -c release --product backprop-bench && .build/release/backprop-bench
///
/// Options: `--long` (three passes over everything with longer rounds, for figures a busy
/// machine disturbs less), `--model NAME` and `--microbatch N` (repeatable; default all
/// three presets at 8, 16 and 32), `--calls N` (exactly N calls per figure, no timing
/// rounds: for `valgrind --tool=callgrind`, whose instruction counts do not change with the
/// machine's load). Each figure is the best of its timed rounds over all passes, so a busy
/// machine shows up as noise, not as a slower kernel.
///
/// `--allocations [--steps N]` instead counts the heap allocations of warm training steps
/// (see `AllocationCheck`) and exits 1 unless every count is zero; `--threads N` times the
/// training step with 1 and N threads (see `ThreadScaling`).
@main
enum BackpropBench {
    static func main() throws {
        var arguments = CommandLine.arguments.dropFirst()
        var budget = 0.005
        let rounds = 3
        var passes = 1
        var models: [String] = []
        var microbatches: [Int] = []
        var calls: Int?
        var allocations = false
        var steps = 20
        var threads: Int?
        while let argument = arguments.popFirst() {
            switch argument {
            case "--long":
                budget = 0.03
                passes = 3
            case "--model": models.append(value(&arguments, for: argument))
            case "--microbatch":
                guard let m = Int(value(&arguments, for: argument)), m > 0 else { fail("--microbatch needs a positive number") }
                microbatches.append(m)
            case "--calls":
                guard let n = Int(value(&arguments, for: argument)), n > 0 else { fail("--calls needs a positive number") }
                calls = n
            case "--allocations": allocations = true
            case "--threads":
                guard let n = Int(value(&arguments, for: argument)), n > 0 else { fail("--threads needs a positive number") }
                threads = n
            case "--steps":
                guard let n = Int(value(&arguments, for: argument)), n > 0 else { fail("--steps needs a positive number") }
                steps = n
            default: fail("unknown argument '\(argument)'")
            }
        }
        // The presets made for 28x28 images; the photo models need larger ones.
        if models.isEmpty { models = ["seed-cnn", "mnist-cnn", "large-cnn"] }
        if allocations {
            exit(try AllocationCheck.run(models: models, steps: steps) ? 0 : 1)
        }
        if let threads {
            try ThreadScaling.run(models: models, threads: threads)
            return
        }
        if microbatches.isEmpty { microbatches = [8, 16, 32] }

        var benches: [(name: String, bench: Bench)] = []
        for name in models {
            let classes = name == "seed-cnn" ? 2 : 10
            let dataset = try Dataset.load(.synthetic(classes: classes, seed: 0), trainLimit: 512, testLimit: 0)
            let images = dataset.train
            let model = try ModelSpec.build(name, inputShape: Shape(height: images.height, width: images.width, channels: images.channels))
            for m in microbatches {
                benches.append((name, Bench(model: model, images: images, microbatch: m, budget: budget, rounds: rounds, calls: calls)))
            }
        }
        var best: [Timing?] = Array(repeating: nil, count: benches.count)
        for _ in 0..<passes {
            for (index, entry) in benches.enumerated() {
                let timing = entry.bench.measure()
                best[index] = best[index].map { $0.fastest(timing) } ?? timing
            }
        }

        print("backprop-bench: one thread, \(kernelVariant) kernels, per sample, best of \(passes * rounds) rounds of ≥\(Int(budget * 1000)) ms; FLOPs from shapes (multiply-add = 2)")
        printTable(
            ["model", "mb", "fwd samples/s", "fwd GFLOP/s", "fwd+bwd samples/s", "fwd+bwd GFLOP/s", "compute() samples/s"],
            zip(benches, best).map { $0.bench.summaryRow(name: $0.name, $1!) })
        print("")
        printTable(
            ["model", "mb", "layer", "fwd µs", "fwd GFLOP/s", "bwd µs", "bwd GFLOP/s", "share"],
            zip(benches, best).flatMap { $0.bench.layerRows(name: $0.name, $1!) })
    }

    private static func value(_ arguments: inout ArraySlice<String>, for flag: String) -> String {
        guard let value = arguments.popFirst() else { fail("\(flag) needs a value") }
        return value
    }

    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\nusage: backprop-bench [--long] [--model NAME]... [--microbatch N]... [--calls N]\n       backprop-bench --allocations [--model NAME]... [--steps N]\n       backprop-bench --threads N [--model NAME]...\n".utf8))
        exit(1)
    }

    /// Prints rows under a header, columns padded to their widest cell (text left, numbers right).
    private static func printTable(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        for (index, row) in all.enumerated() {
            let cells = row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column <= 2 && column != 1 ? cell + pad : pad + cell
            }
            print(cells.joined(separator: "  "))
            if index == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
    }
}

/// One model at one microbatch size: buffers, timings and the rows they print as.
final class Bench {
    let model: Model
    let images: ImageSet
    let microbatch: Int
    let budget: Double
    let rounds: Int
    /// A fixed number of calls per figure instead of timed rounds.
    let calls: Int?
    private let workspace: Workspace
    private let parameters: UnsafeMutablePointer<Float>
    private let gradients: UnsafeMutablePointer<Float>
    /// Stand-ins for the gradients flowing between layers, each as large as the widest layer.
    private let outputGradient, inputGradient, scratch: UnsafeMutablePointer<Float>

    init(model: Model, images: ImageSet, microbatch: Int, budget: Double, rounds: Int, calls: Int?) {
        self.model = model
        self.images = images
        self.microbatch = microbatch
        self.budget = budget
        self.rounds = rounds
        self.calls = calls
        workspace = Workspace(model: model, capacity: microbatch)
        images.gather(0..<microbatch, images: workspace.input, labels: workspace.labels)
        parameters = .allocate(capacity: model.parameterCount)
        parameters.initialize(from: model.initialParameters(seed: 1), count: model.parameterCount)
        gradients = .allocate(capacity: model.parameterCount)
        gradients.initialize(repeating: 0, count: model.parameterCount)
        let widest = microbatch * (model.layers.map { max($0.inputShape.count, $0.outputShape.count) }.max() ?? 1)
        outputGradient = .allocate(capacity: widest)
        var state: UInt32 = 12345
        for i in 0..<widest {
            state = state &* 1_664_525 &+ 1_013_904_223
            outputGradient[i] = Float(Int32(bitPattern: state) >> 8) / Float(1 << 23) * 0.01
        }
        inputGradient = .allocate(capacity: widest)
        inputGradient.initialize(repeating: 0, count: widest)
        scratch = .allocate(capacity: widest)
        scratch.initialize(repeating: 0, count: widest)
    }

    deinit {
        [parameters, gradients, outputGradient, inputGradient, scratch].forEach { $0.deallocate() }
    }

    /// Times everything once: the model, the unit of work, then each layer alone.
    func measure() -> Timing {
        let forward = time { _ = model.forward(parameters: parameters, workspace: workspace, batch: microbatch) }
        let step = time {
            _ = model.accumulateGradients(parameters: parameters, gradients: gradients, workspace: workspace, batch: microbatch)
        }
        let computer = GradientComputer(model: model, data: images, microbatch: microbatch)
        let order = Array(0..<images.count)
        var start = 0
        let unit = time {
            _ = computer.compute(order: order, positions: start..<start + microbatch, parameters: parameters, gradient: gradients)
            start = (start + microbatch) % (images.count - microbatch)
        }
        // Each layer on the activations of a real forward pass and a fixed pseudo-random output gradient.
        model.forward(parameters: parameters, workspace: workspace, batch: microbatch)
        var layerForward: [Double] = [], layerBackward: [Double] = []
        for (index, layer) in model.layers.enumerated() {
            let source = model.nodes[index].inputs[0]
            let input = UnsafePointer(source == Node.modelInput ? workspace.input : workspace.activation(source))
            let output = UnsafePointer(workspace.activation(index))
            let offset = model.layout.layerOffsets[index]
            layerForward.append(time { layer.forward(input, scratch, parameters: parameters + offset, batch: microbatch) })
            layerBackward.append(time {
                layer.backward(
                    input: input, output: output, outputGradient: outputGradient,
                    inputGradient: source == Node.modelInput ? nil : inputGradient,
                    parameters: parameters + offset, gradients: gradients + offset, batch: microbatch)
            })
        }
        return Timing(forward: forward, step: step, unit: unit, layerForward: layerForward, layerBackward: layerBackward)
    }

    func summaryRow(name: String, _ timing: Timing) -> [String] {
        let costs = model.layers.enumerated().map { LayerCost($1, isFirst: $0 == 0) }
        let forwardFlops = costs.map(\.forward).reduce(0, +)
        let backwardFlops = costs.map(\.backward).reduce(0, +)
        let n = Double(microbatch)
        return [name, String(microbatch),
                format(n / timing.forward, 0), format(forwardFlops * n / timing.forward / 1e9, 2),
                format(n / timing.step, 0), format((forwardFlops + backwardFlops) * n / timing.step / 1e9, 2),
                format(n / timing.unit, 0)]
    }

    func layerRows(name: String, _ timing: Timing) -> [[String]] {
        let total = zip(timing.layerForward, timing.layerBackward).map(+).reduce(0, +)
        let n = Double(microbatch)
        return model.layers.enumerated().map { index, layer in
            let cost = LayerCost(layer, isFirst: index == 0)
            let (forward, backward) = (timing.layerForward[index], timing.layerBackward[index])
            return [name, String(microbatch), "\(index) \(layer.benchName)",
                    format(forward / n * 1e6, 2), cost.forward > 0 ? format(cost.forward * n / forward / 1e9, 2) : "-",
                    format(backward / n * 1e6, 2), cost.backward > 0 ? format(cost.backward * n / backward / 1e9, 2) : "-",
                    format(100 * (forward + backward) / total, 1) + "%"]
        }
    }

    /// Seconds per call of `body`: calls it in rounds of at least `budget` seconds, keeps the best round.
    private func time(_ body: () -> Void) -> Double {
        if let calls {
            let start = ContinuousClock.now
            for _ in 0..<calls { body() }
            return seconds(ContinuousClock.now - start) / Double(calls)
        }
        body()
        var calls = 1
        var best = Double.infinity
        for _ in 0..<rounds {
            var elapsed = 0.0
            while true {
                let start = ContinuousClock.now
                for _ in 0..<calls { body() }
                elapsed = seconds(ContinuousClock.now - start)
                if elapsed >= budget { break }
                calls = max(calls * 2, Int(Double(calls) * budget / max(elapsed, 1e-9)) + 1)
            }
            best = min(best, elapsed / Double(calls))
        }
        return best
    }

    private func seconds(_ duration: Duration) -> Double {
        let (whole, attoseconds) = duration.components
        return Double(whole) + Double(attoseconds) * 1e-18
    }
}

/// Seconds per call of each figure of one model at one microbatch size.
struct Timing {
    var forward, step, unit: Double
    var layerForward, layerBackward: [Double]

    /// The faster of the two for every figure.
    func fastest(_ other: Timing) -> Timing {
        Timing(forward: min(forward, other.forward), step: min(step, other.step), unit: min(unit, other.unit),
               layerForward: zip(layerForward, other.layerForward).map(min),
               layerBackward: zip(layerBackward, other.layerBackward).map(min))
    }
}

private func format(_ value: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}
