/// Max pooling over non-overlapping `size` x `size` windows (stride = size, `valid`).
///
/// The output is `(H / size, W / size, C)`, rounding down as Keras does. The backward
/// pass sends each window's gradient to the first position holding the maximum.
public struct MaxPool2D: Layer {
    public let kind = "maxpool2d"
    public let inputShape: Shape
    public let outputShape: Shape
    public let size: Int

    private let height, width, channels, outHeight, outWidth: Int

    public init(inputShape: Shape, size: Int) throws {
        guard let (h, w, c) = inputShape.image else {
            throw ModelError.shapeMismatch("maxpool needs an image input (height, width, channels), got \(inputShape)")
        }
        guard size > 0, size <= h, size <= w else {
            throw ModelError.shapeMismatch("maxpool window \(size) does not fit its input \(inputShape)")
        }
        self.inputShape = inputShape
        self.size = size
        height = h; width = w; channels = c
        outHeight = h / size
        outWidth = w / size
        outputShape = Shape(height: outHeight, width: outWidth, channels: c)
    }

    /// input: (N, H, W, C); output: (N, H/size, W/size, C).
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) {
        for n in 0..<batch {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    let out = output + ((n * outHeight + oy) * outWidth + ox) * channels
                    out.update(from: input + ((n * height + oy * size) * width + ox * size) * channels, count: channels)
                    for dy in 0..<size {
                        for dx in 0..<size where dy + dx > 0 {
                            let pixel = input + ((n * height + oy * size + dy) * width + ox * size + dx) * channels
                            for c in 0..<channels where pixel[c] > out[c] {
                                out[c] = pixel[c]
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
        guard let inputGradient else { return }
        inputGradient.initialize(repeating: 0, count: batch * inputShape.count)
        for n in 0..<batch {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    let index = ((n * outHeight + oy) * outWidth + ox) * channels
                    for c in 0..<channels {
                        var best = ((n * height + oy * size) * width + ox * size) * channels + c
                        for dy in 0..<size {
                            for dx in 0..<size {
                                let at = ((n * height + oy * size + dy) * width + ox * size + dx) * channels + c
                                if input[at] > input[best] { best = at }
                            }
                        }
                        inputGradient[best] += outputGradient[index + c]
                    }
                }
            }
        }
    }
}
