import Foundation
import NeuralNet
import Randomness
import XCTest

/// The layers against PyTorch in float64 on the same inputs, weights and upstream gradient.
///
/// Float32 forward, input gradient and parameter gradients: |ours − torch| ≤ 1e-4 + 1e-4·|torch|.
/// The Double `Reference.forward`: |reference − torch| ≤ 1e-10. Skipped with a note where
/// python3 has no torch (see `TorchReference`).
final class TorchReferenceTests: XCTestCase {
    // MARK: - Backprop's layers

    func testConv2DValid() throws {
        try compare(Conv2D(inputShape: Shape(height: 5, width: 6, channels: 2), filters: 3, kernelSize: 3))
        try compare(Conv2D(inputShape: Shape(height: 4, width: 5, channels: 3), filters: 4, kernelSize: 2), batch: 3)
        try compare(Conv2D(inputShape: Shape(height: 3, width: 3, channels: 5), filters: 1, kernelSize: 1), batch: 1)
    }

    func testConv2DSameOddKernel() throws {
        try compare(Conv2D(inputShape: Shape(height: 5, width: 4, channels: 3), filters: 2, kernelSize: 3, padding: .same))
        try compare(Conv2D(inputShape: Shape(height: 4, width: 6, channels: 2), filters: 5, kernelSize: 5, padding: .same))
    }

    /// Even kernels pad one more after than before, as TensorFlow does.
    func testConv2DSameEvenKernel() throws {
        try compare(Conv2D(inputShape: Shape(height: 4, width: 5, channels: 1), filters: 2, kernelSize: 2, padding: .same))
        try compare(Conv2D(inputShape: Shape(height: 5, width: 5, channels: 2), filters: 3, kernelSize: 4, padding: .same), batch: 3)
    }

    /// The vector paths of the kernels: 32, 19 and 16 filters, a kernel larger than its image.
    func testConv2DVectorFilters() throws {
        try compare(Conv2D(inputShape: Shape(height: 5, width: 7, channels: 1), filters: 32, kernelSize: 3))
        try compare(Conv2D(inputShape: Shape(height: 4, width: 5, channels: 3), filters: 19, kernelSize: 3, padding: .same), batch: 1)
        try compare(Conv2D(inputShape: Shape(height: 5, width: 6, channels: 4), filters: 16, kernelSize: 3))
        try compare(Conv2D(inputShape: Shape(height: 2, width: 3, channels: 2), filters: 17, kernelSize: 5, padding: .same))
    }

    func testDense() throws {
        try compare(Dense(inputShape: Shape([7]), units: 4))
        try compare(Dense(inputShape: Shape([37]), units: 10), batch: 3)
        try compare(Dense(inputShape: Shape([6]), units: 35), batch: 1)
        try compare(Dense(inputShape: Shape([37]), units: 1), batch: 3)
    }

    func testMaxPool2D() throws {
        try compare(MaxPool2D(inputShape: Shape(height: 5, width: 4, channels: 3), size: 2))
        try compare(MaxPool2D(inputShape: Shape(height: 5, width: 5, channels: 19), size: 2))
        try compare(MaxPool2D(inputShape: Shape(height: 6, width: 6, channels: 2), size: 3))
        try compare(MaxPool2D(inputShape: Shape(height: 7, width: 6, channels: 16), size: 3), batch: 1)
    }

    /// Overlapping and padded windows run the general loops, not the vector kernels.
    func testMaxPool2DStrideAndPadding() throws {
        try compare(MaxPool2D(inputShape: Shape(height: 7, width: 6, channels: 3), size: 3, stride: 2, padding: .same))
        try compare(MaxPool2D(inputShape: Shape(height: 6, width: 5, channels: 16), size: 3, stride: 2, padding: .same), batch: 3)
        try compare(MaxPool2D(inputShape: Shape(height: 5, width: 4, channels: 3), size: 2, stride: 1))
    }

    func testAveragePool2D() throws {
        try compare(AveragePool2D(inputShape: Shape(height: 5, width: 4, channels: 3), size: 2))
        try compare(AveragePool2D(inputShape: Shape(height: 7, width: 6, channels: 2), size: 3, stride: 2, padding: .same))
        try compare(AveragePool2D(inputShape: Shape(height: 6, width: 6, channels: 3), size: 3, stride: 2, padding: .same), batch: 3)
        try compare(AveragePool2D(inputShape: Shape(height: 5, width: 5, channels: 3), size: 3, stride: 1, padding: .same))
    }

    func testGlobalAveragePool2D() throws {
        try compare(GlobalAveragePool2D(inputShape: Shape(height: 4, width: 3, channels: 5)), batch: 3)
        try compare(GlobalAveragePool2D(inputShape: Shape(height: 1, width: 1, channels: 7)))
    }

