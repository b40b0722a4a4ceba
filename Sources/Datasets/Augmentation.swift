import Randomness

/// Random changes to training images — a horizontal flip, a shift by a few pixels — drawn from
/// (seed, epoch, sample index) alone, so a sample is changed the same way in whichever process,
/// thread or microbatch computes it, and a run stays exact with any number of workers.
///
/// A shift moves the image by (dx, dy), each uniform in -maximumShift...maximumShift, and fills the
/// uncovered border with the nearest edge pixel (Keras's `fill_mode="nearest"`). The draw uses no
/// memory: the sample's generator is seeded by mixing the three numbers.
public struct Augmentation: Equatable, Sendable {
    /// Flip half the images left to right.
    public var flip: Bool
    /// Largest shift in pixels, either way, on each axis (0: none).
    public var maximumShift: Int

    /// The shift `crop` asks for.
    public static let cropShift = 2

    public init(flip: Bool = false, maximumShift: Int = 0) {
        precondition(maximumShift >= 0, "the shift must not be negative")
        self.flip = flip
        self.maximumShift = maximumShift
    }

    /// Parses `--augment`: `flip`, `crop`, `flip,crop` (in any order), or `none`; nil for anything else.
    public init?(parsing text: String) {
        self.init()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            switch part {
            case "flip": flip = true
            case "crop": maximumShift = Self.cropShift
            case "none" where text == "none": break
            default: return nil
            }
        }
    }

    /// True when no image is changed.
    public var isIdentity: Bool { !flip && maximumShift == 0 }

    /// How sample `index` of the training set is changed in `epoch` (0-based) of a run with `seed`.
    public func draw(seed: UInt64, epoch: Int, sample index: Int) -> (flip: Bool, dx: Int, dy: Int) {
        var generator = SeededGenerator(seed: Self.mix(seed, UInt64(truncatingIfNeeded: epoch), UInt64(truncatingIfNeeded: index)))
        let flipped = flip && generator.next() >> 63 == 1
        guard maximumShift > 0 else { return (flipped, 0, 0) }
        let span = 2 * maximumShift + 1
        let dx = generator.nextInt(below: span) - maximumShift
        let dy = generator.nextInt(below: span) - maximumShift
        return (flipped, dx, dy)
    }

    /// Writes `source` (height, width, channels) moved by (dx, dy) and maybe flipped, as floats in [0, 1], into `destination`.
    ///
    /// destination(y, x) = source(clamp(y - dy), clamp(x' - dx)), where x' = width - 1 - x when flipped, else x.
    @inlinable
    static func apply(
        _ change: (flip: Bool, dx: Int, dy: Int), source: UnsafePointer<UInt8>,
        height: Int, width: Int, channels: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for y in 0..<height {
            let sourceRow = min(max(y - change.dy, 0), height - 1) * width
            for x in 0..<width {
                let column = change.flip ? width - 1 - x : x
                let sourceColumn = min(max(column - change.dx, 0), width - 1)
                let from = source + (sourceRow + sourceColumn) * channels
                let to = destination + (y * width + x) * channels
                for c in 0..<channels { to[c] = Float(from[c]) / 255 }
            }
        }
    }

    /// SplitMix64's finaliser over the three numbers, one after another: a seed for one sample's draw.
    static func mix(_ seed: UInt64, _ epoch: UInt64, _ index: UInt64) -> UInt64 {
        func scramble(_ value: UInt64, _ part: UInt64) -> UInt64 {
            var z = (value ^ part) &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return scramble(scramble(seed ^ 0x6175_676D_656E_7421, epoch), index) // "augment!"
    }
}

extension ImageSet {
    /// Like `gather`, with each sample changed by `augmentation` as drawn for (seed, epoch, its index in this set).
    ///
    /// images: (indices.count, height, width, channels); labels: (indices.count).
    @inlinable
    public func gather<C: Collection>(
        _ indices: C, augmentation: Augmentation, seed: UInt64, epoch: Int,
        images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>
    ) where C.Element == Int {
        guard !augmentation.isIdentity else { return gather(indices, images: images, labels: labels) }
        let size = sampleSize
        withExtendedLifetime(storage) {
            var destination = images
            var labelSlot = labels
            for index in indices {
                let change = augmentation.draw(seed: seed, epoch: epoch, sample: index)
                Augmentation.apply(change, source: sample(index), height: height, width: width, channels: channels, into: destination)
                destination += size
                labelSlot.pointee = Int32(self.labels[index])
                labelSlot += 1
            }
        }
    }
}
