import CAllocationCounter
import Training

/// `backprop-bench --allocations`: counts the heap allocations of the training step once it is warm.
///
/// For each model and thread count, takes a few steps to warm up, then counts every malloc,
/// calloc, realloc and aligned allocation of the whole process (all threads) over `steps`
/// more. A step is `trainStep`, the code `backprop train` and the parameter server run: the
/// microbatch gradients (`LocalGradients`, with 1 and 2 threads), their sum in order, the
/// average and the optimiser's update. Logging the step is not part of it.
enum AllocationCheck {
    static let warmUpSteps = 3
    static let batchSize = 40
    /// 40 = 16 + 16 + 8: whole microbatches and a short one.
    static let microbatch = 16
    static let threadCounts = [1, 2]

    /// Prints one line per model and thread count; false if any step allocated or the counter does not count.
    static func run(models: [String], steps: Int) throws -> Bool {
        guard counterWorks() else {
            print("error: the allocation counter did not see a deliberate allocation; malloc is not interposed, so nothing can be measured")
            return false
        }
        print("backprop-bench --allocations: heap allocations per training step, all threads, over \(steps) steps after \(warmUpSteps) warm-up steps; batch \(batchSize), microbatch \(microbatch)")
        var clean = true
        for name in models {
            let run = try TrainingRig.prepare(model: name, batchSize: batchSize, microbatch: microbatch, steps: warmUpSteps + steps)
            for threads in threadCounts {
                let allocations = try count(run, threads: threads, steps: steps)
                clean = clean && allocations == 0
                let perStep = Double(allocations) / Double(steps)
                print("\(name) threads \(threads): \(allocations) allocations in \(steps) steps, \(perStep) per step")
            }
        }
        return clean
    }

    /// Whether an allocation made the way Swift makes them moves the counter.
    private static func counterWorks() -> Bool {
        let before = bp_allocation_count()
        let probe = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
        probe.deallocate()
        return bp_allocation_count() > before
    }

    /// Allocations in `steps` steps of `run` after the warm-up.
    private static func count(_ run: PreparedRun, threads: Int, steps: Int) throws -> UInt {
        let rig = TrainingRig(run: run, threads: threads)
        for _ in 0..<warmUpSteps { try rig.takeStep() }
        let start = bp_allocation_count()
        for _ in 0..<steps { try rig.takeStep() }
        return bp_allocation_count() - start
    }
}
