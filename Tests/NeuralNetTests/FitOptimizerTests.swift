import Foundation
import NeuralNet
import Randomness
import XCTest

/// Keras fit's optimiser options against PyTorch in float64, a few steps on random parameters and
/// gradients: RMSprop, Adam with decoupled weight decay (AdamW), SGD with decoupled weight decay,
/// and global-norm clipping; and the label-smoothed losses' gradients against finite differences.
///
/// `TorchReference` computes layers, not optimisers, so the optimiser cases go to a small script of
/// their own (`FitTorch`), run once per test process, skipped with a note when no Python imports
/// torch (failed when `BACKPROP_PYTHON` names one that cannot), as `TorchReference` does.
///
/// Where Keras's form and PyTorch's differ the peer is set up to agree or the difference stated:
/// - PyTorch's RMSprop adds ε outside the square root (`g / (√v + ε)`), Keras inside (`g / √(v + ε)`).
///   Against torch the gradients are large enough that ε = 1e-7 moves neither by more than 1e-9;
///   `testRMSpropPutsEpsilonInsideTheSquareRootAsKeras` checks Keras's form on tiny gradients in Double.
/// - PyTorch's Adam(W) adds ε to `√v̂` (bias-corrected), Keras to `√v`; with |g| ≥ 0.5 that too is below 1e-9.
/// - `clip_grad_norm_` divides by `norm + 1e-6`: relative 1e-7 here.
/// - PyTorch's SGD `weight_decay` is L2 (added to the gradient). Without momentum that is exactly
///   Keras's decoupled decay, `θ − lr·wd·θ − lr·g`; with momentum it is not, so there the script decays
///   the weights by `1 − lr·wd` before a plain momentum step, as Keras (and `torch.optim.AdamW`) do.
final class FitOptimizerTests: XCTestCase {
    // MARK: - Against PyTorch

    func testRMSpropMatchesTorch() throws {
        try compare(FitCases.rmsprop)
    }

    func testAdamWMatchesTorchAdamW() throws {
        try compare(FitCases.adamW)
    }

    func testAdamWWithClippingMatchesTorch() throws {
        try compare(FitCases.adamWClipped)
    }

    func testSGDWithWeightDecayMatchesTorch() throws {
        try compare(FitCases.sgdDecay)
    }

    func testSGDWithMomentumAndDecoupledWeightDecayMatchesTorch() throws {
        try compare(FitCases.sgdMomentumDecay)
    }

    func testGlobalNormClipMatchesTorch() throws {
        try compare(FitCases.sgdClipped)
    }

    /// Runs `fitCase` here (Float, the whole layout, as `PreparedRun.makeOptimizer` stacks the
    /// optimisers) and in torch (float64, the trainable values); after every step the trainable values
    /// agree within Float's rounding and the moving statistics are exactly their moving average, untouched by decay.
    private func compare(_ fitCase: FitCase, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try FitTorch.results()[fitCase.name]
        let torchSteps = try XCTUnwrap(expected, "the script returned nothing for \(fitCase.name)", file: file, line: line)
        XCTAssertEqual(torchSteps.count, fitCase.rates.count, file: file, line: line)
        let layout = fitCase.layout
        let trainable = layout.entries.filter(\.isTrainable).flatMap { Array($0.range) }
        let statistics = layout.movingAverages.flatMap { entry in entry.range.map { ($0, entry.movingAverageMomentum!) } }
        var optimizer = fitCase.makeOptimizer()
        var parameters = fitCase.parameters
        var worst = 0.0
        for (k, rate) in fitCase.rates.enumerated() {
            optimizer.learningRate = Float(rate)
            XCTAssertEqual(optimizer.learningRate, Float(rate), "the wrappers pass the rate on", file: file, line: line)
            let old = parameters
            let gradients = fitCase.gradients[k]
            optimizer.update(&parameters, gradients: gradients)
            XCTAssertEqual(optimizer.step, k + 1, file: file, line: line)
            let reference = torchSteps[k]
            XCTAssertEqual(reference.count, trainable.count, file: file, line: line)
            for (j, i) in trainable.enumerated() {
                let error = abs(Double(parameters[i]) - reference[j])
                worst = max(worst, error)
                if error > fitCase.tolerance {
                    XCTFail("\(fitCase.name) step \(k + 1): value \(i) is \(parameters[i]), torch \(reference[j]) (was \(old[i]))", file: file, line: line)
                    return
                }
            }
            for (i, momentum) in statistics {
                let average = old[i] * momentum + gradients[i] * (1 - momentum)
                XCTAssertEqual(parameters[i].bitPattern, average.bitPattern, "\(fitCase.name) step \(k + 1): statistic \(i) is \(parameters[i]), its moving average \(average)", file: file, line: line)
            }
        }
        // The case must move the weights well beyond the tolerance, or it would test nothing.
        let moved = trainable.map { abs(Double(parameters[$0]) - Double(fitCase.parameters[$0])) }.max() ?? 0
        XCTAssertGreaterThan(moved, 1_000 * fitCase.tolerance, "\(fitCase.name) hardly moved the weights", file: file, line: line)
        print("\(fitCase.name): largest difference from torch \(worst) over \(fitCase.rates.count) steps, weights moved up to \(moved)")
    }

