import Randomness

/// A 2-D convolution with stride 1 and a square kernel, channels last.
///
/// Kernel layout is Keras's: `(kernelSize, kernelSize, inputChannels, filters)`, row-major,
/// so `kernel[ky][kx][ci][co]`; bias is `(filters)`. With `valid` padding the output is
/// `(H - k + 1, W - k + 1, filters)`; with `same` it is `(H, W, filters)`, padded with
/// zeros by `(k - 1) / 2` before and `k / 2` after, as TensorFlow does.
public struct Conv2D: Layer {
    public enum Padding: String, Sendable { case valid, same }

    public let kind = "conv2d"
    public let inputShape: Shape
    public let outputShape: Shape
    public let filters: Int
    public let kernelSize: Int
    public let padding: Padding

    private let height, width, channels, outHeight, outWidth, padBefore: Int

    public init(inputShape: Shape, filters: Int, kernelSize: Int, padding: Padding = .valid) throws {
        guard let (h, w, c) = inputShape.image else {
            throw ModelError.shapeMismatch("conv2d needs an image input (height, width, channels), got \(inputShape)")
        }
        guard filters > 0, kernelSize > 0 else {
            throw ModelError.shapeMismatch("conv2d needs a positive filter count and kernel size")
        }
        if padding == .valid && (kernelSize > h || kernelSize > w) {
            throw ModelError.shapeMismatch("conv2d kernel \(kernelSize)x\(kernelSize) is larger than its input \(inputShape)")
        }
        self.inputShape = inputShape
        self.filters = filters
        self.kernelSize = kernelSize
        self.padding = padding
        height = h; width = w; channels = c
        outHeight = padding == .valid ? h - kernelSize + 1 : h
        outWidth = padding == .valid ? w - kernelSize + 1 : w
        padBefore = padding == .valid ? 0 : (kernelSize - 1) / 2
        outputShape = Shape(height: outHeight, width: outWidth, channels: filters)
    }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "kernel", shape: [kernelSize, kernelSize, channels, filters]),
         ParameterSpec(name: "bias", shape: [filters])]
    }

    public func initialize(_ parameters: UnsafeMutablePointer<Float>, using generator: inout SeededGenerator) {
        let area = kernelSize * kernelSize
        let kernelCount = area * channels * filters
        glorotUniform(parameters, count: kernelCount, fanIn: area * channels, fanOut: area * filters, using: &generator)
        (parameters + kernelCount).initialize(repeating: 0, count: filters)
    }

    /// input: (N, H, W, C); output: (N, OH, OW, filters).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        let kernel = parameters
        let bias = parameters + kernelSize * kernelSize * channels * filters
        for n in 0..<batch {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    let out = output + ((n * outHeight + oy) * outWidth + ox) * filters
                    out.update(from: bias, count: filters)
                    for ky in 0..<kernelSize {
                        let iy = oy + ky - padBefore
                        if iy < 0 || iy >= height { continue }
                        for kx in 0..<kernelSize {
                            let ix = ox + kx - padBefore
                            if ix < 0 || ix >= width { continue }
                            let pixel = input + ((n * height + iy) * width + ix) * channels
                            let taps = kernel + (ky * kernelSize + kx) * channels * filters
                            for ci in 0..<channels {
                                let x = pixel[ci]
                                let row = taps + ci * filters
                                for co in 0..<filters {
                                    out[co] += x * row[co]
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>, batch: Int
    ) {
        let kernelCount = kernelSize * kernelSize * channels * filters
        let kernel = parameters
        let kernelGradient = gradients
        let biasGradient = gradients + kernelCount
        inputGradient?.initialize(repeating: 0, count: batch * inputShape.count)
        for n in 0..<batch {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    let g = outputGradient + ((n * outHeight + oy) * outWidth + ox) * filters
                    for co in 0..<filters {
                        biasGradient[co] += g[co]
                    }
                    for ky in 0..<kernelSize {
                        let iy = oy + ky - padBefore
                        if iy < 0 || iy >= height { continue }
                        for kx in 0..<kernelSize {
                            let ix = ox + kx - padBefore
                            if ix < 0 || ix >= width { continue }
                            let offset = ((n * height + iy) * width + ix) * channels
                            let pixel = input + offset
                            let tapOffset = (ky * kernelSize + kx) * channels * filters
                            for ci in 0..<channels {
                                let x = pixel[ci]
                                let rowGradient = kernelGradient + tapOffset + ci * filters
                                for co in 0..<filters {
                                    rowGradient[co] += x * g[co]
                                }
                            }
                            guard let inputGradient else { continue }
                            for ci in 0..<channels {
                                let row = kernel + tapOffset + ci * filters
                                var sum: Float = 0
                                for co in 0..<filters {
                                    sum += row[co] * g[co]
                                }
                                inputGradient[offset + ci] += sum
                            }
                        }
                    }
                }
            }
        }
    }
}
