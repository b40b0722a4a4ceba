/// The shape of one sample as it flows through a model, without the batch dimension.
///
/// Images are `[height, width, channels]` (channels last, as in Keras); vectors are `[n]`.
public struct Shape: Hashable, Sendable, CustomStringConvertible {
    public let dimensions: [Int]

    public init(_ dimensions: [Int]) {
        precondition(dimensions.allSatisfy { $0 > 0 }, "every dimension must be positive")
        self.dimensions = dimensions
    }

    public init(height: Int, width: Int, channels: Int) {
        self.init([height, width, channels])
    }

    /// Number of Float32 values in one sample.
    public var count: Int { dimensions.reduce(1, *) }

    /// `(height, width, channels)` for an image shape, nil for any other rank.
    public var image: (height: Int, width: Int, channels: Int)? {
        dimensions.count == 3 ? (dimensions[0], dimensions[1], dimensions[2]) : nil
    }

    /// Written as Keras prints it, with the batch dimension: `(None, 26, 26, 32)`.
    public var description: String {
        "(None, " + dimensions.map(String.init).joined(separator: ", ") + ")"
    }
}
