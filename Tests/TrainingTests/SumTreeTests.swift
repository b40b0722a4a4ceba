import Messaging
import NeuralNet
import Training
import XCTest

/// The step's sum order: a tree fixed by the microbatch count, the same bits however the sum is split.
final class SumTreeTests: XCTestCase {
    private let width = 33

    /// The tree's definition, written the slow and obvious way: a node is left + right, an absent right half leaves the left.
    private func reference(_ leaves: [[Float]], _ lo: Int, _ size: Int) -> [Float] {
        if size == 1 { return leaves[lo] }
        let half = size / 2
        let left = reference(leaves, lo, half)
        guard lo + half < leaves.count else { return left }
        let right = reference(leaves, lo + half, half)
        return zip(left, right).map { $0 + $1 }
    }

    private func root(_ leaves: [[Float]]) -> [Float] {
        var size = 1
        while size < leaves.count { size *= 2 }
        return reference(leaves, 0, size)
    }

    /// Values of very different sizes, so that the order of addition shows in the bits.
    private func leaves(_ count: Int, _ generator: inout SystemRandomNumberGenerator) -> [[Float]] {
        (0..<count).map { _ in (0..<width).map { _ in Float.random(in: -1...1, using: &generator) * pow(10, Float(Int.random(in: -6...6, using: &generator))) } }
    }

    private func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    private func finish(_ sum: PairwiseSum) -> ([Float], BatchMetrics) {
        var out = [Float](repeating: .nan, count: width)
        let metrics = out.withUnsafeMutableBufferPointer { sum.finish(into: $0.baseAddress!) }
        return (out, metrics)
    }

    func testBlocksAreTheFewestWholeNodes() {
        XCTAssertEqual(SumTree.blocks(of: [3, 4, 5, 6]), [3..<4, 4..<6, 6..<7])
        XCTAssertEqual(SumTree.blocks(of: Array(0..<8)), [0..<8])
        XCTAssertEqual(SumTree.blocks(of: Array(8..<20)), [8..<16, 16..<20])
        XCTAssertEqual(SumTree.blocks(of: [0, 1, 5, 6, 7]), [0..<2, 5..<6, 6..<8], "a gap starts a new run")
        XCTAssertEqual(SumTree.blocks(of: []), [])
        XCTAssertTrue(SumTree.isNode(4..<6, of: 6))
        XCTAssertFalse(SumTree.isNode(4..<8, of: 6), "past the step's end")
        XCTAssertFalse(SumTree.isNode(2..<6, of: 8), "not aligned")
        XCTAssertFalse(SumTree.isNode(0..<3, of: 8), "not a power of two")
    }

    func testCutsAreBalancedAndAlignedWhereTheyCanBe() {
        XCTAssertEqual(SumTree.cuts(32, parts: 3), [0, 8, 20, 32])
        XCTAssertEqual(SumTree.cuts(32, parts: 2), [0, 16, 32])
        XCTAssertEqual(SumTree.cuts(4, parts: 3), [0, 1, 2, 4])
        XCTAssertEqual(SumTree.cuts(3, parts: 5), [0, 0, 1, 1, 2, 3])
        for count in 1...64 {
            for parts in 1...8 {
                let cuts = SumTree.cuts(count, parts: parts)
                XCTAssertEqual(cuts.first, 0)
                XCTAssertEqual(cuts.last, count)
                XCTAssertEqual(cuts, cuts.sorted(), "\(count) in \(parts)")
                let largest = zip(cuts, cuts.dropFirst()).map { $1 - $0 }.max() ?? 0
                XCTAssertLessThanOrEqual(largest, (count + parts - 1) / parts + 2 * (count / (4 * parts)), "\(count) in \(parts): \(cuts)")
            }
        }
    }

