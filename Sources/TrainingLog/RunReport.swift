import Foundation

/// One worker's line of the worker table, as numbers (the text table and the exports share it).
public struct WorkerRow: Sendable, Equatable {
    public var worker: Int
    public var name: String
    public var pid: Int?
    /// `joined`, `active`, `active at end`, `left`, `timed out` or `unknown`.
    public var state: String
    /// Why it left, or how long it was silent before it was dropped.
    public var stateDetail: String?
    public var steps: Int
    public var microbatches: Int
    public var samples: Int
    /// Compute seconds per microbatch: median and 95th percentile over its reports (each the mean of the assignments it counts).
    public var computeP50: Double
    public var computeP95: Double
    /// Median compute seconds per sample (what straggler detection compares).
    public var secondsPerSample: Double
    public var computeSeconds: Double
    public var waitSeconds: Double
    public var bytesSent: Int
    public var bytesReceived: Int
    public var reassignedMicrobatches: Int
    public var rejectedMessages: Int
    /// Unix seconds of the last event about the worker.
    public var lastSeen: Double?
}

/// A worker much slower than the others.
public struct Straggler: Sendable, Equatable {
    public var worker: Int
    public var name: String
    /// Its median compute seconds per sample.
    public var secondsPerSample: Double
    /// The median of the other workers' medians.
    public var othersSecondsPerSample: Double
    public var ratio: Double { secondsPerSample / othersSecondsPerSample }
}

/// Everything `backprop logs` prints about one run, as tables and lines.
public struct RunReport: Sendable {
    public let directory: String
    public let kind: RunKind
    public let log: RunLog
    public let verdict: RunVerdict
    public let problems: [LogProblem]
    public let problemCount: Int
    /// The zone clock times are shown in.
    public let zone: TimeZone
    /// A worker is a straggler when its median compute time per sample exceeds this multiple of the others' median.
    public static let stragglerRatio = 1.5
    /// Assignments a worker needs before it is compared with the others.
    public static let stragglerMinimumSteps = 3

    public init(directory: String, kind: RunKind, log: RunLog, verdict: RunVerdict,
                problems: [LogProblem] = [], problemCount: Int? = nil, zone: TimeZone = .current) {
        self.directory = directory
        self.kind = kind
        self.log = log
        self.verdict = verdict
        self.problems = problems
        self.problemCount = problemCount ?? problems.count
        self.zone = zone
    }

    /// The report of what `reader` has read so far.
    public init(reader: RunLogReader, now: Double = Date().timeIntervalSince1970, zone: TimeZone = .current) {
        self.init(directory: reader.directory, kind: reader.kind ?? .cluster, log: reader.log,
                  verdict: reader.verdict(now: now, zone: zone), problems: reader.problems,
                  problemCount: reader.problemCount, zone: zone)
    }

    // MARK: - Config