    /// Stride 2 `same`: an odd size pads one before and one after, an even size only after (TensorFlow's rule).
    func testConv2DStrideTwoSame() throws {
        try compare(Conv2D(inputShape: Shape(height: 7, width: 5, channels: 3), filters: 4, kernelSize: 3, stride: 2, padding: .same))
        try compare(Conv2D(inputShape: Shape(height: 6, width: 8, channels: 2), filters: 3, kernelSize: 3, stride: 2, padding: .same), batch: 3)
        try compare(Conv2D(inputShape: Shape(height: 6, width: 7, channels: 2), filters: 5, kernelSize: 4, stride: 2, padding: .same))
    }

    func testConv2DStrideTwoValid() throws {
        try compare(Conv2D(inputShape: Shape(height: 7, width: 6, channels: 3), filters: 4, kernelSize: 3, stride: 2))
        try compare(Conv2D(inputShape: Shape(height: 8, width: 8, channels: 2), filters: 16, kernelSize: 2, stride: 2), batch: 1)
    }

    /// Stride 1 without a bias runs the general loops (`StridedConvolution`), not the vector kernels.
    func testConv2DWithoutBias() throws {
        try compare(Conv2D(inputShape: Shape(height: 5, width: 6, channels: 3), filters: 4, kernelSize: 3, padding: .same, useBias: false))
        try compare(Conv2D(inputShape: Shape(height: 5, width: 5, channels: 2), filters: 16, kernelSize: 3, useBias: false), batch: 3)
    }

    /// A strided 1×1 convolution, as a residual shortcut has it: `same` pads nothing.
    func testConv2DPointwiseStrideTwo() throws {
        try compare(Conv2D(inputShape: Shape(height: 5, width: 6, channels: 4), filters: 3, kernelSize: 1, stride: 2, padding: .same))
        try compare(Conv2D(inputShape: Shape(height: 6, width: 6, channels: 3), filters: 8, kernelSize: 1, stride: 2, padding: .same, useBias: false))
    }

    func testDepthwiseConv2D() throws {
        try compare(DepthwiseConv2D(inputShape: Shape(height: 5, width: 6, channels: 3), kernelSize: 3, padding: .same))
        try compare(DepthwiseConv2D(inputShape: Shape(height: 5, width: 5, channels: 4), kernelSize: 3, padding: .same, useBias: false), batch: 3)
        try compare(DepthwiseConv2D(inputShape: Shape(height: 7, width: 6, channels: 3), kernelSize: 3, stride: 2, padding: .same))
        try compare(DepthwiseConv2D(inputShape: Shape(height: 6, width: 6, channels: 2), kernelSize: 3, stride: 2, padding: .same, useBias: false))
        try compare(DepthwiseConv2D(inputShape: Shape(height: 7, width: 6, channels: 3), kernelSize: 3, stride: 2))
        try compare(DepthwiseConv2D(inputShape: Shape(height: 6, width: 5, channels: 2), kernelSize: 3, stride: 2, useBias: false))
    }

    func testSeparableConv2D() throws {
        try compare(SeparableConv2D(inputShape: Shape(height: 5, width: 6, channels: 3), filters: 4, kernelSize: 3, padding: .same))
        try compare(SeparableConv2D(inputShape: Shape(height: 6, width: 7, channels: 3), filters: 5, kernelSize: 3, stride: 2, padding: .same))
        try compare(SeparableConv2D(inputShape: Shape(height: 7, width: 6, channels: 2), filters: 16, kernelSize: 3, stride: 2, padding: .same),
                    batch: 3)
    }

    /// Batch statistics over every axis but the channels, an image's and a vector's.
    func testBatchNormalizationTraining() throws {
        try compare(BatchNormalization(inputShape: Shape(height: 4, width: 3, channels: 5)), batch: 3, training: true)
        try compare(BatchNormalization(inputShape: Shape([6])), batch: 4, training: true)
        try compare(BatchNormalization(inputShape: Shape(height: 2, width: 2, channels: 3), epsilon: 1e-5), training: true)
    }

    /// The moving statistics, random with a positive variance.
    func testBatchNormalizationInference() throws {
        try compare(BatchNormalization(inputShape: Shape(height: 3, width: 4, channels: 5)))
        try compare(BatchNormalization(inputShape: Shape([7]), epsilon: 1e-5), batch: 3)
    }

    /// Training drops by the layer's own mask (`Dropout.keeps`), handed to torch; inference passes the input.
    func testDropout() throws {
        try compare(Dropout(inputShape: Shape(height: 4, width: 3, channels: 5), rate: 0.3), batch: 3, training: true)
        try compare(Dropout(inputShape: Shape([40]), rate: 0.3), training: true)
        try compare(Dropout(inputShape: Shape([40]), rate: 0.3))
    }

