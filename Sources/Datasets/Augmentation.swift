import Randomness

/// Random changes to training images — a horizontal flip, a shift by a few pixels, a rotation, a
/// zoom — drawn from (seed, epoch, sample index) alone, so a sample is changed the same way in
/// whichever process, thread or microbatch computes it, and a run stays exact with any number of workers.
///
/// A shift moves the image by (dx, dy), each uniform in -maximumShift...maximumShift, and fills the
/// uncovered border with the nearest edge pixel (Keras's `fill_mode="nearest"`). The draw uses no
/// memory: the sample's generator is seeded by mixing the three numbers.
///
/// Rotation and zoom follow Keras 3's `RandomRotation(maximumRotation)` and
/// `RandomZoom(maximumZoom)` (width_factor None) with their defaults, bilinear sampling and
/// `fill_mode="reflect"`; see `warp` for the map and where it differs from stacking the two layers.
/// - rotation: an angle uniform in [-maximumRotation, maximumRotation) turns, that is
///   [-2π·F, 2π·F) radians as Keras draws it; a positive angle turns the picture counter-clockwise.
/// - zoom: one factor z uniform in [1 - maximumZoom, 1 + maximumZoom) for both axes (the aspect
///   is kept). Like Keras's `height_zoom`, z scales the sampling grid about the centre: z > 1 takes
///   in more of the picture (zooms out), z < 1 less (zooms in).
public struct Augmentation: Equatable, Sendable {
    /// Flip half the images left to right.
    public var flip: Bool
    /// Largest shift in pixels, either way, on each axis (0: none).
    public var maximumShift: Int
    /// Largest rotation either way, as a fraction of a full turn: Keras's `RandomRotation` factor (0: none).
    public var maximumRotation: Double
    /// Largest zoom either way, as a fraction: Keras's `RandomZoom` height_factor (0: none).
    public var maximumZoom: Double

    /// The shift `crop` asks for.
    public static let cropShift = 2

    public init(flip: Bool = false, maximumShift: Int = 0, maximumRotation: Double = 0, maximumZoom: Double = 0) {
        precondition(maximumShift >= 0, "the shift must not be negative")
        precondition(maximumRotation >= 0 && maximumRotation <= 1, "the rotation must be in 0...1 turns")
        precondition(maximumZoom >= 0 && maximumZoom < 1, "the zoom must be in 0..<1")
        self.flip = flip
        self.maximumShift = maximumShift
        self.maximumRotation = maximumRotation
        self.maximumZoom = maximumZoom
    }

    /// Parses `--augment`: a comma list, in any order, of `flip`, `crop`, `rotate:F` (0 < F <= 1) and
    /// `zoom:F` (0 < F < 1), each at most once for rotate and zoom; or `none`. Nil for anything else.
    public init?(parsing text: String) {
        self.init()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            switch part {
            case "flip": flip = true
            case "crop": maximumShift = Self.cropShift
            case "none" where text == "none": break
            default:
                if let factor = Self.factor(part, named: "rotate"), maximumRotation == 0, factor > 0, factor <= 1 {
                    maximumRotation = factor
                } else if let factor = Self.factor(part, named: "zoom"), maximumZoom == 0, factor > 0, factor < 1 {
                    maximumZoom = factor
                } else {
                    return nil
                }
            }
        }
    }

    /// The number in `name:number`, or nil when `part` is not that.
    private static func factor(_ part: Substring, named name: String) -> Double? {
        guard part.hasPrefix(name + ":") else { return nil }
        return Double(part.dropFirst(name.count + 1))
    }

    /// True when no image is changed.
    public var isIdentity: Bool { !flip && maximumShift == 0 && !resamples }

    /// True when rotation or zoom is on, so images are resampled (`warp`) rather than moved by whole pixels (`apply`).
    public var resamples: Bool { maximumRotation > 0 || maximumZoom > 0 }

    /// How one sample is changed: drawn by `draw`, written by `apply` or `warp`.
    public struct Change: Equatable, Sendable {
        /// Mirror left to right.
        public var flip: Bool
        /// Shift in pixels, right and down, before the flip (see `apply`).
        public var dx: Int
        public var dy: Int
        /// Rotation about the centre, in full turns (angle = 2π·turns); positive is counter-clockwise.
        public var turns: Double
        /// Scale of the sampling grid about the centre: above 1 zooms out, below 1 zooms in.
        public var zoom: Double

        public init(flip: Bool = false, dx: Int = 0, dy: Int = 0, turns: Double = 0, zoom: Double = 1) {
            self.flip = flip
            self.dx = dx
            self.dy = dy
            self.turns = turns
            self.zoom = zoom
        }
    }

    /// How sample `index` of the training set is changed in `epoch` (0-based) of a run with `seed`.
    ///
    /// The draws come in a fixed order from the sample's generator, each only when its change is on:
    /// flip, dx, dy, turns, zoom. So adding rotation or zoom leaves the flips and shifts as they were.
    public func draw(seed: UInt64, epoch: Int, sample index: Int) -> Change {
        var generator = SeededGenerator(seed: Self.mix(seed, UInt64(truncatingIfNeeded: epoch), UInt64(truncatingIfNeeded: index)))
        var change = Change(flip: flip && generator.next() >> 63 == 1)
        if maximumShift > 0 {
            let span = 2 * maximumShift + 1
            change.dx = generator.nextInt(below: span) - maximumShift
            change.dy = generator.nextInt(below: span) - maximumShift
        }
        // 2u - 1 is exact, so each range is symmetric: [-F, F) and [1 - F, 1 + F).
        if maximumRotation > 0 { change.turns = maximumRotation * (2 * generator.nextUnitDouble() - 1) }
        if maximumZoom > 0 { change.zoom = 1 + maximumZoom * (2 * generator.nextUnitDouble() - 1) }
        return change
    }

    /// Writes `source` (height, width, channels) moved by (dx, dy) and maybe flipped, as floats in [0, 1], into `destination`.
    ///
    /// destination(y, x) = source(clamp(y - dy), clamp(x' - dx)), where x' = width - 1 - x when flipped, else x.
    /// Ignores `turns` and `zoom`: `warp` writes those.
    @inlinable
    static func apply(
        _ change: Change, source: UnsafePointer<UInt8>,
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
                if augmentation.resamples {
                    Augmentation.warp(change, source: sample(index), height: height, width: width, channels: channels, into: destination)
                } else {
                    Augmentation.apply(change, source: sample(index), height: height, width: width, channels: channels, into: destination)
                }
                destination += size
                labelSlot.pointee = Int32(self.labels[index])
                labelSlot += 1
            }
        }
    }
}
