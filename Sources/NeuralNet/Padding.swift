/// How a convolution or pooling window meets the image's border, as Keras and TensorFlow define it.
///
/// - `valid`: windows lie wholly inside the image; out = ⌊(in − window) / stride⌋ + 1.
/// - `same`: out = ⌈in / stride⌉, the image padded by `total = max((out − 1)·stride + window − in, 0)`
///   rows (and columns), `total / 2` before and the rest after: for stride 2 the extra row and column
///   go at the bottom and right.
public enum Padding: String, Sendable {
    case valid, same

    /// The output length and the padding before, for an input of `length`; nil when a `valid` window does not fit.
    public func geometry(length: Int, window: Int, stride: Int) -> (output: Int, before: Int)? {
        switch self {
        case .valid:
            guard window <= length else { return nil }
            return ((length - window) / stride + 1, 0)
        case .same:
            let output = (length + stride - 1) / stride
            let total = max((output - 1) * stride + window - length, 0)
            return (output, total / 2)
        }
    }
}
