import Foundation
import TrainingLog
import XCTest

/// A fresh directory under the system temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("TrainingLogTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// The text of the file at `path`, failing the test if it cannot be read.
func contents(of path: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let data = try XCTUnwrap(FileManager.default.contents(atPath: path), "cannot read \(path)", file: file, line: line)
    return String(decoding: data, as: UTF8.self)
}

/// The lines of a newline-terminated text file, without the empty string after the last newline.
func lines(of text: String, file: StaticString = #filePath, line: UInt = #line) -> [String] {
    XCTAssertTrue(text.isEmpty || text.hasSuffix("\n"), "the file does not end with a newline: \(text.debugDescription)", file: file, line: line)
    // Split on "\n" scalars, not Characters: "\r\n" is one Character in Swift.
    var parts = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
    if parts.last == "" { parts.removeLast() }
    return parts
}

/// `line` parsed as one JSON object.
func jsonDictionary(_ line: String, file: StaticString = #filePath, line sourceLine: UInt = #line) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
    return try XCTUnwrap(object as? [String: Any], "not a JSON object: \(line)", file: file, line: sourceLine)
}

/// The keys of a one-line JSON object in the order they appear in the text (JSONSerialization forgets it).
func keysInOrder(ofJSONLine line: String) throws -> [String] {
    // Good enough for flat objects whose keys contain no escaped quotes: every key is a string followed by ':'.
    let regex = try NSRegularExpression(pattern: #"[{,]"((?:[^"\\]|\\.)*)":"#)
    let range = NSRange(line.startIndex..., in: line)
    return regex.matches(in: line, range: range).compactMap { match in
        Range(match.range(at: 1), in: line).map { String(line[$0]) }
    }
}

/// A sink that appends `tag:kind` to a shared log, to observe the order sinks are called in.
final class TaggingSink: EventSink {
    let tag: String
    let log: Log

    final class Log {
        var entries: [String] = []
    }

    init(_ tag: String, log: Log) {
        self.tag = tag
        self.log = log
    }

    func record(_ event: TrainingEvent) { log.entries.append("\(tag):\(event.kind)") }
}

/// Events of every kind with fixed numbers, for sinks to write.
enum SampleEvents {
    static let step = TrainingEvent.step(StepRecord(
        epoch: 2, step: 3, stepsPerEpoch: 17, globalStep: 20, loss: 0.25, accuracy: 0.875, samples: 32, seconds: 0.5))
    static let epoch = TrainingEvent.epoch(EpochRecord(
        epoch: 2, loss: 0.5, accuracy: 0.75, validationLoss: 0.625, validationAccuracy: 0.5, seconds: 2.5, samplesPerSecond: 1000,
        learningRate: 0.001))
    /// No validation split, and no learning rate (as in logs written before it was recorded).
    static let epochWithoutValidation = TrainingEvent.epoch(EpochRecord(
        epoch: 3, loss: 0.125, accuracy: 1, validationLoss: nil, validationAccuracy: nil, seconds: 1.5, samplesPerSecond: 250.5))
    static let learningRateReduced = TrainingEvent.learningRateReduced(epoch: 5, from: 0.001, to: 0.0005)
    static let bestWeights = TrainingEvent.bestWeights(epoch: 4, monitor: "val_loss", value: 0.3125, path: "/runs/a/best.safetensors")
    static let stoppedEarly = TrainingEvent.stoppedEarly(
        epoch: 7, reason: "early stopping at epoch 7: val_loss has not improved for 3 epochs since epoch 4; weights of epoch 4 restored")
    static let bestRestored = TrainingEvent.bestRestored(epoch: 4)
    static let checkpoint = TrainingEvent.checkpoint(path: "/runs/a/checkpoint.safetensors", epoch: 2, step: 34)
    static let test = TrainingEvent.test(loss: 0.375, accuracy: 0.9, samples: 200)
    static let failed = TrainingEvent.failed(reason: "worker \"3\" said:\nC:\\tmp\tgone")
    static let runStarted = TrainingEvent.runStarted(
        config: [("model", .string("seed-cnn")), ("epochs", .int(2)), ("learning_rate", .double(0.001))],
        parameterCount: 5729, trainSamples: 540, validationSamples: 60, testSamples: 200)
}
