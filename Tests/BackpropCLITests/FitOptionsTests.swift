import Foundation
import XCTest

/// Keras fit's options on `backprop train`: each bad value is a usage error (exit 64) naming its
/// flag; early stopping stops, restores and saves the best epoch, which `backprop evaluate` agrees
/// with; a stopped run cannot be resumed; `history.csv` records the schedule's rate.
final class FitOptionsTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = try temporaryDirectory(self)
    }

    /// The flags of a small run: 450 training and 50 validation images, 15 steps an epoch.
    private func small(_ runDirectory: String, epochs: Int, _ extra: [String]) -> [String] {
        ["train", "--train-limit", "500", "--test-limit", "100", "--batch-size", "32", "--epochs", String(epochs), "--seed", "1",
         "--run-dir", runDirectory] + extra
    }

    // MARK: - Bad values

    func testEachBadValueIsAUsageErrorNamingItsFlag() throws {
        let cases: [(flag: String, flags: [String])] = [
            ("--lr-schedule", ["--lr-schedule", "linear"]),
            ("--lr-schedule", ["--lr-schedule", "step:0:0.5"]),
            ("--lr-schedule", ["--lr-schedule", "step:2:1.5"]),
            ("--lr-schedule", ["--lr-schedule", "exponential:1"]),
            ("--lr-schedule", ["--lr-schedule", "cosine:3"]),
            ("--optimizer", ["--optimizer", "adamax"]),
            ("--monitor", ["--early-stopping", "2", "--monitor", "val_acc"]),
            ("--reduce-lr-on-plateau", ["--reduce-lr-on-plateau", "1"]),
            ("--reduce-lr-on-plateau", ["--reduce-lr-on-plateau", "0"]),
            ("--reduce-lr-on-plateau", ["--reduce-lr-on-plateau", "1.5"]),
            ("--reduce-lr-on-plateau", ["--reduce-lr-on-plateau", "-0.5"]),
            ("--plateau-patience", ["--reduce-lr-on-plateau", "0.5", "--plateau-patience", "-1"]),
            ("--early-stopping", ["--early-stopping", "-1"]),
            ("--restore-best-weights", ["--restore-best-weights"]),
            ("--min-lr", ["--lr", "0.01", "--min-lr", "0.1"]),
            ("--min-lr", ["--reduce-lr-on-plateau", "0.5", "--min-lr", "0.01"]),  // above adam's default rate, 0.001
            ("--weight-decay", ["--weight-decay", "-0.1"]),
            ("--clip-norm", ["--clip-norm", "0"]),
            ("--label-smoothing", ["--label-smoothing", "1"]),
            ("--warmup-epochs", ["--warmup-epochs", "-1"]),
            ("--min-delta", ["--early-stopping", "2", "--min-delta", "-0.1"]),
            ("--validation-split", ["--early-stopping", "2", "--validation-split", "0"]),
        ]
        for (flag, flags) in cases {
            let run = root + "/run-\(UUID().uuidString)"
            let result = backprop(small(run, epochs: 2, flags), in: root)
            let command = flags.joined(separator: " ")
            XCTAssertEqual(result.status, 64, "\(command): \(result.stderr)")
            assertUsageError(result, naming: flag)
            // One line says what is wrong; the rest is ArgumentParser's pointer to --help.
            let lines = nonEmptyLines(result.stderr)
            XCTAssertEqual(lines.filter { $0.lowercased().hasPrefix("error:") }.count, 1, "\(command): \(result.stderr)")
            for other in lines.dropFirst() {
                XCTAssertTrue(other.hasPrefix("Usage:") || other.trimmingCharacters(in: .whitespaces).hasPrefix("See '"), "\(command): \(other)")
            }
            XCTAssertEqual(result.stdout, "", command)
            XCTAssertFalse(FileManager.default.fileExists(atPath: run), "\(command) made its run directory")
        }
        // The restore flag's message names the flag it needs.
        let restore = backprop(small(root + "/restore", epochs: 2, ["--restore-best-weights"]), in: root)
        XCTAssertTrue(nonEmptyLines(restore.stderr).first?.contains("--early-stopping") == true, restore.stderr)
    }

    /// The options Keras has: every optimiser, and every schedule form, is accepted and trains.
    func testEveryOptimizerAndScheduleRuns() throws {
        for (k, flags) in [["--optimizer", "rmsprop"], ["--optimizer", "adamw"], ["--optimizer", "sgd", "--weight-decay", "0.01"],
                           ["--lr-schedule", "exponential:0.9"], ["--lr-schedule", "cosine", "--warmup-epochs", "1"],
                           ["--clip-norm", "0.5", "--label-smoothing", "0.1"]].enumerated() {
            let result = backprop(small(root + "/run-\(k)", epochs: 2, flags + ["--quiet"]), in: root)
            assertSucceeded(result)
            let summary = try jsonObject(try text(of: root + "/run-\(k)/summary.json"))
            XCTAssertEqual(summary["epochs_trained"] as? Int, 2, flags.joined(separator: " "))
            XCTAssertTrue((summary["test_loss"] as? Double)?.isFinite == true, flags.joined(separator: " "))
        }
    }

    // MARK: - Early stopping

    /// A high rate on a small slice: val_loss stops improving, training stops one epoch later and
    /// ends with the best epoch's weights, which best.safetensors holds and `backprop evaluate` scores
    /// exactly as the run's test did; the last checkpoint keeps the last weights; `--resume` is refused.
    func testEarlyStoppingRestoresTheBestEpochWhichEvaluateAgreesWith() throws {
        let run = root + "/run"
        let result = backprop(small(run, epochs: 10, ["--lr", "0.01", "--early-stopping", "1", "--restore-best-weights", "--monitor", "val_loss"]),
                              in: root)
        assertSucceeded(result)
        let history = try historyRows(run)
        let stop = history.count
        XCTAssertLessThan(stop, 10, "the run did not stop early:\n\(result.stdout)")
        guard stop >= 2 else { return XCTFail("stopped after \(stop) epoch(s)") }
        // With patience 1, the best is the epoch before the stop, and val_loss rose at the stop.
        let losses = try history.map { try XCTUnwrap(Double($0["val_loss"] ?? "")) }
        let best = try XCTUnwrap(losses.indices.min { losses[$0] < losses[$1] }) + 1
        XCTAssertEqual(best, stop - 1, "val_loss by epoch: \(losses)")
        let sentence = "early stopping at epoch \(stop): val_loss has not improved for 1 epoch since epoch \(best); weights of epoch \(best) restored"
        XCTAssertTrue(result.stdout.contains(sentence), "the console did not say \(sentence.debugDescription):\n\(result.stdout)")

        let events = try jsonLines(at: run + "/train.jsonl")
        func named(_ name: String) -> [[String: Any]] { events.filter { $0["event"] as? String == name } }
        XCTAssertEqual(named("stopped_early").map { $0["reason"] as? String }, [sentence])
        XCTAssertEqual(named("stopped_early").first?["epoch"] as? Int, stop)
        // An epoch that improved wrote the best weights; the stop says they were restored, so no best_restored.
        let improving = (1...stop).filter { epoch in losses[epoch - 1] < (losses[..<(epoch - 1)].min() ?? .infinity) }
        XCTAssertEqual(named("best_weights").compactMap { $0["epoch"] as? Int }, improving)
        XCTAssertTrue(named("best_weights").allSatisfy { $0["path"] as? String == run + "/best.safetensors" })
        XCTAssertTrue(named("best_restored").isEmpty)

        let bestFile = try safetensorsParts(try bytes(of: run + "/best.safetensors"))
        let lastFile = try safetensorsParts(try bytes(of: run + "/checkpoint.safetensors"))
        XCTAssertEqual((bestFile.header["__metadata__"] as? [String: Any])?["epoch"] as? String, String(best))
        XCTAssertEqual((lastFile.header["__metadata__"] as? [String: Any])?["epoch"] as? String, String(stop))
        XCTAssertNotEqual(bestFile.data, lastFile.data, "the checkpoint should keep the last epoch's weights")

        let summary = try JSONDecoder().decode(Summary.self, from: try bytes(of: run + "/summary.json"))
        XCTAssertEqual(summary.epochs_trained, stop)
        let evaluated = backprop(["evaluate", "--checkpoint", run + "/best.safetensors", "--test-limit", "100", "--json"], in: root)
        assertSucceeded(evaluated)
        let scores = try JSONDecoder().decode(Scores.self, from: Data(evaluated.stdout.utf8))
        XCTAssertEqual(scores.samples, 100)
        XCTAssertEqual(scores.loss, summary.test_loss, "evaluate of best.safetensors against the run's test")
        XCTAssertEqual(scores.accuracy, summary.test_accuracy)
        let last = try JSONDecoder().decode(Scores.self, from: Data(backprop(["evaluate", "--checkpoint", run, "--test-limit", "100", "--json"], in: root).stdout.utf8))
        XCTAssertNotEqual(last.loss, summary.test_loss, "the test should not be of the last weights")

        // A run that stopped early has ended: --resume says so in one line and leaves the directory as it was.
        let before = try directoryContents(run)
        let resumed = backprop(["train", "--epochs", "12", "--resume", run, "--quiet"], in: root)
        assertOneLineError(resumed, mentions: ["nothing to resume", sentence])
        XCTAssertEqual(try directoryContents(run), before, "the refused resume changed the run directory")
        let fromFile = backprop(["train", "--epochs", "12", "--resume", run + "/checkpoint.safetensors", "--quiet"], in: root)
        assertOneLineError(fromFile, mentions: ["nothing to resume"])
        XCTAssertEqual(try directoryContents(run), before)
    }

    /// --restore-best-weights with a run that ends by its epochs, not by stopping: the best epoch's
    /// weights are restored all the same (a `best_restored` event), and evaluate agrees.
    func testTheBestWeightsAreRestoredWhenTheRunEndsByItsEpochs() throws {
        let run = root + "/run"
        let result = backprop(small(run, epochs: 6, ["--lr", "0.01", "--early-stopping", "3", "--restore-best-weights", "--quiet"]), in: root)
        assertSucceeded(result)
        let losses = try historyRows(run).map { try XCTUnwrap(Double($0["val_loss"] ?? "")) }
        XCTAssertEqual(losses.count, 6)
        let best = try XCTUnwrap(losses.indices.min { losses[$0] < losses[$1] }) + 1
        XCTAssertEqual(best, 5, "this case needs a best epoch before the last; val_loss: \(losses)")
        let events = try jsonLines(at: run + "/train.jsonl")
        XCTAssertEqual(events.filter { $0["event"] as? String == "best_restored" }.compactMap { $0["epoch"] as? Int }, [best])
        XCTAssertTrue(events.filter { $0["event"] as? String == "stopped_early" }.isEmpty)
        let summary = try JSONDecoder().decode(Summary.self, from: try bytes(of: run + "/summary.json"))
        let scores = try JSONDecoder().decode(Scores.self, from: Data(backprop(["evaluate", "--checkpoint", run + "/best.safetensors", "--test-limit", "100", "--json"], in: root).stdout.utf8))
        XCTAssertEqual(scores.loss, summary.test_loss)
        XCTAssertEqual(scores.accuracy, summary.test_accuracy)
    }

    // MARK: - The learning rate in history.csv

    func testHistoryRecordsTheStepScheduleHalvingEachEpoch() throws {
        let run = root + "/run"
        assertSucceeded(backprop(small(run, epochs: 4, ["--lr", "0.01", "--lr-schedule", "step:1:0.5", "--quiet"]), in: root))
        let header = try XCTUnwrap(try text(of: run + "/history.csv").split(separator: "\n").first)
        XCTAssertEqual(header.split(separator: ",").last, "learning_rate")
        let rates = try historyRows(run).map { try XCTUnwrap(Double($0["learning_rate"] ?? ""), "\($0)") }
        XCTAssertEqual(rates, [0.01, 0.005, 0.0025, 0.00125])
    }

    /// Warm-up then cosine: the column holds the rate of each epoch's last step.
    func testHistoryRecordsWarmUpThenCosine() throws {
        let run = root + "/run"
        assertSucceeded(backprop(small(run, epochs: 3, ["--lr", "0.01", "--lr-schedule", "cosine", "--warmup-epochs", "1", "--quiet"]), in: root))
        let steps = try XCTUnwrap(try jsonLines(at: run + "/train.jsonl").first { $0["event"] as? String == "step" }?["steps_per_epoch"] as? Int)
        let rates = try historyRows(run).map { try XCTUnwrap(Double($0["learning_rate"] ?? ""), "\($0)") }
        XCTAssertEqual(rates.count, 3)
        func cosine(_ lastStep: Int) -> Double { 0.01 * 0.5 * (1 + cos(Double.pi * Double(lastStep - steps) / Double(2 * steps))) }
        XCTAssertEqual(rates[0], 0.01, "the warm-up's last step has the base rate")
        XCTAssertEqual(rates[1], cosine(2 * steps - 1), accuracy: 1e-15)
        XCTAssertEqual(rates[2], cosine(3 * steps - 1), accuracy: 1e-15)
        XCTAssertGreaterThan(rates[2], 0)
    }

    /// ReduceLROnPlateau on the training loss with patience 0 and a rate too high to keep improving:
    /// each reduction is an event and the next epoch's rate in history.csv.
    func testHistoryRecordsThePlateausReductions() throws {
        let run = root + "/run"
        assertSucceeded(backprop(small(run, epochs: 6, ["--lr", "0.1", "--reduce-lr-on-plateau", "0.5", "--plateau-patience", "0", "--monitor", "val_loss",
                                                        "--min-lr", "0.02", "--quiet"]), in: root))
        let rows = try historyRows(run)
        let rates = try rows.map { try XCTUnwrap(Double($0["learning_rate"] ?? "")) }
        let losses = try rows.map { try XCTUnwrap(Double($0["val_loss"] ?? "")) }
        let reductions = try jsonLines(at: run + "/train.jsonl").filter { $0["event"] as? String == "learning_rate_reduced" }
        XCTAssertFalse(reductions.isEmpty, "no reduction in this case; val_loss: \(losses)")
        // Worked as Keras would from the logged losses: reduce after any epoch that does not improve, while above min_lr.
        var rate = 0.1, best = Double.infinity
        var expectedRates: [Double] = [], expectedReductions: [[Double]] = []
        for (k, loss) in losses.enumerated() {
            expectedRates.append(rate)
            if loss < best {
                best = loss
            } else if rate > 0.02 {
                let next = max(rate * 0.5, 0.02)
                expectedReductions.append([Double(k + 1), rate, next])
                rate = next
            }
        }
        XCTAssertEqual(rates, expectedRates, "val_loss: \(losses)")
        XCTAssertEqual(reductions.map { [Double($0["epoch"] as? Int ?? 0), $0["from"] as? Double ?? .nan, $0["to"] as? Double ?? .nan] }, expectedReductions,
                       "\(reductions)")
    }

    // MARK: - Helpers

    // Read with JSONDecoder, which reads a double exactly; swift-corelibs-foundation's JSONSerialization
    // can miss by an ulp (0.31151994546254475 reads as 0.3115199454625448).

    /// summary.json's test figures.
    private struct Summary: Decodable {
        var test_loss: Double
        var test_accuracy: Double
        var epochs_trained: Int
    }

    /// `backprop evaluate --json`'s figures.
    private struct Scores: Decodable {
        var loss: Double
        var accuracy: Double
        var samples: Int
    }

    /// history.csv's rows by column name.
    private func historyRows(_ run: String) throws -> [[String: String]] {
        let lines = try text(of: run + "/history.csv").split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first else { return [] }
        return lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
    }

    /// Each file of a directory and its bytes.
    private func directoryContents(_ path: String) throws -> [String: Data] {
        var contents: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            contents[name] = try bytes(of: path + "/" + name)
        }
        return contents
    }
}