    /// Two inputs, summed as a model sums them; each one's gradient is the output's.
    func testAdd() throws {
        try compare(Add(inputShape: Shape(height: 3, width: 4, channels: 2)))
        try compare(Add(inputShape: Shape([7])), batch: 3)
    }

    func testActivations() throws {
        try compare(ReLU(inputShape: Shape([37])))
        try compare(Sigmoid(inputShape: Shape([9])))
        try compare(Softmax(inputShape: Shape([6])))
        try compare(Softmax(inputShape: Shape([10])), batch: 3)
    }

    func testFlatten() throws {
        try compare(Flatten(inputShape: Shape(height: 2, width: 3, channels: 2)))
    }

    // MARK: - The script against closed forms in Double

    /// Training: batch statistics (variance biased); each channel's output has mean beta and
    /// variance gamma²·v/(v + ε); the gradients are batch norm's closed forms.
    func testScriptBatchNormalizationTraining() throws {
        let torch = try TorchReference(for: self)
        var rng = SeededGenerator(seed: 11)
        let (batch, channels, epsilon) = (3, 3, 1e-3)
        let x = gaussians(batch * 2 * 2 * channels, &rng, scale: 2, shift: 1)
        let gamma = gaussians(channels, &rng), beta = gaussians(channels, &rng)
        let moving = gaussians(channels, &rng) + gaussians(channels, &rng).map { abs($0) + 0.5 }
        let g = gaussians(x.count, &rng)
        let result = try torch.run(.init(
            layer: ["kind": "batch_normalization", "epsilon": .double(epsilon), "training": true],
            batch: batch, inputShape: [2, 2, channels], x: x, params: gamma + beta + moving, upstream: g))

        XCTAssertEqual(result.paramGradients.count, 4 * channels)
        for c in 0..<channels {
            let rows = Array(stride(from: c, to: x.count, by: channels))
            let count = Double(rows.count)
            let mean = rows.map { x[$0] }.reduce(0, +) / count
            let variance = rows.map { (x[$0] - mean) * (x[$0] - mean) }.reduce(0, +) / count
            let scale = 1 / (variance + epsilon).squareRoot()
            XCTAssertEqual(result.batchMean?[c] ?? .nan, mean, accuracy: 1e-12)
            XCTAssertEqual(result.batchVariance?[c] ?? .nan, variance, accuracy: 1e-12)

            let y = rows.map { result.output[$0] }
            let yMean = y.reduce(0, +) / count
            XCTAssertEqual(yMean, beta[c], accuracy: 1e-12, "channel \(c) mean")
            XCTAssertEqual(y.map { ($0 - yMean) * ($0 - yMean) }.reduce(0, +) / count,
                           gamma[c] * gamma[c] * variance / (variance + epsilon), accuracy: 1e-10, "channel \(c) variance")

            // dβ = Σg, dγ = Σg·x̂, dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂)); the moving statistics get none.
            let xhat = rows.map { (x[$0] - mean) * scale }
            let gc = rows.map { g[$0] }
            let gMean = gc.reduce(0, +) / count, gxMean = zip(gc, xhat).map(*).reduce(0, +) / count
            XCTAssertEqual(result.paramGradients[c], zip(gc, xhat).map(*).reduce(0, +), accuracy: 1e-10)
            XCTAssertEqual(result.paramGradients[channels + c], gc.reduce(0, +), accuracy: 1e-10)
            XCTAssertEqual(result.paramGradients[2 * channels + c], 0)
            XCTAssertEqual(result.paramGradients[3 * channels + c], 0)
            for (i, row) in rows.enumerated() {
                XCTAssertEqual(result.output[row], gamma[c] * xhat[i] + beta[c], accuracy: 1e-12)
                XCTAssertEqual(result.inputGradient[row], gamma[c] * scale * (gc[i] - gMean - xhat[i] * gxMean), accuracy: 1e-10)
            }
        }
    }

