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
        XCTAssertEqual(books.collect(step: 5, microbatch: 3, figures: figures(), from: 2), .accepted)
        XCTAssertEqual(books.collect(step: 5, microbatch: 2, figures: figures(), from: 2), .accepted)
        XCTAssertNil(books.nextToSum(), "microbatch 0 is not in yet")
        XCTAssertEqual(books.collect(step: 5, microbatch: 0, figures: figures(), from: 1), .accepted)
        XCTAssertEqual(books.nextToSum(), 0)
        XCTAssertNil(books.nextToSum(), "microbatch 1 is not in yet")
        XCTAssertFalse(books.isComplete)
        XCTAssertEqual(books.collect(step: 5, microbatch: 1, figures: figures(), from: 1), .accepted)
        XCTAssertEqual([books.nextToSum(), books.nextToSum(), books.nextToSum(), books.nextToSum()], [1, 2, 3, nil])
        XCTAssertTrue(books.isComplete)
        XCTAssertEqual(books.contributors, [1, 2])
    }

    func testALostWorkersUnfinishedMicrobatchesAreDealtAgainAndItsFinishedOnesKept() {
        var books = ledger(microbatches: 6)
        _ = deal(&books, to: [1, 2])
        XCTAssertEqual(books.collect(step: 5, microbatch: 3, figures: figures(), from: 2), .accepted)
        XCTAssertEqual(books.reassign(from: 2), 2, "microbatches 4 and 5 were owed; 3 is in")
        XCTAssertTrue(books.hasPending)
        XCTAssertEqual(deal(&books, to: [1]), [1: [4, 5]])
        // The lost worker's late gradient of a microbatch now owed by another is refused.
        guard case .refused(let reason) = books.collect(step: 5, microbatch: 4, figures: figures(), from: 2) else {
            return XCTFail("a gradient from a worker that no longer owes it was taken")
        }
        XCTAssertEqual(reason, "gradients for microbatch 4, which is not assigned to worker 2")
        for index in [0, 1, 2, 4, 5] {
            XCTAssertEqual(books.collect(step: 5, microbatch: index, figures: figures(), from: 1), .accepted)
        }
        var summed: [Int] = []
        while let index = books.nextToSum() { summed.append(index) }
        XCTAssertEqual(summed, [0, 1, 2, 3, 4, 5])
    }

    func testWhatIsNotOwedIsRefusedWithTheReason() {
        var books = ledger(microbatches: 2)
        _ = deal(&books, to: [1])
        XCTAssertEqual(books.collect(step: 4, microbatch: 0, figures: figures(), from: 1),
                       .refused("stale gradients for step 4; the server is at step 5"))
        XCTAssertEqual(books.collect(step: 5, microbatch: 0, figures: figures(3), from: 1),
                       .refused("microbatch 0 has 4 samples, the worker reported 3"))
        XCTAssertEqual(books.collect(step: 5, microbatch: 7, figures: figures(), from: 1),
                       .refused("gradients for microbatch 7, which is not assigned to worker 1"))
        XCTAssertEqual(books.collect(step: 5, microbatch: 0, figures: figures(), from: 1), .accepted)
        XCTAssertEqual(books.collect(step: 5, microbatch: 0, figures: figures(), from: 1),
                       .refused("gradients for microbatch 0, which is not assigned to worker 1"), "a duplicate")
        books.finish()
        XCTAssertEqual(books.collect(step: 5, microbatch: 1, figures: figures(), from: 1),
                       .refused("stale gradients for step 5; the server is at step -1"))
    }

    /// Random memberships, losses and arrival orders: every microbatch is summed exactly once, in order,
    /// with the figures of the gradient that was taken.
    func testAnyChurnSumsEachMicrobatchOnceInOrder() {
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<500 {
            let count = Int.random(in: 1...12, using: &generator)
            var books = ledger(microbatches: count, version: trial)
            var nextWorker: UInt32 = 1
            var alive: [UInt32] = []
            var owed: [(worker: UInt32, microbatch: Int)] = []
            var summed: [Int] = []
            var rounds = 0
            while !books.isComplete {
                rounds += 1
                XCTAssertLessThan(rounds, 1_000, "trial \(trial) does not finish")
                if rounds > 1_000 { return }
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
                        owed += share.map { (worker, $0) }
                    }
                }
                if !owed.isEmpty {
                    let arrival = owed.remove(at: Int.random(in: owed.indices, using: &generator))
                    XCTAssertEqual(books.collect(step: trial, microbatch: arrival.microbatch, figures: figures(), from: arrival.worker), .accepted)
                }
                while let index = books.nextToSum() { summed.append(index) }
            }
            XCTAssertEqual(summed, Array(0..<count), "trial \(trial)")
        }
    }
}
