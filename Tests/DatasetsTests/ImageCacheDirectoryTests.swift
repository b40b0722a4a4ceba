import Datasets
import Foundation
import XCTest

/// Where image caches go by default, and listing and removing what is in a cache directory.
final class ImageCacheDirectoryTests: XCTestCase {
    func testStandardDirectoryIsTheVariableThenXDGThenHome() {
        let all = ["BACKPROP_CACHE_DIR": "/data/caches", "XDG_CACHE_HOME": "/xdg", "HOME": "/home/ada"]
        XCTAssertEqual(ImageCacheDirectory.standard(environment: all).path, "/data/caches")
        XCTAssertEqual(ImageCacheDirectory.standard(environment: all.merging(["BACKPROP_CACHE_DIR": ""]) { $1 }).path, "/xdg/backprop")
        XCTAssertEqual(ImageCacheDirectory.standard(environment: ["XDG_CACHE_HOME": "/xdg/", "HOME": "/home/ada"]).path, "/xdg/backprop")
        XCTAssertEqual(ImageCacheDirectory.standard(environment: ["HOME": "/home/ada"]).path, "/home/ada/.cache/backprop")
        XCTAssertEqual(ImageCacheDirectory.standard(environment: [:]).path, "/tmp/backprop-cache-\(getuid())")
        // A relative path is taken from the current directory, as a folder's path is.
        XCTAssertEqual(ImageCacheDirectory.standard(environment: ["BACKPROP_CACHE_DIR": "caches"]).path,
                       FileManager.default.currentDirectoryPath + "/caches")
    }

