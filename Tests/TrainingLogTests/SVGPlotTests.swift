import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import TrainingLog
import XCTest

/// The elements of an XML document, with their attributes and the panel each sits in.
private final class SVGElements: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
        var panel: String?
    }

    var elements: [Element] = []
    var texts: [String] = []
    private var panels: [String?] = []
    private var text = ""

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if name == "g" { panels.append(attributes["data-title"]) }
        elements.append(Element(name: name, attributes: attributes, panel: panels.compactMap { $0 }.last))
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "g" { panels.removeLast() }
        if name == "text" { texts.append(text) }
        text = ""
    }
}

final class SVGPlotTests: XCTestCase {
    /// Parses `svg`, failing the test unless it is well-formed XML with an `svg` root.
    private func parse(_ svg: String, file: StaticString = #filePath, line: UInt = #line) throws -> SVGElements {
        let parser = XMLParser(data: Data(svg.utf8))
        let elements = SVGElements()
        parser.delegate = elements
        XCTAssertTrue(parser.parse(), "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")", file: file, line: line)
        XCTAssertEqual(elements.elements.first?.name, "svg", file: file, line: line)
        return elements
    }

    private func polyline(_ svg: SVGElements, panel: String, series: String, run: String? = nil) throws -> [String: String] {
        let found = svg.elements.filter {
            $0.name == "polyline" && $0.panel == panel && $0.attributes["data-series"] == series
                && (run == nil || $0.attributes["data-run"] == run)
        }
        XCTAssertEqual(found.count, 1, "\(panel) / \(series)")
        return try XCTUnwrap(found.first?.attributes)
    }

    /// `x,y x,y …` as numbers.
    private func pairs(_ text: String?) throws -> [[Double]] {
        try XCTUnwrap(text).split(separator: " ").map { try $0.split(separator: ",").map { try XCTUnwrap(Double($0)) } }
    }

    private func referenceLog() throws -> RunLog {
        let run = try RunDirectoryFixture(self)
        try ReferenceRun.write(run)
        run.close()
        return try RunLogReader.read(run.path).log
    }

    func testOneRunDrawsEveryCurveWithItsPoints() throws {
        let svg = try parse(SVGPlot(runs: [SVGPlot.Run(name: "reference", log: try referenceLog())]).render())
        let panels = Set(svg.elements.compactMap { $0.attributes["data-title"] })
        XCTAssertEqual(panels, ["loss by epoch", "accuracy by epoch", "loss by step", "accuracy by step", "samples/s by time"])

        XCTAssertEqual(try pairs(try polyline(svg, panel: "loss by epoch", series: "loss")["data-points"]), [[1, 0.7], [2, 0.5], [3, 0.35]])
        XCTAssertEqual(try pairs(try polyline(svg, panel: "loss by epoch", series: "val_loss")["data-points"]), [[1, 0.65], [2, 0.45], [3, 0.4]])
        XCTAssertEqual(try pairs(try polyline(svg, panel: "accuracy by epoch", series: "accuracy")["data-points"]), [[1, 0.5], [2, 0.75], [3, 0.875]])
        XCTAssertEqual(try pairs(try polyline(svg, panel: "accuracy by epoch", series: "val_accuracy")["data-points"]), [[1, 0.6], [2, 0.8], [3, 0.85]])

        let stepLoss = try pairs(try polyline(svg, panel: "loss by step", series: "loss")["data-points"])
        XCTAssertEqual(stepLoss, (1...12).map { [Double($0), 1.0 - 0.0625 * Double($0)] })
        let stepAccuracy = try pairs(try polyline(svg, panel: "accuracy by step", series: "accuracy")["data-points"])
        XCTAssertEqual(stepAccuracy.map { $0[1] }, (1...12).map { 0.375 + 0.03125 * Double($0) })
        // Validation sits at the last step of each epoch.
        XCTAssertEqual(try pairs(try polyline(svg, panel: "loss by step", series: "val_loss")["data-points"]), [[4, 0.65], [8, 0.45], [12, 0.4]])

        let throughput = svg.elements.filter { $0.panel == "samples/s by time" && $0.name == "polyline" }.compactMap { $0.attributes["data-series"] }
        XCTAssertEqual(throughput, ["all workers", "worker 1", "worker 2", "worker 3"])
        for series in throughput {
            let points = try pairs(try polyline(svg, panel: "samples/s by time", series: series)["data-points"])
            XCTAssertFalse(points.isEmpty, series)
            XCTAssertTrue(points.allSatisfy { $0[0] >= 0 && $0[0] <= 11.875 && $0[1] >= 0 }, "\(series): \(points)")
        }
        // The whole run trained 12 steps × 32 samples: the rate curve integrates back to it.
        let all = try pairs(try polyline(svg, panel: "samples/s by time", series: "all workers")["data-points"])
        // 12 steps / 4 → 3 buckets from the start of step 1 (t0 + 10.125) to the end of step 12 (t0 + 22).
        let width = 11.875 / 3
        XCTAssertEqual(all.reduce(0) { $0 + $1[1] } * width, 384, accuracy: 1e-3)
    }