    // MARK: - Forms checked in Double

    /// Keras's RMSprop, `θ − lr·g/√(v + ε)`, on gradients of 1e-4 to 1e-3, where v is about ε and the
    /// placement of ε matters: PyTorch's `g/(√v + ε)` would be far off.
    func testRMSpropPutsEpsilonInsideTheSquareRootAsKeras() {
        var rng = SeededGenerator(seed: 21)
        let count = 64
        var optimizer = RMSprop(parameterCount: count, learningRate: 0.01)
        var parameters = (0..<count).map { _ in Float(rng.nextGaussian()) }
        var theta = parameters.map(Double.init), thetaTorch = theta
        var v = [Double](repeating: 0, count: count), vTorch = v
        let (rho, epsilon) = (0.9, Double(Float(1e-7)))
        for step in 1...4 {
            let gradients = (0..<count).map { _ in Float((rng.nextUnitDouble() * 9e-4 + 1e-4) * (rng.nextUnitDouble() < 0.5 ? -1 : 1)) }
            optimizer.update(&parameters, gradients: gradients)
            for i in 0..<count {
                let g = Double(gradients[i])
                v[i] = rho * v[i] + (1 - rho) * g * g
                theta[i] -= 0.01 * g / (v[i] + epsilon).squareRoot()
                vTorch[i] = rho * vTorch[i] + (1 - rho) * g * g
                thetaTorch[i] -= 0.01 * g / (vTorch[i].squareRoot() + epsilon)
            }
            for i in 0..<count {
                XCTAssertEqual(Double(parameters[i]), theta[i], accuracy: 1e-6 + 1e-6 * abs(theta[i]), "step \(step) value \(i)")
            }
        }
        let apart = zip(theta, thetaTorch).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(apart, 1e-3, "these gradients should tell the two forms of ε apart")
    }

    /// Decoupled decay shrinks each trainable value by exactly `value · rate · lr` before the base's
    /// update (so with a zero gradient SGD leaves the shrunk value), at the rate set for that step, and
    /// never a moving statistic.
    func testDecoupledWeightDecayShrinksOnlyTrainableValuesByRateTimesTheStepsRate() throws {
        let layout = FitCases.batchNormLayout
        var optimizer: any Optimizer = DecoupledWeightDecay(SGD(parameterCount: layout.count, learningRate: 0.1), rate: 0.25, layout: layout)
        var rng = SeededGenerator(seed: 5)
        var parameters = (0..<layout.count).map { _ in Float(rng.nextGaussian()) }
        let zero = [Float](repeating: 0, count: layout.count)
        for rate: Float in [0.1, 0.4, 0.02] {
            optimizer.learningRate = rate
            let old = parameters
            optimizer.update(&parameters, gradients: zero)
            for entry in layout.entries {
                for i in entry.range {
                    let expected = entry.isTrainable ? old[i] - old[i] * (0.25 * rate) : old[i]
                    XCTAssertEqual(parameters[i].bitPattern, expected.bitPattern, "\(entry.name)[\(i - entry.offset)] at lr \(rate)")
                }
            }
        }
        XCTAssertEqual(optimizer.name, "sgd")
    }