    func testEntriesListEachCacheWithItsFolderSizeColourAndBytes() throws {
        let directory = try makeTemporaryDirectory()
        try writeFolders(["f", "g"], in: directory)
        let cache = ImageCacheDirectory(path: directory + "/cache")
        XCTAssertEqual(cache.entries(), [], "a directory that does not exist holds no caches")
        _ = try load(directory + "/f", ImageFormat(), cache)
        _ = try load(directory + "/f", ImageFormat(height: 8, width: 6, color: .rgb), cache)
        _ = try load(directory + "/g", ImageFormat(), cache)

        let entries = cache.entries()
        XCTAssertEqual(entries.map(\.dataFolder), [directory + "/f", directory + "/f", directory + "/g"])
        XCTAssertEqual(entries.map(\.size), ["28x28", "8x6", "28x28"])
        XCTAssertEqual(entries.map(\.color), ["grayscale", "rgb", "grayscale"])
        XCTAssertEqual(entries.map(\.images), [4, 4, 4])
        for entry in entries {
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: entry.path)[.size] as? Int)
            XCTAssertEqual(entry.bytes, size)
            XCTAssertEqual(entry.lastUsed, Date().timeIntervalSince1970, accuracy: 60)
        }
        XCTAssertEqual(cache.entries(of: directory + "/g").map(\.path), [entries[2].path])
        XCTAssertEqual(cache.entries(of: directory + "/missing"), [])

        // A file that is not a cache any more is still listed, so that it can be cleared.
        try Data("not a cache".utf8).write(to: URL(fileURLWithPath: entries[2].path))
        let damaged = try XCTUnwrap(cache.entries().first { $0.path == entries[2].path })
        XCTAssertNil(damaged.dataFolder)
        XCTAssertEqual(damaged.bytes, 11)
    }

    func testALoadMarksTheCacheUsed() throws {
        let directory = try makeTemporaryDirectory()
        try writeFolders(["f"], in: directory)
        let cache = ImageCacheDirectory(path: directory + "/cache")
        _ = try load(directory + "/f", ImageFormat(), cache)
        let path = try XCTUnwrap(cache.entries().first?.path)
        let weekAgo = Date().addingTimeInterval(-7 * 86_400)
        for file in [path, path + ".lock"] {
            try FileManager.default.setAttributes([.modificationDate: weekAgo], ofItemAtPath: file)
        }
        XCTAssertEqual(try XCTUnwrap(cache.entries().first).lastUsed, weekAgo.timeIntervalSince1970, accuracy: 1)
        let again = try load(directory + "/f", ImageFormat(), cache)
        XCTAssertEqual(again.folderReport?.decoded, 0)
        XCTAssertEqual(try XCTUnwrap(cache.entries().first).lastUsed, Date().timeIntervalSince1970, accuracy: 60)
    }

    func testRemoveTakesTheFilesAndEmptiedDirectoriesButNotACacheBeingDecoded() throws {
        let directory = try makeTemporaryDirectory()
        try writeFolders(["f", "g"], in: directory)
        let cache = ImageCacheDirectory(path: directory + "/cache")
        let loaded = try load(directory + "/f", ImageFormat(), cache)
        _ = try load(directory + "/g", ImageFormat(), cache)
        _ = try load(directory + "/g", ImageFormat(height: 8, width: 8, color: .grayscale), cache)
        let g = cache.entries(of: directory + "/g")

        // A run decoding into a cache holds its lock: that cache stays.
        let lock = open(g[0].path + ".lock", O_RDWR)
        XCTAssertGreaterThanOrEqual(lock, 0)
        XCTAssertEqual(flock(lock, LOCK_EX), 0)
        let (removed, busy) = try cache.remove(g)
        close(lock)
        XCTAssertEqual(removed, [g[1]])
        XCTAssertEqual(busy, [g[0]])
        XCTAssertTrue(FileManager.default.fileExists(atPath: g[0].path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: g[1].path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: g[1].path + ".lock"))

        let rest = try cache.remove(cache.entries())
        XCTAssertEqual(rest.removed.count, 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.path), [], "each folder's emptied directory goes too")
        // A run that loaded a removed cache keeps its pixels; the next load decodes again.
        XCTAssertEqual(loaded.train.count, 4)
        XCTAssertEqual(loaded.train.pixels.count, 4 * 28 * 28)
        XCTAssertEqual(try load(directory + "/f", ImageFormat(), cache).folderReport?.decoded, 4)
    }

    func testOldCachesBesideAFolderCanBeRemoved() throws {
        let directory = try makeTemporaryDirectory()
        try writeFolders(["f"], in: directory)
        // Where Backprop wrote a folder's caches before the cache directory: <parent>/.backprop-cache/<name>-<hash>/.
        let cache = ImageCacheDirectory(path: directory + "/.backprop-cache")
        _ = try load(directory + "/f", ImageFormat(), cache)
        _ = try load(directory + "/f", ImageFormat(height: 8, width: 8, color: .rgb), cache)
        try Data().write(to: URL(fileURLWithPath: directory + "/.backprop-cache/keep-me"))
        XCTAssertEqual(ImageCacheDirectory.removeOldCaches(of: directory + "/missing"), [])
        let removed = ImageCacheDirectory.removeOldCaches(of: directory + "/f")
        XCTAssertEqual(removed.map { ($0 as NSString).lastPathComponent }.sorted(),
                       ["28x28-grayscale.images", "28x28-grayscale.images.lock", "8x8-rgb.images", "8x8-rgb.images.lock"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory + "/.backprop-cache"), ["keep-me"],
                       "only the folder's own directory goes; the shared one stays while it holds anything")
    }

    // MARK: - Helpers

    /// Two classes of two small pictures in each of `folders`.
    private func writeFolders(_ folders: [String], in directory: String) throws {
        try ImageFixtures.run("""
            for f in \(folders):
                for c in ("a", "b"):
                    for i in range(2): mkdirs(f"{f}/{c}/x"); rgb(12, 10, i).save(f"{f}/{c}/{i}.png")
            """, in: directory)
    }

    private func load(_ folder: String, _ format: ImageFormat, _ cache: ImageCacheDirectory) throws -> Dataset {
        try Dataset.load(.folder(directory: folder), images: format, imageCacheDirectory: cache.path)
    }
}