    /// Inference: the moving statistics, a flat input and a given ε.
    func testScriptBatchNormalizationInference() throws {
        let torch = try TorchReference(for: self)
        var rng = SeededGenerator(seed: 12)
        let (batch, features, epsilon) = (4, 5, 1e-5)
        let x = gaussians(batch * features, &rng)
        let gamma = gaussians(features, &rng), beta = gaussians(features, &rng)
        let mean = gaussians(features, &rng), variance = gaussians(features, &rng).map { abs($0) + 0.1 }
        let g = gaussians(x.count, &rng)
        let result = try torch.run(.init(
            layer: ["kind": "batch_normalization", "epsilon": .double(epsilon), "training": false],
            batch: batch, inputShape: [features], x: x, params: gamma + beta + mean + variance, upstream: g))

        XCTAssertNil(result.batchMean)
        for i in x.indices {
            let c = i % features, scale = 1 / (variance[c] + epsilon).squareRoot()
            XCTAssertEqual(result.output[i], gamma[c] * (x[i] - mean[c]) * scale + beta[c], accuracy: 1e-12)
            XCTAssertEqual(result.inputGradient[i], g[i] * gamma[c] * scale, accuracy: 1e-12)
        }
        for c in 0..<features {
            let rows = Array(stride(from: c, to: x.count, by: features))
            let scale = 1 / (variance[c] + epsilon).squareRoot()
            XCTAssertEqual(result.paramGradients[c], rows.map { g[$0] * (x[$0] - mean[c]) * scale }.reduce(0, +), accuracy: 1e-12)
            XCTAssertEqual(result.paramGradients[features + c], rows.map { g[$0] }.reduce(0, +), accuracy: 1e-12)
            XCTAssertEqual(result.paramGradients[2 * features + c], 0)
            XCTAssertEqual(result.paramGradients[3 * features + c], 0)
        }
    }

    /// TensorFlow's `same` average pooling divides each window by its real (unpadded) values:
    /// pool 2 on 3×3 pads one row and column after; pool 3 stride 1 on 4×4 pads one on each side.
    func testScriptAveragePoolingSameDividesByRealCount() throws {
        let torch = try TorchReference(for: self)
        let small = try torch.run(.init(
            layer: ["kind": "average_pooling2d", "pool": 2, "padding": "same"],
            batch: 1, inputShape: [3, 3, 1], x: (1...9).map(Double.init), upstream: [1, 1, 1, 1]))
        XCTAssertEqual(small.outputShape, [2, 2, 1])
        XCTAssertEqual(small.output, [3, 4.5, 7.5, 9])  // (1 + 2 + 4 + 5) / 4, (3 + 6) / 2, (7 + 8) / 2, 9 / 1
        XCTAssertEqual(small.inputGradient, [0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.5, 0.5, 1])

        let large = try torch.run(.init(
            layer: ["kind": "average_pooling2d", "pool": 3, "stride": 1, "padding": "same"],
            batch: 1, inputShape: [4, 4, 1], x: (1...16).map(Double.init), upstream: Array(repeating: 0, count: 16)))
        XCTAssertEqual(large.outputShape, [4, 4, 1])
        XCTAssertEqual(large.output[0], 3.5, accuracy: 1e-12)  // corner, 2×2 real values: (1 + 2 + 5 + 6) / 4
        XCTAssertEqual(large.output[1], 4, accuracy: 1e-12)  // edge, 2×3: (1 + 2 + 3 + 5 + 6 + 7) / 6
        XCTAssertEqual(large.output[5], 6, accuracy: 1e-12)  // inside, 3×3: (1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11) / 9
        XCTAssertEqual(large.output[15], 13.5, accuracy: 1e-12)  // corner: (11 + 12 + 15 + 16) / 4
    }

    /// `same` max pooling with stride 2 never picks the padding; the gradient goes to each window's maximum.
    func testScriptMaxPoolingSameWithStride() throws {
        let torch = try TorchReference(for: self)
        var rng = SeededGenerator(seed: 13)
        let (h, w, c, pool, step) = (5, 4, 2, 3, 2)
        let x = gaussians(h * w * c, &rng).map { $0 - 10 }  // all negative: a padded zero would win
        let rows = windows(size: h, window: pool, stride: step, same: true)
        let columns = windows(size: w, window: pool, stride: step, same: true)
        let g = gaussians(rows.count * columns.count * c, &rng)
        let result = try torch.run(.init(
            layer: ["kind": "max_pooling2d", "pool": .int(pool), "stride": .int(step), "padding": "same"],
            batch: 1, inputShape: [h, w, c], x: x, upstream: g))

        XCTAssertEqual(result.outputShape, [3, 2, c])
        var dx = [Double](repeating: 0, count: x.count)
        for (oy, ys) in rows.enumerated() { for (ox, xs) in columns.enumerated() { for ch in 0..<c {
            let window = ys.flatMap { iy in xs.map { ix in (iy * w + ix) * c + ch } }
            let top = window.max { x[$0] < x[$1] }!
            let o = (oy * columns.count + ox) * c + ch
            XCTAssertEqual(result.output[o], x[top])
            dx[top] += g[o]
        } } }
        assertEqual(result.inputGradient, dx, within: 1e-12, "max pooling input gradient")
    }