    /// Microbatch by microbatch, in any of the three ways to push, gives the tree's bits and figures.
    func testPushingMicrobatchesInOrderGivesTheTreesBits() {
        var generator = SystemRandomNumberGenerator()
        let sum = PairwiseSum(parameterCount: width)
        for count in 1...37 {
            let values = leaves(count, &generator)
            let losses = (0..<count).map { _ in Double.random(in: 0...1e6, using: &generator) * pow(10, Double(Int.random(in: -8...0, using: &generator))) }
            for index in 0..<count {
                let figures = BatchMetrics(lossSum: losses[index], correct: 1, count: 2)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: sum.pushComputed(block: index..<index + 1) { $0.update(from: values[index], count: width); return figures }
                case 1: values[index].withUnsafeBufferPointer { sum.pushTransient($0.baseAddress!, metrics: figures, block: index..<index + 1) }
                default:
                    // Kept valid by `values` until the sum is finished.
                    values[index].withUnsafeBufferPointer { sum.push($0.baseAddress!, metrics: figures, block: index..<index + 1) }
                }
            }
            let (out, metrics) = finish(sum)
            XCTAssertEqual(bits(out), bits(root(values)), "\(count) microbatches")
            XCTAssertEqual(metrics.lossSum.bitPattern, referenceLoss(losses, count).bitPattern, "\(count) microbatches: the loss follows the tree too")
            XCTAssertEqual(metrics.count, 2 * count)
        }
    }

    private func referenceLoss(_ losses: [Double], _ count: Int) -> Double {
        var size = 1
        while size < count { size *= 2 }
        func node(_ lo: Int, _ size: Int) -> Double {
            if size == 1 { return losses[lo] }
            let half = size / 2
            return lo + half < count ? node(lo, half) + node(lo + half, half) : node(lo, half)
        }
        return node(0, size)
    }

    /// The step split among workers in random contiguous shares, each worker adding up its whole
    /// nodes, the server adding the blocks: the bits of one process adding every microbatch.
    func testAnySplitIntoWorkersBlocksGivesTheSameBits() {
        var generator = SystemRandomNumberGenerator()
        let server = PairwiseSum(parameterCount: width)
        let worker = PairwiseSum(parameterCount: width)
        for trial in 0..<300 {
            let count = Int.random(in: 1...40, using: &generator)
            let values = leaves(count, &generator)
            let parts = Int.random(in: 1...min(count, 6), using: &generator)
            var cuts = (1..<count).shuffled(using: &generator).prefix(parts - 1).sorted()
            cuts = [0] + cuts + [count]
            var blocks: [(Range<Int>, [Float])] = []
            for (start, end) in zip(cuts, cuts.dropFirst()) {
                for block in SumTree.blocks(of: start..<end) {
                    for index in block {
                        values[index].withUnsafeBufferPointer {
                            worker.pushTransient($0.baseAddress!, metrics: BatchMetrics(count: 1), block: index - block.lowerBound..<index - block.lowerBound + 1)
                        }
                    }
                    blocks.append((block, finish(worker).0))
                }
            }
            // Blocks arrive in any order; the server adds them in order as they become contiguous.
            for (block, sum) in blocks {
                sum.withUnsafeBufferPointer { server.pushTransient($0.baseAddress!, metrics: BatchMetrics(count: block.count), block: block) }
            }
            let (out, metrics) = finish(server)
            XCTAssertEqual(bits(out), bits(root(values)), "trial \(trial): \(count) microbatches cut at \(cuts)")
            XCTAssertEqual(metrics.count, count)
        }
    }

    /// The sum really is a tree, not left to right: some values give other bits in the plain order.
    func testTheTreeIsNotThePlainOrder() {
        let leaves: [[Float]] = [[1], [1e8], [-1e8], [1]]
        let plain = leaves.dropFirst().reduce(leaves[0]) { zip($0, $1).map { $0 + $1 } }
        XCTAssertNotEqual(bits(root(leaves)), bits(plain))
    }

    /// With bfloat16 rounding at every node, any split still gives the bits of the tree's definition.
    func testBFloat16NodesGiveTheSameBitsForAnySplit() {
        var generator = SystemRandomNumberGenerator()
        let server = PairwiseSum(parameterCount: width, roundsToBFloat16: true)
        let worker = PairwiseSum(parameterCount: width, roundsToBFloat16: true)
        func node(_ leaves: [[Float]], _ lo: Int, _ size: Int) -> [Float] {
            if size == 1 { return leaves[lo].map(BFloat16.round) }
            let half = size / 2
            let left = node(leaves, lo, half)
            guard lo + half < leaves.count else { return left }
            return zip(left, node(leaves, lo + half, half)).map { BFloat16.round($0 + $1) }
        }
        for trial in 0..<200 {
            let count = Int.random(in: 1...24, using: &generator)
            let values = leaves(count, &generator)
            var size = 1
            while size < count { size *= 2 }
            let expected = node(values, 0, size)
            var cuts = (1..<count).shuffled(using: &generator).prefix(Int.random(in: 0...min(count - 1, 4), using: &generator)).sorted()
            cuts = [0] + cuts + [count]
            for (start, end) in zip(cuts, cuts.dropFirst()) {
                for block in SumTree.blocks(of: start..<end) {
                    for index in block {
                        worker.pushComputed(block: index - block.lowerBound..<index - block.lowerBound + 1) {
                            $0.update(from: values[index], count: self.width)
                            return BatchMetrics(count: 1)
                        }
                    }
                    let (sum, _) = finish(worker)
                    sum.withUnsafeBufferPointer { server.pushTransient($0.baseAddress!, metrics: BatchMetrics(count: block.count), block: block) }
                }
            }
            let (out, _) = finish(server)
            XCTAssertEqual(bits(out), bits(expected), "trial \(trial): \(count) microbatches cut at \(cuts)")
            XCTAssertTrue(out.allSatisfy { $0.bitPattern & 0xFFFF == 0 }, "trial \(trial): not bfloat16")
        }
    }
}
