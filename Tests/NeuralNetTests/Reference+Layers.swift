import Foundation
import NeuralNet

/// Plain Double forms of the layers of graph models — convolutions with any stride and padding,
/// with or without a bias; depthwise and separable convolutions; max, average and global average
/// pooling; batch normalisation; dropout; add — written from their formulas, channels last.
///
/// The padding is TensorFlow's, worked out here again rather than read from the layer: `same`
/// gives out = ⌈in / stride⌉ and pads `total = max((out − 1)·stride + k − in, 0)`, `total / 2`
/// before (top, left) and the rest after (bottom, right); `valid` gives ⌊(in − k) / stride⌋ + 1.
extension Reference {
    /// The output length and the padding before of one axis.
    static func axis(_ padding: Padding, length: Int, window: Int, stride: Int) -> (output: Int, before: Int) {
        switch padding {
        case .valid:
            return ((length - window) / stride + 1, 0)
        case .same:
            let output = Int((Double(length) / Double(stride)).rounded(.up))
            let total = max((output - 1) * stride + window - length, 0)
            return (output, total / 2)
        }
    }

    /// The pixels (y, x) inside an h x w image that window (oy, ox) covers, in row-major order.
    static func windowPixels(
        _ oy: Int, _ ox: Int, size: Int, stride: Int, top: Int, left: Int, height: Int, width: Int
    ) -> [(ky: Int, kx: Int, y: Int, x: Int)] {
        var pixels: [(ky: Int, kx: Int, y: Int, x: Int)] = []
        for ky in 0..<size {
            for kx in 0..<size {
                let y = oy * stride + ky - top, x = ox * stride + kx - left
                if y >= 0, y < height, x >= 0, x < width { pixels.append((ky, kx, y, x)) }
            }
        }
        return pixels
    }

    /// input: (N, H, W, C); kernel (k, k, C, F) then bias (F) unless `useBias` is false.
    /// y[n, oy, ox, f] = bias[f] + Σ x[n, oy·s + ky − top, ox·s + kx − left, c] · kernel[ky, kx, c, f].
    static func conv2D(_ layer: Conv2D, _ x: [Double], _ p: [Double], batch: Int) -> [Double] {
        let (h, w, c) = layer.inputShape.image!
        let k = layer.kernelSize, s = layer.stride, f = layer.filters
        let rows = axis(layer.padding, length: h, window: k, stride: s)
        let columns = axis(layer.padding, length: w, window: k, stride: s)
        let kernelCount = k * k * c * f
        var y = [Double](repeating: 0, count: batch * rows.output * columns.output * f)
        for n in 0..<batch { for oy in 0..<rows.output { for ox in 0..<columns.output { for j in 0..<f {
            var sum = layer.useBias ? p[kernelCount + j] : 0
            for (ky, kx, iy, ix) in windowPixels(oy, ox, size: k, stride: s, top: rows.before, left: columns.before, height: h, width: w) {
                for ci in 0..<c {
                    sum += x[((n * h + iy) * w + ix) * c + ci] * p[((ky * k + kx) * c + ci) * f + j]
                }
            }
            y[((n * rows.output + oy) * columns.output + ox) * f + j] = sum
        } } } }
        return y
    }

    /// input: (N, H, W, C); kernel (k, k, C, 1) then bias (C) unless `useBias` is false.
    /// y[n, oy, ox, c] = bias[c] + Σ x[n, oy·s + ky − top, ox·s + kx − left, c] · kernel[ky, kx, c].
    static func depthwiseConv2D(
        _ x: [Double], _ p: [Double], batch: Int, input: Shape, kernelSize k: Int, stride s: Int, padding: Padding, useBias: Bool
    ) -> [Double] {
        let (h, w, c) = input.image!
        let rows = axis(padding, length: h, window: k, stride: s)
        let columns = axis(padding, length: w, window: k, stride: s)
        var y = [Double](repeating: 0, count: batch * rows.output * columns.output * c)
        for n in 0..<batch { for oy in 0..<rows.output { for ox in 0..<columns.output { for ci in 0..<c {
            var sum = useBias ? p[k * k * c + ci] : 0
            for (ky, kx, iy, ix) in windowPixels(oy, ox, size: k, stride: s, top: rows.before, left: columns.before, height: h, width: w) {
                sum += x[((n * h + iy) * w + ix) * c + ci] * p[(ky * k + kx) * c + ci]
            }
            y[((n * rows.output + oy) * columns.output + ox) * c + ci] = sum
        } } } }
        return y
    }