    /// Stride 2 `same` on an even input pads only after (TensorFlow's rule); no bias, so only the kernel's gradient.
    func testScriptConv2DStrideTwoWithoutBias() throws {
        let torch = try TorchReference(for: self)
        var rng = SeededGenerator(seed: 14)
        let (h, w, c, filters, k) = (6, 5, 2, 3, 3)
        let x = gaussians(h * w * c, &rng), kernel = gaussians(k * k * c * filters, &rng)
        let rows = origins(size: h, window: k, stride: 2), columns = origins(size: w, window: k, stride: 2)
        XCTAssertEqual(rows, [0, 2, 4])  // 6 → 3: one row of padding, after
        XCTAssertEqual(columns, [-1, 1, 3])  // 5 → 3: one column on each side
        let g = gaussians(rows.count * columns.count * filters, &rng)
        let result = try torch.run(.init(
            layer: ["kind": "conv2d", "filters": .int(filters), "kernel": .int(k), "stride": 2, "padding": "same", "use_bias": false],
            batch: 1, inputShape: [h, w, c], x: x, params: kernel, upstream: g))

        XCTAssertEqual(result.outputShape, [3, 3, filters])
        XCTAssertEqual(result.paramGradients.count, kernel.count)
        var dx = [Double](repeating: 0, count: x.count), dk = [Double](repeating: 0, count: kernel.count)
        for (oy, y0) in rows.enumerated() { for (ox, x0) in columns.enumerated() { for f in 0..<filters {
            let o = (oy * columns.count + ox) * filters + f
            var sum = 0.0
            for ky in 0..<k { for kx in 0..<k { for ch in 0..<c {
                let (iy, ix) = (y0 + ky, x0 + kx)
                guard (0..<h).contains(iy), (0..<w).contains(ix) else { continue }
                let (i, j) = ((iy * w + ix) * c + ch, ((ky * k + kx) * c + ch) * filters + f)
                sum += x[i] * kernel[j]
                dx[i] += g[o] * kernel[j]
                dk[j] += g[o] * x[i]
            } } }
            XCTAssertEqual(result.output[o], sum, accuracy: 1e-12)
        } } }
        assertEqual(result.inputGradient, dx, within: 1e-12, "conv2d stride 2 input gradient")
        assertEqual(result.paramGradients, dk, within: 1e-12, "conv2d stride 2 kernel gradient")
    }

    /// Depthwise is conv2d with a block-diagonal kernel; separable is depthwise (no bias) then a 1×1 conv2d with bias.
    func testScriptDepthwiseAndSeparableMatchConv2D() throws {
        let torch = try TorchReference(for: self)
        var rng = SeededGenerator(seed: 15)
        let (batch, h, w, c, k, filters) = (2, 5, 4, 3, 3, 4)
        let x = gaussians(batch * h * w * c, &rng)
        let depthwise = gaussians(k * k * c, &rng), bias = gaussians(c, &rng)
        let g = gaussians(batch * 3 * 2 * c, &rng)  // stride 2 same: 5×4 → 3×2
        func run(_ layer: [String: TorchReference.Option], _ params: [Double], upstream: [Double], input: [Double]? = nil,
                 shape: [Int]? = nil) throws -> TorchReference.Result {
            try torch.run(.init(layer: layer, batch: batch, inputShape: shape ?? [h, w, c], x: input ?? x, params: params, upstream: upstream))
        }

        let byDepthwise = try run(["kind": "depthwise_conv2d", "kernel": .int(k), "stride": 2, "padding": "same"], depthwise + bias, upstream: g)
        let diagonal = (0..<k * k * c * c).map { j in j / c % c == j % c ? depthwise[j / c] : 0 }  // (k, k, C, C)
        let byConv = try run(["kind": "conv2d", "filters": .int(c), "kernel": .int(k), "stride": 2, "padding": "same"], diagonal + bias, upstream: g)
        assertEqual(byDepthwise.output, byConv.output, within: 1e-12, "depthwise output")
        assertEqual(byDepthwise.inputGradient, byConv.inputGradient, within: 1e-12, "depthwise input gradient")
        let diagonalGradient = (0..<k * k * c).map { byConv.paramGradients[$0 * c + $0 % c] }
        assertEqual(byDepthwise.paramGradients, diagonalGradient + byConv.paramGradients.suffix(c), within: 1e-12, "depthwise parameter gradients")

        let pointwise = gaussians(c * filters, &rng), pointwiseBias = gaussians(filters, &rng)
        let gs = gaussians(batch * 3 * 2 * filters, &rng)
        let separable = try run(["kind": "separable_conv2d", "filters": .int(filters), "kernel": .int(k), "stride": 2, "padding": "same"],
                                depthwise + pointwise + pointwiseBias, upstream: gs)
        let second = try run(["kind": "conv2d", "filters": .int(filters), "kernel": 1], pointwise + pointwiseBias, upstream: gs,
                             input: byDepthwise.output.enumerated().map { $1 - bias[$0 % c] }, shape: [3, 2, c])
        let first = try run(["kind": "depthwise_conv2d", "kernel": .int(k), "stride": 2, "padding": "same", "use_bias": false],
                            depthwise, upstream: second.inputGradient)
        assertEqual(separable.output, second.output, within: 1e-12, "separable output")
        assertEqual(separable.inputGradient, first.inputGradient, within: 1e-12, "separable input gradient")
        assertEqual(separable.paramGradients, first.paramGradients + second.paramGradients, within: 1e-12, "separable parameter gradients")
    }

