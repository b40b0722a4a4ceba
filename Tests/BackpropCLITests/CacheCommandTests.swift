import Foundation
import XCTest

/// Where `backprop train` puts a folder's image cache (--cache-dir, BACKPROP_CACHE_DIR, XDG_CACHE_HOME), and
/// `backprop cache list` and `clear`.
final class CacheCommandTests: XCTestCase {
    func testTheCacheGoesToTheXDGCacheUnlessTheVariableOrTheFlagSaysElsewhere() throws {
        let root = try temporaryDirectory(self)
        try writeFolders(["shapes"], in: root)
        let train = ["train", "--data", "folder:" + root + "/shapes", "--epochs", "1", "--batch-size", "8", "--quiet"]
        let xdg = ["XDG_CACHE_HOME": root + "/xdg", "BACKPROP_CACHE_DIR": ""]

        let byDefault = backprop(train + ["--run-dir", root + "/run1"], environment: xdg)
        assertSucceeded(byDefault)
        XCTAssertTrue(byDefault.stderr.contains("cache \(root)/xdg/backprop/shapes-"), byDefault.stderr)
        XCTAssertEqual(try cacheFiles(in: root + "/xdg/backprop"), ["28x28-grayscale.images"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root).sorted(), ["run1", "shapes", "xdg"],
                       "nothing is written beside the data folder")

        let variable = xdg.merging(["BACKPROP_CACHE_DIR": root + "/variable"]) { $1 }
        let byVariable = backprop(train + ["--run-dir", root + "/run2"], environment: variable)
        assertSucceeded(byVariable)
        XCTAssertTrue(byVariable.stderr.contains("cache \(root)/variable/shapes-"), byVariable.stderr)

        // The flag wins, and a relative one is taken from the current directory.
        let byFlag = backprop(train + ["--run-dir", root + "/run3", "--cache-dir", "flag"], in: root, environment: variable)
        assertSucceeded(byFlag)
        XCTAssertTrue(byFlag.stderr.contains("cache \(root)/flag/shapes-"), byFlag.stderr)
        XCTAssertEqual(try cacheFiles(in: root + "/flag"), ["28x28-grayscale.images"])

        assertUsageError(backprop(["train", "--cache-dir", root + "/flag", "--epochs", "1"]), naming: "--cache-dir")
    }