    func testDrawnPointsFollowTheValues() throws {
        let svg = try parse(SVGPlot(runs: [SVGPlot.Run(name: "reference", log: try referenceLog())]).render())
        let line = try polyline(svg, panel: "loss by epoch", series: "loss")
        let drawn = try pairs(line["points"])
        XCTAssertEqual(drawn.count, 3)
        // x grows with the epoch; y (downwards in SVG) grows as the loss falls.
        XCTAssertTrue(drawn[0][0] < drawn[1][0] && drawn[1][0] < drawn[2][0])
        XCTAssertTrue(drawn[0][1] < drawn[1][1] && drawn[1][1] < drawn[2][1])
        // Equal steps in epoch are equal steps in x.
        XCTAssertEqual(drawn[1][0] - drawn[0][0], drawn[2][0] - drawn[1][0], accuracy: 0.15)
        // 0.7 → 0.5 is 0.2 of loss, 0.5 → 0.35 is 0.15: the drawn gaps keep that ratio.
        XCTAssertEqual((drawn[1][1] - drawn[0][1]) / (drawn[2][1] - drawn[1][1]), 0.2 / 0.15, accuracy: 0.02)
    }

    func testRunsAreComparedInOnePlot() throws {
        let a = try referenceLog()
        let run = try RunDirectoryFixture(self, kind: .single)
        run.main(.epoch(EpochRecord(epoch: 1, loss: 0.9, accuracy: 0.4, validationLoss: 0.8, validationAccuracy: 0.45, seconds: 1, samplesPerSecond: 100)),
                 at: ReferenceRun.t0)
        run.close()
        let b = try RunLogReader.read(run.path).log
        let svg = try parse(SVGPlot(runs: [SVGPlot.Run(name: "runs/a & <b>", log: a), SVGPlot.Run(name: "b", log: b)]).render())
        XCTAssertEqual(try pairs(try polyline(svg, panel: "loss by epoch", series: "loss", run: "runs/a & <b>")["data-points"]),
                       [[1, 0.7], [2, 0.5], [3, 0.35]])
        XCTAssertEqual(try pairs(try polyline(svg, panel: "loss by epoch", series: "loss", run: "b")["data-points"]), [[1, 0.9]])
        let colors = Set(svg.elements.filter { $0.panel == "loss by epoch" && $0.name == "polyline" && $0.attributes["data-series"] == "loss" }
            .compactMap { $0.attributes["stroke"] })
        XCTAssertEqual(colors.count, 2, "each run has its own colour")
        XCTAssertTrue(svg.texts.contains("runs/a & <b>"))
        XCTAssertTrue(svg.texts.contains("Backprop: 2 runs compared"))
    }

    func testLongStepCurvesAreAveragedIntoBuckets() throws {
        let run = try RunDirectoryFixture(self, kind: .single)
        for globalStep in 1...1000 {
            run.main(.step(StepRecord(epoch: 1, step: globalStep, stepsPerEpoch: 1000, globalStep: globalStep,
                                      loss: globalStep % 2 == 0 ? 1 : 0, accuracy: 0.5, samples: 32, seconds: 0.01)),
                     at: ReferenceRun.t0 + Double(globalStep))
        }
        var plot = SVGPlot(runs: [SVGPlot.Run(name: "long", log: try RunLogReader.read(run.path).log)])
        plot.maxPoints = 100
        let svg = try parse(plot.render())
        let points = try pairs(try polyline(svg, panel: "loss by step", series: "loss")["data-points"])
        XCTAssertEqual(points.count, 100)
        XCTAssertEqual(points[0], [5.5, 0.5])
        XCTAssertEqual(points[99], [995.5, 0.5])
    }

    func testAnEmptyRunStillMakesAValidDocument() throws {
        let svg = try parse(SVGPlot(runs: [SVGPlot.Run(name: "empty", log: RunLog())]).render())
        XCTAssertEqual(svg.elements.filter { $0.name == "polyline" }.count, 0)
        XCTAssertEqual(svg.texts.filter { $0 == "no data yet" }.count, 5)
    }
}
