import Randomness

/// Sample order and step slicing: the exactness contract of the trainer.
///
/// Epoch `e` visits the samples in `order(sampleCount:epoch:seed:)`; step `t` takes the
/// positions `batch(t)` of that order, cut into `microbatches(ofStep: t)`. Every worker
/// computes the same plan from the same numbers, so no sample is skipped or counted twice.
public struct EpochPlan: Sendable {
    /// Samples in one epoch.
    public let sampleCount: Int
    /// Samples per step (the global batch, as in Keras).
    public let batchSize: Int
    /// Samples per microbatch, the unit of work handed to a worker.
    public let microbatch: Int

    /// The order in which epoch `epoch` (0-based) visits `sampleCount` samples: a permutation drawn
    /// from SeededGenerator(seed: seed, stream: "epoch-\(epoch)"). Same inputs → same order everywhere.
    public static func order(sampleCount: Int, epoch: Int, seed: UInt64) -> [Int] {
        precondition(sampleCount >= 0, "sampleCount must not be negative")
        var generator = SeededGenerator(seed: seed, stream: "epoch-\(epoch)")
        return generator.permutation(of: sampleCount)
    }

    /// Creates the plan for epochs of `sampleCount` samples in steps of `batchSize`, cut into `microbatch` pieces.
    public init(sampleCount: Int, batchSize: Int, microbatch: Int) {
        precondition(sampleCount > 0, "sampleCount must be positive")
        precondition(batchSize > 0, "batchSize must be positive")
        precondition(microbatch > 0, "microbatch must be positive")
        self.sampleCount = sampleCount
        self.batchSize = batchSize
        self.microbatch = microbatch
    }

    /// Steps per epoch: ceil(sampleCount / batchSize) (the last batch may be short, as in Keras).
    public var stepsPerEpoch: Int { (sampleCount + batchSize - 1) / batchSize }

    /// The most microbatches any step has: those of the first, a full batch (or every sample).
    public var microbatchesPerStep: Int { (min(batchSize, sampleCount) + microbatch - 1) / microbatch }

    /// Positions (into the epoch's order) of step `step`'s samples: [step*B, min((step+1)*B, sampleCount)).
    public func batch(_ step: Int) -> Range<Int> {
        precondition(step >= 0 && step < stepsPerEpoch, "step \(step) is outside 0..<\(stepsPerEpoch)")
        return step * batchSize..<min((step + 1) * batchSize, sampleCount)
    }

    /// The step's microbatches, in global order: consecutive cuts of `batch(step)` into pieces of `microbatch` positions (the last may be shorter).
    public func microbatches(ofStep step: Int) -> [Range<Int>] {
        let positions = batch(step)
        return stride(from: positions.lowerBound, to: positions.upperBound, by: microbatch).map { start in
            start..<min(start + microbatch, positions.upperBound)
        }
    }
}
