import Foundation
import Training
import TrainingLog
import XCTest

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) -> String {
    let path = NSTemporaryDirectory() + "backprop-tests-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// A small, fast run configuration on the built-in data.
func smallConfig(model: String = "seed-cnn", data: String = "synthetic", trainLimit: Int = 1_200, epochs: Int = 1) -> RunConfig {
    var config = RunConfig()
    config.model = model
    config.data = data
    config.trainLimit = trainLimit
    config.testLimit = 500
    config.epochs = epochs
    config.validationSplit = 0.1
    return config
}

/// Trains `config` on `threads` threads in a new run directory under `root` and returns the result.
func train(_ config: RunConfig, in directory: String, start: StartingPoint = .fresh, resuming: Bool = false, threads: Int = 1) throws -> RunResult {
    let run = try PreparedRun(config: config)
    let runDirectory = try RunDirectory(path: directory, resuming: resuming)
    return try LocalTrainer(run: run, directory: runDirectory, start: StartingState(start, for: run), threads: threads, sink: EventRecorder()).train()
}