    /// The clip's norm is over the trainable values only; under the norm the gradient passes untouched.
    func testGlobalNormIsOverTrainableValuesOnly() {
        let layout = FitCases.batchNormLayout
        var gradients = [Float](repeating: 0, count: layout.count)
        var sum = 0.0
        for entry in layout.entries {
            for i in entry.range {
                gradients[i] = entry.isTrainable ? Float(i % 7) * 0.125 - 0.375 : 1_000
                if entry.isTrainable { sum += Double(gradients[i]) * Double(gradients[i]) }
            }
        }
        let clip = GlobalNormClip(SGD(parameterCount: layout.count, learningRate: 1), norm: 1, layout: layout)
        XCTAssertEqual(gradients.withUnsafeBufferPointer { clip.globalNorm($0.baseAddress!) }, sum.squareRoot())

        // Under the norm: SGD with lr 1 takes exactly the gradient.
        var under = GlobalNormClip(SGD(parameterCount: 4, learningRate: 1), norm: 1, layout: FitCases.denseLayout(4))
        var parameters: [Float] = [0, 0, 0, 0]
        under.update(&parameters, gradients: [0.5, -0.5, 0.25, 0.5])
        XCTAssertEqual(parameters, [-0.5, 0.5, -0.25, -0.5])
        // Over it: scaled to norm 1 exactly (3-4-12 has norm 13).
        var over = GlobalNormClip(SGD(parameterCount: 4, learningRate: 1), norm: 1, layout: FitCases.denseLayout(4))
        parameters = [0, 0, 0, 0]
        over.update(&parameters, gradients: [3, 4, 12, 0])
        XCTAssertEqual(parameters, [-3 * Float(1.0 / 13), -4 * Float(1.0 / 13), -12 * Float(1.0 / 13), 0])
    }

    // MARK: - Label smoothing

    func testLabelSmoothedBinaryCrossEntropyGradients() {
        for width in [1, 4] {
            for smoothing in [0.1, 0.3] { checkSmoothedLoss(.binaryCrossEntropy, width: width, smoothing: smoothing) }
        }
    }

    func testLabelSmoothedSoftmaxCrossEntropyGradients() {
        for width in [1, 2, 4] {
            for smoothing in [0.1, 0.3] { checkSmoothedLoss(.softmaxCrossEntropy, width: width, smoothing: smoothing) }
        }
    }

    /// Smoothing 0 is the unsmoothed loss, bit for bit.
    func testZeroSmoothingIsTheUnsmoothedLoss() {
        var rng = SeededGenerator(seed: 9)
        for loss in [Loss.binaryCrossEntropy, .softmaxCrossEntropy] {
            let width = 4, batch = 5
            let v = (0..<batch * width).map { _ in Float(rng.nextGaussian() * 2) }
            let labels = (0..<batch).map { _ in Int32(rng.nextInt(below: width)) }
            var plain = [Float](repeating: 0, count: v.count), smoothed = plain
            let a = loss.evaluate(v, labels: labels, gradient: &plain, batch: batch, width: width)
            let b = loss.evaluate(v, labels: labels, gradient: &smoothed, batch: batch, width: width, labelSmoothing: 0)
            XCTAssertEqual(a.bitPattern, b.bitPattern, "\(loss)")
            XCTAssertEqual(plain.map(\.bitPattern), smoothed.map(\.bitPattern), "\(loss)")
            XCTAssertEqual(a, FitCases.smoothedLoss(loss, v.map(Double.init), labels: labels, width: width, smoothing: 0), accuracy: 1e-5)
        }
    }

