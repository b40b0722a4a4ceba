/// What an IDX file is expected to hold.
enum IDXRole {
    /// Images: 3 dimensions (count, rows, columns) or 4 (count, rows, columns, channels).
    case images
    /// Labels: 1 dimension (count).
    case labels
}

/// One IDX file of unsigned bytes whose header has been checked against its role and its length.
///
/// Layout (big-endian): 00 00, a type byte (0x08 = unsigned byte), a dimension count,
/// one UInt32 size per dimension, then exactly the product of the sizes in bytes.
struct IDXFile {
    /// The file's path, for error messages.
    let path: String
    /// The sizes from the header; the first is the sample count.
    let sizes: [Int]
    /// The data after the header: (sizes[0], sizes[1], ...).
    let values: [UInt8]

    /// The sample count (first dimension).
    var count: Int { sizes[0] }

    /// Image size per sample: rows, columns, channels (channels is 1 for a 3-dimension file).
    var imageSize: [Int] { sizes.count == 3 ? [sizes[1], sizes[2], 1] : Array(sizes.dropFirst()) }

    /// Checks `bytes`, read from `path`, as an IDX file in `role` and keeps its data.
    init(bytes: [UInt8], path: String, role: IDXRole) throws(DatasetError) {
        guard bytes.count >= 4 else { throw .shortHeader(path: path, byteCount: bytes.count, needed: 4) }
        guard bytes[0] == 0, bytes[1] == 0 else { throw .badMagic(path: path, found: Array(bytes[0..<2])) }
        guard bytes[2] == 0x08 else { throw .unsupportedDataType(path: path, code: bytes[2]) }

        let dimensionCount = Int(bytes[3])
        switch role {
        case .images where dimensionCount != 3 && dimensionCount != 4:
            throw .badDimensionCount(
                path: path,
                expected: "an image file with 3 or 4 dimensions (count, rows, columns[, channels])",
                found: dimensionCount
            )
        case .labels where dimensionCount != 1:
            throw .badDimensionCount(path: path, expected: "a label file with 1 dimension (count)", found: dimensionCount)
        default:
            break
        }

        let headerSize = 4 + 4 * dimensionCount
        guard bytes.count >= headerSize else {
            throw .shortHeader(path: path, byteCount: bytes.count, needed: headerSize)
        }
        let sizes = (0..<dimensionCount).map { dimension in
            bytes[4 + 4 * dimension..<8 + 4 * dimension].reduce(0) { $0 << 8 | Int($1) }
        }
        if role == .images, sizes.dropFirst().contains(0) {
            throw .emptyImageSize(path: path, sizes: Array(sizes.dropFirst()))
        }

        let expectedBytes = sizes.reduce(1) { product, size in
            let (result, overflow) = product.multipliedReportingOverflow(by: size)
            return overflow ? Int.max : result
        }
        let actualBytes = bytes.count - headerSize
        let header = Self.summary(sizes: sizes, role: role)
        guard actualBytes >= expectedBytes else {
            throw .truncated(path: path, header: header, expectedBytes: expectedBytes, actualBytes: actualBytes)
        }
        guard actualBytes == expectedBytes else {
            throw .trailingBytes(path: path, header: header, expectedBytes: expectedBytes, actualBytes: actualBytes)
        }

        self.path = path
        self.sizes = sizes
        self.values = Array(bytes[headerSize...])
    }

    /// The header in words: "60000 images of 28x28" or "60000 labels".
    private static func summary(sizes: [Int], role: IDXRole) -> String {
        switch role {
        case .images:
            return "\(sizes[0]) images of \(sizes.dropFirst().map(String.init).joined(separator: "x"))"
        case .labels:
            return "\(sizes[0]) labels"
        }
    }
}
