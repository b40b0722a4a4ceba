/// Where a run's images come from: the `--data` flag.
public enum DataSource: Equatable, Sendable, CustomStringConvertible {
    /// The built-in synthetic images: `classes` shapes (2 for `synthetic`, 10 for `synthetic10`) drawn from `seed`.
    case synthetic(classes: Int, seed: UInt64)
    /// A directory of IDX files in the MNIST layout.
    case idx(directory: String)
    /// A directory of JPEG and PNG images, one subfolder per class (see `ImageFolder`).
    case folder(directory: String)

    /// The class counts the synthetic images support (`syntheticN`).
    public static let syntheticClassCounts = 2...SyntheticImages.maximumClassCount

    /// Parses the `--data` flag: `synthetic`, `synthetic10`, `synthetic:7`, `synthetic10:7`, `idx:DIR`, `folder:DIR`.
    ///
    /// `syntheticN` for any N in `syntheticClassCounts` is accepted too; a missing seed means 0.
    /// Throws `DatasetError.badSource` naming the accepted forms.
    public init(parsing text: String) throws(DatasetError) {
        if text.hasPrefix("idx:") {
            let directory = String(text.dropFirst("idx:".count))
            guard !directory.isEmpty else { throw .badSource(text) }
            self = .idx(directory: directory)
            return
        }
        if text.hasPrefix("folder:") {
            let directory = String(text.dropFirst("folder:".count))
            guard !directory.isEmpty else { throw .badSource(text) }
            self = .folder(directory: directory)
            return
        }
        guard text.hasPrefix("synthetic") else { throw .badSource(text) }
        let rest = text.dropFirst("synthetic".count)
        let parts = rest.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let classText = parts[0]
        var classes = 2
        if !classText.isEmpty {
            guard let parsed = Self.decimal(classText).flatMap(Int.init(exactly:)),
                  Self.syntheticClassCounts.contains(parsed)
            else { throw .badSource(text) }
            classes = parsed
        }
        var seed: UInt64 = 0
        if parts.count == 2 {
            guard let parsed = Self.decimal(parts[1]) else { throw .badSource(text) }
            seed = parsed
        }
        self = .synthetic(classes: classes, seed: seed)
    }

    /// The flag text for this source; `DataSource(parsing:)` reads it back to the same value.
    public var description: String {
        switch self {
        case let .synthetic(classes, seed):
            let base = classes == 2 ? "synthetic" : "synthetic\(classes)"
            return seed == 0 ? base : "\(base):\(seed)"
        case let .idx(directory):
            return "idx:\(directory)"
        case let .folder(directory):
            return "folder:\(directory)"
        }
    }

    /// A non-empty run of ASCII digits as a number, or nil (no signs, spaces or overflow).
    private static func decimal(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return UInt64(text)
    }
}