    /// The model's `labelSmoothing` reaches the loss of both its training and evaluation passes; the
    /// parameters' gradient is that of the smoothed loss (finite differences of the whole model in Double).
    func testAModelTrainsAndEvaluatesOnTheSmoothedLoss() throws {
        for (spec, labels) in [("flatten,dense5-relu,dense4-softmax", [Int32(0), 3, 1]), ("flatten,dense3-relu,dense1-sigmoid", [1, 0, 1])] {
            var model = try ModelSpec.build(spec, inputShape: Shape(height: 3, width: 2, channels: 1))
            model.labelSmoothing = 0.2
            let batch = labels.count
            var rng = SeededGenerator(seed: 4)
            let workspace = Workspace(model: model, capacity: batch)
            for i in 0..<batch * model.inputShape.count { workspace.input[i] = rng.nextUnitFloat() }
            for (n, label) in labels.enumerated() { workspace.labels[n] = label }
            let p = model.initialParameters(seed: 2).map { $0 + Float(rng.nextGaussian() * 0.1) }
            var g = [Float](repeating: 0, count: p.count)
            let trained = model.accumulateGradients(parameters: p, gradients: &g, workspace: workspace, batch: batch)
            let evaluated = p.withUnsafeBufferPointer { model.evaluate(parameters: $0.baseAddress!, workspace: workspace, batch: batch) }
            let x = (0..<batch * model.inputShape.count).map { Double(workspace.input[$0]) }
            let pd = p.map(Double.init)
            func loss(_ p: [Double], smoothing: Double = 0.2) -> Double {
                let outputs = Reference.modelOutputs(model, x, p, batch: batch, pass: Pass(training: true))
                let logits = outputs[model.nodes[model.nodes.count - 1].inputs[0]]
                return FitCases.smoothedLoss(model.loss, logits, labels: labels, width: model.outputShape.count, smoothing: smoothing)
            }
            XCTAssertEqual(trained.lossSum, loss(pd), accuracy: 1e-5, spec)
            XCTAssertEqual(evaluated.lossSum, loss(pd), accuracy: 1e-5, spec)
            XCTAssertGreaterThan(abs(loss(pd) - loss(pd, smoothing: 0)), 1e-3, "\(spec): smoothing should change this loss")
            let h = 1e-6
            for entry in model.layout.entries where entry.isTrainable {
                for j in entry.range {
                    var plus = pd, minus = pd
                    plus[j] += h; minus[j] -= h
                    let numeric = (loss(plus) - loss(minus)) / (2 * h)
                    XCTAssertEqual(Double(g[j]), numeric, accuracy: 2e-5 + 1e-4 * abs(numeric), "\(spec) \(entry.name)[\(j - entry.offset)]")
                }
            }
        }
    }

    /// `Loss.evaluate` with smoothing ε against Keras's definition written out in Double — targets
    /// `t(1 − ε) + ε/2` for the binary cross-entropy, `t(1 − ε) + ε/width` for the softmax one — and
    /// its gradient against central differences of that definition.
    private func checkSmoothedLoss(_ loss: Loss, width: Int, smoothing: Double, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededGenerator(seed: UInt64(width * 10 + Int(smoothing * 10)))
        let batch = 4
        let v = (0..<batch * width).map { _ in Float(rng.nextGaussian() * 2) }
        let labels = (0..<batch).map { _ in Int32(rng.nextInt(below: width == 1 ? (loss == .binaryCrossEntropy ? 2 : 1) : width)) }
        var g = [Float](repeating: .nan, count: v.count)
        let total = loss.evaluate(v, labels: labels, gradient: &g, batch: batch, width: width, labelSmoothing: Float(smoothing))
        let vd = v.map(Double.init)
        let reference = FitCases.smoothedLoss(loss, vd, labels: labels, width: width, smoothing: smoothing)
        let what = "\(loss) width \(width) smoothing \(smoothing)"
        XCTAssertEqual(total, reference, accuracy: 2e-6 * max(1, abs(reference)), "\(what): value", file: file, line: line)
        if width > 1 || loss == .binaryCrossEntropy {
            XCTAssertGreaterThan(abs(reference - FitCases.smoothedLoss(loss, vd, labels: labels, width: width, smoothing: 0)), 1e-3,
                                 "\(what): smoothing should change the loss", file: file, line: line)
        }
        let h = 1e-6
        for i in vd.indices {
            var plus = vd, minus = vd
            plus[i] += h; minus[i] -= h
            let numeric = (FitCases.smoothedLoss(loss, plus, labels: labels, width: width, smoothing: smoothing)
                - FitCases.smoothedLoss(loss, minus, labels: labels, width: width, smoothing: smoothing)) / (2 * h)
            XCTAssertEqual(Double(g[i]), numeric, accuracy: 1e-6 + 1e-5 * abs(numeric), "\(what): d value[\(i)]", file: file, line: line)
        }
    }
}

