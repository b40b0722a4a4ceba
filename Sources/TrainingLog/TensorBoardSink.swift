import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// TFRecord framing: `uint64 length`, `uint32 masked CRC-32C of the length`, the data, `uint32 masked CRC-32C of the data`, all little-endian.
public enum TFRecord {
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = littleEndian(UInt64(data.count))
        out += length
        out += littleEndian(CRC32C.masked(CRC32C.checksum(length)))
        out += data
        out += littleEndian(CRC32C.masked(CRC32C.checksum(data)))
        return out
    }

    static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}

/// TensorFlow's `Event` protocol buffer, hand-encoded: just the fields TensorBoard's scalars need.
///
/// `Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }`,
/// `Summary { repeated Value value = 1; }`, `Value { string tag = 1; float simple_value = 2; }`.
public enum TensorBoardEvent {
    /// The first event of every file: `file_version: "brain.Event:2"`.
    public static func fileVersion(wallTime: Double) -> [UInt8] {
        var out = ProtoWriter()
        out.double(field: 1, wallTime)
        out.bytes(field: 3, Array("brain.Event:2".utf8))
        return out.bytes
    }

    /// An event with one summary holding `values` as simple scalar values at `step`.
    public static func scalars(_ values: [(tag: String, value: Float)], step: Int64, wallTime: Double) -> [UInt8] {
        var summary = ProtoWriter()
        for (tag, value) in values {
            var item = ProtoWriter()
            item.bytes(field: 1, Array(tag.utf8))
            item.float(field: 2, value)
            summary.bytes(field: 1, item.bytes)
        }
        var out = ProtoWriter()
        out.double(field: 1, wallTime)
        out.varint(field: 2, UInt64(bitPattern: step))
        out.bytes(field: 5, summary.bytes)
        return out.bytes
    }
}

/// The protocol buffer wire format, for the three field types an `Event` needs.
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Wire type 0.
    mutating func varint(field: Int, _ value: UInt64) {
        varint(UInt64(field << 3))
        varint(value)
    }

    /// Wire type 1 (64-bit).
    mutating func double(field: Int, _ value: Double) {
        varint(UInt64(field << 3 | 1))
        bytes += TFRecord.littleEndian(value.bitPattern)
    }

    /// Wire type 5 (32-bit).
    mutating func float(field: Int, _ value: Float) {
        varint(UInt64(field << 3 | 5))
        bytes += TFRecord.littleEndian(value.bitPattern)
    }

    /// Wire type 2 (length-delimited).
    mutating func bytes(field: Int, _ value: [UInt8]) {
        varint(UInt64(field << 3 | 2))
        varint(UInt64(value.count))
        bytes += value
    }
}

/// Writes a run's scalars as a TensorBoard event file, so `tensorboard --logdir runs` shows every run.
///
/// The file is `events.out.tfevents.<unix seconds>.<hostname>` in the run directory. Each
/// optimiser step adds `loss`, `accuracy` and `workers` at its global step; each epoch adds
/// `val_loss`, `val_accuracy`, `samples_per_second` and (when known) `learning_rate` at the global step it ended on; the
/// test adds `test_loss` and `test_accuracy` at the last step. A cluster server's log also holds
/// what each worker reported, wherever it ran, each report the sum over several assignments:
/// `worker_<id>/ms_per_sample` (compute), and per assignment `worker_<id>/wait_seconds` and
/// `worker_<id>/bytes` (sent and received), at the step of the report's last assignment. Every record is written (unbuffered) as it happens, so TensorBoard shows a live run.
public final class TensorBoardSink: EventSink {
    public let path: String
    private let handle: FileHandle
    private let clock: () -> Double
    private var lastGlobalStep = 0

    /// Creates the event file in `directory`; `clock` gives the wall time (Unix seconds) of each record.
    public init(directory: String, clock: @escaping () -> Double = { Date().timeIntervalSince1970 }, hostname: String = TensorBoardSink.hostname()) throws {
        self.clock = clock
        let now = clock()
        let base = (directory as NSString).appendingPathComponent("events.out.tfevents.\(Int(now)).\(hostname)")
        var candidate = base
        var suffix = 1
        // A second writer in the same second (a quick resume) gets its own file rather than clobbering the first.
        while FileManager.default.fileExists(atPath: candidate) {
            candidate = "\(base).\(suffix)"
            suffix += 1
        }
        guard FileManager.default.createFile(atPath: candidate, contents: nil),
              let handle = FileHandle(forWritingAtPath: candidate) else {
            throw LogFileError(path: candidate, reason: "cannot create the TensorBoard event file")
        }
        path = candidate
        self.handle = handle
        write(TensorBoardEvent.fileVersion(wallTime: now))
    }

    deinit { try? handle.close() }

    /// The machine's name, as TensorFlow puts it in event file names.
    public static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    public func record(_ event: TrainingEvent) {
        switch event {
        case .step(let r):
            lastGlobalStep = r.globalStep
            scalars([("loss", r.loss), ("accuracy", r.accuracy), ("workers", Double(r.workers))], step: r.globalStep)
        case .epoch(let r):
            scalars([("val_loss", r.validationLoss ?? .nan), ("val_accuracy", r.validationAccuracy ?? .nan),
                     ("samples_per_second", r.samplesPerSecond), ("learning_rate", r.learningRate ?? .nan)], step: lastGlobalStep)
        case let .test(loss, accuracy, _):
            scalars([("test_loss", loss), ("test_accuracy", accuracy)], step: lastGlobalStep)
        case .workerStep(let r):
            let tag = "worker_\(r.worker)/"
            let assignments = Double(max(r.assignments, 1))
            scalars([(tag + "ms_per_sample", r.samples > 0 ? r.computeSeconds * 1000 / Double(r.samples) : .nan),
                     (tag + "wait_seconds", r.waitSeconds / assignments),
                     (tag + "bytes", Double(r.bytesSent + r.bytesReceived) / assignments)],
                    step: r.globalStep)
        default:
            break
        }
    }

    /// Writes the finite values among `values` as one event.
    private func scalars(_ values: [(String, Double)], step: Int) {
        let finite = values.filter { $0.1.isFinite }.map { (tag: $0.0, value: Float($0.1)) }
        guard !finite.isEmpty else { return }
        write(TensorBoardEvent.scalars(finite, step: Int64(step), wallTime: clock()))
    }

    private func write(_ event: [UInt8]) {
        handle.write(Data(TFRecord.frame(event)))
    }
}
