import Datasets
import Messaging
import NeuralNet

/// Computes the gradient of one microbatch: the unit of work, done the same way wherever it runs.
///
/// The result is the gradient of the *sum* of the microbatch's per-sample losses, computed
/// from a zeroed buffer with the same kernels in the same order, so it is bit-for-bit the
/// same on any machine, in any process, for any number of workers.
public final class GradientComputer {
    public let model: Model
    private let data: ImageSet
    private let workspace: Workspace
    private let augmentation: Augmentation
    private let seed: UInt64

    /// data: the training images; microbatch: the largest number of samples asked for at once;
    /// augmentation: how images are changed, drawn from (`seed`, epoch, sample index).
    public init(model: Model, data: ImageSet, microbatch: Int, augmentation: Augmentation = Augmentation(), seed: UInt64 = 0) {
        self.model = model
        self.data = data
        self.augmentation = augmentation
        self.seed = seed
        workspace = Workspace(model: model, capacity: microbatch)
    }

    /// Overwrites `gradient` (parameterCount) with the summed gradient of the samples `order[positions]`
    /// of epoch `epoch` (which augmentation and dropout masks depend on, with the positions).
    public func compute(
        order: [Int], positions: Range<Int>, epoch: Int = 0,
        parameters: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>
    ) -> BatchMetrics {
        precondition(positions.count <= workspace.capacity, "microbatch larger than the workspace")
        data.gather(order[positions], augmentation: augmentation, seed: seed, epoch: epoch,
                    images: workspace.input, labels: workspace.labels)
        gradient.initialize(repeating: 0, count: model.parameterCount)
        let pass = Pass(training: true, seed: seed, epoch: epoch, firstPosition: positions.lowerBound)
        return model.accumulateGradients(parameters: parameters, gradients: gradient, workspace: workspace, batch: positions.count, pass: pass)
    }
}

/// A step's summed gradient and figures, then its mean over the step's samples.
public struct StepGradient {
    public private(set) var values: [Float]
    public private(set) var metrics = BatchMetrics()

    public init(parameterCount: Int) {
        values = [Float](repeating: 0, count: parameterCount)
    }

    /// Takes the step's sum: everything pushed into `sum`, added in the `SumTree`'s order.
    public mutating func take(_ sum: PairwiseSum) {
        precondition(sum.parameterCount == values.count, "a sum of \(sum.parameterCount) values for a step of \(values.count)")
        metrics = values.withUnsafeMutableBufferPointer { sum.finish(into: $0.baseAddress.unsafelyUnwrapped) }
    }

    /// The index of the first NaN or infinite value of the sum, if any.
    public var firstNonFinite: Int? {
        values.withUnsafeBytes { LittleEndianFloats.firstNonFinite(in: $0) }
    }

    /// Divides the sum by the number of samples added: the mean gradient of the step.
    public mutating func average() {
        let n = Float(metrics.count)
        values.withUnsafeMutableBufferPointer { sum in
            for i in 0..<sum.count { sum[i] /= n }
        }
    }
}

/// Loss and accuracy of a model over a whole image set, in batches of the workspace's capacity.
public func evaluate(model: Model, parameters: [Float], on set: ImageSet, workspace: Workspace) -> BatchMetrics {
    var total = BatchMetrics()
    var start = 0
    parameters.withUnsafeBufferPointer { p in
        guard let base = p.baseAddress else { return }
        while start < set.count {
            let end = min(start + workspace.capacity, set.count)
            set.gather(start..<end, images: workspace.input, labels: workspace.labels)
            total += model.evaluate(parameters: base, workspace: workspace, batch: end - start)
            start = end
        }
    }
    return total
}