    /// The depthwise convolution (no bias), then y[.., f] = bias[f] + Σ_c d[.., c] · pointwise[c, f].
    /// Parameters: depthwise (k, k, C, 1), pointwise (1, 1, C, F), bias (F).
    static func separableConv2D(_ layer: SeparableConv2D, _ x: [Double], _ p: [Double], batch: Int) -> [Double] {
        let c = layer.inputShape.image!.channels, k = layer.kernelSize, f = layer.filters
        let depthwise = depthwiseConv2D(x, Array(p[0..<k * k * c]), batch: batch, input: layer.inputShape,
                                        kernelSize: k, stride: layer.stride, padding: layer.padding, useBias: false)
        let pointwise = k * k * c, bias = pointwise + c * f
        let pixels = depthwise.count / c
        var y = [Double](repeating: 0, count: pixels * f)
        for pixel in 0..<pixels { for j in 0..<f {
            var sum = p[bias + j]
            for ci in 0..<c { sum += depthwise[pixel * c + ci] * p[pointwise + ci * f + j] }
            y[pixel * f + j] = sum
        } }
        return y
    }

    /// The maximum (`average` false) or the mean (`average` true) of the real pixels each window covers.
    static func pool(
        _ x: [Double], batch: Int, input: Shape, size: Int, stride: Int, padding: Padding, average: Bool
    ) -> [Double] {
        let (h, w, c) = input.image!
        let rows = axis(padding, length: h, window: size, stride: stride)
        let columns = axis(padding, length: w, window: size, stride: stride)
        var y = [Double](repeating: 0, count: batch * rows.output * columns.output * c)
        for n in 0..<batch { for oy in 0..<rows.output { for ox in 0..<columns.output { for ci in 0..<c {
            let values = windowPixels(oy, ox, size: size, stride: stride, top: rows.before, left: columns.before, height: h, width: w)
                .map { x[((n * h + $0.y) * w + $0.x) * c + ci] }
            y[((n * rows.output + oy) * columns.output + ox) * c + ci] =
                average ? values.reduce(0, +) / Double(values.count) : values.max()!
        } } } }
        return y
    }

    /// y[n, c] = mean over (y, x) of x[n, y, x, c].
    static func globalAveragePool(_ layer: GlobalAveragePool2D, _ x: [Double], batch: Int) -> [Double] {
        let (h, w, c) = layer.inputShape.image!
        var y = [Double](repeating: 0, count: batch * c)
        for n in 0..<batch { for ci in 0..<c {
            var sum = 0.0
            for pixel in 0..<h * w { sum += x[(n * h * w + pixel) * c + ci] }
            y[n * c + ci] = sum / Double(h * w)
        } }
        return y
    }

    /// Per channel of the last axis: y = gamma · (x − mean) / √(variance + ε) + beta, with the batch's
    /// mean and biased variance over every sample and position in training, the moving ones otherwise.
    /// Parameters: gamma, beta, moving_mean, moving_variance, each (C).
    static func batchNormalization(_ layer: BatchNormalization, _ x: [Double], _ p: [Double], training: Bool) -> [Double] {
        let c = layer.channels
        let (mean, variance) = training ? batchStatistics(x, channels: c) : (Array(p[2 * c..<3 * c]), Array(p[3 * c..<4 * c]))
        let epsilon = Double(layer.epsilon)
        return x.indices.map { i in
            let j = i % c
            return p[j] * (x[i] - mean[j]) / (variance[j] + epsilon).squareRoot() + p[c + j]
        }
    }

    /// Each channel's mean and biased variance (divided by the count) over all rows of `x`.
    static func batchStatistics(_ x: [Double], channels c: Int) -> (mean: [Double], variance: [Double]) {
        let count = Double(x.count / c)
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        for i in x.indices { mean[i % c] += x[i] / count }
        for i in x.indices { variance[i % c] += (x[i] - mean[i % c]) * (x[i] - mean[i % c]) / count }
        return (mean, variance)
    }

    /// In training, y = x / (1 − rate) where `dropout.keeps` keeps the element of the sample at
    /// position `firstPosition + n`, 0 where it drops it; in inference y = x.
    static func dropout(_ layer: Dropout, _ x: [Double], batch: Int, pass: Pass) -> [Double] {
        guard pass.training else { return x }
        let count = layer.inputShape.count
        return x.indices.map { i in
            let kept = layer.keeps(seed: pass.seed, epoch: pass.epoch, position: pass.firstPosition + i / count,
                                   layer: pass.layer, element: i % count)
            return kept ? x[i] / (1 - Double(layer.rate)) : 0
        }
    }

    /// The element-wise sum of the inputs.
    static func add(_ inputs: [[Double]]) -> [Double] {
        inputs.dropFirst().reduce(inputs[0]) { zip($0, $1).map(+) }
    }
}
