import Foundation
import Training
import TrainingLog
import XCTest

/// Keras fit's options keep the headline property: a cluster, and a `backprop train` killed in a
/// patience window and resumed, end on the bits of an undisturbed `backprop train` — the last
/// checkpoint and best.safetensors alike, and the same early stop.
final class FitExactnessTests: XCTestCase {
    /// Every option on. On 1,500 images at lr 0.01 the run improves at epochs 1, 2 and 4, halves its
    /// rate after 3, 5 and 6, and stops at 6 with epoch 4's weights (`testTheReferenceStopsEarly…` checks the shape).
    private static let everyOption = ["--optimizer", "adamw", "--weight-decay", "0.01", "--clip-norm", "1", "--label-smoothing", "0.1",
                                      "--lr-schedule", "cosine", "--warmup-epochs", "1", "--reduce-lr-on-plateau", "0.5",
                                      "--plateau-patience", "1", "--early-stopping", "2", "--restore-best-weights", "--save-best"]

    /// `run`'s config with the fit flags of `everyOption` (plus `minDelta`), as `backprop train` would read them.
    private func config(_ run: SmallRun, minDelta: Double = 0) -> RunConfig {
        var config = run.config
        config.optimizer = "adamw"
        config.fit.weightDecay = 0.01
        config.fit.clipNorm = 1
        config.fit.labelSmoothing = 0.1
        config.fit.lrSchedule = "cosine"
        config.fit.warmupEpochs = 1
        config.fit.reduceLROnPlateau = 0.5
        config.fit.plateauPatience = 1
        config.fit.earlyStopping = 2
        config.fit.minDelta = minDelta
        config.fit.restoreBestWeights = true
        config.fit.saveBest = true
        return config
    }

    // MARK: - A cluster

    func testAClusterWithEveryFitOptionEndsOnBackpropTrainsBits() throws {
        let run = SmallRun(trainLimit: 1_500, epochs: 12, learningRate: 0.01)
        let reference = try fitReference(config(run))
        let stop = try assertStopsEarlyInAPatienceWindow(reference)
        let started = Date()
        let cluster = try TestCluster(self, workersMin: 2, flags: run.flags + Self.everyOption)
        try cluster.addWorker()
        try cluster.addWorker(local: true)
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        print("fit cluster: \(String(format: "%.2f", Date().timeIntervalSince(started))) s for \(stop.epoch) epochs on 2 workers")
        XCTAssertEqual(cluster.checkpoint, reference.checkpoint, "the cluster's checkpoint.safetensors differs from backprop train's")
        XCTAssertEqual(FileManager.default.contents(atPath: cluster.runDirectory + "/best.safetensors"), reference.best,
                       "the cluster's best.safetensors differs from backprop train's")
        XCTAssertEqual(cluster.events().filter { $0["event"] as? String == "stopped_early" }.compactMap { $0["reason"] as? String },
                       [stop.reason])
        let steps = cluster.events().filter { $0["event"] as? String == "step" }
        XCTAssertEqual(steps.compactMap { $0["workers"] as? Int }.max(), 2, "no step was shared by both workers")
        try assertHistory(cluster.runDirectory, equals: reference.result.history)
        try assertTest(cluster.runDirectory + "/server.jsonl", equals: reference.result)
        for worker in cluster.workers { XCTAssertEqual(worker.wait(timeout: 10), 0, worker.output) }
    }

