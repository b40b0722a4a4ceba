import NeuralNet
import Training
import XCTest

/// The parameter server's books for one step, driven without processes: dealing, losing workers,
/// refusing what is not owed, and summing in microbatch order whatever the order of arrival.
final class StepLedgerTests: XCTestCase {
    /// Eight microbatches of 4 samples each (positions 0..<32).
    private func ledger(microbatches count: Int = 8, version: Int = 5) -> StepLedger {
        var ledger = StepLedger()
        ledger.start(version: version, epoch: 0, microbatches: (0..<count).map { $0 * 4..<($0 + 1) * 4 })
        return ledger
    }

    private func one(_ index: Int) -> Range<Int> { index..<index + 1 }

    private func figures(_ samples: Int = 4) -> BatchMetrics {
        BatchMetrics(lossSum: 1, correct: 1, count: samples)
    }

    /// Deals the pending microbatches to `workers` and returns each worker's share.
    private func deal(_ ledger: inout StepLedger, to workers: [UInt32]) -> [UInt32: [Int]] {
        var dealt: [UInt32: [Int]] = [:]
        for (part, worker) in workers.enumerated() {
            let share = ledger.share(part, of: workers.count)
            ledger.assign(share, to: worker)
            dealt[worker] = Array(share)
        }
        return dealt
    }

    func testSharesAreContiguousBalancedAndCoverEveryMicrobatchOnce() {
        var books = ledger()
        XCTAssertTrue(books.hasPending)
        let dealt = deal(&books, to: [1, 2, 3])
        XCTAssertEqual(dealt[1], [0, 1])
        XCTAssertEqual(dealt[2], [2, 3, 4])
        XCTAssertEqual(dealt[3], [5, 6, 7])
        XCTAssertFalse(books.hasPending)
        // More workers than microbatches: the spares get nothing.
        var small = ledger(microbatches: 2)
        let spread = deal(&small, to: [1, 2, 3, 4])
        XCTAssertEqual(spread.values.flatMap { $0 }.sorted(), [0, 1])
        XCTAssertEqual(spread.values.filter(\.isEmpty).count, 2)
    }

    func testGradientsAreSummedInMicrobatchOrderWhateverTheOrderOfArrival() {
        var books = ledger(microbatches: 4)
        _ = deal(&books, to: [1, 2])
        XCTAssertEqual(books.collect(step: 5, block: one(3), figures: figures(), from: 2), .accepted)
        XCTAssertEqual(books.collect(step: 5, block: one(2), figures: figures(), from: 2), .accepted)
        XCTAssertNil(books.nextToSum(), "microbatch 0 is not in yet")
        XCTAssertEqual(books.collect(step: 5, block: one(0), figures: figures(), from: 1), .accepted)
        XCTAssertEqual(books.nextToSum(), 0..<1)
        XCTAssertNil(books.nextToSum(), "microbatch 1 is not in yet")
        XCTAssertFalse(books.isComplete)
        XCTAssertEqual(books.collect(step: 5, block: one(1), figures: figures(), from: 1), .accepted)
        XCTAssertEqual([books.nextToSum(), books.nextToSum(), books.nextToSum(), books.nextToSum()], [1..<2, 2..<3, 3..<4, nil])
        XCTAssertTrue(books.isComplete)
        XCTAssertEqual(books.contributors, [1, 2])
    }

    func testALostWorkersUnfinishedMicrobatchesAreDealtAgainAndItsFinishedOnesKept() {
        var books = ledger(microbatches: 6)
        _ = deal(&books, to: [1, 2])
        XCTAssertEqual(books.collect(step: 5, block: one(3), figures: figures(), from: 2), .accepted)
        XCTAssertEqual(books.reassign(from: 2), 2, "microbatches 4 and 5 were owed; 3 is in")
        XCTAssertTrue(books.hasPending)
        XCTAssertEqual(deal(&books, to: [1]), [1: [4, 5]])
        // The lost worker's late gradient of a microbatch now owed by another is refused.
        guard case .refused(let reason) = books.collect(step: 5, block: one(4), figures: figures(), from: 2) else {
            return XCTFail("a gradient from a worker that no longer owes it was taken")
        }
        XCTAssertEqual(reason, "gradients for microbatch 4, which is not assigned to worker 2")
        for index in [0, 1, 2, 4, 5] {
            XCTAssertEqual(books.collect(step: 5, block: one(index), figures: figures(), from: 1), .accepted)
        }
        var summed: [Range<Int>] = []
        while let block = books.nextToSum() { summed.append(block) }
        XCTAssertEqual(summed, (0..<6).map(one))
    }