// MARK: - The cases

/// One optimiser run: the stack `PreparedRun.makeOptimizer` builds (base, then decoupled decay, then
/// clipping, then the moving statistics' update), its per-step rates and gradients.
struct FitCase {
    var name: String
    /// For the script: rmsprop, adamw, sgd (torch's L2 weight_decay) or sgd_decoupled.
    var torchOptimizer: String
    var layout: ParameterLayout
    var rates: [Double]
    var weightDecay = 0.0
    var momentum = 0.0
    var clipNorm: Double?
    var parameters: [Float] = []
    var gradients: [[Float]] = []
    /// Largest difference from torch allowed in a trainable value.
    var tolerance = 2e-6

    func makeOptimizer() -> any Optimizer {
        let count = layout.count, lr = Float(rates[0])
        var optimizer: any Optimizer = switch torchOptimizer {
        case "rmsprop": RMSprop(parameterCount: count, learningRate: lr)
        case "adamw": Adam(parameterCount: count, learningRate: lr)
        default: SGD(parameterCount: count, learningRate: lr, momentum: Float(momentum))
        }
        if weightDecay > 0 { optimizer = DecoupledWeightDecay(optimizer, rate: Float(weightDecay), layout: layout) }
        if let clipNorm { optimizer = GlobalNormClip(optimizer, norm: clipNorm, layout: layout) }
        if !layout.movingAverages.isEmpty { optimizer = MovingAverages(optimizer, layout: layout) }
        return optimizer
    }

    /// Random weights, and gradients of magnitude 0.5 to 2 (scaled by `gradientScale(step)`); the
    /// moving statistics' slots hold plausible batch statistics (positive for variances).
    func withValues(seed: UInt64, gradientScale: (Int) -> Float = { _ in 1 }) -> FitCase {
        var filled = self
        var rng = SeededGenerator(seed: seed)
        filled.parameters = (0..<layout.count).map { _ in Float(rng.nextGaussian()) }
        filled.gradients = rates.indices.map { step in
            layout.entries.flatMap { entry in
                entry.range.map { _ -> Float in
                    let magnitude = Float(0.5 + 1.5 * rng.nextUnitDouble())
                    if entry.name.hasSuffix("moving_variance") { return magnitude }
                    return (rng.nextUnitDouble() < 0.5 ? -magnitude : magnitude) * gradientScale(step)
                }
            }
        }
        return filled
    }

    /// What the script reads: the trainable values only, as doubles (exactly the Floats used here).
    var torchCase: [String: Any] {
        let trainable = layout.entries.filter(\.isTrainable).flatMap { Array($0.range) }
        var object: [String: Any] = [
            "name": name, "optimizer": torchOptimizer, "rates": rates, "weight_decay": weightDecay, "momentum": momentum,
            "eps": Double(Float(1e-7)), "rho": Double(Float(0.9)),
            "parameters": trainable.map { Double(parameters[$0]) },
            "gradients": gradients.map { step in trainable.map { Double(step[$0]) } },
        ]
        if let clipNorm { object["clip_norm"] = clipNorm }
        return object
    }
}

enum FitCases {
    /// A layout with batch norms between trainable tensors, so the trainable values are not one block.
    static let batchNormLayout: ParameterLayout = {
        // A spec that builds cannot fail here; a failure shows as a crash naming the spec.
        try! ModelSpec.build("conv3x3same,batchnorm,relu,gap,batchnorm,dense3-softmax", inputShape: Shape(height: 4, width: 4, channels: 2)).layout
    }()