    func testBackpropServerRefusesABadFitValue() throws {
        let root = NSTemporaryDirectory() + "backprop-fit-server-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (flag, flags) in [("--reduce-lr-on-plateau", ["--reduce-lr-on-plateau", "1"]), ("--restore-best-weights", ["--restore-best-weights"]),
                              ("--lr-schedule", ["--lr-schedule", "step:2"]), ("--monitor", ["--early-stopping", "1", "--monitor", "acc"])] {
            let server = try Child("backprop-server", ["--port", "0", "--run-dir", root + "/run"] + flags, outputPath: root + "/server.log")
            XCTAssertEqual(server.wait(timeout: 30), 64, server.output)
            XCTAssertTrue(server.output.split(separator: "\n").first?.contains(flag) == true, server.output)
            XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/run"))
        }
    }

    // MARK: - backprop train killed in a patience window

    /// `backprop train` killed by SIGKILL after a mid-epoch checkpoint of the epoch that follows one
    /// without improvement (early stopping's wait is 1 and the plateau has just halved the rate),
    /// then resumed: it stops at the same epoch with the same last checkpoint and best.safetensors, and
    /// tests the same restored weights, as an undisturbed run.
    func testBackpropTrainKilledInAPatienceWindowResumesExactly() throws {
        // 169 steps an epoch (about 0.3 s), so the kill lands well inside the epoch.
        let run = SmallRun(trainLimit: 6_000, epochs: 12, learningRate: 0.01)
        let fit = Self.everyOption + ["--min-delta", "0.01"]
        let reference = try fitReference(config(run, minDelta: 0.01))
        let stop = try assertStopsEarlyInAPatienceWindow(reference)
        let window = stop.epoch - 1  // epochs completed when killed: `window` did not improve
        let stepsPerEpoch = Int((Double(run.trainLimit) * 0.9 / 32).rounded(.up))

        let root = NSTemporaryDirectory() + "backprop-fit-kill-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let directory = root + "/run"
        let flags = ["train"] + run.flags + fit + ["--checkpoint-every", "10", "--quiet"]
        let first = try Child("backprop", flags + ["--run-dir", directory], outputPath: root + "/first.log")
        addTeardownBlock { first.stop() }
        let started = Date()
        var landed = false
        while Date().timeIntervalSince(started) < 60 && first.isRunning {
            // A mid-epoch checkpoint of epoch `window + 1`, at least 20 steps in.
            if checkpointEvents(directory + "/train.jsonl").contains(where: {
                $0["event"] as? String == "checkpoint" && $0["epoch"] as? Int == window && ($0["step"] as? Int ?? 0) >= window * stepsPerEpoch + 20
            }) {
                first.signal(SIGKILL)
                landed = true
                break
            }
            Thread.sleep(forTimeInterval: 0.005)
        }
        XCTAssertNotNil(first.wait(timeout: 10))
        XCTAssertTrue(landed, "backprop train ended before the patience window:\n\(first.output)")
        guard landed else { return }

        // The checkpoint the resume starts from is in the window: mid-epoch, early stopping's wait 1.
        let metadata = try CheckpointFile.metadata(directory + "/checkpoint.safetensors")
        XCTAssertEqual(metadata["epoch"], String(window))
        let step = try XCTUnwrap(Int(metadata["step"] ?? ""))
        XCTAssertTrue((window * stepsPerEpoch + 1..<(window + 1) * stepsPerEpoch).contains(step), "checkpoint at step \(step)")
        let decisions = try XCTUnwrap(EpochDecisions(encoded: metadata["decisions"] ?? ""), metadata["decisions"] ?? "no decisions")
        XCTAssertEqual(decisions.wait, 1, "\(decisions)")
        XCTAssertLessThan(decisions.scale, 1, "the plateau should have reduced the rate before the kill: \(decisions)")
        XCTAssertNil(decisions.stopped)
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/best.safetensors"))
        print("fit kill: killed at step \(step) of epoch \(window + 1), \(String(format: "%.2f", Date().timeIntervalSince(started))) s in")

        let resumed = try Child("backprop", flags + ["--resume", directory], outputPath: root + "/resumed.log")
        addTeardownBlock { resumed.stop() }
        XCTAssertEqual(resumed.wait(timeout: 60), 0, resumed.output)
        XCTAssertEqual(FileManager.default.contents(atPath: directory + "/checkpoint.safetensors"), reference.checkpoint,
                       "the resumed run's checkpoint.safetensors differs from an undisturbed run's")
        XCTAssertEqual(FileManager.default.contents(atPath: directory + "/best.safetensors"), reference.best,
                       "the resumed run's best.safetensors differs from an undisturbed run's")
        let stopped = readEvents(directory + "/train.jsonl").filter { $0["event"] as? String == "stopped_early" }
        XCTAssertEqual(stopped.compactMap { $0["reason"] as? String }, [stop.reason])
        XCTAssertEqual(stopped.first?["epoch"] as? Int, stop.epoch)
        try assertHistory(directory, equals: reference.result.history)
        try assertTest(directory + "/train.jsonl", equals: reference.result)
    }

    /// The `checkpoint` events of a JSON Lines log, parsed (only those lines, so that polling stays cheap).
    private func checkpointEvents(_ path: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").filter { $0.contains("\"event\":\"checkpoint\"") }.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    // MARK: - The reference

    /// What `backprop train` ends on for a config: its files and result, computed in this process as `referenceCheckpoint` does.
    private struct FitReference {
        var checkpoint: Data?
        var best: Data?
        var result: RunResult
        var events: [TrainingEvent]
    }

    private func fitReference(_ config: RunConfig) throws -> FitReference {
        let directory = NSTemporaryDirectory() + "backprop-fit-reference-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try PreparedRun(config: config)
        let recorder = EventRecorder()
        let result = try LocalTrainer(run: run, directory: try RunDirectory(path: directory, resuming: false),
                                      start: StartingState(.fresh, for: run), threads: 1, sink: recorder).train()
        return FitReference(checkpoint: FileManager.default.contents(atPath: directory + "/" + RunDirectory.checkpointName),
                            best: FileManager.default.contents(atPath: directory + "/" + RunDirectory.bestName),
                            result: result, events: recorder.events)
    }

    /// The reference must stop early, after an epoch without improvement that followed a reduction's
    /// epoch and before it a best that is not the last epoch: otherwise these tests would prove less.
    /// Returns the stop's epoch and sentence.
    @discardableResult
    private func assertStopsEarlyInAPatienceWindow(_ reference: FitReference, file: StaticString = #filePath, line: UInt = #line) throws -> (epoch: Int, reason: String) {
        var stops: [(Int, String)] = [], reductions: [Int] = [], improvements: [Int] = []
        for event in reference.events {
            switch event {
            case let .stoppedEarly(epoch, reason): stops.append((epoch, reason))
            case let .learningRateReduced(epoch, _, _): reductions.append(epoch)
            case let .bestWeights(epoch, _, _, _): improvements.append(epoch)
            default: break
            }
        }
        let (epoch, reason) = try XCTUnwrap(stops.first, "the reference did not stop early: \(reference.result.history.map(\.validationLoss))",
                                            file: file, line: line)
        XCTAssertEqual(stops.count, 1, file: file, line: line)
        XCTAssertEqual(reference.result.history.count, epoch, file: file, line: line)
        XCTAssertFalse(improvements.contains(epoch - 1), "epoch \(epoch - 1) improved; there is no patience window", file: file, line: line)
        XCTAssertTrue(reductions.contains(epoch - 1), "the plateau did not reduce after epoch \(epoch - 1): \(reductions)", file: file, line: line)
        let best = try XCTUnwrap(improvements.last, file: file, line: line)
        XCTAssertTrue(reason.hasSuffix("since epoch \(best); weights of epoch \(best) restored"), reason, file: file, line: line)
        XCTAssertNotNil(reference.best, file: file, line: line)
        XCTAssertNotEqual(reference.best, reference.checkpoint, file: file, line: line)
        return (epoch, reason)
    }

    /// history.csv's figures are the reference's, epoch by epoch (times aside).
    private func assertHistory(_ directory: String, equals history: [EpochRecord], file: StaticString = #filePath, line: UInt = #line) throws {
        let lines = try String(contentsOfFile: directory + "/history.csv", encoding: .utf8).split(separator: "\n")
        let header = lines.first.map { $0.split(separator: ",").map(String.init) } ?? []
        let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init))) }
        XCTAssertEqual(rows.count, history.count, "history.csv: \(lines)", file: file, line: line)
        for (row, record) in zip(rows, history) {
            let figures = ["epoch": Double(record.epoch), "loss": record.loss, "accuracy": record.accuracy, "val_loss": record.validationLoss ?? .nan,
                           "val_accuracy": record.validationAccuracy ?? .nan, "learning_rate": record.learningRate ?? .nan]
            for (column, expected) in figures {
                XCTAssertEqual(Double(row[column] ?? ""), expected, "epoch \(record.epoch) \(column)", file: file, line: line)
            }
        }
    }

    /// The run's `test` event holds the reference's figures: the same restored weights were tested.
    /// (Read with JSONDecoder: swift-corelibs-foundation's JSONSerialization can miss a double by an ulp,
    /// 0.31151994546254475 reading as 0.3115199454625448.)
    private func assertTest(_ log: String, equals result: RunResult, file: StaticString = #filePath, line: UInt = #line) throws {
        struct TestEvent: Decodable {
            var test_loss: Double
            var test_accuracy: Double
        }
        let text = try String(contentsOfFile: log, encoding: .utf8)
        let lines = text.split(separator: "\n").filter { $0.contains("\"event\":\"test\"") }
        XCTAssertEqual(lines.count, 1, "test events in \(log)", file: file, line: line)
        let test = try JSONDecoder().decode(TestEvent.self, from: Data(try XCTUnwrap(lines.last, file: file, line: line).utf8))
        XCTAssertEqual(test.test_loss, result.testLoss, "test loss", file: file, line: line)
        XCTAssertEqual(test.test_accuracy, result.testAccuracy, "test accuracy", file: file, line: line)
    }
}
