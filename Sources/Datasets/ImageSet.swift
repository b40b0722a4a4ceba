/// A set of labelled images, pixels stored as bytes in NHWC order (sample, row, column, channel).
public struct ImageSet: Sendable {
    /// Rows per image.
    public let height: Int
    /// Columns per image.
    public let width: Int
    /// Values per pixel (1 for greyscale).
    public let channels: Int
    /// Number of classes; every label is below it.
    public let classCount: Int
    /// pixels: (count, height, width, channels), one byte per value.
    public let pixels: [UInt8]
    /// labels: (count), each below `classCount`.
    public let labels: [UInt8]

    /// Creates a set from its bytes; the sizes must agree and every label must be below `classCount`.
    public init(height: Int, width: Int, channels: Int, classCount: Int, pixels: [UInt8], labels: [UInt8]) {
        precondition(height > 0 && width > 0 && channels > 0, "image dimensions must be positive")
        precondition(classCount > 0 && classCount <= 256, "classCount must be in 1...256")
        precondition(
            pixels.count == labels.count * height * width * channels,
            "\(pixels.count) pixel values do not make \(labels.count) images of \(height)x\(width)x\(channels)"
        )
        precondition(labels.allSatisfy { Int($0) < classCount }, "a label is not below classCount \(classCount)")
        self.height = height
        self.width = width
        self.channels = channels
        self.classCount = classCount
        self.pixels = pixels
        self.labels = labels
    }

    /// Number of samples.
    public var count: Int { labels.count }

    /// Values per sample: height * width * channels.
    public var sampleSize: Int { height * width * channels }

    /// Copies the samples at `indices` (in that order) into `images` scaled to [0, 1] (byte / 255) and their labels into `labels`.
    ///
    /// images: (indices.count, height, width, channels); labels: (indices.count).
    /// Inlinable so that callers get it specialised for their collection: unspecialised, iterating
    /// a generic collection allocates (the subscript's coroutine frames) for every index.
    @inlinable
    public func gather<C: Collection>(
        _ indices: C,
        images: UnsafeMutablePointer<Float>,
        labels: UnsafeMutablePointer<Int32>
    ) where C.Element == Int {
        let size = sampleSize
        pixels.withUnsafeBufferPointer { source in
            var destination = images
            var labelSlot = labels
            for index in indices {
                precondition(index >= 0 && index < count, "sample index \(index) is outside 0..<\(count)")
                let start = index * size
                for offset in 0..<size {
                    destination[offset] = Float(source[start + offset]) / 255
                }
                destination += size
                labelSlot.pointee = Int32(self.labels[index])
                labelSlot += 1
            }
        }
    }

    /// The samples in `range` as a new set.
    public func slice(_ range: Range<Int>) -> ImageSet {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) is outside 0..<\(count)")
        let size = sampleSize
        return ImageSet(
            height: height,
            width: width,
            channels: channels,
            classCount: classCount,
            pixels: Array(pixels[range.lowerBound * size..<range.upperBound * size]),
            labels: Array(labels[range])
        )
    }
}
