#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The training objectives. A model's loss is the mean over samples of the per-sample loss.
///
/// The two cross-entropies are computed from logits — the input of the model's final
/// `sigmoid` or `softmax` layer — which keeps them finite for any logit and makes their
/// gradient simply `probability - target`. Mean squared error works on the model's output.
public enum Loss: String, Sendable, CaseIterable {
    /// `max(z, 0) - z·t + log(1 + e^-|z|)` per output, averaged over outputs; needs a final sigmoid.
    case binaryCrossEntropy = "binary_crossentropy"
    /// `log Σ e^z_j - z_label`; needs a final softmax. Labels are class indices.
    case softmaxCrossEntropy = "softmax_crossentropy"
    /// `mean_j (y_j - t_j)^2` against the one-hot label (or the label itself for one output).
    case meanSquaredError = "mse"

    /// The final layer kind whose input the loss reads as logits, if any.
    public var fusedActivation: String? {
        switch self {
        case .binaryCrossEntropy: return "sigmoid"
        case .softmaxCrossEntropy: return "softmax"
        case .meanSquaredError: return nil
        }
    }

    /// The target of output `j` (of `width`) for a sample with class `label`.
    @inlinable
    static func target(_ label: Int32, output j: Int, width: Int) -> Float {
        width == 1 ? Float(label) : (Int(label) == j ? 1 : 0)
    }

    /// Sums the per-sample losses of a batch and, if asked, writes the gradient of that sum.
    ///
    /// values: (batch, width) — logits for the cross-entropies, outputs for MSE;
    /// labels: (batch); gradient: (batch, width), overwritten with d(sum of losses)/d(values).
    /// `labelSmoothing` ε moves the cross-entropies' targets towards uniform, as Keras does:
    /// `t·(1 − ε) + ε/2` for binary cross-entropy, `t·(1 − ε) + ε/width` for softmax cross-entropy.
    public func evaluate(
        _ values: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
        gradient: UnsafeMutablePointer<Float>?, batch: Int, width: Int, labelSmoothing: Float = 0
    ) -> Double {
        let keep = 1 - labelSmoothing
        var total = 0.0
        for n in 0..<batch {
            let v = values + n * width
            let label = labels[n]
            let g = gradient.map { $0 + n * width }
            switch self {
            case .binaryCrossEntropy:
                var sum: Float = 0
                for j in 0..<width {
                    let z = v[j]
                    let t = Loss.target(label, output: j, width: width) * keep + labelSmoothing / 2
                    sum += max(z, 0) - z * t + log1pf(expf(-abs(z)))
                    g?[j] = (sigmoid(z) - t) / Float(width)
                }
                total += Double(sum / Float(width))
            case .softmaxCrossEntropy:
                var top = v[0]
                for j in 1..<max(width, 1) where v[j] > top { top = v[j] }
                var sum: Float = 0
                for j in 0..<width { sum += expf(v[j] - top) }
                let logSum = top + logf(sum)
                if labelSmoothing == 0 {
                    total += Double(logSum - v[Int(label)])
                } else {
                    let share = labelSmoothing / Float(width)
                    var targeted: Float = 0
                    for j in 0..<width { targeted += (Int(label) == j ? keep + share : share) * v[j] }
                    total += Double(logSum - targeted)
                }
                if let g {
                    let share = labelSmoothing / Float(width)
                    for j in 0..<width {
                        g[j] = expf(v[j] - logSum) - (Int(label) == j ? keep + share : share)
                    }
                }
            case .meanSquaredError:
                var sum: Float = 0
                for j in 0..<width {
                    let d = v[j] - Loss.target(label, output: j, width: width)
                    sum += d * d
                    g?[j] = 2 * d / Float(width)
                }
                total += Double(sum / Float(width))
            }
        }
        return total
    }
}

/// Counts the samples a batch of outputs classifies correctly.
///
/// outputs: (batch, width). One output is read as P(class 1) against 0.5; several
/// outputs are read by their largest value (the first one on ties).
public func correctPredictions(
    _ outputs: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, width: Int
) -> Int {
    var correct = 0
    for n in 0..<batch where predictedClass(outputs + n * width, width: width) == Int(labels[n]) {
        correct += 1
    }
    return correct
}

/// The class a single sample's outputs predict.
public func predictedClass(_ output: UnsafePointer<Float>, width: Int) -> Int {
    if width == 1 { return output[0] > 0.5 ? 1 : 0 }
    var best = 0
    for j in 1..<width where output[j] > output[best] { best = j }
    return best
}
