import NeuralNet

/// The books of the step being collected: who computes each microbatch, what has come back, and
/// which block of gradients is next to add, in microbatch order.
///
/// A value with no I/O: the parameter server keeps one and asks it what to do; unit tests drive it
/// without processes. A worker sends each whole node of the step's `SumTree` it holds as one
/// block; blocks are added in the tree's order whoever computes what and in whichever order they
/// finish, which is what makes a step exact for any membership. Storage is kept from step to
/// step, so a steady-state step allocates nothing here.
public struct StepLedger {
    /// An empty ledger; `start` opens a step.
    public init() {}

    /// Whether a step is being collected.
    public private(set) var isCollecting = false
    /// The step's weights version (optimiser updates before it).
    public private(set) var version = 0
    public private(set) var epoch = 0
    /// The step's microbatches, as positions into the epoch's sample order.
    public private(set) var microbatches: [Range<Int>] = []
    /// The figures of each collected block, at its first microbatch.
    public private(set) var metrics: [BatchMetrics] = []
    /// Workers whose gradients were accepted.
    public private(set) var contributors = Set<UInt32>()
    /// Microbatches `[0, summed)` are in the step's sum.
    public private(set) var summed = 0
    /// The worker computing each microbatch; 0 while it waits for one.
    private var owner: [UInt32] = []
    private var received: [Bool] = []
    /// For the first microbatch of each collected block, where the block ends.
    private var blockEnd: [Int] = []
    private var pending: [Int] = []

    /// Whether every microbatch's gradient is in the sum.
    public var isComplete: Bool { summed == microbatches.count }

    /// Whether a microbatch waits for a worker.
    public var hasPending: Bool {
        owner.indices.contains { owner[$0] == 0 && !received[$0] }
    }

    /// Starts collecting a step: every microbatch waits for a worker.
    public mutating func start(version: Int, epoch: Int, microbatches: [Range<Int>]) {
        isCollecting = true
        self.version = version
        self.epoch = epoch
        self.microbatches = microbatches
        let count = microbatches.count
        owner.removeAll(keepingCapacity: true)
        owner.append(contentsOf: repeatElement(0, count: count))
        received.removeAll(keepingCapacity: true)
        received.append(contentsOf: repeatElement(false, count: count))
        metrics.removeAll(keepingCapacity: true)
        metrics.append(contentsOf: repeatElement(BatchMetrics(), count: count))
        blockEnd.removeAll(keepingCapacity: true)
        blockEnd.append(contentsOf: repeatElement(0, count: count))
        summed = 0
        contributors.removeAll(keepingCapacity: true)
    }

    /// Ends the step.
    public mutating func finish() {
        isCollecting = false
    }

    // MARK: - Dealing

    /// Share `part` of `parts` of the waiting microbatches: contiguous, near balanced, in order,
    /// cut where the shares make few whole nodes of the sum tree (`SumTree.cuts`); the shares for
    /// `0..<parts` together hold each waiting microbatch once. Assign it with `assign`.
    public mutating func share(_ part: Int, of parts: Int) -> ArraySlice<Int> {
        precondition(parts > 0 && (0..<parts).contains(part), "share \(part) of \(parts)")
        if part == 0 {
            pending.removeAll(keepingCapacity: true)
            for index in owner.indices where owner[index] == 0 && !received[index] { pending.append(index) }
        }
        // A whole step waiting (the usual case) is cut at aligned points; leftovers are cut evenly.
        guard pending.count == microbatches.count else {
            return pending[pending.count * part / parts..<pending.count * (part + 1) / parts]
        }
        let cuts = SumTree.cuts(pending.count, parts: parts)
        return pending[cuts[part]..<cuts[part + 1]]
    }

    /// Notes that `worker` computes the microbatches of `share`.
    public mutating func assign(_ share: ArraySlice<Int>, to worker: UInt32) {
        precondition(worker != 0, "worker ids start at 1")
        for index in share { owner[index] = worker }
    }

    /// Gives back the microbatches `worker` owed (a worker that left or fell silent); returns how many.
    public mutating func reassign(from worker: UInt32) -> Int {
        var count = 0
        for index in owner.indices where owner[index] == worker && !received[index] {
            owner[index] = 0
            count += 1
        }
        return count
    }

    // MARK: - Collecting

    /// Whether a gradient was taken, or why not.
    public enum Collected: Equatable {
        case accepted
        case refused(String)
    }

    /// Takes `worker`'s summed gradient of the microbatches `block` for step `step`, of
    /// `figures.count` samples, if the block is a node of the step's sum tree and this worker owes
    /// every microbatch of it for the step being collected.
    public mutating func collect(step: Int, block: Range<Int>, figures: BatchMetrics, from worker: UInt32) -> Collected {
        guard isCollecting, step == version else {
            return .refused("stale gradients for step \(step); the server is at step \(isCollecting ? version : -1)")
        }
        let what = block.count == 1 ? "microbatch \(block.lowerBound)" : "microbatches \(block.lowerBound)..<\(block.upperBound)"
        guard SumTree.isNode(block, of: microbatches.count) || block.count == 1 else {
            return .refused("gradients for \(what), which are not a node of the step's sum tree of \(microbatches.count)")
        }
        guard block.allSatisfy({ owner.indices.contains($0) && owner[$0] == worker && !received[$0] }) else {
            return .refused("gradients for \(what), which \(block.count == 1 ? "is" : "are") not assigned to worker \(worker)")
        }
        let samples = block.reduce(0) { $0 + microbatches[$1].count }
        guard figures.count == samples else {
            return .refused("\(what) \(block.count == 1 ? "has" : "have") \(samples) samples, the worker reported \(figures.count)")
        }
        for index in block { received[index] = true }
        blockEnd[block.lowerBound] = block.upperBound
        metrics[block.lowerBound] = figures
        contributors.insert(worker)
        return .accepted
    }

    /// The next block to add to the sum, once every block before it is in; it counts as summed from then on.
    public mutating func nextToSum() -> Range<Int>? {
        guard summed < microbatches.count, received[summed] else { return nil }
        let block = summed..<blockEnd[summed]
        summed = block.upperBound
        return block
    }
}
