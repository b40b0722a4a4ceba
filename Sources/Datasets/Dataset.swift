/// The train and test parts of a data source.
public struct Dataset: Sendable {
    /// The source's flag text, e.g. `synthetic10:7` or `idx:/data/mnist`.
    public let name: String
    /// The training samples (validation is carved from these by `splittingValidation`).
    public let train: ImageSet
    /// The held-out test samples (none for a folder without a test/ split).
    public let test: ImageSet
    /// The name of each class, for an image folder: its class folders, sorted.
    public let classNames: [String]?
    /// For an image folder: the cache used and the files skipped.
    public let folderReport: FolderReport?

    /// Creates a dataset from two sets of the same image size and class count.
    public init(name: String, train: ImageSet, test: ImageSet, classNames: [String]? = nil, folderReport: FolderReport? = nil) {
        precondition(
            train.height == test.height && train.width == test.width && train.channels == test.channels,
            "train and test images differ in size"
        )
        precondition(train.classCount == test.classCount, "train and test differ in class count")
        self.name = name
        self.train = train
        self.test = test
        self.classNames = classNames
        self.folderReport = folderReport
    }

    /// Loads or generates the data. `trainLimit`/`testLimit` keep only the first N samples of each (nil = all); used for short runs and tests.
    ///
    /// For IDX files the class count comes from the whole training label file, so a limit never changes it.
    /// `images` (size and colour), `seed` (the file order) and `progress` (of the first decode) apply to image folders;
    /// `imageCacheDirectory` puts a folder's image cache there instead of beside the images.
    public static func load(
        _ source: DataSource,
        trainLimit: Int? = nil,
        testLimit: Int? = nil,
        images: ImageFormat = ImageFormat(),
        seed: UInt64 = 1,
        imageCacheDirectory: String? = nil,
        progress: (@Sendable (DecodeProgress) -> Void)? = nil
    ) throws(DatasetError) -> Dataset {
        precondition((trainLimit ?? 0) >= 0 && (testLimit ?? 0) >= 0, "sample limits must not be negative")
        switch source {
        case let .synthetic(classes, seed):
            guard DataSource.syntheticClassCounts.contains(classes) else { throw .badSource(source.description) }
            let images = SyntheticImages(classes: classes, seed: seed)
            return Dataset(
                name: source.description,
                train: images.generate(.train, limit: trainLimit),
                test: images.generate(.test, limit: testLimit)
            )
        case let .idx(directory):
            let (train, test) = try IDXDirectory.load(directory, trainLimit: trainLimit, testLimit: testLimit)
            return Dataset(name: source.description, train: train, test: test)
        case let .folder(directory):
            let loaded = try FolderDataset.load(
                directory, format: images, seed: seed, trainLimit: trainLimit, testLimit: testLimit,
                cacheDirectory: imageCacheDirectory, progress: progress)
            return Dataset(name: source.description, train: loaded.train, test: loaded.test,
                           classNames: loaded.classNames, folderReport: loaded.report)
        }
    }

    /// Splits `train` Keras-style: the LAST `fraction` of the training samples (before any shuffling) become the validation set. fraction in [0, 1); 0 gives an empty validation set.
    ///
    /// As in Keras, training keeps the first `floor(count * (1 - fraction))` samples.
    /// Throws `.badValidationFraction` when `fraction` is outside [0, 1) or would leave no training samples.
    public func splittingValidation(_ fraction: Double) throws(DatasetError) -> (train: ImageSet, validation: ImageSet) {
        guard fraction >= 0, fraction < 1 else {
            throw .badValidationFraction(fraction: fraction, sampleCount: train.count)
        }
        let kept = Int((Double(train.count) * (1 - fraction)).rounded(.down))
        guard kept > 0 || train.count == 0 else {
            throw .badValidationFraction(fraction: fraction, sampleCount: train.count)
        }
        return (train.slice(0..<kept), train.slice(kept..<train.count))
    }
}
