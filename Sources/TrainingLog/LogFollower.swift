import Foundation

/// The live view of a run (`backprop logs --follow`): what to print each time the logs are read again.
///
/// On a terminal each tick gives a whole screen to redraw: progress, recent epochs, workers,
/// recent events. Otherwise it gives plain lines, once each: every finished epoch, every
/// membership or fault event, and a progress line at most every `progressInterval` seconds
/// while steps arrive. The caller prints, sleeps and ticks again until `finished` is set.
public final class LogFollower {
    public let reader: RunLogReader
    public let interactive: Bool
    public let zone: TimeZone
    public let progressInterval: Double
    /// The verdict once the run has ended (finished, failed, or its process is gone).
    public private(set) var finished: RunVerdict?

    private var printedEpochs: [Int: EpochRecord] = [:]
    private var printedTimeline = 0
    private var printedRejections = 0
    private var lastProgress = -Double.infinity
    private var lastProgressStep = -1
    private var stoppedSince: Double?
    private var announcedWaiting = false

    public init(reader: RunLogReader, interactive: Bool, zone: TimeZone = .current, progressInterval: Double = 5) {
        self.reader = reader
        self.interactive = interactive
        self.zone = zone
        self.progressInterval = progressInterval
    }

    /// Reads what the logs gained and returns the text to print (empty when there is nothing new).
    /// A run whose process is gone is confirmed on a second tick a moment later before it counts as ended.
    public func tick(now: Double = Date().timeIntervalSince1970) throws -> String {
        try reader.refresh()
        guard reader.kind != nil else {
            if announcedWaiting { return "" }
            announcedWaiting = true
            return "waiting for \(RunLogReader.serverLog) or \(RunLogReader.trainerLog) in \(reader.directory)\n"
        }
        var verdict = reader.verdict(now: now, zone: zone)
        switch verdict.state {
        case .running:
            stoppedSince = nil
        case .stopped:
            if let since = stoppedSince, now - since >= 1 {
                reader.finish()
                verdict = reader.verdict(now: now, zone: zone)
                finished = verdict
            } else {
                stoppedSince = stoppedSince ?? now
                verdict.state = .running
            }
        case .finished, .failed:
            try reader.refresh()
            reader.finish()
            verdict = reader.verdict(now: now, zone: zone)
            finished = verdict
        }
        return interactive ? screen(verdict, now: now) : plainLines(verdict, now: now)
    }

    // MARK: - Terminal

    private func screen(_ verdict: RunVerdict, now: Double) -> String {
        let report = RunReport(directory: reader.directory, kind: reader.kind ?? .cluster, log: reader.log, verdict: verdict,
                               problems: reader.problems, problemCount: reader.problemCount, zone: zone)
        let log = reader.log
        var out: [String] = []
        let model = log.setting("model").map(plain) ?? "?"
        let data = log.setting("data").map(plain) ?? "?"
        out.append("\(reader.directory) - \(model) on \(data) - \(clockTime(now, zone))")
        out.append("")
        if let last = log.lastStep?.record {
            let width = 30
            let done = width * last.step / max(last.stepsPerEpoch, 1)
            let bar = String(repeating: "=", count: max(done - 1, 0)) + (done < width ? ">" : "=") + String(repeating: ".", count: width - done)
            let epochs = log.epochs.map { "/\($0)" } ?? ""
            out.append("epoch \(last.epoch)\(epochs) [\(bar)] step \(last.step)/\(last.stepsPerEpoch) - global step \(last.globalStep)")
            out.append(progressFigures(log))
        } else if let waiting = log.waiting {
            out.append("waiting for workers (need \(waiting.need))")
        } else {
            out.append("starting")
        }
        out.append("")
        let history = report.historyTable()
        if !history.rows.isEmpty {
            var recent = history
            recent.rows = Array(history.rows.suffix(8))
            out += recent.lines()
            out.append("")
        }
        if report.kind == .cluster, !log.workers.isEmpty {
            let rows = report.workerRows()
            out += report.workerTable(rows).lines()
            out += report.stragglers(rows).map(report.stragglerLine)
            out.append("")
        }
        let timeline = report.timelineLines(limit: .max)
        if !timeline.isEmpty {
            out += timeline.suffix(8)
            out.append("")
        }
        let rejected = log.rejections.reduce(0) { $0 + $1.count }
        if rejected > 0 { out.append("rejected messages: \(rejected)") }
        if reader.problemCount > 0 { out.append("skipped log lines: \(reader.problemCount)") }
        out.append(finished == nil ? verdict.text : "verdict: \(verdict.text)")
        // Home, each line over the old one (clearing what is left of it), then clear below: no flicker.
        return "\u{1B}[H" + out.map { $0 + "\u{1B}[K" }.joined(separator: "\n") + "\n\u{1B}[J"
    }

