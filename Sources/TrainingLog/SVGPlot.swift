import Foundation

/// Training curves of one or more runs as one self-contained SVG file, written by hand.
///
/// Five panels: loss and accuracy against epochs (training solid, validation dashed), the same
/// against global steps (per-step training values, validation at each epoch's last step), and
/// samples per second against time since training started (per worker, and all together). Each
/// run has its own colour. Every curve is a `<polyline>` whose `data-points` attribute holds the
/// plotted values (`x,y x,y …`) so a reader can check them; step curves longer than
/// `maxPoints` are averaged over equal buckets of steps first.
public struct SVGPlot {
    /// A run to draw and the name its legend shows.
    public struct Run {
        public var name: String
        public var log: RunLog
        public init(name: String, log: RunLog) {
            self.name = name
            self.log = log
        }
    }

    public var runs: [Run]
    /// The most points one step curve gets.
    public var maxPoints = 500
    /// Time buckets for the samples/s curves.
    public var throughputBuckets = 60

    public init(runs: [Run]) { self.runs = runs }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    static let width = 1000.0
    static let panelWidth = 420.0
    static let panelHeight = 280.0

    /// A curve: its name, style and points in data coordinates.
    struct Series {
        var run: String
        var name: String
        var color: String
        var dashed = false
        var markers = false
        var thin = false
        var points: [(x: Double, y: Double)]
    }

