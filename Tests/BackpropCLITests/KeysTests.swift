import Foundation
import XCTest

final class KeysTests: XCTestCase {
    private let z85 = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

    func testGenerateWritesTheKeyDirectory() throws {
        let directory = try temporaryDirectory(self) + "/keys"
        let result = backprop(["keys", "generate", directory, "--workers", "2"])
        assertSucceeded(result)
        let names = ["server.key", "server.pub", "worker-1.key", "worker-1.pub", "worker-2.key", "worker-2.pub", "authorized_workers"]
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).sorted(), names.sorted())
        for name in names {
            XCTAssertTrue(result.stdout.contains("wrote \(directory)/\(name)"), result.stdout)
            let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.posixPermissions] as? Int)
            XCTAssertEqual(mode, name.hasSuffix(".key") ? 0o600 : 0o644, name)
        }

        var publics: [String: String] = [:]
        for stem in ["server", "worker-1", "worker-2"] {
            let secret = try fields(of: directory + "/\(stem).key")
            let pub = try fields(of: directory + "/\(stem).pub")
            XCTAssertEqual(Array(secret.keys).sorted(), ["public", "secret"], stem)
            XCTAssertEqual(Array(pub.keys), ["public"], stem)
            XCTAssertEqual(secret["public"], pub["public"], stem)
            for key in secret.values {
                XCTAssertEqual(key.count, 40, key)
                XCTAssertTrue(key.allSatisfy(z85.contains), key)
            }
            publics[stem] = pub["public"]
        }
        let authorized = try text(of: directory + "/authorized_workers").split(separator: "\n").filter { !$0.hasPrefix("#") }
        XCTAssertEqual(authorized, [publics["worker-1"]!, publics["worker-2"]!].map { Substring($0) })
    }

    func testASecondRunRefusesToOverwrite() throws {
        let directory = try temporaryDirectory(self)
        assertSucceeded(backprop(["keys", "generate", directory]))
        let before = try text(of: directory + "/server.key")
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/worker-1.key"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/worker-2.key"))

        assertOneLineError(backprop(["keys", "generate", directory, "--workers", "3"]),
                           mentions: ["\(directory)/server.key already exists", "refusing to overwrite"])
        XCTAssertEqual(try text(of: directory + "/server.key"), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/worker-2.key"))
    }

    func testBadFlagsGiveOneClearLine() throws {
        let directory = try temporaryDirectory(self)
        for workers in ["0", "-1", "1001", "two"] {
            let result = backprop(["keys", "generate", directory, "--workers", workers])
            assertUsageError(result, naming: "--workers")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), [])
        assertUsageError(backprop(["keys", "generate"]), naming: "<directory>")
        assertUsageError(backprop(["keys", "generate", directory, "--wrokers", "2"]), naming: "--wrokers")
        // A directory that cannot be created: one line naming it.
        let file = directory + "/plain-file"
        try "x".write(toFile: file, atomically: false, encoding: .utf8)
        assertOneLineError(backprop(["keys", "generate", file]), mentions: [file, "not a directory"])
    }

    /// The `public`/`secret` fields of a key file, ignoring comments.
    private func fields(of path: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for line in try text(of: path).split(separator: "\n") where !line.hasPrefix("#") {
            let words = line.split(separator: " ").map(String.init)
            XCTAssertEqual(words.count, 2, "\(path): \(line)")
            result[words[0]] = words.last
        }
        return result
    }
}
