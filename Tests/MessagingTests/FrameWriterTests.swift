import Messaging
import XCTest

/// The step messages written into reused buffers are byte for byte those `Message.encoded()` gives.
final class FrameWriterTests: XCTestCase {
    func testAssignmentGradientsAndHeartbeatMatchEncoded() {
        var writer = FrameWriter()
        for _ in 0..<2 {
            let assignment = Samples.message(.assignment)
            guard case let .assignment(epoch, refs, _, weights) = assignment.body else { return XCTFail("no assignment sample") }
            writer.assignment(runID: assignment.runID, step: assignment.step, epoch: epoch, count: refs.count,
                              elementCount: weights.count) { refs[$0] }
            XCTAssertEqual([writer.header, writer.body], Array(assignment.encoded().prefix(2)))

            let gradients = Samples.message(.gradients)
            writer.gradients(runID: gradients.runID, sender: gradients.sender, step: gradients.step,
                             stats: Samples.report.stats, elementCount: Samples.report.values.count)
            XCTAssertEqual([writer.header, writer.body], Array(gradients.encoded().prefix(2)))

            let heartbeat = Samples.message(.heartbeat)
            writer.heartbeat(runID: heartbeat.runID, sender: heartbeat.sender, step: heartbeat.step)
            XCTAssertEqual([writer.header, writer.body], heartbeat.encoded())
        }
    }

    func testStatsRoundTripThroughAReport() {
        let report = GradientReport(Samples.report.stats, values: Samples.report.values)
        XCTAssertEqual(report, Samples.report)
    }
}
