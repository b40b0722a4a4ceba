import Foundation
import XCTest

/// The server's `--cache-dir` travels to its workers with the run config: a worker maps the server's cache
/// instead of decoding the folder again into its own default directory.
final class ImageCacheClusterTests: XCTestCase {
    func testWorkersUseTheServersCacheDirectory() throws {
        let root = try writeTwoClassImages(self, trainPerClass: 40)
        // Both processes' own default would be root/xdg/backprop.
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CACHE_HOME"] = root + "/xdg"
        environment["BACKPROP_CACHE_DIR"] = nil
        let run = root + "/run"
        let server = try Child(
            try XCTUnwrap(executable("backprop-server")),
            ["--port", "0", "--workers-min", "2", "--run-dir", run, "--quiet", "--data", "folder:" + root + "/images",
             "--epochs", "1", "--batch-size", "16", "--microbatch", "4", "--cache-dir", root + "/cache"],
            name: "backprop-server", environment: environment, outputPath: root + "/server.log")
        defer { server.stop() }
        let endpoint = try serverEndpoint(server, runDirectory: run)
        let workers = try (1...2).map { index in
            try Child(try XCTUnwrap(executable("backprop-worker")), ["--server", endpoint, "--server-timeout", "10"],
                      name: "backprop-worker", environment: environment, outputPath: root + "/worker-\(index).log")
        }
        defer { workers.forEach { $0.stop() } }
        XCTAssertEqual(server.wait(timeout: 120), 0, server.output)
        for worker in workers { XCTAssertEqual(worker.wait(timeout: 20), 0, worker.output) }

        let folders = try FileManager.default.contentsOfDirectory(atPath: root + "/cache")
        XCTAssertEqual(folders.count, 1, "\(folders)")
        let files = try FileManager.default.contentsOfDirectory(atPath: root + "/cache/" + folders[0]).sorted()
        XCTAssertEqual(files, ["28x28-grayscale.images", "28x28-grayscale.images.lock"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/xdg"), "a worker made a cache of its own in its default directory")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/.backprop-cache"))
    }
}
