import Randomness

/// The built-in synthetic image sets: 28x28 greyscale shapes, class k drawn as `Glyph.allCases[k]`.
///
/// The train split has 30,000 images and the test split 5,000. Labels are a permutation of the
/// split's indices (stream "synthetic<classes>-<split>-labels") taken mod `classes`, so every class
/// has the same share. Image i is drawn from its own stream "synthetic<classes>-<split>-<i>", so the
/// first N images are the same whatever N, and any image can be made alone.
struct SyntheticImages {
    /// Pixels per side.
    static let side = 28
    /// As many classes as there are glyphs.
    static let maximumClassCount = Glyph.allCases.count

    /// The train or test part.
    enum Split: String {
        case train, test

        /// Images in the full split.
        var count: Int {
            switch self {
            case .train: return 30_000
            case .test: return 5_000
            }
        }
    }

    /// Number of classes, 2...maximumClassCount.
    let classes: Int
    /// The seed every image and label derives from.
    let seed: UInt64

    /// Prepares the set with `classes` classes drawn from `seed`.
    init(classes: Int, seed: UInt64) {
        precondition((2...Self.maximumClassCount).contains(classes), "synthetic sets have 2...\(Self.maximumClassCount) classes")
        self.classes = classes
        self.seed = seed
    }

    /// The first `limit` images of `split` (all when nil).
    func generate(_ split: Split, limit: Int? = nil) -> ImageSet {
        let count = min(limit ?? split.count, split.count)
        let side = Self.side
        let labels = self.labels(split).prefix(count)
        var pixels = [UInt8](repeating: 0, count: count * side * side)
        pixels.withUnsafeMutableBufferPointer { buffer in
            for (index, label) in labels.enumerated() {
                var generator = SeededGenerator(seed: seed, stream: "synthetic\(classes)-\(split.rawValue)-\(index)")
                let image = UnsafeMutableBufferPointer(rebasing: buffer[index * side * side..<(index + 1) * side * side])
                SyntheticScene.draw(
                    Glyph.allCases[Int(label)], classes: classes, side: side, using: &generator, into: image
                )
            }
        }
        return ImageSet(
            height: side, width: side, channels: 1, classCount: classes, pixels: pixels, labels: Array(labels)
        )
    }

    /// Every label of `split`, balanced across classes and shuffled by the seed.
    private func labels(_ split: Split) -> [UInt8] {
        var generator = SeededGenerator(seed: seed, stream: "synthetic\(classes)-\(split.rawValue)-labels")
        return generator.permutation(of: split.count).map { UInt8($0 % classes) }
    }
}