    /// The layout of one dense layer of `count / 2` units on a single input: `count` trainable values (count even).
    static func denseLayout(_ count: Int) -> ParameterLayout {
        precondition(count % 2 == 0)
        return try! ModelSpec.build("flatten,dense\(count / 2)", inputShape: Shape(height: 1, width: 1, channels: 1)).layout
    }

    static let rates = [0.02, 0.05, 0.01, 0.03, 0.02, 0.04]

    static let rmsprop = FitCase(name: "rmsprop", torchOptimizer: "rmsprop", layout: denseLayout(40), rates: rates).withValues(seed: 1)
    static let adamW = FitCase(name: "adamw", torchOptimizer: "adamw", layout: batchNormLayout, rates: rates.map { $0 * 2 },
                               weightDecay: 0.5).withValues(seed: 2)
    /// Norms of about 12 clipped to 8, except steps 3 and 5, scaled under it. (Clipped much further, the
    /// gradients get small enough for the two forms of Adam's ε to part by 2e-6 in six steps.)
    static let adamWClipped = FitCase(name: "adamw_clipped", torchOptimizer: "adamw", layout: batchNormLayout, rates: rates,
                                      weightDecay: 0.1, clipNorm: 8).withValues(seed: 3) { [2, 4].contains($0) ? 0.5 : 1 }
    static let sgdDecay = FitCase(name: "sgd", torchOptimizer: "sgd", layout: batchNormLayout, rates: rates.map { $0 * 5 },
                                  weightDecay: 0.5).withValues(seed: 4)
    static let sgdMomentumDecay = FitCase(name: "sgd_decoupled", torchOptimizer: "sgd_decoupled", layout: batchNormLayout,
                                          rates: [Double](repeating: 0.1, count: 6), weightDecay: 0.5, momentum: 0.9).withValues(seed: 5)
    static let sgdClipped = FitCase(name: "sgd_clipped", torchOptimizer: "sgd", layout: batchNormLayout, rates: rates.map { $0 * 10 },
                                    clipNorm: 1).withValues(seed: 6) { [1, 4].contains($0) ? 0.01 : 1 }

    static let all = [rmsprop, adamW, adamWClipped, sgdDecay, sgdMomentumDecay, sgdClipped]

    /// The summed smoothed loss of a batch, Keras's definition written out in Double.
    static func smoothedLoss(_ loss: Loss, _ v: [Double], labels: [Int32], width: Int, smoothing: Double) -> Double {
        var total = 0.0
        for (n, label) in labels.enumerated() {
            let z = Array(v[n * width..<(n + 1) * width])
            let onehot: [Double] = (0..<width).map { width == 1 ? Double(label) : (Int(label) == $0 ? 1 : 0) }
            switch loss {
            case .binaryCrossEntropy:
                let t = onehot.map { $0 * (1 - smoothing) + smoothing / 2 }
                total += zip(z, t).map { z, t in
                    let p = 1 / (1 + exp(-z))
                    return -t * log(p) - (1 - t) * log(1 - p)
                }.reduce(0, +) / Double(width)
            case .softmaxCrossEntropy:
                let t = onehot.map { $0 * (1 - smoothing) + smoothing / Double(width) }
                let top = z.max() ?? 0
                let logSum = top + log(z.map { exp($0 - top) }.reduce(0, +))
                total += zip(z, t).map { z, t in -t * (z - logSum) }.reduce(0, +)
            case .meanSquaredError:
                total += zip(z, onehot).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(width)
            }
        }
        return total
    }
}

// MARK: - The script

/// PyTorch's optimisers in float64 on `FitCases.all`, computed once per test process.
enum FitTorch {
    /// Each case's trainable values after every step, by case name.
    typealias Results = [String: [[Double]]]

    static func results() throws -> Results {
        switch outcome {
        case .success(let results): return results
        case .failure(let failure):
            if case .missing(let note) = failure { throw XCTSkip(note) }
            throw failure
        }
    }

