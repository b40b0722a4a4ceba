import Foundation
import NeuralNet
import XCTest

/// PyTorch in float64 as a reference peer: `scripts/torch-reference.py` computes each case.
///
/// A case is a layer description (Keras's kind names and options) and the layer's tensors,
/// flat and channels last; the script's docstring gives the whole JSON schema. One script
/// process per test process serves every case (`--serve`, one JSON line each way), so torch
/// is imported once, not once a case. Without a `python3` that imports torch the tests using
/// this skip with a note. `BACKPROP_PYTHON` names the Python to use instead; a Python named
/// there that cannot import torch fails the tests rather than skipping them (CI sets it so a
/// broken install cannot pass as a skip).
struct TorchReference {
    /// One value of a layer description: `["kind": "conv2d", "kernel": 3, "padding": "same"]`.
    enum Option: Encodable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
        ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral
    {
        case string(String), int(Int), double(Double), bool(Bool)

        init(stringLiteral value: String) { self = .string(value) }
        init(integerLiteral value: Int) { self = .int(value) }
        init(floatLiteral value: Double) { self = .double(value) }
        init(booleanLiteral value: Bool) { self = .bool(value) }

        var description: String {
            switch self {
            case .string(let value): value
            case .int(let value): "\(value)"
            case .double(let value): "\(value)"
            case .bool(let value): "\(value)"
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let value): try container.encode(value)
            case .int(let value): try container.encode(value)
            case .double(let value): try container.encode(value)
            case .bool(let value): try container.encode(value)
            }
        }
    }

    /// One layer and its tensors, as the script reads them; every tensor flat, channels last.
    struct Case: Encodable {
        /// `"kind"` and the kind's options (see the script).
        var layer: [String: Option]
        var batch: Int
        /// One sample's shape, without the batch.
        var inputShape: [Int]
        /// x: (batch, inputShape).
        var x: [Double]
        /// The layer's tensors concatenated in its parameter order, Keras layouts.
        var params: [Double] = []
        /// d objective / d output, laid out as the output; the objective is sum(output · upstream).
        var upstream: [Double]
        /// The second input, for `add`.
        var x2: [Double]? = nil
        /// The 0/1 keep mask, laid out as x, for `dropout`.
        var mask: [Double]? = nil

        enum CodingKeys: String, CodingKey {
            case layer, batch, inputShape = "input_shape", x, params, upstream, x2, mask
        }
    }

    /// What the script computed, flat and channels last.
    struct Result: Decodable {
        var output: [Double]
        /// One sample's output shape, without the batch.
        var outputShape: [Int]
        var inputGradient: [Double]
        var paramGradients: [Double]
        /// For `add`.
        var input2Gradient: [Double]?
        /// Batch statistics (the variance biased), for `batch_normalization` in training.
        var batchMean: [Double]?
        var batchVariance: [Double]?

        enum CodingKeys: String, CodingKey {
            case output, outputShape = "output_shape", inputGradient = "input_gradient",
                paramGradients = "param_gradients", input2Gradient = "input2_gradient",
                batchMean = "batch_mean", batchVariance = "batch_variance"
        }
    }

    /// A case the script could not compute, or a script that failed, with what it said.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/torch-reference.py")

    private let server: Server

    /// Skips `testCase` unless the Python imports torch.
    init(for testCase: XCTestCase) throws {
        switch Self.availability {
        case .available(let server): self.server = server
        case .missing(let note): throw XCTSkip(note)
        case .broken(let problem): throw Failure(description: problem)
        }
    }

    /// The script's result for `testCase`; throws the script's message for a case it cannot compute.
    func run(_ testCase: Case) throws -> Result {
        let reply = try server.exchange(JSONEncoder().encode(testCase))
        if let refusal = try? JSONDecoder().decode(Refusal.self, from: reply) {
            throw Failure(description: "torch-reference.py: \(refusal.error)")
        }
        return try JSONDecoder().decode(Result.self, from: reply)
    }

    /// Runs the script once on a case file holding `cases` (an object or an array), as a person
    /// would; returns its exit status, its stderr, and the result file's contents when it wrote one.
    func runFile<Cases: Encodable>(_ cases: Cases) throws -> (status: Int32, errors: String, result: Data?) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("TorchReference-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let caseURL = directory.appendingPathComponent("case.json"), resultURL = directory.appendingPathComponent("result.json")
        try JSONEncoder().encode(cases).write(to: caseURL)
        let (status, errors) = try Self.launch(server.python, [Self.script.path, caseURL.path, resultURL.path])
        return (status, errors, try? Data(contentsOf: resultURL))
    }

    /// The script's answer to a case it cannot compute.
    private struct Refusal: Decodable {
        let error: String
    }

    // MARK: - The script's process

    enum Availability: Sendable {
        case available(Server)
        case missing(note: String)
        case broken(String)
    }

    /// Started once per test process: `BACKPROP_PYTHON` or `python3` running the script with
    /// `--serve`, available once it says torch is imported.
    static let availability: Availability = {
        let named = ProcessInfo.processInfo.environment["BACKPROP_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
        let python = named ?? "python3"
        let why: String
        do {
            return .available(try Server(python: python))
        } catch let failure as Failure {
            why = failure.description
        } catch {
            why = "cannot start it: \(error)"
        }
        if let named {
            return .broken("BACKPROP_PYTHON=\(named) cannot run torch-reference.py (\(why))")
        }
        return .missing(note: """
            PyTorch comparison skipped: python3 cannot run torch-reference.py (\(why)). To run it, \
            install the CPU wheel, python3 -m pip install torch==2.13.0+cpu (plain `torch` pulls about \
            5 GB of CUDA libraries), or set BACKPROP_PYTHON to a Python that has torch.
            """)
    }()

    /// `python torch-reference.py --serve`, one case at a time: a line out, a line back.
    ///
    /// Never stopped: when the test process ends, the script reads the end of its stdin and exits.
    final class Server: @unchecked Sendable {
        let python: String
        private let process = Process()
        private let requests: FileHandle
        private let replies: FileHandle
        /// The script's stderr, read from its start on failure.
        private let errors: FileHandle
        /// Bytes read past the last reply's newline. Guarded by `lock`, as the pipes are.
        private var pending = Data()
        private let lock = NSLock()

        /// Starts the script and waits for its ready line; throws what it wrote to stderr if it exits instead.
        init(python: String) throws {
            self.python = python
            // A script that dies must fail the write to its stdin, not kill the test process.
            signal(SIGPIPE, SIG_IGN)
            // stderr goes to a file rather than a pipe, which nobody reads until something fails and
            // which a chatty script could fill; the file is removed at once and lives while it is open.
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("torch-reference-\(UUID().uuidString).stderr")
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw Failure(description: "cannot create \(file.path) for the script's stderr")
            }
            errors = try FileHandle(forReadingFrom: file)
            let errorsForScript = try FileHandle(forWritingTo: file)
            try FileManager.default.removeItem(at: file)
            let input = Pipe(), output = Pipe()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [python, TorchReference.script.path, "--serve"]
            process.standardInput = input
            process.standardOutput = output
            process.standardError = errorsForScript
            try process.run()
            requests = input.fileHandleForWriting
            replies = output.fileHandleForReading
            lock.lock()
            defer { lock.unlock() }
            let ready = try readLine()
            guard (try? JSONDecoder().decode(Ready.self, from: ready)) != nil else {
                throw Failure(description: "torch-reference.py --serve began with \(String(decoding: ready, as: UTF8.self)), not its ready line")
            }
        }

        /// The script's first line: torch is imported.
        private struct Ready: Decodable {
            let ready: String
        }

        /// Sends one case (a JSON object without newlines) and returns the script's one-line reply.
        func exchange(_ request: Data) throws -> Data {
            lock.lock()
            defer { lock.unlock() }
            do {
                try requests.write(contentsOf: request + [UInt8(ascii: "\n")])
            } catch {
                throw Failure(description: "torch-reference.py is gone (\(error)): \(stderrText())")
            }
            return try readLine()
        }

        private func readLine() throws -> Data {
            while true {
                if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[pending.startIndex..<newline]
                    pending = pending[(newline + 1)...]
                    return Data(line)
                }
                let chunk = replies.availableData
                guard !chunk.isEmpty else {
                    process.waitUntilExit()
                    throw Failure(description: "torch-reference.py --serve exited \(process.terminationStatus): \(stderrText())")
                }
                pending.append(chunk)
            }
        }

        /// The last line the script wrote to stderr (a traceback's is the exception).
        private func stderrText() -> String {
            try? errors.seek(toOffset: 0)
            let text = String(decoding: (try? errors.readToEnd()) ?? Data(), as: UTF8.self)
            return text.split(separator: "\n").last.map(String.init) ?? "nothing on stderr"
        }
    }

    /// Runs `python arguments` through /usr/bin/env; returns the exit status and stderr.
    private static func launch(_ python: String, _ arguments: [String]) throws -> (status: Int32, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python] + arguments
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    // MARK: - Describing Backprop's layers

    /// The script's description of `layer`, in Keras's names; nil for a layer it has no kind for.
    ///
    /// `training` chooses batch normalisation's batch statistics and dropout's rate (0 in inference,
    /// where it passes its input). A dropout case needs its mask (`Dropout.keeps` in training, all
    /// ones in inference), an `add` case its second input.
    static func description(of layer: any Layer, training: Bool = false) -> [String: Option]? {
        switch layer {
        case let conv as Conv2D:
            return ["kind": "conv2d", "filters": .int(conv.filters), "kernel": .int(conv.kernelSize),
                    "stride": .int(conv.stride), "padding": .string(conv.padding.rawValue), "use_bias": .bool(conv.useBias)]
        case let conv as DepthwiseConv2D:
            return ["kind": "depthwise_conv2d", "kernel": .int(conv.kernelSize), "stride": .int(conv.stride),
                    "padding": .string(conv.padding.rawValue), "use_bias": .bool(conv.useBias)]
        case let conv as SeparableConv2D:
            return ["kind": "separable_conv2d", "filters": .int(conv.filters), "kernel": .int(conv.kernelSize),
                    "stride": .int(conv.stride), "padding": .string(conv.padding.rawValue)]
        case let norm as BatchNormalization:
            return ["kind": "batch_normalization", "epsilon": .double(Double(norm.epsilon)), "training": .bool(training)]
        case let dropout as Dropout:
            return ["kind": "dropout", "rate": .double(training ? Double(dropout.rate) : 0)]
        case let pool as MaxPool2D:
            return ["kind": "max_pooling2d", "pool": .int(pool.size), "stride": .int(pool.stride),
                    "padding": .string(pool.padding.rawValue)]
        case let pool as AveragePool2D:
            return ["kind": "average_pooling2d", "pool": .int(pool.size), "stride": .int(pool.stride),
                    "padding": .string(pool.padding.rawValue)]
        case is GlobalAveragePool2D: return ["kind": "global_average_pooling2d"]
        case is Add: return ["kind": "add"]
        case let dense as Dense:
            return ["kind": "dense", "units": .int(dense.units)]
        case is Flatten: return ["kind": "flatten"]
        case is ReLU: return ["kind": "relu"]
        case is Sigmoid: return ["kind": "sigmoid"]
        case is Softmax: return ["kind": "softmax"]
        default: return nil
        }
    }
}
