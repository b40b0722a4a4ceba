import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// `backprop logs --plot` on run directories written as a cluster and `backprop train` write them: the samples/s
/// panel's worker curves and the legends, read back from the SVG the command wrote.
final class LogsPlotTests: XCTestCase {
    /// A 3-worker cluster run like a real one: a step every 4.5 ms for 2 epochs of 4 s with a 0.4 s validation
    /// between them; each worker reports what it did every 0.5 s (worker 3 does half of every step, workers 1 and 2
    /// a quarter each), the reports staggered as the workers' heartbeats are.
    private func writeClusterRun(_ directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let t0 = 1_796_680_000.0, start = t0 + 1.5, stepSeconds = 0.0045, epochSeconds = 4.0, pause = 0.4
        let stepsPerEpoch = Int(epochSeconds / stepSeconds)
        var lines = [#"{"time":\#(t0),"event":"waiting_for_workers","process":"server","workers":0,"workers_min":3}"#]
        for worker in 1...3 {
            lines.append(#"{"time":\#(t0 + 0.1 * Double(worker)),"event":"worker_joined","process":"server","worker":\#(worker),"name":"worker-\#(worker)","pid":\#(4000 + worker)}"#)
        }
        lines.append(#"{"time":\#(start),"event":"run_started","process":"server","parameters":5729,"train_samples":27000,"validation_samples":3000,"test_samples":5000,"config.model":"seed-cnn","config.data":"synthetic","config.epochs":2,"config.batch_size":32,"config.microbatch":8}"#)
        // Every step's end time, then the workers' reports merged in time order.
        var events: [(time: Double, line: String)] = []
        var stepEnds: [Double] = []
        var globalStep = 0
        for epoch in 1...2 {
            let epochStart = start + Double(epoch - 1) * (epochSeconds + pause)
            for step in 1...stepsPerEpoch {
                globalStep += 1
                let end = epochStart + Double(step) * stepSeconds
                stepEnds.append(end)
                let loss = 0.7 / (1 + Double(globalStep) / 200)
                events.append((end, #"{"time":\#(end),"event":"step","process":"server","epoch":\#(epoch),"step":\#(step),"steps_per_epoch":\#(stepsPerEpoch),"global_step":\#(globalStep),"loss":\#(loss),"accuracy":\#(1 - loss),"samples":32,"step_seconds":\#(stepSeconds),"workers":3}"#))
            }
            let epochEnd = epochStart + epochSeconds
            events.append((epochEnd + pause * 0.9, #"{"time":\#(epochEnd + pause * 0.9),"event":"epoch","process":"server","epoch":\#(epoch),"loss":0.2,"accuracy":0.9,"val_loss":0.15,"val_accuracy":0.95,"seconds":\#(epochSeconds),"samples_per_second":7111}"#))
        }
        let end = stepEnds.last!
        let share = [1: 8, 2: 8, 3: 16]
        for (worker, offset) in [(1, 0.30), (2, 0.34), (3, 0.47)] {
            var previous = start
            var time = start + offset
            while previous < end {
                let reportTime = min(time, end + 0.28)
                let steps = stepEnds.filter { $0 > previous && $0 <= reportTime }.count
                if steps > 0 {
                    let samples = steps * share[worker]!
                    events.append((reportTime, #"{"time":\#(reportTime),"event":"worker_step","process":"server","worker":\#(worker),"epoch":1,"global_step":\#(globalStep),"assignments":\#(steps),"microbatches":\#(samples / 8),"samples":\#(samples),"compute_seconds":\#(0.03 * Double(share[worker]!) / 8),"wait_seconds":\#(reportTime - previous - 0.03 * Double(share[worker]!) / 8),"bytes_sent":6000,"bytes_received":6744,"send_seconds":0.0}"#))
                }
                previous = reportTime
                time += 0.5
            }
        }
        lines += events.sorted { $0.time < $1.time }.map(\.line)
        lines.append(#"{"time":\#(end + 0.15),"event":"test","process":"server","test_loss":0.09,"test_accuracy":0.97,"samples":5000}"#)
        for worker in 1...3 {
            lines.append(#"{"time":\#(end + 0.3),"event":"worker_left","process":"server","worker":\#(worker),"reason":"finished"}"#)
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/server.jsonl"))
    }

    /// A `backprop train` run: a step every 1.5 ms for 3 s.
    private func writeTrainRun(_ directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let start = 1_796_690_000.0
        var lines = [#"{"time":\#(start),"event":"run_started","process":"trainer","parameters":5729,"train_samples":27000,"validation_samples":3000,"test_samples":5000,"config.model":"seed-cnn"}"#]
        for step in 1...2000 {
            let end = start + 0.0015 * Double(step)
            lines.append(#"{"time":\#(end),"event":"step","process":"trainer","epoch":1,"step":\#(step),"steps_per_epoch":2000,"global_step":\#(step),"loss":\#(0.7 / (1 + Double(step) / 200)),"accuracy":0.9,"samples":32,"step_seconds":0.0015}"#)
        }
        lines.append(#"{"time":\#(start + 3.2),"event":"epoch","process":"trainer","epoch":1,"loss":0.2,"accuracy":0.9,"val_loss":0.15,"val_accuracy":0.95,"seconds":3,"samples_per_second":21333}"#)
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/train.jsonl"))
    }

    func testWorkerRatesAreAveragedAndLegendsFitThePicture() throws {
        let root = try temporaryDirectory(self)
        let cluster = "cluster-20261207-210701", train = "train-20261207-211502"
        let long = "a-long-experiment-name-" + String(repeating: "seed-cnn-synthetic-", count: 8) + "20261207"
        try writeClusterRun(root + "/runs/" + cluster)
        try writeTrainRun(root + "/runs/" + train)
        try writeTrainRun(root + "/runs/" + long)

        // One cluster run: its workers, and its total.
        assertSucceeded(backprop(["logs", cluster, "--plot", "one.svg"], in: root))
        let one = try PlotFile(root + "/one.svg")
        let total = try one.curve("samples/s by time", "all workers")
        XCTAssertGreaterThan(total.count, 5, "\(total)")
        let totalRate = total.map(\.y).max() ?? 0
        // 32 samples every 4.5 ms: about 7100 samples/s.
        XCTAssertEqual(totalRate, 32 / 0.0045, accuracy: 32 / 0.0045 * 0.1)
        var workerIntegral = 0.0
        for (worker, share) in [(1, 0.25), (2, 0.25), (3, 0.5)] {
            let points = try one.curve("samples/s by time", "worker \(worker)")
            XCTAssertGreaterThan(points.count, 5, "worker \(worker): \(points)")
            // A worker never does more than the whole cluster: no spikes from counting a report where it lands.
            XCTAssertLessThanOrEqual(points.map(\.y).max() ?? .infinity, 1.1 * totalRate, "worker \(worker): \(points)")
            // Nor does it drop to 0 between reports while training runs: within the epochs its rate is its share.
            let inside = points.filter { (0.6...3.4).contains($0.x) || (5.0...7.8).contains($0.x) }
            XCTAssertFalse(inside.isEmpty)
            for point in inside {
                XCTAssertEqual(point.y, share * 32 / 0.0045, accuracy: share * 32 / 0.0045 * 0.25, "worker \(worker) at \(point.x) s: \(points)")
            }
            workerIntegral += points.map(\.y).reduce(0, +)
        }
        // Same windows for every curve: the workers' samples add up to the whole run's.
        XCTAssertEqual(workerIntegral, total.map(\.y).reduce(0, +), accuracy: 0.02 * total.map(\.y).reduce(0, +))
        one.assertLegendsFit()
        XCTAssertTrue(one.legendTexts.contains("worker 3"), "\(one.legendTexts)")

        // Three runs compared, one with a name longer than the picture is wide.
        assertSucceeded(backprop(["logs", cluster, train, long, "--plot", "three.svg"], in: root))
        let three = try PlotFile(root + "/three.svg")
        three.assertLegendsFit()
        for label in [cluster, train, "\(cluster): all workers", "\(cluster): worker 1", "\(cluster): worker 3", "\(train): samples/s"] {
            XCTAssertTrue(three.legendTexts.contains(label), "\(label) is not in the legends, whole: \(three.legendTexts)")
        }
        // The long name keeps its start and its end.
        XCTAssertTrue(three.legendTexts.contains { $0.hasPrefix("a-long-experiment") && $0.contains("…") && $0.hasSuffix("20261207") },
                      "\(three.legendTexts)")
        XCTAssertFalse(three.legendTexts.contains(long))
        for (run, points) in [(cluster, try three.curve("samples/s by time", "\(cluster): worker 3"))] {
            XCTAssertLessThanOrEqual(points.map(\.y).max() ?? .infinity, 1.1 * totalRate, "\(run): \(points)")
        }
    }
}

/// An SVG file `backprop logs --plot` wrote: its width, curves and legend texts.
private struct PlotFile {
    struct Text {
        var x: Double
        var fontSize: Double
        var anchor: String
        var content: String
    }

    var width = 0.0
    var polylines: [(panel: String?, series: String, points: [(x: Double, y: Double)])] = []
    var legend: [Text] = []
    var legendTexts: [String] { legend.map(\.content) }

    init(_ path: String) throws {
        let parser = XMLParser(data: try bytes(of: path))
        let reader = Reader()
        parser.delegate = reader
        XCTAssertTrue(parser.parse(), "\(path) is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")")
        width = reader.width
        polylines = reader.polylines
        legend = reader.legend
    }

    func curve(_ panel: String, _ series: String) throws -> [(x: Double, y: Double)] {
        let found = polylines.filter { $0.panel == panel && $0.series == series }
        XCTAssertEqual(found.count, 1, "\(panel) / \(series) among \(polylines.map(\.series))")
        return try XCTUnwrap(found.first).points
    }

    /// Every legend label lies inside the picture, measured in DejaVu Sans (what `sans-serif` is where Helvetica
    /// and Arial are missing, and wider than both).
    func assertLegendsFit(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThan(width, 0, file: file, line: line)
        XCTAssertFalse(legend.isEmpty, file: file, line: line)
        for text in legend {
            let textWidth = dejaVuSansWidth(text.content, fontSize: text.fontSize)
            let left = text.anchor == "end" ? text.x - textWidth : text.anchor == "middle" ? text.x - textWidth / 2 : text.x
            XCTAssertGreaterThanOrEqual(left, 0, "'\(text.content)' starts left of the picture", file: file, line: line)
            XCTAssertLessThanOrEqual(left + textWidth, width, "'\(text.content)' (\(Int(textWidth)) px from x = \(text.x)) runs past the right edge at \(width)",
                                     file: file, line: line)
        }
    }

    private final class Reader: NSObject, XMLParserDelegate {
        var width = 0.0
        var polylines: [(panel: String?, series: String, points: [(x: Double, y: Double)])] = []
        var legend: [Text] = []
        private var groups: [(panel: String?, legend: Bool)] = []
        private var text: Text?

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            switch name {
            case "svg":
                width = Double(attributes["width"] ?? "") ?? 0
            case "g":
                groups.append((attributes["data-title"], attributes["class"] == "legend"))
            case "polyline":
                let points = (attributes["data-points"] ?? "").split(separator: " ").compactMap { pair -> (x: Double, y: Double)? in
                    let xy = pair.split(separator: ",").compactMap { Double($0) }
                    return xy.count == 2 ? (xy[0], xy[1]) : nil
                }
                polylines.append((groups.compactMap(\.panel).last, attributes["data-series"] ?? "", points))
            case "text" where groups.contains(where: \.legend):
                text = Text(x: Double(attributes["x"] ?? "") ?? .nan, fontSize: Double(attributes["font-size"] ?? "") ?? 12,
                            anchor: attributes["text-anchor"] ?? "start", content: "")
            default:
                break
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text?.content += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "g" { groups.removeLast() }
            if name == "text", let done = text {
                legend.append(done)
                text = nil
            }
        }
    }
}

/// The width of `text` in DejaVu Sans, from its advance widths (in 1/2048 em); 1 em for characters not listed.
private func dejaVuSansWidth(_ text: String, fontSize: Double) -> Double {
    let advances: [Character: Double] = [
        " ": 651, "(": 799, ")": 799, ",": 651, "-": 739, ".": 651, "/": 690, ":": 690, "·": 651, "…": 2048, "_": 1024,
        "a": 1255, "b": 1300, "c": 1126, "d": 1300, "e": 1260, "f": 721, "g": 1300, "h": 1298, "i": 569, "j": 569,
        "k": 1186, "l": 569, "m": 1995, "n": 1298, "o": 1253, "p": 1300, "q": 1300, "r": 842, "s": 1067, "t": 803,
        "u": 1298, "v": 1212, "w": 1675, "x": 1212, "y": 1212, "z": 1075,
    ]
    return text.reduce(0) { total, character in
        total + (character.isNumber && character.isASCII ? 1303 : advances[character] ?? 2048) / 2048 * fontSize
    }
}
