import Foundation
import NeuralNet
import Training
import XCTest

/// The photo models — batch norm's ghost batches and moving statistics, dropout's hashed masks, residual
/// adds, strided and separable convolutions — with augmentation on: `backprop train` on one thread and
/// on two, and clusters of 1, 2 and 3 workers, one of them killed mid-run, all end on the same bits.
final class GraphModelExactnessTests: XCTestCase {
    /// mini-xception at an eighth of its width (16 to 128 filters) on 32x32 RGB photos.
    func testMiniXceptionIsExactAtAnyWorkerCount() throws {
        let root = try writeTwoClassImages(self, width: 32, height: 32, trainPerClass: 100)
        let model = root + "/mini-xception.yaml"
        let text = try String(contentsOfFile: repositoryFile("models/mini-xception.yaml"), encoding: .utf8)
        try text.replacingOccurrences(of: "width: 1.0", with: "width: 0.125").write(toFile: model, atomically: true, encoding: .utf8)
        try checkExact(model: model, data: "folder:" + root + "/images", size: "32x32")
    }

    /// dlwp-convnet (its four conv/pool stages need 48 pixels or more) on 48x48 RGB photos.
    func testDLWPConvnetIsExactAtAnyWorkerCount() throws {
        let root = try writeTwoClassImages(self, width: 48, height: 48, trainPerClass: 60)
        try checkExact(model: "dlwp-convnet", data: "folder:" + root + "/images", size: "48x48", workerCounts: [2])
    }

    private func checkExact(model: String, data: String, size: String, workerCounts: [Int] = [1, 2, 3]) throws {
        var config = RunConfig()
        config.model = model
        config.data = data
        config.imageSize = size
        config.color = "rgb"
        config.epochs = 2
        config.batchSize = 16
        config.microbatch = 4
        config.seed = 9
        config.learningRate = 0.002
        config.augment = "flip,crop,rotate:0.05,zoom:0.1"
        let flags = ["--model", model, "--data", data, "--image-size", size, "--color", "rgb", "--epochs", "2",
                     "--batch-size", "16", "--microbatch", "4", "--seed", "9", "--lr", "0.002", "--augment", "flip,crop,rotate:0.05,zoom:0.1"]
        let reference = try XCTUnwrap(try referenceCheckpoint(config))
        XCTAssertEqual(try referenceCheckpoint(config, threads: 2), reference, "\(model): backprop train --threads 2 differs from one thread")
        try assertStatisticsMoved(reference, config: config)

        for count in workerCounts {
            let cluster = try TestCluster(self, workersMin: count, flags: flags)
            for k in 0..<count { try cluster.addWorker(local: count > 1 && k == count - 1) }
            XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
            XCTAssertEqual(cluster.checkpoint, reference, "\(model), \(count) worker(s): the checkpoint differs from backprop train's")
        }

        let cluster = try TestCluster(self, workersMin: 3, flags: flags)
        for _ in 0..<3 { try cluster.addWorker() }
        XCTAssertTrue(cluster.waitForStep(4), "training did not get going:\n\(cluster.server.output)")
        cluster.workers[1].signal(SIGKILL)
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        XCTAssertEqual(cluster.checkpoint, reference, "\(model): a worker killed mid-run changed the weights")
    }

    /// Batch norm's moving statistics left their initial values (mean 0, variance 1), so the test
    /// compares statistics that training computed, and the checkpoint names them.
    private func assertStatisticsMoved(_ checkpoint: Data, config: RunConfig) throws {
        let run = try PreparedRun(config: config)
        let saved = try Checkpoint(decoding: [UInt8](checkpoint), fitting: run.model)
        for entry in run.model.layout.movingAverages {
            let values = saved.parameters[entry.range]
            let initial: Float = entry.name.hasSuffix("moving_variance") ? 1 : 0
            XCTAssertTrue(values.contains { $0 != initial }, "\(entry.name) never moved")
        }
    }
}

/// The path of `relative` in this repository.
func repositoryFile(_ relative: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(relative).path
}
