#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The image files of a `folder:DIR` dataset, their classes and their splits: the layout of Keras's
/// `image_dataset_from_directory` and torchvision's `ImageFolder`.
///
/// - `DIR/train/<class>/…` and, when present, `DIR/test/<class>/…` with the same class names;
/// - otherwise `DIR/<class>/…` is the training set and there is no test set;
/// - a `DIR` holding files and no folders names each file's class by the part of its name before
///   the first dot (`cat.0.jpg`, `dog.1.jpg`: Kaggle's "Dogs vs. Cats").
///
/// Class names are sorted (by their UTF-8 bytes, as Python sorts them); class k is the k-th.
/// Inside a class folder, files are found at any depth; names ending in .jpg, .jpeg or .png (any
/// case) are images, other files are ignored, and so is every name starting with a dot.
/// Entries are listed train then test, each by class then path, the order of the cache's slots.
struct ImageFolder: Equatable {
    /// The train or test part.
    enum Split: String {
        case train, test
    }

    /// One image file: where it is, what it is, and the size and time that tell whether it changed.
    struct Entry: Equatable {
        /// Relative to the root, e.g. `train/cat/0001.jpg`.
        var path: String
        var split: Split
        var label: Int
        var size: Int64
        /// Last modification, in nanoseconds since 1970.
        var modified: Int64
        /// Why it could not even be looked at (stat failed); such a file is not decoded.
        var problem: String?
    }

    /// The directory, absolute.
    let root: String
    let classNames: [String]
    /// Whether the folder has a test split (`DIR/test`).
    let hasTestSet: Bool
    let entries: [Entry]

    /// The most classes a folder may have: labels are bytes.
    static let maximumClassCount = 256

    /// The file extensions read as images.
    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Lists `directory`; throws when it is missing, has no classes, only one, or train and test classes differ.
    static func scan(_ directory: String) throws(DatasetError) -> ImageFolder {
        let root = absolutePath(directory)
        var info = stat()
        guard stat(root, &info) == 0 else { throw .missingFolder(path: root) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw .notAFolder(path: root) }

        let top = visibleNames(in: root)
        let folders = top.filter { isDirectory(join(root, $0)) }
        var splits: [(Split, String, [String: [String]])] = []
        if folders.contains("train") {
            let trainRoot = join(root, "train")
            splits.append((.train, "train", try classFolders(in: trainRoot)))
            if folders.contains("test") {
                splits.append((.test, "test", try classFolders(in: join(root, "test"))))
            }
        } else if !folders.isEmpty {
            splits.append((.train, "", try classFolders(in: root)))
        } else {
            // Kaggle's flat naming: the class is the name up to its first dot.
            var byClass: [String: [String]] = [:]
            for name in top where isImageName(name) {
                let prefix = String(name.prefix { $0 != "." })
                byClass[prefix, default: []].append(name)
            }
            splits.append((.train, "", byClass))
        }

        let trainClasses = sortedByBytes(Array(splits[0].2.keys))
        guard !trainClasses.isEmpty else { throw .noClasses(path: root) }
        guard trainClasses.count >= 2 else { throw .oneClass(path: root, name: trainClasses[0]) }
        guard trainClasses.count <= maximumClassCount else {
            throw .tooManyFolderClasses(path: root, count: trainClasses.count, limit: maximumClassCount)
        }
        if splits.count == 2 {
            let testClasses = sortedByBytes(Array(splits[1].2.keys))
            guard testClasses == trainClasses else {
                throw .classMismatch(path: root, train: trainClasses, test: testClasses)
            }
        }

        var entries: [Entry] = []
        for (split, prefix, byClass) in splits {
            for (label, name) in trainClasses.enumerated() {
                for file in sortedByBytes(byClass[name] ?? []) {
                    let relative = prefix.isEmpty ? file : prefix + "/" + file
                    entries.append(entry(root: root, path: relative, split: split, label: label))
                }
            }
        }
        return ImageFolder(root: root, classNames: trainClasses, hasTestSet: splits.count == 2, entries: entries)
    }

    /// Each class folder of `directory` with its image files (paths relative to `directory`'s parent split prefix).
    private static func classFolders(in directory: String) throws(DatasetError) -> [String: [String]] {
        var byClass: [String: [String]] = [:]
        for name in visibleNames(in: directory) where isDirectory(join(directory, name)) {
            var files: [String] = []
            collectImages(in: join(directory, name), relative: name, into: &files)
            byClass[name] = files
        }
        return byClass
    }

    /// Appends the image files under `directory` (at any depth, not following links to folders) as `relative/…`.
    private static func collectImages(in directory: String, relative: String, into files: inout [String]) {
        for (name, isFolder) in visibleEntries(in: directory) {
            if isFolder {
                collectImages(in: join(directory, name), relative: relative + "/" + name, into: &files)
            } else if isImageName(name) {
                files.append(relative + "/" + name)
            }
        }
    }

    /// The file's entry, with its size and time, or the reason it cannot be looked at.
    private static func entry(root: String, path: String, split: Split, label: Int) -> Entry {
        var info = stat()
        guard stat(join(root, path), &info) == 0 else {
            let reason = String(cString: strerror(errno))
            return Entry(path: path, split: split, label: label, size: 0, modified: 0, problem: "cannot read: \(reason)")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return Entry(path: path, split: split, label: label, size: 0, modified: 0, problem: "not a regular file")
        }
        let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        return Entry(path: path, split: split, label: label, size: Int64(info.st_size), modified: modified, problem: nil)
    }

    /// The names in `directory` that do not start with a dot (none when it cannot be listed).
    private static func visibleNames(in directory: String) -> [String] {
        visibleEntries(in: directory).map(\.name)
    }

    /// The names in `directory` that do not start with a dot, and whether each is a folder (a link to one is not).
    private static func visibleEntries(in directory: String) -> [(name: String, isFolder: Bool)] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var entries: [(name: String, isFolder: Bool)] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard !name.hasPrefix(".") else { continue }
            var isFolder = entry.pointee.d_type == UInt8(DT_DIR)
            if entry.pointee.d_type == UInt8(DT_UNKNOWN) {
                var info = stat()
                isFolder = lstat(join(directory, name), &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
            }
            entries.append((name, isFolder))
        }
        return entries
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    private static func isImageName(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: ".") else { return false }
        return imageExtensions.contains(name[name.index(after: dot)...].lowercased())
    }

    /// `names` in Python's string order: by their UTF-8 bytes.
    static func sortedByBytes(_ names: [String]) -> [String] {
        let keyed = names.map { (key: Array($0.utf8), name: $0) }
        return keyed.sorted { a, b in
            a.key.withUnsafeBufferPointer { x in b.key.withUnsafeBufferPointer { y in x.lexicographicallyPrecedes(y) } }
        }.map(\.name)
    }

    /// `path` made absolute against the working directory, without a trailing slash.
    static func absolutePath(_ path: String) -> String {
        var absolute = path.hasPrefix("/") ? path : join(FileManager.default.currentDirectoryPath, path)
        while absolute.count > 1 && absolute.hasSuffix("/") { absolute.removeLast() }
        return absolute
    }

    /// `directory` and `name` joined by exactly one slash.
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