    /// The run's settings in a few labelled lines.
    public func configLines() -> [(label: String, text: String)] {
        var lines: [(String, String)] = []
        let source = kind == .cluster
            ? "cluster: \(RunLogReader.serverLog), \(RunVerdict.count(log.workers.count, "worker"))"
            : "single process: \(RunLogReader.trainerLog)"
        lines.append(("run", "\(directory) (\(source))"))
        let used: Set<String> = ["model", "data", "epochs", "batch_size", "microbatch", "learning_rate", "optimizer",
                                 "momentum", "seed", "validation_split", "train_limit", "test_limit"]
        func value(_ key: String) -> String? { log.setting(key).map(plain) }
        if log.config.isEmpty {
            lines.append(("config", "not logged yet (no run_started event)"))
        } else {
            var model = value("model") ?? "?"
            if let parameters = log.parameterCount { model += ", \(grouped(parameters)) parameters" }
            lines.append(("model", model))
            var data = value("data") ?? "?"
            if let train = log.trainSamples, let validation = log.validationSamples, let test = log.testSamples {
                data += ": \(grouped(train)) train, \(grouped(validation)) validation, \(grouped(test)) test samples"
            }
            let limits = [("train limit", value("train_limit")), ("test limit", value("test_limit"))]
                .compactMap { label, v in v.map { "\(label) \($0)" } }
            if !limits.isEmpty { data += " (\(limits.joined(separator: ", ")))" }
            lines.append(("data", data))
            var training: [String] = []
            if let epochs = value("epochs") {
                let stepsPerEpoch = log.lastStep.map { " × \($0.record.stepsPerEpoch) steps" } ?? ""
                training.append("\(epochs) epoch\(epochs == "1" ? "" : "s")\(stepsPerEpoch)")
            }
            if let batch = value("batch_size") { training.append("batch \(batch)") }
            if let microbatch = value("microbatch") { training.append("microbatch \(microbatch)") }
            var optimizer = value("optimizer") ?? "optimizer"
            if let lr = value("learning_rate") { optimizer += " lr \(lr)" }
            if let momentum = log.setting("momentum"), plain(momentum) != "0" { optimizer += " momentum \(plain(momentum))" }
            training.append(optimizer)
            if let seed = value("seed") { training.append("seed \(seed)") }
            lines.append(("training", training.joined(separator: ", ")))
            let others = log.config.filter { !used.contains($0.0) }.map { "\($0.0) \(plain($0.1))" }
            if !others.isEmpty { lines.append(("other", others.joined(separator: ", "))) }
        }
        if kind == .cluster {
            let most = log.steps.reduce(0) { max($0, $1.record.workers) }
            lines.append(("workers", "\(log.workers.count) joined, at most \(most) computing at once"))
        }
        if let first = log.firstTime, let last = log.lastTime {
            var started = dateTime(first, zone)
            if log.starts > 1 { started += ", resumed \(RunVerdict.count(log.starts - 1, "time"))" }
            lines.append(("started", "\(started); last event \(duration(last - first)) later"))
        }
        return lines
    }

    // MARK: - History

