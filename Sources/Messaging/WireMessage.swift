/// What a wire message is about; the header's kind field.
public enum MessageKind: UInt16, Sendable, CaseIterable {
    /// Worker → server: asks to take part (JSON: name, pid, optional model).
    case join = 1
    /// Server → worker: the assigned worker id (in `sender`), the run id and the run config.
    case welcome
    /// Worker → server: the worker has loaded its data (and may name a shared-memory file).
    case ready
    /// Server → worker: microbatches to compute against the weights of `step`.
    case assignment
    /// Worker → server: one node of the step's sum tree: its gradient and statistics.
    case gradients
    /// Either way: still alive.
    case heartbeat
    /// Worker → server: leaving cleanly, with a reason.
    case leave
    /// Server → worker: training is over, with a reason.
    case shutdown
    /// Server → worker: why the worker is refused or dropped.
    case error
    /// Server → worker: this server does not know the worker (it restarted, or dropped the worker); join again.
    case rejoin
    /// Worker → server: what the worker measured over its last assignment.
    case report

    /// Whether messages of this kind may carry a Float32 payload frame.
    var carriesPayload: Bool {
        self == .assignment || self == .gradients
    }
}

/// One microbatch of an assignment: its index in the step and its positions in the epoch's sample order.
public struct MicrobatchRef: Equatable, Sendable {
    /// The microbatch's index within its step (the server sums gradients in this order).
    public var index: Int
    /// Positions `[start, end)` in the epoch's sample order; never empty.
    public var positions: Range<Int>

    /// Creates a reference to microbatch `index` covering `positions`.
    public init(index: Int, positions: Range<Int>) {
        self.index = index
        self.positions = positions
    }
}

/// How an assignment gives the worker the weights of its step (the assignment body's weights field).
public enum WeightsForm: UInt32, Equatable, Sendable, CaseIterable {
    /// The weights themselves: Float32 values in the payload, or in the worker's shared-memory file when there is none.
    case full = 0
    /// No payload: the worker holds the weights of this step already, from an earlier assignment of the step.
    case held = 1
    /// The step from the previous weights as bfloat16 values in the payload (a run with `--update-precision bfloat16`):
    /// each weight of `step` is the worker's weight of `step − 1` minus its value, a Float32 subtraction.
    case bfloat16Step = 2

    /// Bytes per payload value.
    var valueBytes: Int { self == .bfloat16Step ? BFloat16.size : MemoryLayout<Float>.size }
}

/// What a gradients message says besides the gradient: which microbatches, and how it went.
///
/// A gradients message carries one node of the step's sum tree: the sum of `microbatches`
/// microbatches from `microbatch` on (1 for a single microbatch's gradient).
public struct GradientStats: Equatable, Sendable {
    /// The index within its step of the first microbatch summed.
    public var microbatch: Int
    /// How many consecutive microbatches are summed (at least 1).
    public var microbatches: Int
    /// Samples the gradient is summed over (at least 1).
    public var samples: Int
    /// Sum of the per-sample losses (finite, ≥ 0).
    public var lossSum: Double
    /// Samples classified correctly (≤ `samples`).
    public var correct: Int
    /// Wall-clock seconds the worker spent computing (finite, ≥ 0).
    public var computeSeconds: Double

    /// Creates the statistics of the gradient of `microbatches` microbatches from `microbatch` on.
    public init(microbatch: Int, microbatches: Int = 1, samples: Int, lossSum: Double, correct: Int, computeSeconds: Double) {
        self.microbatch = microbatch
        self.microbatches = microbatches
        self.samples = samples
        self.lossSum = lossSum
        self.correct = correct
        self.computeSeconds = computeSeconds
    }
}

/// A worker's result for one node of the step's sum tree: the summed gradient and what the server logs about it.
public struct GradientReport: Equatable, Sendable {
    /// The index within its step of the first microbatch summed.
    public var microbatch: Int
    /// How many consecutive microbatches are summed (at least 1).
    public var microbatches: Int
    /// Samples the gradient is summed over (at least 1).
    public var samples: Int
    /// Sum of the per-sample losses (finite, ≥ 0).
    public var lossSum: Double
    /// Samples classified correctly (≤ `samples`).
    public var correct: Int
    /// Wall-clock seconds the worker spent computing (finite, ≥ 0).
    public var computeSeconds: Double
    /// The gradient in the model's flat parameter layout; every value finite.
    public var values: [Float]

    /// Creates a report.
    public init(microbatch: Int, microbatches: Int = 1, samples: Int, lossSum: Double, correct: Int, computeSeconds: Double,
                values: [Float]) {
        self.microbatch = microbatch
        self.microbatches = microbatches
        self.samples = samples
        self.lossSum = lossSum
        self.correct = correct
        self.computeSeconds = computeSeconds
        self.values = values
    }

    /// Creates a report from a gradient's statistics and values.
    public init(_ stats: GradientStats, values: [Float]) {
        self.init(microbatch: stats.microbatch, microbatches: stats.microbatches, samples: stats.samples, lossSum: stats.lossSum,
                  correct: stats.correct, computeSeconds: stats.computeSeconds, values: values)
    }