    func testScriptDropoutAddAndGlobalAveragePooling() throws {
        let torch = try TorchReference(for: self)
        var rng = SeededGenerator(seed: 16)
        let x = gaussians(2 * 3 * 2 * 4, &rng), x2 = gaussians(x.count, &rng), g = gaussians(x.count, &rng)
        let mask = x.indices.map { _ in Double(rng.nextInt(below: 2)) }

        let dropout = try torch.run(.init(layer: ["kind": "dropout", "rate": 0.25], batch: 2, inputShape: [3, 2, 4],
                                          x: x, upstream: g, mask: mask))
        XCTAssertEqual(dropout.output, x.indices.map { x[$0] * mask[$0] / 0.75 })
        XCTAssertEqual(dropout.inputGradient, x.indices.map { g[$0] * mask[$0] / 0.75 })

        let add = try torch.run(.init(layer: ["kind": "add"], batch: 2, inputShape: [3, 2, 4], x: x, upstream: g, x2: x2))
        XCTAssertEqual(add.output, zip(x, x2).map(+))
        XCTAssertEqual(add.inputGradient, g)
        XCTAssertEqual(add.input2Gradient, g)

        let gap = try torch.run(.init(layer: ["kind": "global_average_pooling2d"], batch: 2, inputShape: [3, 2, 4],
                                      x: x, upstream: Array(g.prefix(8))))
        XCTAssertEqual(gap.outputShape, [4])
        for n in 0..<2 { for ch in 0..<4 {
            let pixels = (0..<6).map { (n * 6 + $0) * 4 + ch }
            XCTAssertEqual(gap.output[n * 4 + ch], pixels.map { x[$0] }.reduce(0, +) / 6, accuracy: 1e-12)
            for i in pixels { XCTAssertEqual(gap.inputGradient[i], g[n * 4 + ch] / 6, accuracy: 1e-15) }
        } }
    }

    /// A kind the script does not know: the file form exits 2 with one line on stderr naming it
    /// (for a list, naming the case too); the serving script answers it and serves the next case.
    func testScriptRejectsUnknownKind() throws {
        let torch = try TorchReference(for: self)
        let lstm = TorchReference.Case(layer: ["kind": "lstm"], batch: 1, inputShape: [2], x: [1, 2], upstream: [1, 2])
        let relu = TorchReference.Case(layer: ["kind": "relu"], batch: 1, inputShape: [2], x: [-1, 2], upstream: [1, 1])
        let single = try torch.runFile(lstm)
        XCTAssertEqual(single.status, 2)
        XCTAssertFalse(single.errors.contains("\n"), single.errors)
        XCTAssertTrue(single.errors.hasPrefix("torch-reference: unknown layer kind 'lstm'"), single.errors)
        let list = try torch.runFile([relu, lstm])
        XCTAssertEqual(list.status, 2)
        XCTAssertFalse(list.errors.contains("\n"), list.errors)
        XCTAssertTrue(list.errors.hasPrefix("torch-reference: case 1: unknown layer kind 'lstm'"), list.errors)

        XCTAssertThrowsError(try torch.run(lstm)) { error in
            XCTAssertTrue("\(error)".contains("'lstm'"), "\(error)")
        }
        XCTAssertEqual(try torch.run(relu).output, [0, 2])
    }

    /// The file form computes one case, or a list of them in order, as the serving script does.
    func testScriptFileFormTakesOneCaseOrAList() throws {
        let torch = try TorchReference(for: self)
        var rng = SeededGenerator(seed: 17)
        let dense = TorchReference.Case(layer: ["kind": "dense", "units": 3], batch: 2, inputShape: [4], x: gaussians(8, &rng),
                                        params: gaussians(15, &rng), upstream: gaussians(6, &rng))
        let pool = TorchReference.Case(layer: ["kind": "average_pooling2d", "pool": 2, "padding": "same"], batch: 1,
                                       inputShape: [3, 3, 2], x: gaussians(18, &rng), upstream: gaussians(8, &rng))
        let served = try [dense, pool].map { try torch.run($0) }

        let list = try torch.runFile([dense, pool])
        XCTAssertEqual(list.status, 0, list.errors)
        let listed = try JSONDecoder().decode([TorchReference.Result].self, from: XCTUnwrap(list.result))
        let single = try torch.runFile(pool)
        XCTAssertEqual(single.status, 0, single.errors)
        let alone = try JSONDecoder().decode(TorchReference.Result.self, from: XCTUnwrap(single.result))
        for (file, serve) in zip(listed + [alone], served + [served[1]]) {
            XCTAssertEqual(file.output, serve.output)
            XCTAssertEqual(file.inputGradient, serve.inputGradient)
            XCTAssertEqual(file.paramGradients, serve.paramGradients)
        }
        XCTAssertEqual(listed.count, 2)
    }

