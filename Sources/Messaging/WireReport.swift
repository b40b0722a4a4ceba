/// What a worker measured over one or more consecutive assignments of one epoch: sent to the
/// server every so often (not after each assignment, which would add a message and a log line to
/// every step), so that the server's run directory tells the whole run wherever its workers ran.
/// The header's step is that of the last assignment counted; every other figure is a sum.
public struct StepFigures: Equatable, Sendable {
    /// The epoch, counted from 1.
    public var epoch: Int
    /// Assignments counted (at least 1).
    public var assignments: Int
    /// Microbatches computed.
    public var microbatches: Int
    public var samples: Int
    /// Time spent computing gradients.
    public var computeSeconds: Double
    /// Time between finishing each assignment and receiving the next one.
    public var waitSeconds: Double
    /// Time spent queueing the gradients for libzmq.
    public var sendSeconds: Double
    public var bytesSent: Int
    public var bytesReceived: Int

    public init(epoch: Int, assignments: Int = 1, microbatches: Int, samples: Int, computeSeconds: Double, waitSeconds: Double,
                sendSeconds: Double, bytesSent: Int, bytesReceived: Int) {
        self.epoch = epoch
        self.assignments = assignments
        self.microbatches = microbatches
        self.samples = samples
        self.computeSeconds = computeSeconds
        self.waitSeconds = waitSeconds
        self.sendSeconds = sendSeconds
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
    }

    /// Adds the figures of later assignments of the same epoch.
    public static func += (total: inout StepFigures, later: StepFigures) {
        precondition(total.epoch == later.epoch, "a report counts the assignments of one epoch")
        total.assignments += later.assignments
        total.microbatches += later.microbatches
        total.samples += later.samples
        total.computeSeconds += later.computeSeconds
        total.waitSeconds += later.waitSeconds
        total.sendSeconds += later.sendSeconds
        total.bytesSent += later.bytesSent
        total.bytesReceived += later.bytesReceived
    }

    /// The body's size: epoch, microbatches, samples, assignments (UInt32 each), three Float64 seconds, two UInt64 byte counts.
    static let bodySize = 56

    /// Writes the body.
    func write(into body: inout [UInt8]) {
        body.removeAll(keepingCapacity: true)
        body.appendLittleEndian(UInt32(truncatingIfNeeded: epoch))
        body.appendLittleEndian(UInt32(truncatingIfNeeded: microbatches))
        body.appendLittleEndian(UInt32(truncatingIfNeeded: samples))
        body.appendLittleEndian(UInt32(truncatingIfNeeded: assignments))
        body.appendLittleEndian(computeSeconds)
        body.appendLittleEndian(waitSeconds)
        body.appendLittleEndian(sendSeconds)
        body.appendLittleEndian(UInt64(truncatingIfNeeded: bytesSent))
        body.appendLittleEndian(UInt64(truncatingIfNeeded: bytesReceived))
    }

    /// Reads and checks a body: its size, at least one assignment, every time finite and ≥ 0, byte counts within Int.
    init(body: UnsafeRawBufferPointer) throws(WireError) {
        guard body.count == Self.bodySize else {
            throw .malformedBody("report body is \(body.count) bytes, expected \(Self.bodySize)")
        }
        var reader = ByteReader(body)
        epoch = Int(reader.read(UInt32.self))
        microbatches = Int(reader.read(UInt32.self))
        samples = Int(reader.read(UInt32.self))
        assignments = Int(reader.read(UInt32.self))
        computeSeconds = reader.readDouble()
        waitSeconds = reader.readDouble()
        sendSeconds = reader.readDouble()
        let sent = reader.read(UInt64.self), received = reader.read(UInt64.self)
        guard assignments >= 1 else { throw .malformedBody("report: \(assignments) assignments, must be at least 1") }
        for (name, seconds) in [("compute", computeSeconds), ("wait", waitSeconds), ("send", sendSeconds)] {
            guard seconds.isFinite, seconds >= 0 else { throw .malformedBody("report: \(name) seconds \(seconds) is not finite and ≥ 0") }
        }
        guard sent <= UInt64(Int.max), received <= UInt64(Int.max) else { throw .malformedBody("report: byte count out of range") }
        bytesSent = Int(sent)
        bytesReceived = Int(received)
    }
}