    /// Everything but the values.
    public var stats: GradientStats {
        GradientStats(microbatch: microbatch, microbatches: microbatches, samples: samples, lossSum: lossSum, correct: correct,
                      computeSeconds: computeSeconds)
    }
}

/// The kind-specific content of a message: its body frame and, for assignments and gradients, its payload.
public enum Body: Equatable, Sendable {
    /// Worker → server: the worker's name, process id and, optionally, the model it insists on.
    case join(name: String, pid: Int, model: String?)
    /// Server → worker: the run config as JSON text (opaque to Messaging).
    case welcome(configJSON: String)
    /// Worker → server: data loaded; with a path, the worker's `SharedPayloads` file, through which it
    /// would take its weights and give its gradients instead of in payloads.
    case ready(sharedFile: String?)
    /// Server → worker: microbatches to compute in `epoch`, and the weights to compute them with, in
    /// `form` (full with no values: they are in the worker's shared-memory file).
    case assignment(epoch: Int, microbatches: [MicrobatchRef], form: WeightsForm = .full, weights: [Float])
    /// Worker → server: one microbatch's gradient (no values: it is in the worker's shared-memory file).
    case gradients(GradientReport)
    /// Either way: still alive.
    case heartbeat
    /// Worker → server: leaving cleanly.
    case leave(reason: String)
    /// Server → worker: training is over.
    case shutdown(reason: String)
    /// Server → worker: refused or dropped, and why.
    case error(reason: String)
    /// Server → worker: not a member (any more); join again.
    case rejoin(reason: String)
    /// Worker → server: what it measured over the assignment of the header's step.
    case report(StepFigures)

    /// The header kind this body is sent as.
    public var kind: MessageKind {
        switch self {
        case .join: .join
        case .welcome: .welcome
        case .ready: .ready
        case .assignment: .assignment
        case .gradients: .gradients
        case .heartbeat: .heartbeat
        case .leave: .leave
        case .shutdown: .shutdown
        case .error: .error
        case .rejoin: .rejoin
        case .report: .report
        }
    }

    /// The Float32 values sent in the payload frame (empty for kinds without one).
    var payload: [Float] {
        switch self {
        case .assignment(_, _, _, let weights): weights
        case .gradients(let report): report.values
        default: []
        }
    }
}

/// One wire message: a 48-byte header, a body frame and, when it has elements, a Float32 payload frame.
///
/// See `docs/protocol.md` for the layout. Encoding is canonical: a message decodes only from
/// exactly the frames `encoded()` produces for it.
public struct Message: Equatable, Sendable, CustomStringConvertible {
    /// The protocol version this module speaks; a peer with another version is refused.
    public static let protocolVersion: UInt16 = 4

    /// The training run the message belongs to (0 in a join, before the worker knows it).
    public var runID: UInt64
    /// The sending worker's id; 0 for the server or a worker not yet assigned one. In a welcome, the id assigned.
    public var sender: UInt32
    /// The global optimiser step (weights version) the message is about.
    public var step: UInt64
    /// The kind-specific content.
    public var body: Body

    /// Creates a message.
    public init(runID: UInt64, sender: UInt32, step: UInt64, body: Body) {
        self.runID = runID
        self.sender = sender
        self.step = step
        self.body = body
    }

    /// The header kind (`body.kind`).
    public var kind: MessageKind { body.kind }

    /// One line for logs: kind, run, sender, step, sizes (never the payload values) — like ps-lite's message description.
    public var description: String {
        var fields = ["\(body.kind)", "run=\(runID)", "sender=\(sender)", "step=\(step)"]
        switch body {
        case .join(let name, let pid, let model):
            fields += ["name=\(Self.quoted(name))", "pid=\(pid)"]
            if let model { fields.append("model=\(Self.quoted(model))") }
        case .welcome(let configJSON):
            fields.append("config=\(configJSON.utf8.count)B")
        case .ready(let sharedFile):
            if let sharedFile { fields.append("shared=\(Self.quoted(sharedFile))") }
        case .heartbeat:
            break
        case .assignment(let epoch, let microbatches, let form, let weights):
            // Saturating: a hostile assignment can name ranges whose sizes add up past Int.max.
            let samples = microbatches.reduce(0) { total, ref in
                let (sum, overflow) = total.addingReportingOverflow(ref.positions.count)
                return overflow ? Int.max : sum
            }
            fields += ["epoch=\(epoch)", "microbatches=\(microbatches.count)", "samples=\(samples)", "weights=\(form)",
                       "elements=\(weights.count)"]
        case .gradients(let report):
            fields += ["microbatch=\(report.microbatch)", "samples=\(report.samples)", "elements=\(report.values.count)"]
        case .leave(let reason), .shutdown(let reason), .error(let reason), .rejoin(let reason):
            fields.append("reason=\(Self.quoted(reason))")
        case .report(let figures):
            fields += ["epoch=\(figures.epoch)", "assignments=\(figures.assignments)", "microbatches=\(figures.microbatches)",
                       "samples=\(figures.samples)"]
        }
        return fields.joined(separator: " ")
    }

    /// A short, escaped, single-line rendering of peer-supplied text.
    private static func quoted(_ text: String) -> String {
        let limit = 80
        let shown = text.count > limit ? String(text.prefix(limit)) + "…" : text
        return String(reflecting: shown)
    }
}
