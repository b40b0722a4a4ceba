import ClusterControl
import XCTest

final class FaultPlanTests: XCTestCase {
    func testFaultsAreSpreadInsideTheRun() {
        let plan = FaultPlan(events: 4, seed: 7)
        XCTAssertEqual((0..<4).map { plan.dueStep($0, totalSteps: 2_250) }, [450, 900, 1_350, 1_800])
        XCTAssertEqual(plan.dueStep(0, totalSteps: 2), 1, "a fault is never due before the first step")
    }

    func testTheSameSeedDrawsTheSameFaults() {
        func draw(_ seed: UInt64) -> [FaultKind?] {
            var plan = FaultPlan(events: 6, seed: seed)
            return (0..<6).map { _ in
                let kind = plan.next(checkpointExists: true)
                if let kind { plan.record(kind) }
                return kind
            }
        }
        XCTAssertEqual(draw(7), draw(7))
        XCTAssertNotEqual((0..<20).map { draw(UInt64($0)) }.count { $0 != draw(7) }, 0)
    }

    /// Whatever the seed: the server restarts exactly once, in the first half, and a worker is killed.
    func testEveryPlanRestartsTheServerOnceAndKillsAWorker() {
        for seed in 0..<200 as Range<UInt64> {
            for events in 2...8 {
                var plan = FaultPlan(events: events, seed: seed)
                XCTAssertTrue((1...max((events + 1) / 2, 1)).contains(plan.restartSlot))
                while plan.injected < events, let kind = plan.next(checkpointExists: true) { plan.record(kind) }
                XCTAssertEqual(plan.tally[.restartServer], 1, "seed \(seed), \(events) events: \(plan.summary)")
                XCTAssertGreaterThanOrEqual(plan.tally[.killWorker] ?? 0, 1, "seed \(seed), \(events) events: \(plan.summary)")
                XCTAssertEqual(plan.injected, events)
            }
        }
    }

    /// The seed ChaosTests uses draws every kind of fault in its four.
    func testSeedFiveDrawsEveryKindInFourFaults() {
        var plan = FaultPlan(events: 4, seed: 5)
        while plan.injected < 4, let kind = plan.next(checkpointExists: true) { plan.record(kind) }
        XCTAssertEqual(plan.summary, "1 worker kill, 1 worker freeze, 1 extra worker, 1 server restart")
    }

    func testTheRestartWaitsForACheckpoint() {
        var plan = FaultPlan(events: 1, seed: 1)
        XCTAssertNil(plan.next(checkpointExists: false), "the last fault waits for a checkpoint")
        XCTAssertEqual(plan.next(checkpointExists: true), .restartServer)
        var longer = FaultPlan(events: 4, seed: 1)
        for _ in 0..<2 {
            let kind = longer.next(checkpointExists: false)
            XCTAssertNotEqual(kind, .restartServer)
            if let kind { longer.record(kind) }
        }
    }

    func testTheSummaryCountsEachKind() {
        var plan = FaultPlan(events: 4, seed: 1)
        [.killWorker, .killWorker, .freezeWorker, .restartServer].forEach { plan.record($0) }
        XCTAssertEqual(plan.summary, "2 worker kills, 1 worker freeze, 1 server restart")
    }
}
