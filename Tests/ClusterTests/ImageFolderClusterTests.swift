import Foundation
import Messaging
import Training
import XCTest

/// A cluster on `folder:DIR`: each worker rebuilds the dataset from the run config the server sends
/// (image size, colour, seeded file order) and maps the same image cache, so the weights are `backprop train`'s.
final class ImageFolderClusterTests: XCTestCase {
    func testTwoWorkersOnAnImageFolderGiveTheWeightsOfBackpropTrain() throws {
        let root = try writeTwoClassImages(self)
        let data = "folder:" + root + "/images"
        var config = RunConfig()
        config.data = data
        config.imageSize = "20x24"
        config.color = "rgb"
        config.epochs = 2
        config.batchSize = 16
        config.microbatch = 4
        config.seed = 5
        config.learningRate = 0.003
        // Each worker draws the same flips and shifts for a sample as backprop train does.
        config.augment = "flip,crop"
        let reference = try XCTUnwrap(try referenceCheckpoint(config))
        let flags = ["--data", data, "--image-size", "20x24", "--color", "rgb", "--epochs", "2", "--batch-size", "16",
                     "--microbatch", "4", "--seed", "5", "--lr", "0.003", "--augment", "flip,crop"]
        let cluster = try TestCluster(self, workersMin: 2, flags: flags)
        try cluster.addWorker()
        try cluster.addWorker(local: true)
        XCTAssertEqual(cluster.waitForServer(), 0, cluster.server.output)
        XCTAssertEqual(cluster.checkpoint, reference, "two workers on an augmented image folder: the checkpoint differs from backprop train's")
        for worker in cluster.workers {
            XCTAssertEqual(worker.wait(timeout: 10), 0, worker.output)
        }
    }

    /// A worker whose image decoder differs from the server's is refused with one line naming both:
    /// its pixels, and so its gradients, could differ. The server here is the test, speaking the protocol.
    func testAWorkerWithAnotherImageDecoderIsRefusedNamingBoth() throws {
        let root = try writeTwoClassImages(self)
        var config = RunConfig()
        config.data = "folder:" + root + "/images"
        config.epochs = 1
        config.decoder = "libjpeg-turbo 0.0.1, libpng 0.0.1"
        let server = try ServerLink(endpoint: "tcp://127.0.0.1:*", localEndpoint: nil, runID: 77, parameterCount: 10, curve: nil)
        let worker = try Child("backprop-worker", ["--server", server.endpoint, "--server-timeout", "10"], outputPath: root + "/worker.log")
        defer { worker.signal(SIGKILL) }
        var welcomed = false, leave: String?
        let deadline = Date().addingTimeInterval(60)
        while leave == nil && Date() < deadline {
            guard case .control(let message, let peer) = try server.receive(timeoutMilliseconds: 200) else { continue }
            switch message.body {
            case .join where !welcomed:
                let welcome: [String: Any] = [
                    "config": try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)),
                    "modelSpec": "conv32x3-relu,maxpool2,flatten,dense1-sigmoid", "parameterCount": 10, "runDirectory": root, "heartbeatInterval": 0.5,
                ]
                let json = String(decoding: try JSONSerialization.data(withJSONObject: welcome), as: UTF8.self)
                XCTAssertEqual(server.send(Message(runID: 77, sender: 1, step: 0, body: .welcome(configJSON: json)), to: peer.id), .sent)
                welcomed = true
            case .leave(let reason):
                leave = reason
            default:
                break
            }
        }
        XCTAssertEqual(worker.wait(timeout: 20), 1, worker.output)
        let said = try XCTUnwrap(leave, "the worker did not say why it left: \(worker.output)")
        XCTAssertTrue(said.contains("libjpeg-turbo 0.0.1, libpng 0.0.1") && said.contains("libpng 1."), said)
        XCTAssertTrue(worker.output.contains("error: cannot use the server's welcome: this worker decodes the images with"), worker.output)
    }
}
