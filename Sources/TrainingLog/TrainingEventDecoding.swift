/// One event read back from a JSON Lines log: when it happened, which process wrote it, what it says.
public struct LoggedEvent: Sendable {
    /// Unix seconds.
    public var time: Double
    /// `server`, `trainer`, `worker-<id>`.
    public var process: String
    public var event: TrainingEvent

    public init(time: Double, process: String, event: TrainingEvent) {
        self.time = time
        self.process = process
        self.event = event
    }
}

/// Why a log line that parsed as JSON is not an event this reader understands.
public struct EventDecodingError: Error, CustomStringConvertible, Equatable {
    public let reason: String
    public var description: String { reason }
}

extension LoggedEvent {
    /// Decodes one JSON Lines record as `JSONLinesSink` writes it.
    ///
    /// Returns nil for an event kind this version does not know (a newer writer); throws when
    /// the record lacks `time` or `event`, or a known kind lacks one of its fields.
    public init?(line: LogLine) throws {
        guard case .some(.some(.string(let kind))) = line["event"] else { throw EventDecodingError(reason: "no \"event\" field") }
        var fields = EventFields(line: line, kind: kind)
        let time = try fields.double("time")
        guard time.isFinite else { throw EventDecodingError(reason: "no \"time\" field") }
        let process = fields.optionalString("process") ?? ""
        guard let event = try TrainingEvent(kind: kind, fields: &fields) else { return nil }
        self.init(time: time, process: process, event: event)
    }
}

extension TrainingEvent {
    /// The event `kind` with `fields`, the inverse of `kind` and `fields`; nil for an unknown kind.
    init?(kind: String, fields f: inout EventFields) throws {
        switch kind {
        case "run_started":
            var config: [(String, LogValue)] = []
            for (key, value) in f.line.fields where key.hasPrefix("config.") {
                if let value { config.append((String(key.dropFirst(7)), value)) }
            }
            self = .runStarted(config: config, parameterCount: try f.int("parameters"), trainSamples: try f.int("train_samples"),
                               validationSamples: try f.int("validation_samples"), testSamples: try f.int("test_samples"))
        case "step":
            self = .step(StepRecord(
                epoch: try f.int("epoch"), step: try f.int("step"), stepsPerEpoch: try f.int("steps_per_epoch"),
                globalStep: try f.int("global_step"), loss: try f.double("loss"), accuracy: try f.double("accuracy"),
                samples: try f.int("samples"), seconds: try f.double("step_seconds"), workers: f.optionalInt("workers") ?? 1,
                updateSeconds: f.optionalDouble("update_seconds"),
                timing: f.optionalDouble("assign_seconds").map { assign in
                    StepTiming(assignSeconds: assign, waitSeconds: f.optionalDouble("wait_seconds") ?? .nan,
                               sumSeconds: f.optionalDouble("sum_seconds") ?? .nan)
                }))
        case "epoch":
            let validationLoss = try f.double("val_loss"), validationAccuracy = try f.double("val_accuracy")
            self = .epoch(EpochRecord(
                epoch: try f.int("epoch"), loss: try f.double("loss"), accuracy: try f.double("accuracy"),
                validationLoss: validationLoss.isNaN ? nil : validationLoss,
                validationAccuracy: validationAccuracy.isNaN ? nil : validationAccuracy,
                seconds: try f.double("seconds"), samplesPerSecond: try f.double("samples_per_second"),
                learningRate: f.optionalDouble("learning_rate").flatMap { $0.isNaN ? nil : $0 }))
        case "checkpoint":
            self = .checkpoint(path: try f.string("path"), epoch: try f.int("epoch"), step: try f.int("step"))
        case "test":
            self = .test(loss: try f.double("test_loss"), accuracy: try f.double("test_accuracy"), samples: try f.int("samples"))
        case "failed":
            self = .failed(reason: try f.string("reason"))
        case "waiting_for_workers":
            self = .waitingForWorkers(have: try f.int("workers"), need: try f.int("workers_min"))
        case "worker_joined":
            self = .workerJoined(worker: try f.int("worker"), name: try f.string("name"), pid: try f.int("pid"))
        case "worker_admitted":
            self = .workerAdmitted(worker: try f.int("worker"), step: try f.int("global_step"))
        case "worker_left":
            self = .workerLeft(worker: try f.int("worker"), reason: try f.string("reason"))
        case "worker_timed_out":
            self = .workerTimedOut(worker: try f.int("worker"), silentSeconds: try f.double("silent_seconds"))
        case "reassigned":
            self = .reassigned(worker: try f.int("worker"), microbatches: try f.int("microbatches"), step: try f.int("global_step"))
        case "message_rejected":
            self = .messageRejected(worker: try f.int("worker"), reason: try f.string("reason"))
        case "worker_step":
            self = .workerStep(WorkerStepRecord(
                worker: try f.int("worker"), epoch: try f.int("epoch"), globalStep: try f.int("global_step"),
                assignments: f.optionalInt("assignments") ?? 1, microbatches: try f.int("microbatches"), samples: try f.int("samples"),
                computeSeconds: try f.double("compute_seconds"), waitSeconds: try f.double("wait_seconds"),
                bytesSent: try f.int("bytes_sent"), bytesReceived: try f.int("bytes_received"),
                sendSeconds: f.optionalDouble("send_seconds")))
        case "worker_rejoining":
            self = .workerRejoining(worker: try f.int("worker"), reason: try f.string("reason"))
        case "checkpoint_failed":
            self = .checkpointFailed(path: try f.string("path"), reason: try f.string("reason"))
        case "send_failed":
            self = .sendFailed(worker: try f.int("worker"), message: try f.string("message"), reason: try f.string("reason"))
        case "learning_rate_reduced":
            self = .learningRateReduced(epoch: try f.int("epoch"), from: try f.double("from"), to: try f.double("to"))
        case "best_weights":
            self = .bestWeights(epoch: try f.int("epoch"), monitor: try f.string("monitor"), value: try f.double("value"),
                                path: f.optionalString("path"))
        case "stopped_early":
            self = .stoppedEarly(epoch: try f.int("epoch"), reason: try f.string("reason"))
        case "best_restored":
            self = .bestRestored(epoch: try f.int("epoch"))
        default:
            return nil
        }
    }
}