    /// The SVG document.
    public func render() -> String {
        let legendRows = (runs.count + 3) / 4
        let top = 90.0 + Double(legendRows) * 20
        let rowHeight = Self.panelHeight + 60
        let height = top + 3 * rowHeight
        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(Self.width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(Self.width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="#ffffff"/>

            """
        let title = runs.count == 1 ? "Backprop run \(runs[0].name)" : "Backprop: \(runs.count) runs compared"
        svg += "<text x=\"20\" y=\"28\" font-size=\"18\" font-weight=\"bold\">\(xml(title))</text>\n"
        svg += legend(y: 50)

        let left = 60.0, right = left + Self.panelWidth + 70
        var epochLoss: [Series] = [], epochAccuracy: [Series] = [], stepLoss: [Series] = [], stepAccuracy: [Series] = []
        var throughput: [Series] = []
        var workerColors = 0
        for (index, run) in runs.enumerated() {
            let color = Self.palette[index % Self.palette.count]
            let history = run.log.history
            epochLoss.append(Series(run: run.name, name: "loss", color: color, markers: true,
                                    points: history.map { (Double($0.epoch), $0.loss) }))
            epochLoss.append(Series(run: run.name, name: "val_loss", color: color, dashed: true, markers: true,
                                    points: history.compactMap { r in r.validationLoss.map { (Double(r.epoch), $0) } }))
            epochAccuracy.append(Series(run: run.name, name: "accuracy", color: color, markers: true,
                                        points: history.map { (Double($0.epoch), $0.accuracy) }))
            epochAccuracy.append(Series(run: run.name, name: "val_accuracy", color: color, dashed: true, markers: true,
                                        points: history.compactMap { r in r.validationAccuracy.map { (Double(r.epoch), $0) } }))
            let steps = run.log.steps
            stepLoss.append(Series(run: run.name, name: "loss", color: color, thin: true,
                                   points: bucketed(steps.map { (Double($0.record.globalStep), $0.record.loss) })))
            stepAccuracy.append(Series(run: run.name, name: "accuracy", color: color, thin: true,
                                       points: bucketed(steps.map { (Double($0.record.globalStep), $0.record.accuracy) })))
            let ends = run.log.epochEndSteps
            stepLoss.append(Series(run: run.name, name: "val_loss", color: color, dashed: true, markers: true,
                                   points: history.compactMap { r in
                                       guard let step = ends[r.epoch], let v = r.validationLoss else { return nil }
                                       return (Double(step), v)
                                   }))
            stepAccuracy.append(Series(run: run.name, name: "val_accuracy", color: color, dashed: true, markers: true,
                                       points: history.compactMap { r in
                                           guard let step = ends[r.epoch], let v = r.validationAccuracy else { return nil }
                                           return (Double(step), v)
                                       }))
            throughput += throughputSeries(run, runIndex: index, workerColors: &workerColors)
        }
        svg += panel("loss by epoch", x: left, y: top, xLabel: "epoch", series: epochLoss, integerX: true)
        svg += panel("accuracy by epoch", x: right, y: top, xLabel: "epoch", series: epochAccuracy, integerX: true)
        svg += panel("loss by step", x: left, y: top + rowHeight, xLabel: "global step", series: stepLoss)
        svg += panel("accuracy by step", x: right, y: top + rowHeight, xLabel: "global step", series: stepAccuracy)
        svg += panel("samples/s by time", x: left, y: top + 2 * rowHeight, xLabel: "seconds since training started",
                     series: throughput, width: Self.width - left - 50, seriesLegend: true)
        svg += "</svg>\n"
        return svg
    }

    // MARK: - Data

    /// Points averaged over equal buckets when there are more than `maxPoints`.
    func bucketed(_ points: [(Double, Double)]) -> [(x: Double, y: Double)] {
        let finite = points.filter { $0.1.isFinite }
        guard finite.count > maxPoints else { return finite.map { ($0.0, $0.1) } }
        var out: [(x: Double, y: Double)] = []
        out.reserveCapacity(maxPoints)
        for bucket in 0..<maxPoints {
            let slice = finite[finite.count * bucket / maxPoints..<finite.count * (bucket + 1) / maxPoints]
            guard !slice.isEmpty else { continue }
            let n = Double(slice.count)
            out.append((slice.reduce(0) { $0 + $1.0 } / n, slice.reduce(0) { $0 + $1.1 } / n))
        }
        return out
    }

    /// Samples per second in equal time buckets, from the start of the first step to the end of the last
    /// (not the wait for workers, not the test), with time counted from the start of training so runs line up.
    /// The whole run's curve (from its steps) has the run's colour; each worker's (from its log) the next
    /// colour not taken by a run or an earlier worker.
    func throughputSeries(_ run: Run, runIndex: Int, workerColors: inout Int) -> [Series] {
        let log = run.log
        guard let first = log.steps.first, let last = log.steps.last else { return [] }
        let start = first.time - first.record.seconds, end = last.time
        guard end > start else { return [] }
        let buckets = max(1, min(throughputBuckets, log.steps.count / 4))
        let width = (end - start) / Double(buckets)
        func rate(_ activity: [(time: Double, samples: Int)]) -> [(x: Double, y: Double)] {
            var sums = [Double](repeating: 0, count: buckets)
            var seen = [Bool](repeating: false, count: buckets)
            for a in activity {
                let k = min(max(Int((a.time - start) / width), 0), buckets - 1)
                sums[k] += Double(a.samples)
                seen[k] = true
            }
            guard let firstBucket = seen.firstIndex(of: true), let lastBucket = seen.lastIndex(of: true) else { return [] }
            return (firstBucket...lastBucket).map { k in ((Double(k) + 0.5) * width, sums[k] / width) }
        }
        let prefix = runs.count > 1 ? "\(run.name): " : ""
        var series = [Series(run: run.name, name: prefix + (log.workers.isEmpty ? "samples/s" : "all workers"),
                             color: Self.palette[runIndex % Self.palette.count],
                             points: rate(log.steps.map { ($0.time, $0.record.samples) }))]
        for id in log.workerIDs {
            guard let worker = log.workers[id], !worker.activity.isEmpty else { continue }
            let color = Self.palette[(runs.count + workerColors) % Self.palette.count]
            workerColors += 1
            series.append(Series(run: run.name, name: prefix + "worker \(id)", color: color, dashed: true,
                                 points: rate(worker.activity.map { ($0.time, $0.samples) })))
        }
        return series
    }

    // MARK: - Drawing

    private func legend(y: Double) -> String {
        var out = "<g class=\"legend\">\n"
        for (index, run) in runs.enumerated() {
            let x = 20 + Double(index % 4) * 240, row = y + Double(index / 4) * 20
            let color = Self.palette[index % Self.palette.count]
            out += "<line x1=\"\(f(x))\" y1=\"\(f(row - 4))\" x2=\"\(f(x + 24))\" y2=\"\(f(row - 4))\" stroke=\"\(color)\" stroke-width=\"3\"/>"
            out += "<text x=\"\(f(x + 30))\" y=\"\(f(row))\">\(xml(run.name))</text>\n"
        }
        let styleY = y + Double((runs.count + 3) / 4) * 20
        out += "<text x=\"20\" y=\"\(f(styleY))\" fill=\"#555555\">solid: training · dashed: validation (epoch and step panels), workers (samples/s panel)</text>\n"
        return out + "</g>\n"
    }

    private func panel(_ title: String, x: Double, y: Double, xLabel: String, series: [Series],
                       integerX: Bool = false, width: Double = SVGPlot.panelWidth, seriesLegend: Bool = false) -> String {
        let height = Self.panelHeight
        var out = "<g class=\"panel\" data-title=\"\(xml(title))\">\n"
        out += "<text x=\"\(f(x))\" y=\"\(f(y + 14))\" font-size=\"14\" font-weight=\"bold\">\(xml(title))</text>\n"
        let plotTop = y + 24, plotLeft = x + 10, plotWidth = width - 10, plotHeight = height - 50
        out += "<rect x=\"\(f(plotLeft))\" y=\"\(f(plotTop))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#cccccc\"/>\n"
        let points = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        guard !points.isEmpty else {
            out += "<text x=\"\(f(plotLeft + plotWidth / 2))\" y=\"\(f(plotTop + plotHeight / 2))\" text-anchor=\"middle\" fill=\"#888888\">no data yet</text>\n"
            return out + "</g>\n"
        }
        let xs = points.map(\.x), ys = points.map(\.y)
        var xAxis = Axis(low: xs.min()!, high: xs.max()!, integer: integerX)
        if xAxis.low == xAxis.high { xAxis = Axis(low: xAxis.low - 1, high: xAxis.high + 1, integer: integerX) }
        let yAxis = Axis(low: ys.min()!, high: ys.max()!, integer: false)
        func px(_ v: Double) -> Double { plotLeft + (v - xAxis.low) / (xAxis.high - xAxis.low) * plotWidth }
        func py(_ v: Double) -> Double { plotTop + plotHeight - (v - yAxis.low) / (yAxis.high - yAxis.low) * plotHeight }

        for tick in xAxis.ticks {
            out += "<line x1=\"\(f(px(tick)))\" y1=\"\(f(plotTop))\" x2=\"\(f(px(tick)))\" y2=\"\(f(plotTop + plotHeight))\" stroke=\"#eeeeee\"/>"
            out += "<text x=\"\(f(px(tick)))\" y=\"\(f(plotTop + plotHeight + 14))\" text-anchor=\"middle\" fill=\"#555555\">\(xAxis.label(tick))</text>\n"
        }
        for tick in yAxis.ticks {
            out += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(py(tick)))\" x2=\"\(f(plotLeft + plotWidth))\" y2=\"\(f(py(tick)))\" stroke=\"#eeeeee\"/>"
            out += "<text x=\"\(f(plotLeft - 4))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\" fill=\"#555555\">\(yAxis.label(tick))</text>\n"
        }
        out += "<text x=\"\(f(plotLeft + plotWidth / 2))\" y=\"\(f(plotTop + plotHeight + 30))\" text-anchor=\"middle\" fill=\"#333333\">\(xml(xLabel))</text>\n"

        for s in series where !s.points.isEmpty {
            let data = s.points.map { "\($0.x),\($0.y)" }.joined(separator: " ")
            let drawn = s.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out += "<polyline class=\"series\" data-run=\"\(xml(s.run))\" data-series=\"\(xml(s.name))\" data-points=\"\(data)\" "
            out += "points=\"\(drawn)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"\(s.thin ? "1" : "2")\"\(dash)>"
            out += "<title>\(xml(s.run)): \(xml(s.name))</title></polyline>\n"
            if s.markers {
                for p in s.points {
                    out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(s.dashed ? "#ffffff" : s.color)\" stroke=\"\(s.color)\"/>"
                }
                out += "\n"
            }
        }
        if seriesLegend {
            for (k, s) in series.filter({ !$0.points.isEmpty }).enumerated() {
                let ly = plotTop + 14 + Double(k) * 16
                let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
                out += "<line x1=\"\(f(plotLeft + plotWidth - 150))\" y1=\"\(f(ly - 4))\" x2=\"\(f(plotLeft + plotWidth - 126))\" y2=\"\(f(ly - 4))\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)/>"
                out += "<text x=\"\(f(plotLeft + plotWidth - 120))\" y=\"\(f(ly))\">\(xml(s.name))</text>\n"
            }
        }
        return out + "</g>\n"
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }
}

/// An axis with round tick values (1, 2 or 5 times a power of ten) that cover the data.
struct Axis {
    var low: Double
    var high: Double
    var step: Double
    let integer: Bool

    init(low: Double, high: Double, integer: Bool, ticks: Int = 5) {
        self.integer = integer
        var span = high - low
        if span <= 0 { span = max(abs(high), 1) * 0.1 }
        let raw = span / Double(ticks)
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let fraction = raw / magnitude
        var step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude
        if integer { step = max(step.rounded(), 1) }
        self.step = step
        if high - low <= 0 {
            self.low = low - step
            self.high = high + step
        } else {
            self.low = (low / step).rounded(.down) * step
            self.high = (high / step).rounded(.up) * step
        }
    }

    var ticks: [Double] {
        let count = Int(((high - low) / step).rounded())
        return (0...max(count, 0)).map { low + Double($0) * step }
    }

    func label(_ v: Double) -> String {
        if abs(v) >= 10_000 && step >= 1000 { return String(format: "%gk", v / 1000) }
        let decimals = max(0, Int((-log10(step)).rounded(.up)))
        return String(format: "%.\(decimals)f", v)
    }
}

/// `text` with the five XML special characters escaped and characters XML 1.0 forbids replaced.
func xml(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
        case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF: out += "\u{FFFD}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
