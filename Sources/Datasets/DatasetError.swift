/// Why a dataset could not be named, read or split. Every description is one line naming the file and the problem.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    /// The `--data` text is not one of the accepted forms.
    case badSource(String)
    /// The IDX directory does not exist.
    case missingDirectory(path: String)
    /// The IDX directory path names something that is not a directory.
    case notADirectory(path: String)
    /// None of the accepted names for one IDX file exists; `path` is the canonical one.
    case missingFile(path: String, alsoTried: [String])
    /// The file exists but could not be read.
    case unreadable(path: String, reason: String)
    /// The file's name ends in `.gz` but its data does not start with the gzip magic 1f 8b.
    case notGzip(path: String, found: [UInt8])
    /// The gzip data is damaged or cut short.
    case corruptGzip(path: String, reason: String)
    /// The file is too short to hold its IDX header.
    case shortHeader(path: String, byteCount: Int, needed: Int)
    /// The first two bytes are not the IDX magic 00 00.
    case badMagic(path: String, found: [UInt8])
    /// The IDX data type is not unsigned byte (0x08).
    case unsupportedDataType(path: String, code: UInt8)
    /// The number of dimensions does not fit the file's role (images: 3 or 4, labels: 1).
    case badDimensionCount(path: String, expected: String, found: Int)
    /// An image dimension (rows, columns or channels) is zero.
    case emptyImageSize(path: String, sizes: [Int])
    /// Fewer data bytes follow the header than it announces.
    case truncated(path: String, header: String, expectedBytes: Int, actualBytes: Int)
    /// More data bytes follow the header than it announces.
    case trailingBytes(path: String, header: String, expectedBytes: Int, actualBytes: Int)
    /// The image and label files of one split hold different numbers of samples.
    case countMismatch(imagesPath: String, imageCount: Int, labelsPath: String, labelCount: Int)
    /// The training labels file has no samples.
    case emptyTrainingSet(path: String)
    /// A training label would make more classes than the reader accepts.
    case tooManyClasses(path: String, index: Int, label: Int, limit: Int)
    /// A test label is not one of the classes the training labels define.
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    /// Training and test images differ in size.
    case shapeMismatch(trainPath: String, trainSize: [Int], testPath: String, testSize: [Int])
    /// The validation fraction is outside [0, 1) or leaves no training samples.
    case badValidationFraction(fraction: Double, sampleCount: Int)
    /// The image folder does not exist.
    case missingFolder(path: String)
    /// The image folder path names something that is not a directory.
    case notAFolder(path: String)
    /// The image folder has no class folders and no images named `class.N.jpg`.
    case noClasses(path: String)
    /// The image folder has a single class: nothing to tell apart.
    case oneClass(path: String, name: String)
    /// The image folder has more classes than a label byte holds.
    case tooManyFolderClasses(path: String, count: Int, limit: Int)
    /// `train/` and `test/` have different class folders.
    case classMismatch(path: String, train: [String], test: [String])
    /// No training image could be decoded.
    case noUsableImages(path: String, skipped: Int, first: String?)
    /// The image cache could not be written in its directory.
    case cacheUnwritable(path: String, reason: String)

    /// One line naming the file (or flag) and the problem.
    public var description: String {
        switch self {
        case let .badSource(text):
            return "--data \"\(text)\": unknown data source; expected synthetic, synthetic10 (or syntheticN, N = "
                + "\(DataSource.syntheticClassCounts.lowerBound)...\(DataSource.syntheticClassCounts.upperBound)), "
                + "optionally followed by :SEED (e.g. synthetic10:7), idx:DIRECTORY, or folder:DIRECTORY"
        case let .missingDirectory(path):
            return "\(path): no such directory (expected a directory of IDX files such as train-images-idx3-ubyte.gz)"
        case let .notADirectory(path):
            return "\(path): not a directory (expected a directory of IDX files such as train-images-idx3-ubyte.gz)"
        case let .missingFile(path, alsoTried):
            return "\(path): no such file (also tried \(alsoTried.joined(separator: ", ")))"
        case let .unreadable(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .notGzip(path, found):
            return "\(path): not gzip data: the file starts with \(Self.hex(found)), expected 1f 8b"
        case let .corruptGzip(path, reason):
            return "\(path): corrupt gzip data: \(reason)"
        case let .shortHeader(path, byteCount, needed):
            return "\(path): truncated IDX header: the file has \(byteCount) bytes but the header needs \(needed)"
        case let .badMagic(path, found):
            return "\(path): not an IDX file: the first two bytes are \(Self.hex(found)), expected 00 00"
        case let .unsupportedDataType(path, code):
            return "\(path): unsupported IDX data type 0x\(Self.hex([code]).uppercased()) "
                + "(only 0x08, unsigned byte, is supported)"
        case let .badDimensionCount(path, expected, found):
            return "\(path): expected \(expected), found \(found) dimension\(found == 1 ? "" : "s")"
        case let .emptyImageSize(path, sizes):
            return "\(path): images of size \(sizes.map(String.init).joined(separator: "x")) have no pixels"
        case let .truncated(path, header, expectedBytes, actualBytes):
            return "\(path): truncated: header says \(header) (\(expectedBytes) bytes) but only \(actualBytes) bytes follow"
        case let .trailingBytes(path, header, expectedBytes, actualBytes):
            return "\(path): \(actualBytes - expectedBytes) unexpected bytes after the data: header says \(header) "
                + "(\(expectedBytes) bytes) but \(actualBytes) bytes follow"
        case let .countMismatch(imagesPath, imageCount, labelsPath, labelCount):
            return "\(labelsPath): \(labelCount) labels but \(imagesPath) has \(imageCount) images"
        case let .emptyTrainingSet(path):
            return "\(path): no training samples (the header says 0 labels)"
        case let .tooManyClasses(path, index, label, limit):
            return "\(path): label \(label) at index \(index) is out of range: at most \(limit) classes "
                + "(labels 0...\(limit - 1)) are supported"
        case let .labelOutOfRange(path, index, label, classCount):
            return "\(path): label \(label) at index \(index) is out of range: the training labels define "
                + "\(classCount) classes (0...\(classCount - 1))"
        case let .shapeMismatch(trainPath, trainSize, testPath, testSize):
            return "\(testPath): images are \(testSize.map(String.init).joined(separator: "x")) but \(trainPath) "
                + "has \(trainSize.map(String.init).joined(separator: "x"))"
        case let .badValidationFraction(fraction, sampleCount):
            if fraction >= 0 && fraction < 1 {
                return "validation fraction \(fraction) of \(sampleCount) training samples leaves none to train on"
            }
            return "validation fraction \(fraction) is outside [0, 1)"
        case let .missingFolder(path):
            return "\(path): no such directory (expected a folder of images with one subfolder per class)"
        case let .notAFolder(path):
            return "\(path): not a directory (expected a folder of images with one subfolder per class)"
        case let .noClasses(path):
            return "\(path): no classes: expected one subfolder of JPEG or PNG images per class "
                + "(or train/ and test/ holding them, or files named like cat.0.jpg)"
        case let .oneClass(path, name):
            return "\(path): only one class (\(name)); a classifier needs at least two class folders"
        case let .tooManyFolderClasses(path, count, limit):
            return "\(path): \(count) class folders; at most \(limit) classes are supported"
        case let .classMismatch(path, train, test):
            let onlyTrain = train.filter { !test.contains($0) }, onlyTest = test.filter { !train.contains($0) }
            var parts: [String] = []
            if !onlyTrain.isEmpty { parts.append("only in train/: \(onlyTrain.joined(separator: ", "))") }
            if !onlyTest.isEmpty { parts.append("only in test/: \(onlyTest.joined(separator: ", "))") }
            return "\(path): train/ and test/ have different classes (\(parts.joined(separator: "; ")))"
        case let .noUsableImages(path, skipped, first):
            let reason = first.map { ", e.g. \($0)" } ?? ""
            return "\(path): no usable training images (\(skipped) file\(skipped == 1 ? "" : "s") could not be decoded\(reason))"
        case let .cacheUnwritable(path, reason):
            return "\(path): cannot write the image cache: \(reason)"
        }
    }

    /// Bytes as two-digit lowercase hex separated by spaces, e.g. "1f 8b"; "nothing" for none.
    private static func hex(_ bytes: [UInt8]) -> String {
        guard !bytes.isEmpty else { return "nothing" }
        return bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: " ")
    }
}