    /// One row per epoch: epoch, loss, accuracy, val_loss, val_accuracy, time, samples/s, and the
    /// learning rate of the epoch's last step (`lr`) when any epoch has one (logs written before it was recorded have none).
    public func historyTable() -> TextTable {
        let showRate = log.history.contains { $0.learningRate != nil }
        return TextTable(
            header: ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "time", "samples/s"] + (showRate ? ["lr"] : []),
            rows: log.history.map { r in
                [String(r.epoch), fixed(r.loss), fixed(r.accuracy), fixed(r.validationLoss ?? .nan),
                 fixed(r.validationAccuracy ?? .nan), duration(r.seconds), String(Int(r.samplesPerSecond.rounded()))]
                    + (showRate ? [significant(r.learningRate ?? .nan)] : [])
            },
            rightAligned: Array(repeating: true, count: showRate ? 8 : 7))
    }

    // MARK: - Workers

    public func workerRows() -> [WorkerRow] {
        let ended = verdict.state != .running
        return log.workerIDs.compactMap { id in
            guard let w = log.workers[id] else { return nil }
            let state: String, detail: String?
            switch w.state {
            case .joined: (state, detail) = ("joined", "not computing yet")
            case .active: (state, detail) = (ended ? "active at end" : "active", nil)
            case .left(let reason): (state, detail) = ("left", reason)
            case .timedOut(let silent): (state, detail) = ("timed out", "\(fixed(silent, 1))s silent")
            case .unknown: (state, detail) = ("unknown", "not in \(RunLogReader.serverLog)")
            }
            let perMicrobatch = w.computePerMicrobatch.sorted()
            return WorkerRow(
                worker: id, name: w.name ?? "", pid: w.pid, state: state, stateDetail: detail,
                steps: w.steps, microbatches: w.microbatches, samples: w.samples,
                computeP50: quantile(sorted: perMicrobatch, 0.5), computeP95: quantile(sorted: perMicrobatch, 0.95),
                secondsPerSample: quantile(w.computePerSample, 0.5), computeSeconds: w.computeSeconds,
                waitSeconds: w.waitSeconds, bytesSent: w.bytesSent, bytesReceived: w.bytesReceived,
                reassignedMicrobatches: w.reassignedMicrobatches, rejectedMessages: w.rejectedMessages, lastSeen: w.lastSeen)
        }
    }

    public func workerTable(_ rows: [WorkerRow]? = nil) -> TextTable {
        let rows = rows ?? workerRows()
        return TextTable(
            header: ["worker", "name", "state", "steps", "microbatches", "samples", "compute p50", "compute p95",
                     "wait", "sent", "received", "last seen"],
            rows: rows.map { r in
                [String(r.worker), r.name.isEmpty ? "-" : r.name, r.state, grouped(r.steps), grouped(r.microbatches),
                 grouped(r.samples), milliseconds(r.computeP50), milliseconds(r.computeP95), duration(r.waitSeconds),
                 byteCount(r.bytesSent), byteCount(r.bytesReceived), r.lastSeen.map { clockTime($0, zone) } ?? "-"]
            },
            rightAligned: [true, false, false, true, true, true, true, true, true, true, true, true])
    }

    /// The server's mean step split into its phases, when its log has them: `server step 412ms: assign 12ms, wait 387ms, …`.
    public func stepTimingLine() -> String? {
        let timed = log.steps.compactMap { point in point.record.timing.map { (point.record, $0) } }
        guard !timed.isEmpty else { return nil }
        let n = Double(timed.count)
        func mean(_ value: (StepRecord, StepTiming) -> Double) -> Double {
            timed.reduce(0) { $0 + value($1.0, $1.1) } / n
        }
        let step = mean { r, _ in r.seconds }, assign = mean { $1.assignSeconds }, wait = mean { $1.waitSeconds }
        let sum = mean { $1.sumSeconds }, update = mean { r, _ in r.updateSeconds ?? 0 }
        let other = step - assign - wait - sum - update
        return "server step \(milliseconds(step)) (mean of \(timed.count)): assign \(milliseconds(assign)), "
            + "wait for gradients \(milliseconds(wait)), sum \(milliseconds(sum)), update \(milliseconds(update)), "
            + "other \(milliseconds(max(other, 0)))"
    }

    /// Workers whose median compute time per sample is more than `stragglerRatio` times the median of the others'.
    public func stragglers(_ rows: [WorkerRow]? = nil) -> [Straggler] {
        let rows = (rows ?? workerRows()).filter { $0.steps >= Self.stragglerMinimumSteps && $0.secondsPerSample.isFinite }
        guard rows.count >= 2 else { return [] }
        return rows.compactMap { row in
            let others = quantile(rows.filter { $0.worker != row.worker }.map(\.secondsPerSample), 0.5)
            guard others > 0, row.secondsPerSample > Self.stragglerRatio * others else { return nil }
            return Straggler(worker: row.worker, name: row.name, secondsPerSample: row.secondsPerSample, othersSecondsPerSample: others)
        }
    }

    public func stragglerLine(_ s: Straggler) -> String {
        let name = s.name.isEmpty ? "" : " (\(s.name))"
        return "straggler: worker \(s.worker)\(name) computes a sample in \(milliseconds(s.secondsPerSample)), "
            + "\(String(format: "%.1f", s.ratio))× the other workers' median \(milliseconds(s.othersSecondsPerSample))"
    }

    // MARK: - Timeline

    /// Longest timeline printed in full; longer ones keep their first and last halves.
    public static let timelineLimit = 60

    /// Membership, fault and training-decision events in time order; runs of checkpoints in one line;
    /// of the improvements of the monitored value, only the latest (the best epoch).
    public func timelineLines(limit: Int = RunReport.timelineLimit) -> [String] {
        var entries = log.timeline.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
        if let latest = entries.lastIndex(where: { $0.kind == .bestWeights }) {
            entries = entries.enumerated().filter { $0.element.kind != .bestWeights || $0.offset == latest }.map(\.element)
        }
        var lines: [String] = []
        var index = 0
        while index < entries.count {
            let entry = entries[index]
            var end = index + 1
            if entry.kind == .checkpoint {
                while end < entries.count && entries[end].kind == .checkpoint { end += 1 }
            }
            if end - index > 1 {
                let run = log.checkpoints.filter { $0.time >= entry.time && $0.time <= entries[end - 1].time }
                let first = run.first, last = run.last
                let text = run.allSatisfy(\.atEpochEnd)
                    ? "checkpoints after epochs \(first?.epoch ?? 0)–\(last?.epoch ?? 0) (\(end - index), last at step \(last?.step ?? 0))"
                    : "\(end - index) checkpoints, steps \(first?.step ?? 0)–\(last?.step ?? 0)"
                lines.append("\(clockTime(entry.time, zone))  \(text)")
            } else {
                lines.append("\(clockTime(entry.time, zone))  \(entry.text)")
            }
            index = end
        }
        guard lines.count > limit else { return lines }
        let half = limit / 2
        return Array(lines.prefix(half)) + ["… \(lines.count - 2 * half) more …"] + Array(lines.suffix(half))
    }

    /// Rejected messages grouped by reason, with counts.
    public func rejectionLines() -> [String] {
        log.rejections.sorted { ($0.count, $1.first) > ($1.count, $0.first) }.map { g in
            var whence = g.source == "server" ? "" : " (dropped by \(g.source))"
            if !g.senders.isEmpty { whence += " from worker\(g.senders.count == 1 ? "" : "s") \(g.senders.sorted().map(String.init).joined(separator: ", "))" }
            let first = clockTime(g.first, zone), last = clockTime(g.last, zone)
            let span = first == last ? first : "\(first)–\(last)"
            let reason = g.count > 1 ? g.pattern : g.example
            return "\(g.count)× \(reason)\(whence), \(span)"
        }
    }

    // MARK: - The whole report

    /// The report as text: config, history, workers, timeline, rejected messages, skipped lines, verdict.
    public func render() -> String {
        var out: [String] = []
        let config = configLines()
        let width = config.map(\.label.count).max() ?? 0
        out += config.map { $0.label.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.text }

        out.append("")
        out.append("history")
        if log.history.isEmpty {
            out.append("  no epoch finished yet")
        } else {
            out += historyTable().lines(indent: "  ")
        }

        if kind == .cluster {
            out.append("")
            out.append("workers")
            let rows = workerRows()
            if rows.isEmpty {
                out.append("  none joined yet")
            } else {
                out += workerTable(rows).lines(indent: "  ")
                out.append("  compute: time per microbatch; wait: from sending a share's gradients to receiving the next assignment")
                if let line = stepTimingLine() { out.append("  " + line) }
                let slow = stragglers(rows)
                out += slow.isEmpty ? ["  stragglers: none"] : slow.map { "  " + stragglerLine($0) }
            }
        }

        out.append("")
        out.append("timeline")
        let timeline = timelineLines()
        out += timeline.isEmpty ? ["  nothing yet"] : timeline.map { "  " + $0 }

        let rejected = log.rejections.reduce(0) { $0 + $1.count }
        if rejected > 0 {
            out.append("")
            out.append("rejected messages: \(grouped(rejected))")
            out += rejectionLines().map { "  " + $0 }
        }

        if problemCount > 0 {
            out.append("")
            out.append("skipped log lines: \(problemCount)")
            out += problems.map { "  \($0)" }
            if problemCount > problems.count { out.append("  … \(problemCount - problems.count) more") }
        }

        out.append("")
        out.append("verdict: \(verdict.text)")
        return out.joined(separator: "\n") + "\n"
    }
}
