import Messaging
import NeuralNet

/// The order in which a step adds its microbatch gradients: a binary tree fixed by the step's
/// microbatch count alone.
///
/// Over microbatches `[0, n)`, the tree's nodes are the aligned blocks `[lo, lo + 2^k)` with
/// `lo` a multiple of `2^k`. A node is the sum of its two halves, left + right; a half that lies
/// wholly past `n` is absent, and the node is then its left half. The step's sum is the root,
/// the smallest such node that holds all of `[0, n)`. Because every node's value is fixed by
/// this definition, it does not matter where it is computed: a worker that holds a whole node
/// adds it up and sends one buffer, the server adds the nodes it receives, and `backprop
/// train` walks the same tree; the bits are the same. Float addition is commutative, so
/// writing a sum into either operand's memory, or a third buffer, gives the same bits.
///
/// In a run whose gradients travel as bfloat16, every node is rounded to bfloat16: a leaf is its
/// gradient rounded, a node the rounded sum of its halves. The rounding points are the tree's,
/// not the wire's, so the bits still do not depend on who computed what.
public enum SumTree {
    /// `indices` (increasing) cut into the fewest whole nodes: each contiguous run split greedily
    /// from its start into the largest aligned block that fits.
    public static func blocks<Indices: Sequence<Int>>(of indices: Indices) -> [Range<Int>] {
        var blocks: [Range<Int>] = []
        var run: Range<Int>?
        func flush() {
            guard var rest = run else { return }
            while !rest.isEmpty {
                var size = 1
                while rest.lowerBound % (size * 2) == 0 && size * 2 <= rest.count { size *= 2 }
                blocks.append(rest.lowerBound..<rest.lowerBound + size)
                rest = rest.lowerBound + size..<rest.upperBound
            }
        }
        for index in indices {
            if let current = run, current.upperBound == index {
                run = current.lowerBound..<index + 1
            } else {
                flush()
                run = index..<index + 1
            }
        }
        flush()
        return blocks
    }

    /// Whether `block` is a node of the tree over `[0, count)` whose microbatches all exist.
    public static func isNode(_ block: Range<Int>, of count: Int) -> Bool {
        let size = block.count
        return size > 0 && size & (size - 1) == 0 && block.lowerBound >= 0 && block.lowerBound % size == 0 && block.upperBound <= count
    }

    /// Balanced cut points for dealing `count` microbatches in `parts` contiguous shares, each
    /// moved by at most a quarter of a share towards the most aligned index near it, so that
    /// shares are few whole nodes. Returns `parts + 1` increasing points from 0 to `count`.
    public static func cuts(_ count: Int, parts: Int) -> [Int] {
        precondition(parts > 0, "cuts into no parts")
        let slack = count / (4 * parts)
        return (0...parts).map { part in
            let balanced = count * part / parts
            guard part > 0, part < parts, slack > 0 else { return balanced }
            let low = max(balanced - slack, count * (part - 1) / parts + 1)
            let high = min(balanced + slack, count * (part + 1) / parts - 1)
            guard low <= high else { return balanced }
            return (low...high).max { alignment($0) < alignment($1) || (alignment($0) == alignment($1) && abs($0 - balanced) > abs($1 - balanced)) } ?? balanced
        }
    }

    /// The largest power of two dividing `index` (0 counts as the most aligned).
    private static func alignment(_ index: Int) -> Int {
        index == 0 ? Int.max : index & -index
    }
}

/// Adds gradients in the `SumTree`'s order as they come, left to right: microbatch gradients,
/// or whole nodes summed elsewhere.
///
/// Blocks are pushed in order, each starting where the last ended. Two neighbours that make up a
/// node are added as soon as both are in (a binary counter); `finish` adds what is left from the
/// right, which is the tree's order at its ragged right edge. Buffers are kept from step to step,
/// so a steady-state step allocates nothing.
public final class PairwiseSum {
    /// One pending node: its values (in a buffer of ours, or the caller's) and figures.
    private struct Entry {
        var block: Range<Int>
        var values: UnsafePointer<Float>
        /// Index into `buffers` when the values are in one of ours.
        var owned: Int?
        var metrics: BatchMetrics
    }

    public let parameterCount: Int
    /// Whether every node is rounded to bfloat16 (see `SumTree`).
    public let roundsToBFloat16: Bool
    private var buffers: [UnsafeMutablePointer<Float>] = []
    private var free: [Int] = []
    private var stack: [Entry] = []
    /// Where the next block must start.
    public private(set) var next = 0

    public init(parameterCount: Int, roundsToBFloat16: Bool = false) {
        self.parameterCount = parameterCount
        self.roundsToBFloat16 = roundsToBFloat16
        stack.reserveCapacity(64)
    }

    deinit {
        buffers.forEach { $0.deallocate() }
    }

