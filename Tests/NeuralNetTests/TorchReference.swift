import Foundation
import NeuralNet
import XCTest

/// PyTorch in float64 as a reference peer: runs `scripts/torch-reference.py` on one case.
///
/// A case is a layer description (Keras's kind names and options) and the layer's tensors,
/// flat and channels last; the script's docstring gives the whole JSON schema. Without a
/// `python3` that imports torch the tests using this skip with a note. `BACKPROP_PYTHON`
/// names the Python to use instead; a Python named there that cannot import torch fails
/// the tests rather than skipping them (CI sets it so a broken install cannot pass as a skip).
struct TorchReference {
    /// One value of a layer description: `["kind": "conv2d", "kernel": 3, "padding": "same"]`.
    enum Option: Encodable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
        ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral
    {
        case string(String), int(Int), double(Double), bool(Bool)

        init(stringLiteral value: String) { self = .string(value) }
        init(integerLiteral value: Int) { self = .int(value) }
        init(floatLiteral value: Double) { self = .double(value) }
        init(booleanLiteral value: Bool) { self = .bool(value) }

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

    /// A run of the script that failed, with its exit status and what it wrote to stderr.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/torch-reference.py")

    let python: String
    let directory: URL

    /// Skips `testCase` unless the Python imports torch; removes the case files at teardown.
    init(for testCase: XCTestCase) throws {
        switch Self.availability {
        case .available(let python): self.python = python
        case .missing(let note): throw XCTSkip(note)
        case .broken(let problem): throw Failure(description: problem)
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("TorchReference-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        testCase.addTeardownBlock { [directory] in try? FileManager.default.removeItem(at: directory) }
    }

    /// Runs the script on `testCase`, failing unless it exits 0.
    func run(_ testCase: Case) throws -> Result {
        let name = UUID().uuidString
        let caseURL = directory.appendingPathComponent("\(name)-case.json")
        let resultURL = directory.appendingPathComponent("\(name)-result.json")
        try JSONEncoder().encode(testCase).write(to: caseURL)
        let (status, errors) = try Self.launch(python, [Self.script.path, caseURL.path, resultURL.path])
        guard status == 0 else {
            throw Failure(description: "torch-reference.py exited \(status): \(errors)")
        }
        return try JSONDecoder().decode(Result.self, from: Data(contentsOf: resultURL))
    }

    /// Runs the script and returns its exit status and stderr, for tests of its failures.
    func runExpectingFailure(_ testCase: Case) throws -> (status: Int32, errors: String) {
        let caseURL = directory.appendingPathComponent("\(UUID().uuidString)-case.json")
        try JSONEncoder().encode(testCase).write(to: caseURL)
        return try Self.launch(python, [Self.script.path, caseURL.path, directory.appendingPathComponent("unused.json").path])
    }

    // MARK: - Finding a Python with torch

    enum Availability: Sendable {
        case available(python: String)
        case missing(note: String)
        case broken(String)
    }

    /// Probed once per test process: `BACKPROP_PYTHON` or `python3`, `-c "import torch"`.
    static let availability: Availability = {
        let named = ProcessInfo.processInfo.environment["BACKPROP_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
        let python = named ?? "python3"
        let probe = try? launch(python, ["-c", "import torch"])
        if let probe, probe.status == 0 { return .available(python: python) }
        let why = probe.map { $0.errors.split(separator: "\n").last.map(String.init) ?? "exit \($0.status)" } ?? "cannot start it"
        if let named {
            return .broken("BACKPROP_PYTHON=\(named) cannot import torch (\(why))")
        }
        return .missing(note: """
            PyTorch comparison skipped: python3 cannot import torch (\(why)). To run it, install the \
            CPU wheel, python3 -m pip install torch==2.13.0+cpu (plain `torch` pulls about 5 GB of CUDA \
            libraries), or set BACKPROP_PYTHON to a Python that has torch.
            """)
    }()

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
    static func description(of layer: any Layer) -> [String: Option]? {
        switch layer {
        case let conv as Conv2D:
            return ["kind": "conv2d", "filters": .int(conv.filters), "kernel": .int(conv.kernelSize),
                    "stride": 1, "padding": .string(conv.padding.rawValue), "use_bias": true]
        case let pool as MaxPool2D:
            return ["kind": "max_pooling2d", "pool": .int(pool.size), "stride": .int(pool.size), "padding": "valid"]
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
