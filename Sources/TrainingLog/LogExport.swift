import Foundation

/// The history, worker and step tables as CSV, and a whole report as JSON, for people who plot elsewhere.
///
/// With more than one run, every CSV row starts with a `run` column (the run directory); with
/// one run the history has exactly the columns of `history.csv`.
public enum LogExport {
    /// The tables `--csv` can write.
    public enum Table: String, CaseIterable, Sendable {
        case history, workers, steps
    }

    public static let workerColumns = [
        "worker", "name", "pid", "state", "state_detail", "steps", "microbatches", "samples",
        "compute_p50_seconds", "compute_p95_seconds", "compute_seconds_per_sample", "compute_seconds", "wait_seconds",
        "bytes_sent", "bytes_received", "reassigned_microbatches", "rejected_messages", "last_seen",
    ]

    public static let stepColumns = [
        "epoch", "step", "steps_per_epoch", "global_step", "time", "loss", "accuracy", "samples", "step_seconds", "workers",
    ]

    /// `table` of every report as CSV text: a header line, then one line per row.
    public static func csv(_ table: Table, _ reports: [RunReport]) -> String {
        let many = reports.count > 1
        let columns: [String]
        switch table {
        case .history: columns = EpochRecord.columns
        case .workers: columns = workerColumns
        case .steps: columns = stepColumns
        }
        var out = ((many ? ["run"] : []) + columns).joined(separator: ",") + "\n"
        for report in reports {
            let prefix = many ? LogValue.string(report.directory).csv + "," : ""
            for row in rows(table, report) {
                out += prefix + row.map(\.csv).joined(separator: ",") + "\n"
            }
        }
        return out
    }

    static func rows(_ table: Table, _ report: RunReport) -> [[LogValue]] {
        switch table {
        case .history:
            return report.log.history.map(\.row)
        case .workers:
            return report.workerRows().map(workerValues)
        case .steps:
            return report.log.steps.map { point in
                let r = point.record
                return [.int(r.epoch), .int(r.step), .int(r.stepsPerEpoch), .int(r.globalStep), .double(point.time),
                        .double(r.loss), .double(r.accuracy), .int(r.samples), .double(r.seconds), .int(r.workers)]
            }
        }
    }

    static func workerValues(_ r: WorkerRow) -> [LogValue] {
        [.int(r.worker), .string(r.name), r.pid.map(LogValue.int) ?? .string(""), .string(r.state), .string(r.stateDetail ?? ""),
         .int(r.steps), .int(r.microbatches), .int(r.samples), .double(r.computeP50), .double(r.computeP95),
         .double(r.secondsPerSample), .double(r.computeSeconds), .double(r.waitSeconds), .int(r.bytesSent), .int(r.bytesReceived),
         .int(r.reassignedMicrobatches), .int(r.rejectedMessages), .double(r.lastSeen ?? .nan)]
    }

    /// Every report as JSON: one object for one run, an array for several. Keys sorted; missing numbers `null`.
    public static func json(_ reports: [RunReport]) throws -> String {
        let objects = reports.map(jsonObject)
        let value: Any = objects.count == 1 ? objects[0] : objects
        let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func jsonObject(_ report: RunReport) -> [String: Any] {
        let log = report.log
        let rows = report.workerRows()
        var object: [String: Any] = [
            "run_dir": report.directory,
            "kind": report.kind.rawValue,
            "config": jsonDictionary(log.config),
            "history": log.history.map { jsonDictionary(Array(zip(EpochRecord.columns, $0.row))) },
            "workers": rows.map { jsonDictionary(Array(zip(workerColumns, workerValues($0)))) },
            "stragglers": report.stragglers(rows).map { s -> [String: Any] in
                ["worker": s.worker, "name": s.name, "compute_seconds_per_sample": s.secondsPerSample,
                 "others_compute_seconds_per_sample": s.othersSecondsPerSample, "ratio": s.ratio]
            },
            "timeline": log.timeline.sorted { $0.time < $1.time }.map { entry -> [String: Any] in
                var item: [String: Any] = ["time": entry.time, "event": entry.kind.rawValue, "text": entry.text]
                if let worker = entry.worker { item["worker"] = worker }
                return item
            },
            "rejected_messages": log.rejections.map { g -> [String: Any] in
                ["source": g.source, "reason": g.pattern, "example": g.example, "count": g.count,
                 "first": g.first, "last": g.last, "senders": g.senders.sorted()]
            },
            "skipped_lines": report.problems.map { ["file": $0.file, "line": $0.line, "reason": $0.reason] },
            "skipped_line_count": report.problemCount,
            "verdict": jsonDictionary([("state", .string(report.verdict.state.rawValue)), ("text", .string(report.verdict.text)),
                                   ("test_accuracy", .double(report.verdict.testAccuracy ?? .nan)),
                                   ("test_loss", .double(report.verdict.testLoss ?? .nan))]),
        ]
        // Keras fit's decisions, under their events' names, when the run made any.
        if !log.learningRateReductions.isEmpty {
            object["learning_rate_reductions"] = log.learningRateReductions.map { r -> [String: Any] in
                ["time": r.time, "epoch": r.epoch, "from": r.from, "to": r.to]
            }
        }
        if let best = log.best {
            var item: [String: Any] = ["time": best.time, "epoch": best.epoch, "monitor": best.monitor]
            item["value"] = best.value.isFinite ? best.value : NSNull()
            if let path = best.path { item["path"] = path }
            object["best_weights"] = item
        }
        if let stop = log.earlyStop { object["stopped_early"] = ["time": stop.time, "epoch": stop.epoch, "reason": stop.reason] as [String: Any] }
        if let epoch = log.restoredEpoch { object["best_restored"] = ["epoch": epoch] }
        if let parameters = log.parameterCount { object["parameters"] = parameters }
        if let n = log.trainSamples { object["train_samples"] = n }
        if let n = log.validationSamples { object["validation_samples"] = n }
        if let n = log.testSamples { object["test_samples"] = n }
        if let last = log.lastStep {
            object["progress"] = jsonDictionary(Array(last.record.fields.prefix(4)) + [("time", .double(last.time))])
        }
        return object
    }
}
