/// A set of labelled images, pixels stored as bytes in NHWC order (sample, row, column, channel).
///
/// The bytes live in a `PixelStorage`: memory of this process, or a read-only mapping of an
/// image cache file. Sample i is the storage's slot `slots[i]` (or `firstSlot + i` without a slot
/// list), so a slice or a shuffled file order costs no copy of the pixels.
public struct ImageSet: Sendable {
    /// Rows per image.
    public let height: Int
    /// Columns per image.
    public let width: Int
    /// Values per pixel (1 for greyscale, 3 for RGB).
    public let channels: Int
    /// Number of classes; every label is below it.
    public let classCount: Int
    /// labels: (count), each below `classCount`.
    public let labels: [UInt8]
    /// Slots of `sampleSize` bytes, one per image (and maybe more that no sample uses).
    @usableFromInline let storage: PixelStorage
    /// slots: (count), the storage slot of each sample; nil when sample i is slot `firstSlot + i`.
    @usableFromInline let slots: [Int32]?
    @usableFromInline let firstSlot: Int

    /// Creates a set from its bytes; the sizes must agree and every label must be below `classCount`.
    public init(height: Int, width: Int, channels: Int, classCount: Int, pixels: [UInt8], labels: [UInt8]) {
        precondition(
            pixels.count == labels.count * height * width * channels,
            "\(pixels.count) pixel values do not make \(labels.count) images of \(height)x\(width)x\(channels)"
        )
        self.init(height: height, width: width, channels: channels, classCount: classCount,
                  storage: PixelStorage(copying: pixels), slots: nil, firstSlot: 0, labels: labels)
    }

    /// Creates a set whose sample i is slot `slots[i]` of `storage`.
    public init(height: Int, width: Int, channels: Int, classCount: Int, storage: PixelStorage, slots: [Int32], labels: [UInt8]) {
        self.init(height: height, width: width, channels: channels, classCount: classCount,
                  storage: storage, slots: slots, firstSlot: 0, labels: labels)
    }

    private init(height: Int, width: Int, channels: Int, classCount: Int, storage: PixelStorage, slots: [Int32]?, firstSlot: Int, labels: [UInt8]) {
        precondition(height > 0 && width > 0 && channels > 0, "image dimensions must be positive")
        precondition(classCount > 0 && classCount <= 256, "classCount must be in 1...256")
        precondition(labels.allSatisfy { Int($0) < classCount }, "a label is not below classCount \(classCount)")
        let size = height * width * channels
        if let slots {
            precondition(slots.count == labels.count, "\(slots.count) slots for \(labels.count) labels")
            precondition(slots.allSatisfy { $0 >= 0 && (Int($0) + 1) * size <= storage.byteCount }, "a slot lies outside the pixel storage")
        } else {
            precondition((firstSlot + labels.count) * size <= storage.byteCount, "the pixel storage is too small for \(labels.count) images")
        }
        self.height = height
        self.width = width
        self.channels = channels
        self.classCount = classCount
        self.storage = storage
        self.slots = slots
        self.firstSlot = firstSlot
        self.labels = labels
    }

    /// Number of samples.
    public var count: Int { labels.count }

    /// Values per sample: height * width * channels.
    public var sampleSize: Int { height * width * channels }

    /// Every sample's bytes in order, copied: (count, height, width, channels). For tests and small sets.
    public var pixels: [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(count * sampleSize)
        for index in 0..<count {
            bytes.append(contentsOf: UnsafeBufferPointer(start: sample(index), count: sampleSize))
        }
        return bytes
    }

    /// True when the pixels are a mapping of a cache file (read on demand, shared between processes).
    public var isMapped: Bool { storage.isMapped }

    /// The first byte of sample `index`; valid while this set lives.
    @inlinable
    func sample(_ index: Int) -> UnsafePointer<UInt8> {
        precondition(index >= 0 && index < count, "sample index \(index) is outside 0..<\(count)")
        let slot = slots.map { Int($0[index]) } ?? firstSlot + index
        return storage.base + slot * sampleSize
    }

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
        withExtendedLifetime(storage) {
            var destination = images
            var labelSlot = labels
            for index in indices {
                let source = sample(index)
                for offset in 0..<size {
                    destination[offset] = Float(source[offset]) / 255
                }
                destination += size
                labelSlot.pointee = Int32(self.labels[index])
                labelSlot += 1
            }
        }
    }

    /// The samples in `range` as a new set sharing these pixels.
    public func slice(_ range: Range<Int>) -> ImageSet {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) is outside 0..<\(count)")
        return ImageSet(
            height: height, width: width, channels: channels, classCount: classCount, storage: storage,
            slots: slots.map { Array($0[range]) }, firstSlot: firstSlot + range.lowerBound, labels: Array(labels[range])
        )
    }
}
