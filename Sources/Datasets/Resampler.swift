/// Antialiased bilinear resizing of 8-bit images: the arithmetic of Pillow's `Image.resize(size, BILINEAR)`.
///
/// Each output pixel is a weighted mean of the input pixels under a triangle (tent) filter
/// centred on it. Shrinking by a factor s widens the triangle to s input pixels either side, so
/// every input pixel counts (antialiasing) instead of the 2x2 neighbours plain bilinear
/// interpolation samples; enlarging uses the ordinary 2x2 interpolation. Rows are resized
/// first, rounded to bytes, then columns, with Pillow's 22-bit fixed-point weights, so the
/// result matches Pillow's to the bit.
struct Resampler {
    /// Bits after the binary point of the fixed-point weights (Pillow's PRECISION_BITS).
    static let precisionBits = 22

    /// One axis's filter: output pixel o reads `counts[o]` inputs from `starts[o]`, weighted by
    /// `weights[o * stride ..< o * stride + counts[o]]` (fixed point, summing to about 1 << precisionBits).
    struct Axis {
        let starts: [Int]
        let counts: [Int]
        let weights: [Int32]
        let stride: Int

        /// The filter taking `inputSize` pixels to `outputSize`, as Pillow's precompute_coeffs computes it.
        init(inputSize: Int, outputSize: Int) {
            let scale = Double(inputSize) / Double(outputSize)
            let filterScale = max(scale, 1)
            let support = filterScale // the triangle's support, 1, widened when shrinking
            stride = Int(support.rounded(.up)) * 2 + 1
            var starts = [Int](repeating: 0, count: outputSize)
            var counts = [Int](repeating: 0, count: outputSize)
            var weights = [Int32](repeating: 0, count: outputSize * stride)
            var raw = [Double](repeating: 0, count: stride)
            for output in 0..<outputSize {
                let center = (Double(output) + 0.5) * scale
                let first = max(Int(center - support + 0.5), 0)
                let count = min(Int(center + support + 0.5), inputSize) - first
                var total = 0.0
                for k in 0..<count {
                    let w = max(0, 1 - abs((Double(k + first) - center + 0.5) / filterScale))
                    raw[k] = w
                    total += w
                }
                for k in 0..<count {
                    let normalised = total != 0 ? raw[k] / total : 0
                    let scaled = normalised * Double(1 << Resampler.precisionBits)
                    weights[output * stride + k] = Int32(scaled < 0 ? scaled - 0.5 : scaled + 0.5)
                }
                starts[output] = first
                counts[output] = count
            }
            self.starts = starts
            self.counts = counts
            self.weights = weights
        }
    }

    /// Resizes `source` (height, width, channels) to `destination` (outputHeight, outputWidth, channels).
    static func resize(
        _ source: UnsafePointer<UInt8>, height: Int, width: Int, channels: Int,
        into destination: UnsafeMutablePointer<UInt8>, outputHeight: Int, outputWidth: Int
    ) {
        if height == outputHeight && width == outputWidth {
            destination.update(from: source, count: height * width * channels)
            return
        }
        // Rows first (into `height` rows of `outputWidth`), then columns, as Pillow does.
        let wide = UnsafeMutablePointer<UInt8>.allocate(capacity: height * outputWidth * channels)
        defer { wide.deallocate() }
        if width == outputWidth {
            wide.update(from: source, count: height * width * channels)
        } else {
            let axis = Axis(inputSize: width, outputSize: outputWidth)
            for row in 0..<height {
                filter(source + row * width * channels, step: channels, axis: axis, channels: channels,
                       into: wide + row * outputWidth * channels, outputStep: channels)
            }
        }
        if height == outputHeight {
            destination.update(from: wide, count: height * outputWidth * channels)
            return
        }
        let axis = Axis(inputSize: height, outputSize: outputHeight)
        let rowBytes = outputWidth * channels
        for column in 0..<rowBytes {
            filter(wide + column, step: rowBytes, axis: axis, channels: 1, into: destination + column, outputStep: rowBytes)
        }
    }

    /// Applies `axis` along one line of pixels `step` bytes apart, each of `channels` bytes.
    private static func filter(
        _ line: UnsafePointer<UInt8>, step: Int, axis: Axis, channels: Int,
        into output: UnsafeMutablePointer<UInt8>, outputStep: Int
    ) {
        let half = Int32(1) << (precisionBits - 1)
        axis.weights.withUnsafeBufferPointer { weights in
            for o in 0..<axis.starts.count {
                let first = axis.starts[o], count = axis.counts[o]
                let w = weights.baseAddress! + o * axis.stride
                for c in 0..<channels {
                    var sum = half
                    var pixel = line + first * step + c
                    for k in 0..<count {
                        sum &+= Int32(pixel.pointee) &* w[k]
                        pixel += step
                    }
                    output[o * outputStep + c] = clip8(sum >> Int32(precisionBits))
                }
            }
        }
    }

    private static func clip8(_ value: Int32) -> UInt8 {
        UInt8(truncatingIfNeeded: min(max(value, 0), 255))
    }
}
