#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The directory that holds the image caches of every `folder:` dataset, and what is in it.
///
/// A folder's caches are `<path>/<name of DIR>-<hash of DIR>/<H>x<W>-<color>.images` (see `ImageCache`),
/// one file per size and colour, each beside a `.lock` file whose time is the cache's last use.
public struct ImageCacheDirectory: Sendable, Equatable {
    /// The directory, an absolute path.
    public let path: String

    /// The directory at `path`, made absolute against the current directory.
    public init(path: String) {
        self.path = ImageFolder.absolutePath(path)
    }

    /// The directory `environment` names: `BACKPROP_CACHE_DIR`, else `$XDG_CACHE_HOME/backprop`, else
    /// `$HOME/.cache/backprop`, else (no home) `/tmp/backprop-cache-<uid>`. Empty variables count as unset.
    public static func standard(environment: [String: String]) -> ImageCacheDirectory {
        func variable(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let chosen = variable("BACKPROP_CACHE_DIR") { return ImageCacheDirectory(path: chosen) }
        if let xdg = variable("XDG_CACHE_HOME") { return ImageCacheDirectory(path: ImageFolder.join(xdg, "backprop")) }
        if let home = variable("HOME") { return ImageCacheDirectory(path: ImageFolder.join(home, ".cache/backprop")) }
        return ImageCacheDirectory(path: "/tmp/backprop-cache-\(getuid())")
    }

    /// The directory this process's environment names (see `standard(environment:)`).
    public static var standard: ImageCacheDirectory { standard(environment: ProcessInfo.processInfo.environment) }

    /// Where the caches of the folder `root` (an absolute path) go: `<path>/<name>-<hash of root>`.
    func folderDirectory(for root: String) -> String {
        let name = root.split(separator: "/").last.map(String.init) ?? "root"
        return ImageFolder.join(path, "\(name)-\(Self.hash(root))")
    }

    /// Where Backprop before this directory existed put the caches of `root`: `<parent>/.backprop-cache/<name>-<hash>`.
    static func besideFolder(_ root: String) -> String {
        let slash = root.lastIndex(of: "/") ?? root.startIndex
        let parent = slash == root.startIndex ? "/" : String(root[..<slash])
        let name = root[slash...].drop { $0 == "/" }
        return ImageFolder.join(ImageFolder.join(parent, ".backprop-cache"), "\(name.isEmpty ? "root" : String(name))-\(hash(root))")
    }

    /// FNV-1a of the path's bytes, as 16 hex digits: a stable name for its cache directory.
    static func hash(_ text: String) -> String {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value = value &* 0x100_0000_01b3
        }
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    // MARK: - What is in it

    /// One cache file.
    public struct Entry: Sendable, Equatable {
        /// The cache file.
        public let path: String
        /// The data folder it holds the images of; nil when the file is damaged or of another format.
        public let dataFolder: String?
        /// `HxW` and `grayscale` or `rgb`; nil with `dataFolder`.
        public let size: String?
        public let color: String?
        /// Images it holds (nil with `dataFolder`).
        public let images: Int?
        /// Bytes on disk.
        public let bytes: Int
        /// When a run last loaded it (its lock file's time, else the file's own), in seconds since 1970.
        public let lastUsed: Double
    }

    /// Every cache file in the directory, by data folder, then size and colour; none when the directory does not exist.
    public func entries() -> [Entry] {
        let manager = FileManager.default
        guard let folders = try? manager.contentsOfDirectory(atPath: path) else { return [] }
        var found: [Entry] = []
        for folder in folders {
            let directory = ImageFolder.join(path, folder)
            guard let names = try? manager.contentsOfDirectory(atPath: directory) else { continue }
            for name in names where name.hasSuffix(".images") {
                let file = ImageFolder.join(directory, name)
                var info = stat()
                guard stat(file, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
                var lastUsed = Self.seconds(info.st_mtim)
                var lockInfo = stat()
                if stat(file + ".lock", &lockInfo) == 0 { lastUsed = max(lastUsed, Self.seconds(lockInfo.st_mtim)) }
                let manifest = ImageCache.open(file)?.manifest
                found.append(Entry(
                    path: file, dataFolder: manifest?.root, size: manifest.map { "\($0.height)x\($0.width)" },
                    color: manifest?.color, images: manifest?.entries.count, bytes: Int(info.st_size), lastUsed: lastUsed))
            }
        }
        return found.sorted { ($0.dataFolder ?? "", $0.path) < ($1.dataFolder ?? "", $1.path) }
    }

    /// The caches of the data folder `directory` (made absolute, as `folder:` does).
    public func entries(of directory: String) -> [Entry] {
        let root = ImageFolder.absolutePath(directory)
        return entries().filter { $0.dataFolder == root }
    }

    /// Removes each entry's file and lock file, and a folder's directory once it is empty. A cache that a run
    /// is decoding (its lock is held) is left alone and returned in `busy`; a run that has already loaded a
    /// removed cache keeps reading it, and the next load decodes the folder again.
    public func remove(_ entries: [Entry]) throws(DatasetError) -> (removed: [Entry], busy: [Entry]) {
        var removed: [Entry] = [], busy: [Entry] = []
        for entry in entries {
            let lock = open(entry.path + ".lock", O_RDWR | O_CLOEXEC)
            if lock >= 0 {
                defer { close(lock) }
                guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
                    busy.append(entry)
                    continue
                }
            }
            guard unlink(entry.path) == 0 || errno == ENOENT else {
                throw .cacheUnwritable(path: entry.path, reason: "cannot remove: \(String(cString: strerror(errno)))")
            }
            unlink(entry.path + ".lock")
            removed.append(entry)
            // Only an empty directory goes; a decode's temporary file or another size's cache keeps it.
            rmdir((entry.path as NSString).deletingLastPathComponent)
        }
        return (removed, busy)
    }

    /// Removes the caches an older Backprop wrote beside the data folder `directory`
    /// (`<parent>/.backprop-cache/<name>-<hash>/`: its cache, lock and temporary files, then the emptied
    /// directories); returns the files removed.
    public static func removeOldCaches(of directory: String) -> [String] {
        let old = besideFolder(ImageFolder.absolutePath(directory))
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: old) else { return [] }
        let ours = names.filter { $0.hasSuffix(".images") || $0.hasSuffix(".images.lock") || $0.contains(".images.tmp-") }
        let removed = ours.map { ImageFolder.join(old, $0) }.filter { unlink($0) == 0 }
        if rmdir(old) == 0 { rmdir((old as NSString).deletingLastPathComponent) }
        return removed
    }

    private static func seconds(_ time: timespec) -> Double {
        Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
