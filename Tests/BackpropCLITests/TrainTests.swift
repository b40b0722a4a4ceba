import Foundation
import XCTest

final class TrainTests: XCTestCase {
    func testATinyRunWritesTheWholeRunDirectory() throws {
        let root = try temporaryDirectory(self)
        let run = root + "/a"
        let result = backprop(["train", "--train-limit", "600", "--test-limit", "200", "--epochs", "1",
                               "--batch-size", "32", "--run-dir", run, "--quiet"])
        assertSucceeded(result)
        XCTAssertEqual(nonEmptyLines(result.stdout).count, 1, "--quiet prints only the test line:\n\(result.stdout)")
        XCTAssertTrue(result.stdout.hasPrefix("test: loss "), result.stdout)

        let config = try jsonObject(text(of: run + "/config.json"))
        XCTAssertEqual(config["model"] as? String, "seed-cnn")
        XCTAssertEqual(config["epochs"] as? Int, 1)
        XCTAssertEqual(config["batch_size"] as? Int, 32)
        XCTAssertEqual(config["train_limit"] as? Int, 600)

        let history = try text(of: run + "/history.csv").split(separator: "\n").map(String.init)
        XCTAssertEqual(history.count, 2, "header and one row:\n\(history)")
        XCTAssertEqual(history.first, "epoch,loss,accuracy,val_loss,val_accuracy,seconds,samples_per_second,learning_rate")
        let row = history.dropFirst().first?.split(separator: ",", omittingEmptySubsequences: false) ?? []
        XCTAssertEqual(row.count, 8, "\(history)")
        XCTAssertEqual(row.first, "1")
        // A 10 % validation split of 600 samples: every validation figure is present.
        XCTAssertFalse(row.contains(""), "an empty cell in \(history)")

        let events = try jsonLines(at: run + "/train.jsonl")
        let kinds = events.compactMap { $0["event"] as? String }
        XCTAssertEqual(kinds.count, events.count, "every record has an event")
        XCTAssertEqual(kinds.first, "run_started")
        XCTAssertEqual(kinds.last, "test")
        for kind in ["run_started", "step", "epoch", "checkpoint", "test"] {
            XCTAssertTrue(kinds.contains(kind), "no \(kind) event in \(kinds)")
        }
        for event in events {
            XCTAssertEqual(event["process"] as? String, "trainer")
            XCTAssertNotNil(event["time"] as? Double)
        }
        let started = try XCTUnwrap(events.first)
        XCTAssertEqual(started["train_samples"] as? Int, 540)
        XCTAssertEqual(started["validation_samples"] as? Int, 60)
        XCTAssertEqual(started["test_samples"] as? Int, 200)
        XCTAssertEqual(started["parameters"] as? Int, 5729)
        // 540 samples in batches of 32: 17 steps, numbered 1...17, covering every sample once.
        let steps = events.filter { $0["event"] as? String == "step" }
        XCTAssertEqual(steps.compactMap { $0["step"] as? Int }, Array(1...17))
        XCTAssertEqual(steps.compactMap { $0["global_step"] as? Int }, Array(1...17))
        XCTAssertEqual(steps.compactMap { $0["samples"] as? Int }.reduce(0, +), 540)
        let checkpoint = try XCTUnwrap(events.first { $0["event"] as? String == "checkpoint" })
        XCTAssertEqual(checkpoint["epoch"] as? Int, 1)
        XCTAssertEqual(checkpoint["step"] as? Int, 17)
        let test = try XCTUnwrap(events.last)
        XCTAssertEqual(test["samples"] as? Int, 200)

        let summary = try jsonObject(text(of: run + "/summary.json"))
        let loss = try XCTUnwrap(summary["test_loss"] as? Double, "summary: \(summary)")
        let accuracy = try XCTUnwrap(summary["test_accuracy"] as? Double)
        XCTAssertTrue(loss.isFinite && loss > 0, "test_loss \(loss)")
        XCTAssertTrue((0...1).contains(accuracy), "test_accuracy \(accuracy)")
        XCTAssertEqual(loss, test["test_loss"] as? Double, "summary.json and train.jsonl disagree")
        XCTAssertEqual(summary["epochs"] as? Int, 1)
        XCTAssertGreaterThan(summary["samples_per_second"] as? Double ?? 0, 0)
        let summaryConfig = try XCTUnwrap(summary["config"] as? [String: Any])
        XCTAssertEqual(summaryConfig["batch_size"] as? Int, 32)
        XCTAssertEqual(summaryConfig["test_limit"] as? Int, 200)

        let checkpointFile = try safetensorsParts(bytes(of: run + "/checkpoint.safetensors"))
        let metadata = try XCTUnwrap(checkpointFile.header["__metadata__"] as? [String: String])
        XCTAssertEqual(metadata["format"], "backprop-checkpoint")
        XCTAssertEqual(metadata["epoch"], "1")
        XCTAssertEqual(metadata["step"], "17")
        // Weights plus Adam's m and v: three floats per parameter.
        XCTAssertEqual(checkpointFile.data.count, 3 * 5729 * 4)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.contains(".tmp") }, [],
                       "a temporary checkpoint file was left behind")
    }

    func testWithoutQuietItPrintsTheModelAndOneLinePerEpoch() throws {
        let run = try temporaryDirectory(self) + "/a"
        let result = backprop(tinyRun(run, epochs: 2).filter { $0 != "--quiet" })
        assertSucceeded(result)
        XCTAssertTrue(result.stdout.contains("Total params: 5,729"), result.stdout)
        XCTAssertTrue(result.stdout.contains("run directory: \(run)"), result.stdout)
        let epochLines = nonEmptyLines(result.stdout).filter { $0.hasPrefix("epoch ") }
        XCTAssertEqual(epochLines.count, 2, result.stdout)
        XCTAssertTrue(epochLines.first?.hasPrefix("epoch 1/2 - ") == true, result.stdout)
        XCTAssertTrue(epochLines.allSatisfy { $0.contains("val_loss: ") }, result.stdout)
        // stdout is not a terminal here: no carriage returns or escape codes from the progress bar.
        XCTAssertFalse(result.stdout.contains("\r") || result.stdout.contains("\u{1B}"), result.stdout.debugDescription)
    }

    func testTheSameSeedGivesTheSameWeights() throws {
        let root = try temporaryDirectory(self)
        assertSucceeded(backprop(tinyRun(root + "/a")))
        assertSucceeded(backprop(tinyRun(root + "/b")))
        assertSucceeded(backprop(tinyRun(root + "/c", extra: ["--seed", "2"])))
        let a = try bytes(of: root + "/a/checkpoint.safetensors")
        XCTAssertEqual(a, try bytes(of: root + "/b/checkpoint.safetensors"), "two runs with one seed differ")
        XCTAssertNotEqual(try safetensorsParts(a).data, try safetensorsParts(bytes(of: root + "/c/checkpoint.safetensors")).data,
                          "--seed changes nothing")
    }

    func testThreadsWriteTheCheckpointOfOneThread() throws {
        let root = try temporaryDirectory(self)
        // 450 training samples in steps of 40 cut 16 + 16 + 8, the last step 10.
        let batching = ["--batch-size", "40", "--microbatch", "16"]
        assertSucceeded(backprop(tinyRun(root + "/1", extra: batching)))
        let one = try bytes(of: root + "/1/checkpoint.safetensors")
        for threads in ["2", "3"] {
            assertSucceeded(backprop(tinyRun(root + "/" + threads, extra: batching + ["--threads", threads])))
            XCTAssertEqual(try bytes(of: root + "/\(threads)/checkpoint.safetensors"), one, "--threads \(threads) changed the checkpoint")
            XCTAssertEqual(try jsonObject(text(of: root + "/\(threads)/config.json"))["threads"] as? Int, Int(threads))
        }
    }

    // MARK: - --init

    func testInitStartsFromTheCheckpointsWeightsWithAFreshOptimiser() throws {
        let root = try temporaryDirectory(self)
        assertSucceeded(backprop(tinyRun(root + "/first")))
        assertSucceeded(backprop(tinyRun(root + "/second", extra: ["--init", root + "/first/checkpoint.safetensors"])))
        func steps(_ run: String) throws -> [[String: Any]] {
            try jsonLines(at: root + "/\(run)/train.jsonl").filter { $0["event"] as? String == "step" }
        }
        let first = try steps("first"), second = try steps("second")
        // Same seed, same first batch: only the starting weights can make the first losses differ.
        let firstLoss = try XCTUnwrap(first.first?["loss"] as? Double)
        let secondLoss = try XCTUnwrap(second.first?["loss"] as? Double)
        XCTAssertNotEqual(firstLoss, secondLoss, "--init did not load the weights")
        XCTAssertEqual(second.first?["epoch"] as? Int, 1, "--init starts at epoch 1")
        XCTAssertEqual(second.first?["global_step"] as? Int, 1, "--init starts with a fresh optimiser")
    }

    func testInitWithAWrongShapedCheckpointFailsNamingTheTensorAndBothShapes() throws {
        let root = try temporaryDirectory(self)
        assertSucceeded(backprop(["train", "--model", "mnist-cnn", "--data", "synthetic10", "--train-limit", "300",
                                  "--test-limit", "100", "--epochs", "1", "--run-dir", root + "/ten", "--quiet"]))
        let result = backprop(tinyRun(root + "/two", extra: ["--model", "seed-cnn", "--init", root + "/ten/checkpoint.safetensors"]))
        assertOneLineError(result, mentions: ["checkpoint.safetensors", "dense_4.kernel", "[5408, 10]", "[5408, 1]"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/two/checkpoint.safetensors"))
    }

    func testInitWithAMissingFileFailsNamingIt() throws {
        let root = try temporaryDirectory(self)
        assertOneLineError(backprop(tinyRun(root + "/a", extra: ["--init", "/nonexistent.safetensors"])),
                           mentions: ["/nonexistent.safetensors", "no such file"])
    }

    /// A run that failed before its first step leaves nothing that stops the same command from being retried.
    func testAFailedInitCanBeRetriedInTheSameRunDirectory() throws {
        let root = try temporaryDirectory(self)
        assertSucceeded(backprop(tinyRun(root + "/good")))
        assertOneLineError(backprop(tinyRun(root + "/retry", extra: ["--init", root + "/missing.safetensors"])), mentions: ["missing.safetensors"])
        let retried = backprop(tinyRun(root + "/retry", extra: ["--init", root + "/good/checkpoint.safetensors"]))
        assertSucceeded(retried)
    }

    func testInitAndResumeTogetherIsAUsageError() throws {
        let root = try temporaryDirectory(self)
        assertUsageError(backprop(tinyRun(root + "/a", extra: ["--init", "x.safetensors", "--resume", "y"])), naming: "--init")
    }

    // MARK: - --resume

    func testResumeContinuesExactlyWhereTheRunStopped() throws {
        let root = try temporaryDirectory(self)
        let straight = root + "/straight", resumed = root + "/resumed"
        assertSucceeded(backprop(tinyRun(straight, epochs: 2)))
        assertSucceeded(backprop(tinyRun(resumed, epochs: 1)))
        assertSucceeded(backprop(tinyResume(resumed, epochs: 2)))

        // The weights and optimiser state are the same bits; so is the whole file, metadata included.
        let a = try bytes(of: straight + "/checkpoint.safetensors"), b = try bytes(of: resumed + "/checkpoint.safetensors")
        let partsA = try safetensorsParts(a), partsB = try safetensorsParts(b)
        XCTAssertEqual(partsA.data, partsB.data, "the resumed run's tensors differ from the uninterrupted run's")
        XCTAssertEqual(partsA.header["__metadata__"] as? [String: String], partsB.header["__metadata__"] as? [String: String])
        XCTAssertEqual(a, b, "the checkpoint files differ")
        XCTAssertEqual((partsB.header["__metadata__"] as? [String: String])?["epoch"], "2")

        // evaluate agrees to the last digit.
        let evalA = backprop(["evaluate", "--checkpoint", straight, "--test-limit", "200", "--json"])
        let evalB = backprop(["evaluate", "--checkpoint", resumed, "--test-limit", "200", "--json"])
        assertSucceeded(evalA)
        assertSucceeded(evalB)
        let jsonA = try jsonObject(evalA.stdout), jsonB = try jsonObject(evalB.stdout)
        XCTAssertEqual(try XCTUnwrap(jsonA["loss"] as? Double), try XCTUnwrap(jsonB["loss"] as? Double))
        XCTAssertEqual(jsonA["accuracy"] as? Double, jsonB["accuracy"] as? Double)
        XCTAssertEqual(lossText(evalA.stdout), lossText(evalB.stdout))

        // The logs continue too: one header, two epochs with the same figures; steps keep counting.
        let historyA = try text(of: straight + "/history.csv").split(separator: "\n")
        let historyB = try text(of: resumed + "/history.csv").split(separator: "\n")
        XCTAssertEqual(historyB.count, 3, "header and two rows, no repeated header:\n\(historyB.joined(separator: "\n"))")
        XCTAssertEqual(historyA.map(trainingFigures), historyB.map(trainingFigures))
        let stepsA = try jsonLines(at: straight + "/train.jsonl").filter { $0["event"] as? String == "step" }
        let eventsB = try jsonLines(at: resumed + "/train.jsonl")
        let stepsB = eventsB.filter { $0["event"] as? String == "step" }
        XCTAssertEqual(eventsB.filter { $0["event"] as? String == "run_started" }.count, 2, "the resumed run appends to train.jsonl")
        XCTAssertEqual(stepsB.compactMap { $0["global_step"] as? Int }, Array(1...stepsA.count))
        XCTAssertEqual(stepsA.compactMap { $0["loss"] as? Double }, stepsB.compactMap { $0["loss"] as? Double })
        XCTAssertEqual(stepsB.last?["epoch"] as? Int, 2)
    }

    /// Flags not given again on --resume come from the run's config.json, so the result is the uninterrupted run's.
    func testResumeKeepsTheRunsSettingsForFlagsNotGiven() throws {
        let root = try temporaryDirectory(self)
        let straight = root + "/straight", resumed = root + "/resumed"
        let settings = ["--lr", "0.004", "--seed", "9", "--validation-split", "0.2"]
        assertSucceeded(backprop(tinyRun(straight, epochs: 2, extra: settings)))
        assertSucceeded(backprop(tinyRun(resumed, epochs: 1, extra: settings)))
        assertSucceeded(backprop(["train", "--resume", resumed, "--epochs", "2", "--quiet"]))
        XCTAssertEqual(try bytes(of: straight + "/checkpoint.safetensors"), try bytes(of: resumed + "/checkpoint.safetensors"),
                       "resuming with only --epochs did not continue the same run")
        let config = try jsonObject(try text(of: resumed + "/config.json"))
        XCTAssertEqual(config["learning_rate"] as? Double, 0.004)
        XCTAssertEqual(config["seed"] as? String, "9")
        XCTAssertEqual(config["epochs"] as? Int, 2)
        XCTAssertEqual(config["train_limit"] as? Int, 500)
    }

    func testResumeFromACheckpointFileInTheRunDirectory() throws {
        let root = try temporaryDirectory(self)
        let run = root + "/run"
        assertSucceeded(backprop(tinyRun(run, epochs: 1)))
        let result = backprop(tinyResume(run + "/checkpoint.safetensors", epochs: 2), in: root)
        assertSucceeded(result)
        XCTAssertEqual(try text(of: run + "/history.csv").split(separator: "\n").count, 3, "the resumed epoch went elsewhere")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/runs"), "a resume must not start a new run directory")
    }

    func testResumeWithDifferentBatchingFailsAndLeavesTheRunAlone() throws {
        let run = try temporaryDirectory(self) + "/run"
        assertSucceeded(backprop(tinyRun(run, epochs: 1)))
        let config = try text(of: run + "/config.json")
        let checkpoint = try bytes(of: run + "/checkpoint.safetensors")
        let result = backprop(tinyResume(run, epochs: 2, extra: ["--batch-size", "16"]))
        assertOneLineError(result, mentions: ["batch_size", "32", "16"])
        XCTAssertEqual(try bytes(of: run + "/checkpoint.safetensors"), checkpoint, "a refused resume changed the checkpoint")
        XCTAssertEqual(try text(of: run + "/config.json"), config, "a refused resume rewrote config.json")
    }

    func testResumeWithFewerEpochsThanDoneDoesNotCrash() throws {
        let run = try temporaryDirectory(self) + "/run"
        assertSucceeded(backprop(tinyRun(run, epochs: 2)))
        let checkpoint = try bytes(of: run + "/checkpoint.safetensors")
        // The checkpoint has done 2 epochs; asking for 1 must be refused (or be a no-op), never a trap.
        let result = backprop(tinyResume(run, epochs: 1))
        if result.status != 0 {
            assertOneLineError(result, mentions: ["--epochs"])
        }
        XCTAssertEqual(try bytes(of: run + "/checkpoint.safetensors"), checkpoint)
    }

    func testResumeWithoutACheckpointFailsCleanly() throws {
        let root = try temporaryDirectory(self)
        try FileManager.default.createDirectory(atPath: root + "/empty", withIntermediateDirectories: true)
        assertOneLineError(backprop(tinyResume(root + "/empty", epochs: 2)),
                           mentions: ["checkpoint.safetensors", "no such file"])
    }

    // MARK: - Run directories

    func testReusingARunDirectoryWithoutResumeFails() throws {
        let run = try temporaryDirectory(self) + "/run"
        assertSucceeded(backprop(tinyRun(run)))
        let before = try bytes(of: run + "/checkpoint.safetensors")
        let history = try bytes(of: run + "/history.csv")
        let result = backprop(tinyRun(run))
        assertOneLineError(result, mentions: [run, "--resume"])
        XCTAssertEqual(try bytes(of: run + "/checkpoint.safetensors"), before, "the refused run overwrote the checkpoint")
        XCTAssertEqual(try bytes(of: run + "/history.csv"), history, "the refused run touched history.csv")
    }

    func testARunDirectoryThatIsAFileFails() throws {
        let root = try temporaryDirectory(self)
        FileManager.default.createFile(atPath: root + "/file", contents: Data("x".utf8))
        assertOneLineError(backprop(tinyRun(root + "/file")), mentions: [root + "/file", "not a directory"])
    }
}

/// The raw text of the `"loss"` number in evaluate's JSON.
private func lossText(_ json: String) -> String? {
    guard let start = json.range(of: #""loss":"#) else { return nil }
    return String(json[start.upperBound...].prefix { "0123456789.eE+-".contains($0) })
}

/// A history.csv line without its timing columns (`seconds`, `samples_per_second`), which vary run to run.
private func trainingFigures(_ line: Substring) -> [Substring] {
    Array(line.split(separator: ",", omittingEmptySubsequences: false).prefix(5))
}