    func testListShowsEachCacheAndClearRemovesAllOneFoldersOrTheUnused() throws {
        let root = try temporaryDirectory(self)
        try writeFolders(["a", "b"], in: root)
        let environment = ["BACKPROP_CACHE_DIR": root + "/cache"]
        for (folder, flags) in [("a", []), ("a", ["--image-size", "12x10", "--color", "rgb"]), ("b", [])] {
            assertSucceeded(backprop(["train", "--data", "folder:" + root + "/" + folder, "--epochs", "1", "--batch-size", "8",
                                      "--quiet", "--run-dir", root + "/run-\(UUID().uuidString)"] + flags, environment: environment))
        }

        let listed = backprop(["cache", "list"], environment: environment)
        assertSucceeded(listed)
        let lines = nonEmptyLines(listed.stdout)
        XCTAssertEqual(lines.count, 5, listed.stdout)
        XCTAssertEqual(lines.first?.split(separator: " ", omittingEmptySubsequences: true),
                       ["DATA", "FOLDER", "SIZE", "COLOUR", "IMAGES", "BYTES", "LAST", "USE", "FILE"])
        let rows = lines.dropFirst().prefix(3).map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        XCTAssertEqual(rows.map { $0[0] }, [root + "/a", root + "/a", root + "/b"])
        XCTAssertEqual(rows.map { $0[1] }, ["12x10", "28x28", "28x28"])
        XCTAssertEqual(rows.map { $0[2] }, ["rgb", "grayscale", "grayscale"])
        XCTAssertEqual(rows.map { $0[3] }, ["20", "20", "20"])
        XCTAssertTrue(rows.allSatisfy { $0[6].count == 10 && $0[7].count == 5 && $0[8].hasPrefix(root + "/cache/") }, "\(rows)")
        // A 4096-byte header, the images' bytes and the manifest: about 20 KB for 20 images of 28x28.
        for row in rows {
            let bytes = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: row[8])[.size] as? Int)
            XCTAssertEqual(row[4...5], [String(format: "%.1f", Double(bytes) / 1000), "KB"])
        }
        let size28 = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: rows[1][8])[.size] as? Int)
        XCTAssertTrue((4096 + 20 * 28 * 28..<4096 + 20 * 28 * 28 + 2000).contains(size28), "\(size28)")
        XCTAssertTrue(lines[4].hasPrefix("3 cache files, ") && lines[4].hasSuffix(" in \(root)/cache"), lines[4])
        // --cache-dir names another directory.
        XCTAssertEqual(backprop(["cache", "list", "--cache-dir", root + "/none"], environment: environment).stdout,
                       "no image caches in \(root)/none\n")

        // b's cache was last used three days ago: --older-than 2 takes it alone.
        let b = rows[2][8]
        let threeDaysAgo = Date().addingTimeInterval(-3 * 86_400)
        for file in [b, b + ".lock"] { try FileManager.default.setAttributes([.modificationDate: threeDaysAgo], ofItemAtPath: file) }
        let aged = backprop(["cache", "clear", "--older-than", "2"], environment: environment)
        assertSucceeded(aged)
        XCTAssertTrue(aged.stdout.hasPrefix("removed 1 cache file ("), aged.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: b))
        XCTAssertEqual(nonEmptyLines(backprop(["cache", "list"], environment: environment).stdout).count, 4)

        // One folder's caches only, then everything.
        assertSucceeded(backprop(["train", "--data", "folder:" + root + "/b", "--epochs", "1", "--batch-size", "8", "--quiet",
                                  "--run-dir", root + "/run-b"], environment: environment))
        let cleared = backprop(["cache", "clear", root + "/a"], environment: environment)
        assertSucceeded(cleared)
        XCTAssertTrue(cleared.stdout.hasPrefix("removed 2 cache files of \(root)/a ("), cleared.stdout)
        let left = nonEmptyLines(backprop(["cache", "list"], environment: environment).stdout)
        XCTAssertEqual(left.count, 3, "\(left)")
        XCTAssertTrue(left[1].hasPrefix(root + "/b "), "\(left)")
        let all = backprop(["cache", "clear"], environment: environment)
        assertSucceeded(all)
        XCTAssertTrue(all.stdout.hasPrefix("removed 1 cache file ("), all.stdout)
        XCTAssertEqual(backprop(["cache", "list"], environment: environment).stdout, "no image caches in \(root)/cache\n")

        assertUsageError(backprop(["cache", "clear", "--older-than", "-1"], environment: environment), naming: "--older-than")
    }

    // MARK: - Helpers

    /// Each of `folders` in `root`: two classes of ten small pictures written by Pillow.
    private func writeFolders(_ folders: [String], in root: String) throws {
        let script = """
            import os
            from PIL import Image
            for f in \(folders):
                for c, v in (("dark", 40), ("light", 210)):
                    os.makedirs(f"{f}/{c}", exist_ok=True)
                    for i in range(10): Image.new("RGB", (14, 12), (v + i, v, v - i)).save(f"{f}/{c}/{i}.png")
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "python3 with Pillow could not write the images (scripts/setup --tests installs Pillow)")
    }

    /// The names of the cache files under `directory` (in its one folder directory).
    private func cacheFiles(in directory: String) throws -> [String] {
        let folders = try FileManager.default.contentsOfDirectory(atPath: directory)
        XCTAssertEqual(folders.count, 1, "\(folders)")
        return try FileManager.default.contentsOfDirectory(atPath: directory + "/" + folders[0]).filter { $0.hasSuffix(".images") }.sorted()
    }
}
