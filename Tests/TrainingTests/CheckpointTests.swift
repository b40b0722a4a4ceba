import Foundation
import NeuralNet
import Training
import XCTest

final class CheckpointTests: XCTestCase {
    let shape = Shape(height: 28, width: 28, channels: 1)

    func testRoundTripKeepsWeightsOptimiserAndProgress() throws {
        let model = try ModelSpec.build("seed-cnn", inputShape: shape)
        var parameters = model.initialParameters(seed: 9)
        var adam: any Optimizer = Adam(parameterCount: model.parameterCount)
        let gradients = (0..<model.parameterCount).map { Float($0 % 7) - 3 }
        adam.update(&parameters, gradients: gradients)
        adam.update(&parameters, gradients: gradients)
        let path = temporaryDirectory(self) + "/c.safetensors"
        try CheckpointFile.write(Checkpoint(model: model, parameters: parameters, optimizer: adam, epoch: 4, seed: 77), for: model, to: path)

        let loaded = try CheckpointFile.read(path, fitting: model)
        XCTAssertEqual(loaded.parameters.map(\.bitPattern), parameters.map(\.bitPattern))
        XCTAssertEqual(loaded.epoch, 4)
        XCTAssertEqual(loaded.step, 2)
        XCTAssertEqual(loaded.seed, 77)
        var restored: any Optimizer = Adam(parameterCount: model.parameterCount)
        try loaded.restore(into: &restored)
        // The restored optimiser must take the next step exactly as the original does.
        var p1 = parameters, p2 = parameters
        adam.update(&p1, gradients: gradients)
        restored.update(&p2, gradients: gradients)
        XCTAssertEqual(p1.map(\.bitPattern), p2.map(\.bitPattern))
        var sgd: any Optimizer = SGD(parameterCount: model.parameterCount)
        XCTAssertThrowsError(try loaded.restore(into: &sgd)) { error in
            XCTAssertTrue("\(error)".contains("trained with adam, the run uses sgd"), "\(error)")
        }
    }

    func testFileHoldsDocumentedNames() throws {
        let model = try ModelSpec.build("seed-cnn", inputShape: shape)
        let adam = Adam(parameterCount: model.parameterCount)
        let bytes = Checkpoint(model: model, parameters: model.initialParameters(seed: 1), optimizer: adam, epoch: 0, seed: 1).encoded(for: model)
        let file = try SafeTensorsFile(decoding: bytes)
        XCTAssertEqual(file.tensors.map(\.name), [
            "conv2d_0.kernel", "conv2d_0.bias", "dense_4.kernel", "dense_4.bias",
            "optimizer.m.conv2d_0.kernel", "optimizer.m.conv2d_0.bias", "optimizer.m.dense_4.kernel", "optimizer.m.dense_4.bias",
            "optimizer.v.conv2d_0.kernel", "optimizer.v.conv2d_0.bias", "optimizer.v.dense_4.kernel", "optimizer.v.dense_4.bias",
        ])
        XCTAssertEqual(file.tensor(named: "conv2d_0.kernel")?.shape, [3, 3, 1, 32])
        XCTAssertEqual(file.metadata["model"], "conv32x3-relu,maxpool2,flatten,dense1-sigmoid")
        XCTAssertEqual(file.metadata["format"], "backprop-checkpoint")
        XCTAssertEqual(file.metadata["input_shape"], "28x28x1")
    }

    func testTornAndForeignFilesAreRefused() throws {
        let model = try ModelSpec.build("seed-cnn", inputShape: shape)
        let root = temporaryDirectory(self)
        let good = root + "/good.safetensors"
        try CheckpointFile.write(Checkpoint(model: model, parameters: model.initialParameters(seed: 1), optimizer: Adam(parameterCount: model.parameterCount), epoch: 1, seed: 1), for: model, to: good)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        let torn = root + "/torn.safetensors"
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: torn))
        XCTAssertThrowsError(try CheckpointFile.read(torn, fitting: model)) { error in
            XCTAssertTrue("\(error)".hasPrefix(torn + ": "), "\(error)")
        }
        let foreign = root + "/foreign.safetensors"
        try Data(SafeTensorsFile(metadata: [:], tensors: [NamedTensor(name: "w", shape: [1], values: [1])]).encoded()).write(to: URL(fileURLWithPath: foreign))
        XCTAssertThrowsError(try CheckpointFile.read(foreign, fitting: model)) { error in
            XCTAssertTrue("\(error)".contains("not a Backprop checkpoint"), "\(error)")
        }
        XCTAssertThrowsError(try CheckpointFile.read(root + "/missing.safetensors", fitting: model)) { error in
            XCTAssertTrue("\(error)".contains("no such file"), "\(error)")
        }
    }

    func testFailedWriteKeepsThePreviousCheckpoint() throws {
        let model = try ModelSpec.build("seed-cnn", inputShape: shape)
        let root = temporaryDirectory(self)
        let path = root + "/c.safetensors"
        let adam = Adam(parameterCount: model.parameterCount)
        try CheckpointFile.write(Checkpoint(model: model, parameters: model.initialParameters(seed: 1), optimizer: adam, epoch: 1, seed: 1), for: model, to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        // A directory squatting on the temporary file's name makes the write fail.
        try FileManager.default.createDirectory(atPath: path + ".tmp-\(getpid())", withIntermediateDirectories: false)
        XCTAssertThrowsError(try CheckpointFile.write(Checkpoint(model: model, parameters: model.initialParameters(seed: 2), optimizer: adam, epoch: 2, seed: 1), for: model, to: path)) { error in
            XCTAssertTrue("\(error)".contains("the previous checkpoint is unchanged"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
    }

    /// A full disk, for real: a tmpfs with room for one checkpoint but not for the next one's temporary file.
    func testAFullDiskKeepsThePreviousCheckpoint() throws {
        let mountPoint = temporaryDirectory(self) + "/tiny"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=40k", "tmpfs", mountPoint]
        mount.standardError = FileHandle.nullDevice
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            throw XCTSkip("cannot mount a tmpfs here (needs root and mount rights); the blocked-write test covers the same path")
        }
        addTeardownBlock {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [mountPoint]
            try? umount.run()
            umount.waitUntilExit()
        }
        let model = try ModelSpec.build("seed-cnn", inputShape: shape)
        let sgd = SGD(parameterCount: model.parameterCount)
        let path = mountPoint + "/checkpoint.safetensors"
        try CheckpointFile.write(Checkpoint(model: model, parameters: model.initialParameters(seed: 1), optimizer: sgd, epoch: 1, seed: 1), for: model, to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try CheckpointFile.write(Checkpoint(model: model, parameters: model.initialParameters(seed: 2), optimizer: sgd, epoch: 2, seed: 1), for: model, to: path)) { error in
            XCTAssertTrue("\(error)".contains("No space left on device"), "\(error)")
            XCTAssertTrue("\(error)".contains("the previous checkpoint is unchanged"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: mountPoint), ["checkpoint.safetensors"], "the temporary file was left behind")
        XCTAssertEqual(try CheckpointFile.read(path, fitting: model).epoch, 1)
    }
}