    func testWhatIsNotOwedIsRefusedWithTheReason() {
        var books = ledger(microbatches: 2)
        _ = deal(&books, to: [1])
        XCTAssertEqual(books.collect(step: 4, block: one(0), figures: figures(), from: 1),
                       .refused("stale gradients for step 4; the server is at step 5"))
        XCTAssertEqual(books.collect(step: 5, block: one(0), figures: figures(3), from: 1),
                       .refused("microbatch 0 has 4 samples, the worker reported 3"))
        XCTAssertEqual(books.collect(step: 5, block: one(7), figures: figures(), from: 1),
                       .refused("gradients for microbatch 7, which is not assigned to worker 1"))
        XCTAssertEqual(books.collect(step: 5, block: one(0), figures: figures(), from: 1), .accepted)
        XCTAssertEqual(books.collect(step: 5, block: one(0), figures: figures(), from: 1),
                       .refused("gradients for microbatch 0, which is not assigned to worker 1"), "a duplicate")
        books.finish()
        XCTAssertEqual(books.collect(step: 5, block: one(1), figures: figures(), from: 1),
                       .refused("stale gradients for step 5; the server is at step -1"))
    }

    func testAWholeStepIsCutAtAlignedPointsAndComesBackInFewBlocks() {
        var books = ledger(microbatches: 32)
        let dealt = deal(&books, to: [1, 2, 3])
        XCTAssertEqual(dealt[1], Array(0..<8))
        XCTAssertEqual(dealt[2], Array(8..<20))
        XCTAssertEqual(dealt[3], Array(20..<32))
        let blocks = [1, 2, 3].map { SumTree.blocks(of: dealt[$0] ?? []) }
        XCTAssertEqual(blocks, [[0..<8], [8..<16, 16..<20], [20..<24, 24..<32]])
        for (worker, owned) in zip([UInt32(3), 2, 1], blocks.reversed()) {
            for block in owned.reversed() {
                XCTAssertEqual(books.collect(step: 5, block: block, figures: figures(4 * block.count), from: worker), .accepted)
            }
        }
        var summed: [Range<Int>] = []
        while let block = books.nextToSum() { summed.append(block) }
        XCTAssertEqual(summed, [0..<8, 8..<16, 16..<20, 20..<24, 24..<32])
        XCTAssertEqual(books.metrics[8].count, 32, "a block's figures are kept at its first microbatch")
    }

    func testABlockMustBeANodeOfTheTreeAndWhollyOwed() {
        var books = ledger(microbatches: 8)
        _ = deal(&books, to: [1, 2])
        XCTAssertEqual(books.collect(step: 5, block: 2..<6, figures: figures(16), from: 1),
                       .refused("gradients for microbatches 2..<6, which are not a node of the step's sum tree of 8"))
        XCTAssertEqual(books.collect(step: 5, block: 0..<8, figures: figures(32), from: 1),
                       .refused("gradients for microbatches 0..<8, which are not assigned to worker 1"))
        XCTAssertEqual(books.collect(step: 5, block: 0..<4, figures: figures(15), from: 1),
                       .refused("microbatches 0..<4 have 16 samples, the worker reported 15"))
        XCTAssertEqual(books.collect(step: 5, block: 0..<4, figures: figures(16), from: 1), .accepted)
        XCTAssertEqual(books.collect(step: 5, block: 2..<4, figures: figures(8), from: 1),
                       .refused("gradients for microbatches 2..<4, which are not assigned to worker 1"), "already in")
    }

    /// Random memberships, losses and arrival orders of the blocks workers send: every microbatch
    /// is summed exactly once, in order, in blocks that are nodes of the tree.
    func testAnyChurnSumsEachMicrobatchOnceInOrder() {
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<500 {
            let count = Int.random(in: 1...40, using: &generator)
            var books = ledger(microbatches: count, version: trial)
            var nextWorker: UInt32 = 1
            var alive: [UInt32] = []
            var owed: [(worker: UInt32, block: Range<Int>)] = []
            var summed: [Range<Int>] = []
            var rounds = 0
            while !books.isComplete {
                rounds += 1
                guard rounds < 2_000 else { return XCTFail("trial \(trial) does not finish") }
                switch Int.random(in: 0..<10, using: &generator) {
                case 0, 1:
                    alive.append(nextWorker)
                    nextWorker += 1
                case 2 where !alive.isEmpty:
                    let lost = alive.remove(at: Int.random(in: alive.indices, using: &generator))
                    _ = books.reassign(from: lost)
                    owed.removeAll { $0.worker == lost }
                default:
                    break
                }
                if books.hasPending && !alive.isEmpty {
                    for (worker, share) in deal(&books, to: alive) {
                        owed += SumTree.blocks(of: share).map { (worker, $0) }
                    }
                }
                if !owed.isEmpty {
                    let arrival = owed.remove(at: Int.random(in: owed.indices, using: &generator))
                    XCTAssertEqual(books.collect(step: trial, block: arrival.block, figures: figures(4 * arrival.block.count),
                                                 from: arrival.worker), .accepted)
                }
                while let block = books.nextToSum() { summed.append(block) }
            }
            XCTAssertEqual(summed.flatMap { Array($0) }, Array(0..<count), "trial \(trial)")
            XCTAssertTrue(summed.allSatisfy { SumTree.isNode($0, of: count) }, "trial \(trial): \(summed)")
        }
    }
}
