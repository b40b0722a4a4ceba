import Foundation

/// Reads a directory in the MNIST layout, as MNIST, Fashion-MNIST and KMNIST are downloaded.
///
/// Files: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
/// `t10k-labels-idx1-ubyte`, each raw or with `.gz`, also spelt `train-images.idx3-ubyte`.
///
/// Class rule: the class count is the largest training label + 1 (labels are assumed to be
/// 0-based class indices); a training label of `maximumClassCount` or more is rejected (EMNIST
/// ByClass, the largest of the family, has 62 classes), and so is any test label that is not
/// below the training class count.
enum IDXDirectory {
    /// The most classes an IDX label file may define.
    static let maximumClassCount = 62

    /// Reads and checks all four files of `directory`, keeping the first `trainLimit` / `testLimit` samples.
    static func load(_ directory: String, trainLimit: Int?, testLimit: Int?) throws(DatasetError) -> (
        train: ImageSet, test: ImageSet
    ) {
        let root = absolutePath(directory)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else {
            throw .missingDirectory(path: root)
        }
        guard isDirectory.boolValue else { throw .notADirectory(path: root) }

        let (trainImages, trainLabels) = try readSplit(in: root, prefix: "train")
        guard trainLabels.count > 0 else { throw .emptyTrainingSet(path: trainLabels.path) }
        let classCount = try trainingClassCount(trainLabels)

        let (testImages, testLabels) = try readSplit(in: root, prefix: "t10k")
        guard testImages.imageSize == trainImages.imageSize else {
            throw .shapeMismatch(
                trainPath: trainImages.path,
                trainSize: trainImages.imageSize,
                testPath: testImages.path,
                testSize: testImages.imageSize
            )
        }
        if let index = testLabels.values.firstIndex(where: { Int($0) >= classCount }) {
            throw .labelOutOfRange(
                path: testLabels.path, index: index, label: Int(testLabels.values[index]), classCount: classCount
            )
        }

        return (
            imageSet(trainImages, trainLabels, classCount: classCount, limit: trainLimit),
            imageSet(testImages, testLabels, classCount: classCount, limit: testLimit)
        )
    }

    /// The images and labels of one split (`train` or `t10k`), with matching counts.
    private static func readSplit(in root: String, prefix: String) throws(DatasetError) -> (IDXFile, IDXFile) {
        let images = try readFile(in: root, stem: "\(prefix)-images", kind: "idx3", role: .images)
        let labels = try readFile(in: root, stem: "\(prefix)-labels", kind: "idx1", role: .labels)
        guard images.count == labels.count else {
            throw .countMismatch(
                imagesPath: images.path, imageCount: images.count, labelsPath: labels.path, labelCount: labels.count
            )
        }
        return (images, labels)
    }

    /// Finds the first existing spelling of `stem`-`kind`-ubyte (raw, .gz, dotted, dotted .gz) and checks it.
    private static func readFile(
        in root: String,
        stem: String,
        kind: String,
        role: IDXRole
    ) throws(DatasetError) -> IDXFile {
        let names = ["\(stem)-\(kind)-ubyte", "\(stem).\(kind)-ubyte"].flatMap { [$0, $0 + ".gz"] }
        let paths = names.map { join(root, $0) }
        guard let path = paths.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw .missingFile(path: paths[0], alsoTried: Array(names.dropFirst()))
        }
        return try IDXFile(bytes: FileContents.load(path), path: path, role: role)
    }

    /// Largest label + 1, after checking it against `maximumClassCount`.
    private static func trainingClassCount(_ labels: IDXFile) throws(DatasetError) -> Int {
        if let index = labels.values.firstIndex(where: { Int($0) >= maximumClassCount }) {
            throw .tooManyClasses(
                path: labels.path, index: index, label: Int(labels.values[index]), limit: maximumClassCount
            )
        }
        return Int(labels.values.max() ?? 0) + 1
    }

    /// The first `limit` samples (all when nil) as an image set.
    private static func imageSet(_ images: IDXFile, _ labels: IDXFile, classCount: Int, limit: Int?) -> ImageSet {
        let size = images.imageSize
        let kept = min(limit ?? labels.count, labels.count)
        let sampleSize = size[0] * size[1] * size[2]
        return ImageSet(
            height: size[0],
            width: size[1],
            channels: size[2],
            classCount: classCount,
            pixels: Array(images.values.prefix(kept * sampleSize)),
            labels: Array(labels.values.prefix(kept))
        )
    }

    /// `path` made absolute against the working directory, so messages name the full path.
    private static func absolutePath(_ path: String) -> String {
        path.hasPrefix("/") ? path : join(FileManager.default.currentDirectoryPath, path)
    }

    /// `directory` and `name` joined by exactly one slash.
    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