    enum Failure: Error, CustomStringConvertible {
        case missing(String)
        case broken(String)
        var description: String {
            switch self {
            case .missing(let note), .broken(let note): note
            }
        }
    }

    static let outcome: Result<Results, Failure> = {
        let named = ProcessInfo.processInfo.environment["BACKPROP_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
        let python = named ?? "python3"
        do {
            let input = try JSONSerialization.data(withJSONObject: FitCases.all.map(\.torchCase))
            let (status, output, errors) = try run(python, ["-c", script], input: input)
            if status == 0, let results = try? JSONDecoder().decode(Results.self, from: output) {
                return .success(results)
            }
            let why = "\(python) exited \(status): \(errors.split(separator: "\n").last.map(String.init) ?? String(decoding: output, as: UTF8.self))"
            if named == nil && (status == 3 || status == 127) {
                return .failure(.missing("""
                    PyTorch comparison skipped: \(why). To run it, install the CPU wheel, python3 -m pip install \
                    torch==2.13.0+cpu, or set BACKPROP_PYTHON to a Python that has torch.
                    """))
            }
            return .failure(.broken(named.map { "BACKPROP_PYTHON=\($0) cannot run the optimiser script (\(why))" } ?? why))
        } catch {
            return .failure(named == nil ? .missing("PyTorch comparison skipped: cannot run python3 (\(error))") : .broken("\(error)"))
        }
    }()

    /// `python arguments` with `input` on stdin; its status, stdout and stderr.
    private static func run(_ python: String, _ arguments: [String], input: Data) throws -> (Int32, Data, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("FitTorch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inPath = directory.appendingPathComponent("in.json"), outPath = directory.appendingPathComponent("out.json"),
            errPath = directory.appendingPathComponent("err.txt")
        try input.write(to: inPath)
        FileManager.default.createFile(atPath: outPath.path, contents: nil)
        FileManager.default.createFile(atPath: errPath.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python] + arguments
        process.standardInput = try FileHandle(forReadingFrom: inPath)
        process.standardOutput = try FileHandle(forWritingTo: outPath)
        process.standardError = try FileHandle(forWritingTo: errPath)
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, (try? Data(contentsOf: outPath)) ?? Data(),
                String(decoding: (try? Data(contentsOf: errPath)) ?? Data(), as: UTF8.self))
    }

    /// Reads the cases (a JSON list) on stdin, writes {name: [trainable values after each step]} on stdout.
    /// Exits 3 when torch cannot be imported.
    static let script = #"""
import json, sys
try:
    import torch
except Exception as error:
    print(f"cannot import torch: {error}", file=sys.stderr)
    sys.exit(3)
torch.set_default_dtype(torch.float64)
results = {}
for case in json.load(sys.stdin):
    p = torch.nn.Parameter(torch.tensor(case["parameters"], dtype=torch.float64))
    kind, lr, wd = case["optimizer"], case["rates"][0], case["weight_decay"]
    if kind == "rmsprop":
        opt = torch.optim.RMSprop([p], lr=lr, alpha=case["rho"], eps=case["eps"])
    elif kind == "adamw":
        opt = torch.optim.AdamW([p], lr=lr, betas=(0.9, 0.999), eps=case["eps"], weight_decay=wd)
    elif kind == "sgd":
        opt = torch.optim.SGD([p], lr=lr, momentum=case["momentum"], weight_decay=wd)
    elif kind == "sgd_decoupled":
        opt = torch.optim.SGD([p], lr=lr, momentum=case["momentum"])
    else:
        raise SystemExit(f"unknown optimizer {kind}")
    steps = []
    for rate, gradient in zip(case["rates"], case["gradients"]):
        for group in opt.param_groups:
            group["lr"] = rate
        p.grad = torch.tensor(gradient, dtype=torch.float64)
        if case.get("clip_norm") is not None:
            torch.nn.utils.clip_grad_norm_([p], case["clip_norm"])
        if kind == "sgd_decoupled":
            with torch.no_grad():
                p.mul_(1 - rate * wd)
        opt.step()
        steps.append(p.detach().tolist())
    results[case["name"]] = steps
json.dump(results, sys.stdout)
"""#
}
