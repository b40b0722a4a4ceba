import ClusterControl
import XCTest

final class StepSharesTests: XCTestCase {
    func testSharesAreTheServersCuts() {
        XCTAssertEqual(StepShares(batchSize: 32, microbatch: 8, workers: 2).shares, [2, 2])
        XCTAssertEqual(StepShares(batchSize: 32, microbatch: 8, workers: 3).shares, [1, 1, 2])
        XCTAssertEqual(StepShares(batchSize: 32, microbatch: 8, workers: 6).spares, 2)
        XCTAssertEqual(StepShares(batchSize: 32, microbatch: 8, workers: 0).evenCounts(upTo: 16), [1, 2, 4])
        XCTAssertEqual(StepShares(batchSize: 32, microbatch: 8, workers: 0).evenCounts(upTo: 3), [1, 2])
        XCTAssertEqual(StepShares(batchSize: 30, microbatch: 8, workers: 1).microbatches, 4)
    }

    func testTheSentenceSaysWhatIsOff() {
        XCTAssertEqual(StepShares(batchSize: 32, microbatch: 8, workers: 2).sentence,
                       "a step has 4 microbatches (batch 32 ÷ microbatch 8): 2 for each of the 2 workers")
        XCTAssertEqual(StepShares(batchSize: 32, microbatch: 8, workers: 1).sentence,
                       "a step has 4 microbatches (batch 32 ÷ microbatch 8), all for the one worker")
        XCTAssertEqual(StepShares(batchSize: 32, microbatch: 8, workers: 6).sentence,
                       "a step has 4 microbatches (batch 32 ÷ microbatch 8), so 2 of the 6 workers are spares: they compute nothing until a worker leaves or dies")
        XCTAssertEqual(StepShares(batchSize: 32, microbatch: 8, workers: 5).sentence,
                       "a step has 4 microbatches (batch 32 ÷ microbatch 8), so 1 of the 5 workers is a spare: it computes nothing until a worker leaves or dies")
        XCTAssertEqual(StepShares(batchSize: 32, microbatch: 8, workers: 3).sentence,
                       "a step has 4 microbatches (batch 32 ÷ microbatch 8): uneven shares of 1, 1 and 2 over 3 workers, and every step waits for the busiest; 1, 2 or 4 workers share it evenly")
    }

    /// Without a worker count, a cluster gets as many workers as share a step evenly, at most one per core.
    func testTheDefaultClusterFitsTheMachine() throws {
        let definition = try ClusterDefinition(text: "PORT=0\nWORKERS=\nBATCH_SIZE=32\nMICROBATCH=8", file: "x.conf")
        for (cores, workers) in [(1, 1), (2, 2), (3, 2), (4, 4), (16, 4)] {
            let plan = try StartPlan(definition: definition, request: StartRequest(), cores: cores)
            XCTAssertEqual(plan.workers, workers, "\(cores) cores")
            XCTAssertTrue(plan.workersFitTheMachine)
            XCTAssertTrue(plan.shares.isEven && plan.shares.spares == 0, "\(cores) cores")
            XCTAssertEqual(plan.workersMin, workers)
        }
        // The flags after -- decide the microbatches: 32 ÷ 4 = 8 of them, so 8 workers on 12 cores.
        let wide = try StartPlan(definition: definition, request: StartRequest(serverFlags: ["--microbatch=4"]), cores: 12)
        XCTAssertEqual(wide.workers, 8)
        let given = try StartPlan(definition: definition, request: StartRequest(workers: 3), cores: 2)
        XCTAssertEqual(given.workers, 3)
        XCTAssertFalse(given.workersFitTheMachine)
        XCTAssertFalse(given.shares.isEven)
    }

    func testTheShippedDefinitionFitsTheMachine() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("cluster/local.conf").path
        let plan = try StartPlan(definition: try ClusterDefinition.read(path: file, file: "cluster/local.conf"), request: StartRequest(), cores: 2)
        XCTAssertEqual(plan.workers, 2)
        XCTAssertEqual(plan.shares.shares, [2, 2])
    }
}