    /// Forgets everything pushed, for a new step.
    public func reset() {
        for entry in stack { if let owned = entry.owned { free.append(owned) } }
        stack.removeAll(keepingCapacity: true)
        next = 0
    }

    /// Pushes node `block` whose values the caller keeps valid until `finish` or `reset`.
    public func push(_ values: UnsafePointer<Float>, metrics: BatchMetrics, block: Range<Int>) {
        append(Entry(block: block, values: values, owned: nil, metrics: metrics))
    }

    /// Pushes node `block` whose values are valid only during this call (they are copied if they must be kept).
    public func pushTransient(_ values: UnsafePointer<Float>, metrics: BatchMetrics, block: Range<Int>) {
        let depth = stack.count
        append(Entry(block: block, values: values, owned: nil, metrics: metrics))
        // Added into its left neighbour at once, or kept in a buffer of ours.
        guard stack.count == depth + 1, stack[depth].owned == nil, stack[depth].values == values else { return }
        let copy = takeBuffer()
        buffers[copy].update(from: values, count: parameterCount)
        stack[depth].values = UnsafePointer(buffers[copy])
        stack[depth].owned = copy
    }

    /// Pushes node `block`, computed by `compute` into a buffer of ours.
    public func pushComputed(block: Range<Int>, _ compute: (UnsafeMutablePointer<Float>) -> BatchMetrics) {
        let buffer = takeBuffer()
        let metrics = compute(buffers[buffer])
        append(Entry(block: block, values: UnsafePointer(buffers[buffer]), owned: buffer, metrics: metrics))
    }

    /// Writes the sum of everything pushed into `destination` and returns its figures; then starts over.
    public func finish(into destination: UnsafeMutablePointer<Float>) -> BatchMetrics {
        defer { reset() }
        guard var sum = stack.popLast() else {
            destination.initialize(repeating: 0, count: parameterCount)
            return BatchMetrics()
        }
        while let left = stack.popLast() {
            // The last addition writes straight into the destination.
            sum = add(left, sum, into: stack.isEmpty ? destination : nil)
        }
        if sum.values != UnsafePointer(destination) {
            destination.update(from: sum.values, count: parameterCount)
            // A lone leaf is rounded here; a sum was rounded when it was added.
            if roundsToBFloat16 { BFloat16.round(destination, count: parameterCount) }
        }
        if let owned = sum.owned { free.append(owned) }
        return sum.metrics
    }

    private func append(_ entry: Entry) {
        precondition(entry.block.lowerBound == next && !entry.block.isEmpty, "block \(entry.block) pushed where \(next) was due")
        next = entry.block.upperBound
        stack.append(entry)
        // Neighbours of one size, the left one aligned to twice that: the two halves of a node.
        while stack.count >= 2 {
            let right = stack[stack.count - 1], left = stack[stack.count - 2]
            let size = right.block.count
            guard left.block.count == size, left.block.lowerBound % (2 * size) == 0 else { break }
            stack.removeLast(2)
            stack.append(add(left, right, into: nil))
        }
    }

    /// `left + right`, written into `destination` when given, else into whichever operand is ours, else into a new buffer of ours.
    private func add(_ left: Entry, _ right: Entry, into destination: UnsafeMutablePointer<Float>?) -> Entry {
        var result = Entry(block: left.block.lowerBound..<right.block.upperBound, values: left.values, owned: nil,
                           metrics: Self.sum(left.metrics, right.metrics))
        let target: UnsafeMutablePointer<Float>
        if let destination {
            target = destination
        } else if let owned = left.owned ?? right.owned {
            target = buffers[owned]
            result.owned = owned
        } else {
            let buffer = takeBuffer()
            target = buffers[buffer]
            result.owned = buffer
        }
        let a = left.values, b = right.values
        if roundsToBFloat16 {
            // Rounding is idempotent: operands that are nodes already are unchanged by it, leaves are rounded.
            for i in 0..<parameterCount { target[i] = BFloat16.round(BFloat16.round(a[i]) + BFloat16.round(b[i])) }
        } else {
            for i in 0..<parameterCount { target[i] = a[i] + b[i] }
        }
        result.values = UnsafePointer(target)
        if let owned = left.owned, owned != result.owned { free.append(owned) }
        if let owned = right.owned, owned != result.owned { free.append(owned) }
        return result
    }

    /// Two nodes' figures, added as their gradients are: left + right.
    private static func sum(_ left: BatchMetrics, _ right: BatchMetrics) -> BatchMetrics {
        BatchMetrics(lossSum: left.lossSum + right.lossSum, correct: left.correct + right.correct, count: left.count + right.count)
    }

    private func takeBuffer() -> Int {
        if let index = free.popLast() { return index }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(parameterCount, 1))
        buffer.initialize(repeating: 0, count: max(parameterCount, 1))
        buffers.append(buffer)
        return buffers.count - 1
    }
}