/// Typed access to a record's fields, with errors that name the field and the event.
///
/// Fields are looked up from where the last one was found, since events are read in the order
/// they were written: one comparison per field instead of a scan from the start.
struct EventFields {
    let line: LogLine
    let kind: String
    private var cursor = 0

    init(line: LogLine, kind: String) {
        self.line = line
        self.kind = kind
    }

    /// The value of `key`: `nil` when absent, `.some(nil)` when it is `null`.
    private mutating func value(_ key: String) -> LogValue?? {
        let fields = line.fields
        guard !fields.isEmpty else { return nil }
        for offset in 0..<fields.count {
            let index = (cursor + offset) % fields.count
            if fields[index].key == key {
                cursor = index + 1
                return .some(fields[index].value)
            }
        }
        return nil
    }

    mutating func int(_ key: String) throws -> Int {
        switch value(key) {
        case .some(.some(.int(let v))): return v
        case .some(.some(.double(let v))) where v.rounded() == v && abs(v) < 9e15: return Int(v)
        default: throw missing(key, "an integer")
        }
    }

    /// A number; `null` reads as NaN (the writer's spelling of a missing or non-finite value).
    mutating func double(_ key: String) throws -> Double {
        switch value(key) {
        case .some(.some(.double(let v))): return v
        case .some(.some(.int(let v))): return Double(v)
        case .some(.none): return .nan
        default: throw missing(key, "a number")
        }
    }

    mutating func string(_ key: String) throws -> String {
        guard let value = optionalString(key) else { throw missing(key, "a string") }
        return value
    }

    mutating func optionalString(_ key: String) -> String? {
        if case .some(.some(.string(let v))) = value(key) { return v }
        return nil
    }

    mutating func optionalInt(_ key: String) -> Int? { try? int(key) }

    /// A number when present (`null` reads as NaN), nil when absent.
    mutating func optionalDouble(_ key: String) -> Double? { try? double(key) }

    private func missing(_ key: String, _ type: String) -> EventDecodingError {
        EventDecodingError(reason: "\(kind) event without \(type) \"\(key)\"")
    }
}