    // MARK: - Helpers

    /// Runs `layer` in Float32 and in torch on the same seeded inputs, weights and upstream gradient,
    /// through its training pass (batch statistics, dropout) with `training`, else its inference pass.
    private func compare(_ layer: any Layer, batch: Int = 2, training: Bool = false,
                         file: StaticString = #filePath, line: UInt = #line) throws {
        let torch = try TorchReference(for: self)
        guard let description = TorchReference.description(of: layer, training: training) else {
            return XCTFail("no torch description for \(layer.kind)", file: file, line: line)
        }
        var rng = SeededGenerator(seed: 42)
        let count = batch * layer.inputShape.count
        // Each max-pooling window's gradient goes to its maximum: distinct values leave no tie to break.
        let x = layer is MaxPool2D ? distinctValues(count, &rng) : (0..<count).map { _ in Float(rng.nextGaussian()) }
        let p = parameters(of: layer, &rng)
        let r = (0..<batch * layer.outputShape.count).map { _ in Float(rng.nextGaussian()) }
        let x2 = layer is Add ? (0..<count).map { _ in Float(rng.nextGaussian()) } : nil
        var pass = Pass(training: training, seed: 7, epoch: 3, firstPosition: 11, layer: 2)
        let mask = (layer as? Dropout).map { dropout in
            (0..<batch).flatMap { n in
                (0..<layer.inputShape.count).map { i -> Double in
                    !training || dropout.keeps(seed: pass.seed, epoch: pass.epoch, position: pass.firstPosition + n, layer: pass.layer, element: i) ? 1 : 0
                }
            }
        }
        if let mask, training {
            XCTAssert(mask.contains(0) && mask.contains(1), "dropout's mask keeps all or nothing", file: file, line: line)
        }

        var y = [Float](repeating: .nan, count: r.count)
        var dx = [Float](repeating: .nan, count: x.count)
        var dp = [Float](repeating: 0, count: max(p.count, 1))
        var cache = [Float](repeating: .nan, count: max(layer.cacheCount(batch: batch), 1))
        let parameters = p.isEmpty ? [0] : p
        cache.withUnsafeMutableBufferPointer { cache in
            pass.cache = cache.baseAddress
            layer.forward(x, &y, parameters: parameters, batch: batch, pass: pass)
            // A model sums an Add's inputs as its forward pass on the first, then `accumulate` of the others.
            if let add = layer as? Add, let x2 { add.accumulate(x2, into: &y, batch: batch) }
            layer.backward(input: x, output: y, outputGradient: r, inputGradient: &dx, parameters: parameters,
                           gradients: &dp, batch: batch, pass: pass)
        }

        let xd = x.map(Double.init), pd = p.map(Double.init)
        let result = try torch.run(.init(layer: description, batch: batch, inputShape: layer.inputShape.dimensions,
                                         x: xd, params: pd, upstream: r.map(Double.init), x2: x2?.map(Double.init), mask: mask))
        let mode = layer is BatchNormalization || layer is Dropout ? (training ? " training" : " inference") : ""
        let options = description.filter { $0.key != "kind" }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        let name = "\(layer.kind)\(mode) \(layer.inputShape) → \(layer.outputShape)" + (options.isEmpty ? "" : " (\(options.joined(separator: ", ")))")
        XCTAssertEqual(result.outputShape, layer.outputShape.dimensions, "\(name) output shape", file: file, line: line)
        let output = assertClose(y, result.output, "\(name) output", file: file, line: line)
        var inputGradient = assertClose(dx, result.inputGradient, "\(name) input gradient", file: file, line: line)
        if layer is Add {
            inputGradient = max(inputGradient, assertClose(dx, result.input2Gradient ?? [], "\(name) second input's gradient", file: file, line: line))
        }
        var expectedParameterGradients = result.paramGradients
        if training, let norm = layer as? BatchNormalization {
            // In training the layer also adds batch × its batch statistics into the moving statistics'
            // gradient slots (see `Layer.backward(…pass:)`), where torch has zeros.
            let c = norm.channels
            guard let mean = result.batchMean, let variance = result.batchVariance, mean.count == c, variance.count == c else {
                return XCTFail("\(name): torch gave no batch statistics", file: file, line: line)
            }
            for j in 0..<c {
                expectedParameterGradients[2 * c + j] = Double(batch) * mean[j]
                expectedParameterGradients[3 * c + j] = Double(batch) * variance[j]
            }
        }
        let parameterGradients = assertClose(Array(dp.prefix(p.count)), expectedParameterGradients, "\(name) parameter gradients",
                                             file: file, line: line)
        let reference = assertEqual(referenceForward(layer, xd, x2?.map(Double.init), pd, batch: batch, pass: pass), result.output,
                                    within: 1e-10, "\(name) Reference.forward", file: file, line: line)
        print("TorchReference \(name): largest |Float32 − torch| output \(output), input gradient \(inputGradient), "
            + "parameter gradients \(parameterGradients); |Reference − torch| \(reference)")
    }

