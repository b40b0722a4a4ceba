import Datasets
import XCTest

final class EpochPlanTests: XCTestCase {
    func testOrderIsAPermutation() {
        for count in [0, 1, 2, 7, 1000] {
            let order = EpochPlan.order(sampleCount: count, epoch: 3, seed: 42)
            XCTAssertEqual(order.sorted(), Array(0..<count))
        }
    }

    func testOrderIsDeterministic() {
        XCTAssertEqual(
            EpochPlan.order(sampleCount: 500, epoch: 2, seed: 9),
            EpochPlan.order(sampleCount: 500, epoch: 2, seed: 9)
        )
    }

    func testOrderIsPinnedAcrossPlatforms() {
        // SeededGenerator(seed: 0, stream: "epoch-0").permutation(of: 10), as an independent
        // Python implementation of FNV-1a, SplitMix64, xoshiro256**, Lemire and Fisher–Yates computes it.
        XCTAssertEqual(EpochPlan.order(sampleCount: 10, epoch: 0, seed: 0), Self.pinnedOrder)
    }

    func testOrderDiffersBetweenEpochsAndSeeds() {
        let first = EpochPlan.order(sampleCount: 500, epoch: 0, seed: 9)
        XCTAssertNotEqual(first, EpochPlan.order(sampleCount: 500, epoch: 1, seed: 9))
        XCTAssertNotEqual(first, EpochPlan.order(sampleCount: 500, epoch: 0, seed: 10))
    }

    func testStepsPerEpochRoundsUp() {
        XCTAssertEqual(EpochPlan(sampleCount: 10, batchSize: 4, microbatch: 2).stepsPerEpoch, 3)
        XCTAssertEqual(EpochPlan(sampleCount: 8, batchSize: 4, microbatch: 2).stepsPerEpoch, 2)
        XCTAssertEqual(EpochPlan(sampleCount: 3, batchSize: 5, microbatch: 2).stepsPerEpoch, 1)
    }

    func testBatchesCoverEveryPositionOnceInOrderWithAShortLastBatch() {
        let plan = EpochPlan(sampleCount: 10, batchSize: 4, microbatch: 3)
        XCTAssertEqual((0..<plan.stepsPerEpoch).map(plan.batch), [0..<4, 4..<8, 8..<10])
    }

    func testMicrobatchesCutEachBatchInOrder() {
        let plan = EpochPlan(sampleCount: 10, batchSize: 4, microbatch: 3)
        XCTAssertEqual(plan.microbatches(ofStep: 0), [0..<3, 3..<4])
        XCTAssertEqual(plan.microbatches(ofStep: 2), [8..<10])
    }

    func testMicrobatchesCoverEveryPositionExactlyOnce() {
        for (count, batch, micro) in [(1, 1, 1), (10, 4, 3), (100, 32, 8), (101, 32, 8), (37, 50, 64), (60_000, 128, 32)] {
            let plan = EpochPlan(sampleCount: count, batchSize: batch, microbatch: micro)
            var positions: [Int] = []
            XCTAssertEqual(plan.microbatchesPerStep, (0..<plan.stepsPerEpoch).map { plan.microbatches(ofStep: $0).count }.max())
            for step in 0..<plan.stepsPerEpoch {
                let pieces = plan.microbatches(ofStep: step)
                XCTAssertEqual(pieces.first?.lowerBound, plan.batch(step).lowerBound)
                XCTAssertEqual(pieces.last?.upperBound, plan.batch(step).upperBound)
                XCTAssertTrue(pieces.dropLast().allSatisfy { $0.count == micro })
                XCTAssertTrue(pieces.allSatisfy { !$0.isEmpty && $0.count <= micro })
                positions += pieces.flatMap { Array($0) }
            }
            XCTAssertEqual(positions, Array(0..<count), "sampleCount \(count), batch \(batch), microbatch \(micro)")
        }
    }

    private static let pinnedOrder = [5, 0, 2, 9, 3, 6, 7, 4, 1, 8]
}
