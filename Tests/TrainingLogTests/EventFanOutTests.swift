import TrainingLog
import XCTest

final class EventFanOutTests: XCTestCase {
    func testEveryEventGoesToEverySinkInTheOrderGiven() {
        let log = TaggingSink.Log()
        let fanOut = EventFanOut([TaggingSink("a", log: log), TaggingSink("b", log: log), TaggingSink("c", log: log)])
        fanOut.record(SampleEvents.step)
        fanOut.record(SampleEvents.epoch)
        XCTAssertEqual(log.entries, ["a:step", "b:step", "c:step", "a:epoch", "b:epoch", "c:epoch"])
    }

    func testRecordersSeeTheSameSequence() {
        let first = EventRecorder(), second = EventRecorder()
        let fanOut = EventFanOut([first, second])
        let events = [SampleEvents.runStarted, SampleEvents.step, SampleEvents.epoch, SampleEvents.checkpoint, SampleEvents.test]
        for event in events { fanOut.record(event) }
        XCTAssertEqual(first.events.map(\.kind), events.map(\.kind))
        XCTAssertEqual(second.events.map(\.kind), events.map(\.kind))
        guard case .step(let record) = second.events[1] else { return XCTFail("the second event is not the step") }
        XCTAssertEqual(record.globalStep, 20)
    }

    func testFanOutsNest() {
        let log = TaggingSink.Log()
        let inner = EventFanOut([TaggingSink("b", log: log), TaggingSink("c", log: log)])
        let outer = EventFanOut([TaggingSink("a", log: log), inner, TaggingSink("d", log: log)])
        outer.record(SampleEvents.test)
        XCTAssertEqual(log.entries, ["a:test", "b:test", "c:test", "d:test"])
    }

    func testNoSinksIsFine() {
        EventFanOut([]).record(SampleEvents.test)
    }
}
