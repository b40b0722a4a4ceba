// Trains a small CNN with Backprop's libraries alone, in the spirit of tinygrad's beautiful_mnist.py: load the
// data, build the model, then forward, backward and update, batch by batch, and test after each epoch.
//
//   swift run -c release beautiful-mnist [EPOCHS] [TRAIN_LIMIT] [DATA]
//
// DATA is any --data of backprop train; by default Fashion-MNIST when Debian's copy is installed
// (apt-get install dataset-fashion-mnist), else the built-in synthetic digits.
import Datasets
import Foundation
import NeuralNet
import Training

let arguments = Array(CommandLine.arguments.dropFirst())
let epochs = arguments.count > 0 ? Int(arguments[0]) ?? 3 : 3
let limit = arguments.count > 1 ? Int(arguments[1]) : nil
let fashion = "/usr/share/datasets/fashion-mnist"
let data = arguments.count > 2 ? arguments[2] : FileManager.default.fileExists(atPath: fashion) ? "idx:" + fashion : "synthetic10"

do {
    let dataset = try Dataset.load(DataSource(parsing: data), trainLimit: limit, testLimit: limit)
    let (train, test) = (dataset.train, dataset.test)
    let model = try ModelSpec.build("conv32x3-relu,maxpool2,conv64x3-relu,maxpool2,flatten,dense10-softmax",
                                    inputShape: Shape(height: train.height, width: train.width, channels: train.channels))
    var parameters = model.initialParameters(seed: 1)
    var gradient = [Float](repeating: 0, count: model.parameterCount)
    var optimizer = Adam(parameterCount: model.parameterCount)
    let plan = EpochPlan(sampleCount: train.count, batchSize: 128, microbatch: 128)
    let trainer = GradientComputer(model: model, data: train, microbatch: plan.batchSize)
    let tester = Workspace(model: model, capacity: 500, gradients: false)
    print("\(data): \(train.count) training and \(test.count) test images; \(model.parameterCount) parameters")

    for epoch in 0..<epochs {
        let order = EpochPlan.order(sampleCount: train.count, epoch: epoch, seed: 1)
        var seen = BatchMetrics()
        for step in 0..<plan.stepsPerEpoch {
            let batch = plan.batch(step)
            // Forward, loss and backward from a zeroed gradient: the gradient of the batch's summed loss.
            seen += trainer.compute(order: order, positions: batch, epoch: epoch, parameters: parameters, gradient: &gradient)
            for i in gradient.indices { gradient[i] /= Float(batch.count) }
            optimizer.update(&parameters, gradients: gradient)
        }
        let tested = evaluate(model: model, parameters: parameters, on: test, workspace: tester)
        print(String(format: "epoch %d: loss %.4f - accuracy %.4f - test loss %.4f - test accuracy %.4f",
                     epoch + 1, seen.meanLoss, seen.accuracy, tested.meanLoss, tested.accuracy))
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
