#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Randomness

/// What loading a `folder:DIR` dataset found and did, for the run to say.
public struct FolderReport: Sendable, Equatable {
    /// The cache file the images were read from.
    public let cachePath: String
    /// Files decoded in this run (0 when the cache was current).
    public let decoded: Int
    /// Image files in the folder, usable or not.
    public let files: Int
    /// Every unusable file, in listing order.
    public let skipped: [ImageProblem]
    /// Whether the folder has a test split.
    public let hasTestSet: Bool
    /// Classes with no usable training image.
    public let emptyClasses: [String]
    /// The libraries and versions that decoded the images, as the cache records them.
    public let decoder: String
}

/// Loads a folder of JPEG and PNG images (see `ImageFolder` for the layout) through its image cache.
///
/// The first use decodes every file once, on all cores, into a cache file (see `ImageCache`):
/// `<parent of DIR>/.backprop-cache/<name of DIR>-<hash of DIR>/<H>x<W>-<color>.images` — beside the
/// folder, not in it, so that other tools reading DIR's class folders do not take the cache for a
/// class — or, when that cannot be written, the same name under `/tmp/backprop-cache-<uid>/<hash of DIR>/`. Later loads, in this process or any other on the
/// machine, find the cache current (same decoder, size, colour and files, by path, size and time)
/// and map it read-only; a folder that changed is decoded again, except for the unchanged files,
/// whose pixels are copied from the old cache. A lock file beside the cache makes concurrent
/// loads wait for one decode.
///
/// Sample order: the training set is the usable training files in a seeded order (a permutation
/// drawn from `SeededGenerator(seed:, stream: "folder-train-order")` of the listing order), so the
/// validation split, the last fraction of it, is Keras's; the test set is in the order of
/// `stream: "folder-test-order"` with seed 0, whatever the run's seed.
enum FolderDataset {
    /// Loads `directory` at `format`; throws when the folder is unusable (missing, fewer than two
    /// classes, train and test classes differ, no usable training image) or no cache can be written.
    static func load(
        _ directory: String, format: ImageFormat, seed: UInt64, trainLimit: Int?, testLimit: Int?,
        cacheDirectory: String? = nil, progress: (@Sendable (DecodeProgress) -> Void)? = nil
    ) throws(DatasetError) -> (train: ImageSet, test: ImageSet, classNames: [String], report: FolderReport) {
        let folder = try ImageFolder.scan(directory)
        let (cache, decoded) = try cached(folder, format: format, cacheDirectory: cacheDirectory, progress: progress)
        let entries = cache.manifest.entries
        let skipped = entries.compactMap { entry in entry.problem.map { ImageProblem(path: entry.path, reason: $0) } }

        func set(_ split: ImageFolder.Split, order stream: String, seed: UInt64, limit: Int?) -> ImageSet {
            let usable = entries.indices.filter { entries[$0].split == split && entries[$0].problem == nil }
            var generator = SeededGenerator(seed: seed, stream: stream)
            let order = generator.permutation(of: usable.count).prefix(limit ?? usable.count)
            return ImageSet(
                height: format.height, width: format.width, channels: format.color.channels,
                classCount: folder.classNames.count, storage: cache.storage,
                slots: order.map { Int32(usable[$0]) }, labels: order.map { UInt8(entries[usable[$0]].label) })
        }
        let train = set(.train, order: "folder-train-order", seed: seed, limit: trainLimit)
        let test = set(.test, order: "folder-test-order", seed: 0, limit: testLimit)

        let usableTrain = entries.filter { $0.split == .train && $0.problem == nil }
        guard !usableTrain.isEmpty else {
            throw .noUsableImages(path: folder.root, skipped: skipped.count, first: skipped.first?.description)
        }
        var perClass = [Int](repeating: 0, count: folder.classNames.count)
        for entry in usableTrain { perClass[entry.label] += 1 }
        let emptyClasses = zip(folder.classNames, perClass).filter { $0.1 == 0 }.map(\.0)
        let report = FolderReport(
            cachePath: cache.path, decoded: decoded, files: entries.count, skipped: skipped,
            hasTestSet: folder.hasTestSet, emptyClasses: emptyClasses,
            decoder: cache.manifest.decoder)
        return (train, test, folder.classNames, report)
    }

    /// `<parent>/.backprop-cache/<name>-<hash>` for the folder `<parent>/<name>` (an absolute path).
    static func besideFolder(_ root: String) -> String {
        let slash = root.lastIndex(of: "/") ?? root.startIndex
        let parent = slash == root.startIndex ? "/" : String(root[..<slash])
        let name = root[slash...].drop { $0 == "/" }
        return ImageFolder.join(ImageFolder.join(parent, ".backprop-cache"), "\(name.isEmpty ? "root" : String(name))-\(hash(root))")
    }

    /// The current cache of `folder`, decoding what it lacks; the number of files decoded.
    private static func cached(
        _ folder: ImageFolder, format: ImageFormat, cacheDirectory: String?,
        progress: (@Sendable (DecodeProgress) -> Void)?
    ) throws(DatasetError) -> (ImageCache, Int) {
        let name = "\(format.height)x\(format.width)-\(format.color.rawValue).images"
        let candidates = cacheDirectory.map { [ImageFolder.absolutePath($0)] } ?? [
            besideFolder(folder.root),
            "/tmp/backprop-cache-\(getuid())/\(hash(folder.root))",
        ]
        var failure: DatasetError?
        for directory in candidates {
            guard makeDirectories(directory) else {
                failure = .cacheUnwritable(path: directory, reason: String(cString: strerror(errno)))
                continue
            }
            let path = ImageFolder.join(directory, name)
            // Only one process decodes; the others wait here and then find the cache current.
            let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard lock >= 0 else {
                failure = .cacheUnwritable(path: path + ".lock", reason: String(cString: strerror(errno)))
                continue
            }
            defer { close(lock) }
            while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
            defer { flock(lock, LOCK_UN) }
            if let current = ImageCache.openIfCurrent(path, folder: folder, format: format) { return (current, 0) }
            do {
                let built = try ImageCache.build(folder, format: format, path: path, previous: ImageCache.open(path), progress: progress)
                return (built.cache, built.decoded)
            } catch {
                failure = error
            }
        }
        throw failure ?? .cacheUnwritable(path: candidates[0], reason: "no cache directory")
    }

    /// Creates `path` and its parents (mode 0700 for new ones); false when it is not a writable directory.
    private static func makeDirectories(_ path: String) -> Bool {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { return false }
        }
        return access(path, W_OK) == 0
    }

    /// FNV-1a of the path's bytes, as 16 hex digits: a stable name for its cache directory.
    private static func hash(_ text: String) -> String {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value = value &* 0x100_0000_01b3
        }
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