    /// `loss 0.6612 - accuracy 0.6100 (this epoch) - 1950 samples/s - 2 workers`.
    private func progressFigures(_ log: RunLog) -> String {
        guard let last = log.lastStep else { return "" }
        var loss = 0.0, correct = 0.0, samples = 0
        for point in log.steps.reversed() {
            guard point.record.epoch == last.record.epoch else { break }
            loss += point.record.loss * Double(point.record.samples)
            correct += point.record.accuracy * Double(point.record.samples)
            samples += point.record.samples
        }
        let n = Double(max(samples, 1))
        var text = "loss \(fixed(loss / n)) - accuracy \(fixed(correct / n)) (this epoch)"
        if let rate = recentThroughput(log) { text += " - \(Int(rate.rounded())) samples/s" }
        if reader.kind == .cluster { text += " - \(RunVerdict.count(last.record.workers, "worker"))" }
        return text
    }

    /// Samples per second over the steps of the last ten seconds.
    private func recentThroughput(_ log: RunLog) -> Double? {
        guard let last = log.steps.last else { return nil }
        var samples = 0
        var first = last.time
        for point in log.steps.reversed() {
            if last.time - point.time > 10 { break }
            samples += point.record.samples
            first = point.time - point.record.seconds
        }
        let span = last.time - first
        return span > 0 ? Double(samples) / span : nil
    }

    // MARK: - Plain lines

    private func plainLines(_ verdict: RunVerdict, now: Double) -> String {
        let log = reader.log
        var out: [String] = []
        let timeline = log.timeline
        var events: [(Double, String)] = []
        if printedTimeline < timeline.count {
            for entry in timeline[printedTimeline...] where entry.kind != .test {
                events.append((entry.time, "\(clockTime(entry.time, zone))  \(entry.text)"))
            }
            printedTimeline = timeline.count
        }
        for record in log.history where printedEpochs[record.epoch] != record {
            printedEpochs[record.epoch] = record
            let epochs = log.epochs.map { "/\($0)" } ?? ""
            var line = "epoch \(record.epoch)\(epochs) - \(duration(record.seconds)) - loss: \(fixed(record.loss)) - accuracy: \(fixed(record.accuracy))"
            if let loss = record.validationLoss, let accuracy = record.validationAccuracy {
                line += " - val_loss: \(fixed(loss)) - val_accuracy: \(fixed(accuracy))"
            }
            line += " - \(Int(record.samplesPerSecond.rounded())) samples/s"
            events.append((log.epochTimes[record.epoch] ?? now, line))
        }
        out += events.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element.1)

        let rejected = log.rejections.reduce(0) { $0 + $1.count }
        if rejected > printedRejections, now - lastProgress >= progressInterval || finished != nil {
            let latest = log.rejections.max { $0.last < $1.last }
            out.append("rejected messages: \(rejected) so far" + (latest.map { "; latest: \($0.example)" } ?? ""))
            printedRejections = rejected
        }
        if let last = log.lastStep, last.record.globalStep != lastProgressStep, finished == nil, now - lastProgress >= progressInterval {
            let r = last.record
            let epochs = log.epochs.map { "/\($0)" } ?? ""
            out.append("epoch \(r.epoch)\(epochs) step \(r.step)/\(r.stepsPerEpoch) (global step \(r.globalStep)) - \(progressFigures(log))")
            lastProgress = now
            lastProgressStep = r.globalStep
        }
        if finished != nil {
            for problem in reader.problems { out.append("skipped \(problem)") }
            out.append("verdict: \(verdict.text)")
        }
        return out.isEmpty ? "" : out.joined(separator: "\n") + "\n"
    }
}