    /// The Double reference of the layer's output: `Reference.forward` through `pass` (batch
    /// statistics, dropout's mask), and for `Add` the sum of its two inputs.
    private func referenceForward(_ layer: any Layer, _ x: [Double], _ x2: [Double]?, _ p: [Double], batch: Int, pass: Pass) -> [Double] {
        if layer is Add, let x2 { return Reference.add([x, x2]) }
        return Reference.forward(layer, x, p, batch: batch, pass: pass)
    }

    /// Each tensor N(0, 0.5²), but a moving variance |N(0, 1)| + 0.5: a variance is positive.
    private func parameters(of layer: any Layer, _ rng: inout SeededGenerator) -> [Float] {
        layer.parameterSpecs.flatMap { spec in
            (0..<spec.count).map { _ in
                let value = rng.nextGaussian()
                return Float(spec.name == "moving_variance" ? abs(value) + 0.5 : value * 0.5)
            }
        }
    }

    /// `count` distinct values evenly spaced in [−1, 1), in a seeded order.
    private func distinctValues(_ count: Int, _ rng: inout SeededGenerator) -> [Float] {
        var values = (0..<count).map { Float(2 * $0 - count) / Float(count) }
        values.shuffle(using: &rng)
        return values
    }

    /// Asserts |actual − expected| ≤ 1e-4 + 1e-4·|expected| everywhere; returns the largest |actual − expected|.
    @discardableResult
    private func assertClose(_ actual: [Float], _ expected: [Double], _ what: String,
                             file: StaticString = #filePath, line: UInt = #line) -> Double {
        guard actual.count == expected.count else {
            XCTFail("\(what): \(actual.count) values, torch has \(expected.count)", file: file, line: line)
            return .infinity
        }
        var largest = 0.0
        for (i, (a, b)) in zip(actual, expected).enumerated() {
            let difference = abs(Double(a) - b)
            largest = max(largest, difference)
            if !(difference <= 1e-4 + 1e-4 * abs(b)) {
                XCTFail("\(what)[\(i)]: ours \(a), torch \(b)", file: file, line: line)
            }
        }
        return largest
    }

    /// Asserts |actual − expected| ≤ tolerance everywhere; returns the largest |actual − expected|.
    @discardableResult
    private func assertEqual(_ actual: [Double], _ expected: [Double], within tolerance: Double, _ what: String,
                             file: StaticString = #filePath, line: UInt = #line) -> Double {
        guard actual.count == expected.count else {
            XCTFail("\(what): \(actual.count) values, expected \(expected.count)", file: file, line: line)
            return .infinity
        }
        var largest = 0.0
        for (i, (a, b)) in zip(actual, expected).enumerated() {
            largest = max(largest, abs(a - b))
            if !(abs(a - b) <= tolerance) { XCTFail("\(what)[\(i)]: \(a), expected \(b)", file: file, line: line) }
        }
        return largest
    }

    private func gaussians(_ count: Int, _ rng: inout SeededGenerator, scale: Double = 1, shift: Double = 0) -> [Double] {
        (0..<count).map { _ in rng.nextGaussian() * scale + shift }
    }

    /// TensorFlow's `same` padding along one axis: each window's first position (negative inside the padding).
    private func origins(size: Int, window: Int, stride: Int) -> [Int] {
        let out = (size + stride - 1) / stride
        let before = max((out - 1) * stride + window - size, 0) / 2
        return (0..<out).map { $0 * stride - before }
    }

    /// The real (unpadded) positions each window covers along one axis.
    private func windows(size: Int, window: Int, stride: Int, same: Bool) -> [[Int]] {
        let starts = same ? origins(size: size, window: window, stride: stride)
            : Array(Swift.stride(from: 0, through: size - window, by: stride))
        return starts.map { start in (start..<start + window).filter { (0..<size).contains($0) } }
    }
}
