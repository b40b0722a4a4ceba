import Datasets
import Foundation
import NeuralNet
import Training
import TrainingLog
import XCTest

final class LocalTrainerTests: XCTestCase {
    func testSeedCNNLearnsTheTwoClassSet() throws {
        var config = smallConfig(trainLimit: 8_000)
        config.testLimit = 2_000
        config.learningRate = 0.003
        let result = try train(config, in: temporaryDirectory(self) + "/run")
        XCTAssertGreaterThanOrEqual(result.testAccuracy, 0.90, "seed-cnn on synthetic: test accuracy \(result.testAccuracy)")
        XCTAssertLessThan(result.testLoss, 0.3)
    }

    func testMnistCNNLearnsTheTenClassSet() throws {
        var config = smallConfig(model: "mnist-cnn", data: "synthetic10", trainLimit: 12_000, epochs: 2)
        config.testLimit = 2_000
        config.learningRate = 0.003
        let result = try train(config, in: temporaryDirectory(self) + "/run")
        XCTAssertGreaterThanOrEqual(result.testAccuracy, 0.90, "mnist-cnn on synthetic10: test accuracy \(result.testAccuracy)")
        XCTAssertEqual(result.history.count, 2)
        XCTAssertLessThan(result.history[1].loss, result.history[0].loss, "loss should fall from epoch 1 to 2")
    }

    func testSameSeedSameWeightsOtherSeedOtherWeights() throws {
        let root = temporaryDirectory(self)
        var config = smallConfig(trainLimit: 400)
        let a = try train(config, in: root + "/a")
        let b = try train(config, in: root + "/b")
        XCTAssertEqual(a.parameters.map(\.bitPattern), b.parameters.map(\.bitPattern))
        config.seed = 2
        let c = try train(config, in: root + "/c")
        XCTAssertNotEqual(a.parameters, c.parameters)
    }

    func testThreadsGiveTheBitsOfOneThread() throws {
        let root = temporaryDirectory(self)
        var config = smallConfig(trainLimit: 200, epochs: 2)
        config.testLimit = 50
        config.validationSplit = 0
        // 200 samples in steps of 40 cut 16 + 16 + 8: rounds that do not fill every thread.
        config.batchSize = 40
        config.microbatch = 16
        let one = try train(config, in: root + "/1")
        let checkpoint = try XCTUnwrap(FileManager.default.contents(atPath: root + "/1/checkpoint.safetensors"))
        for threads in [2, 3, 4] {
            let many = try train(config, in: root + "/\(threads)", threads: threads)
            XCTAssertEqual(many.parameters.map(\.bitPattern), one.parameters.map(\.bitPattern), "\(threads) threads")
            XCTAssertEqual(many.history.map(\.loss), one.history.map(\.loss), "\(threads) threads")
            XCTAssertEqual(FileManager.default.contents(atPath: root + "/\(threads)/checkpoint.safetensors"), checkpoint,
                           "\(threads) threads wrote another checkpoint")
        }
    }

    func testResumeContinuesBitForBit() throws {
        let root = temporaryDirectory(self)
        var config = smallConfig(trainLimit: 500, epochs: 3)
        let straight = try train(config, in: root + "/straight")
        config.epochs = 1
        _ = try train(config, in: root + "/split")
        config.epochs = 3
        let resumed = try train(config, in: root + "/split", start: .resume(from: root + "/split"), resuming: true)
        XCTAssertEqual(resumed.history.map(\.epoch), [2, 3])
        XCTAssertEqual(straight.parameters.map(\.bitPattern), resumed.parameters.map(\.bitPattern))
    }

    func testResumeRefusesAnotherRunsSettings() throws {
        let root = temporaryDirectory(self)
        var config = smallConfig(trainLimit: 300)
        _ = try train(config, in: root + "/run")
        config.batchSize = 16
        config.epochs = 2
        XCTAssertThrowsError(try train(config, in: root + "/run", start: .resume(from: root + "/run"), resuming: true)) { error in
            XCTAssertTrue("\(error)".contains("batch_size = 32, this run has 16"), "\(error)")
        }
    }

    func testInitStartsFromSavedWeights() throws {
        let root = temporaryDirectory(self)
        let config = smallConfig(trainLimit: 300)
        let first = try train(config, in: root + "/first")
        let run = try PreparedRun(config: config)
        let loaded = try CheckpointFile.read(root + "/first", fitting: run.model)
        XCTAssertEqual(loaded.parameters, first.parameters)
        let second = try train(config, in: root + "/second", start: .weights(from: root + "/first/checkpoint.safetensors"))
        XCTAssertNotEqual(second.parameters, first.parameters, "training should move on from the saved weights")
        XCTAssertGreaterThanOrEqual(second.testAccuracy, first.testAccuracy - 0.05)
    }

    func testInitRefusesACheckpointOfAnotherShape() throws {
        let root = temporaryDirectory(self)
        _ = try train(smallConfig(model: "mnist-cnn", data: "synthetic10", trainLimit: 200), in: root + "/ten")
        XCTAssertThrowsError(try train(smallConfig(trainLimit: 200), in: root + "/two", start: .weights(from: root + "/ten"))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("dense_4.kernel has shape [5408, 10], the model needs [5408, 1]"), text)
            XCTAssertTrue(text.contains("checkpoint.safetensors"), text)
        }
    }

    func testRunDirectoryIsNotOverwritten() throws {
        let root = temporaryDirectory(self)
        let config = smallConfig(trainLimit: 200)
        let run = try PreparedRun(config: config)
        let directory = try RunDirectory(path: root + "/run", resuming: false)
        try directory.writeConfig(run.config)
        XCTAssertThrowsError(try RunDirectory(path: root + "/run", resuming: false)) { error in
            XCTAssertTrue("\(error)".contains("already holds a run"), "\(error)")
        }
    }

    func testEventsTellTheStory() throws {
        let root = temporaryDirectory(self)
        var config = smallConfig(trainLimit: 300, epochs: 2)
        config.batchSize = 50
        config.microbatch = 20
        let run = try PreparedRun(config: config)
        let recorder = EventRecorder()
        _ = try LocalTrainer(run: run, directory: try RunDirectory(path: root + "/run", resuming: false), start: StartingState(.fresh, for: run), sink: recorder).train()
        let kinds = recorder.events.map(\.kind)
        // 270 training samples, batch 50: 6 steps per epoch, the last one of 20 samples.
        XCTAssertEqual(kinds.filter { $0 == "step" }.count, 12)
        XCTAssertEqual(kinds.first, "run_started")
        XCTAssertEqual(kinds.last, "test")
        let steps = recorder.events.compactMap { event -> StepRecord? in
            if case .step(let record) = event { return record } else { return nil }
        }
        XCTAssertEqual(steps.map(\.samples), [50, 50, 50, 50, 50, 20, 50, 50, 50, 50, 50, 20])
        XCTAssertEqual(steps.map(\.globalStep), Array(1...12))
        XCTAssertEqual(kinds.filter { $0 == "checkpoint" }.count, 2)
    }
}
