import Foundation
import Messaging
import XCTest

final class CurveKeysTests: XCTestCase {
    // MARK: - Key pairs and Z85

    func testGeneratedKeysAreZ85AndThePublicKeyFollowsFromTheSecret() throws {
        let pair = try CurveKeyPair.generate()
        for key in [pair.publicKey, pair.secretKey] {
            XCTAssertEqual(key.utf8.count, 40, key)
            XCTAssertTrue(key.utf8.allSatisfy(Z85.alphabet.contains), key)
            XCTAssertTrue(Z85.isKey(key), key)
            XCTAssertEqual(try Z85.decodeKey(key).count, 32)
        }
        XCTAssertNotEqual(pair.publicKey, pair.secretKey)
        XCTAssertEqual(try CurveKeyPair.publicKey(fromSecret: pair.secretKey), pair.publicKey)
        XCTAssertEqual(try CurveKeyPair(publicKey: pair.publicKey, secretKey: pair.secretKey), pair)
        XCTAssertNotEqual(try CurveKeyPair.generate(), pair)
    }

    func testZ85RoundTripsThroughLibzmq() throws {
        // RFC 32's test vector.
        let bytes: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        XCTAssertEqual(try Z85.encode(bytes), "HelloWorld")
        let pair = try CurveKeyPair.generate()
        XCTAssertEqual(try Z85.encode(Z85.decodeKey(pair.publicKey)), pair.publicKey)
        XCTAssertThrowsError(try Z85.encode([1, 2, 3]))
    }

    func testMalformedKeysAreRefusedWithTheReason() throws {
        let good = try CurveKeyPair.generate()
        let cases: [(String, String)] = [
            ("", "0 characters, expected 40"),
            (String(good.publicKey.dropLast()), "39 characters, expected 40"),
            (good.publicKey + "0", "41 characters, expected 40"),
            (String(good.publicKey.dropLast()) + " ", "character \" \" at position 40 is not in the Z85 alphabet"),
            ("\"" + good.publicKey.dropFirst(), "character \"\\\"\" at position 1"),
            ("#####" + good.publicKey.dropFirst(5), "characters 1-5 do not encode 4 bytes"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try Z85.validateKey(text, role: "server public key"), text) { error in
                let description = "\(error)"
                XCTAssertTrue(description.hasPrefix("invalid CURVE server public key: "), description)
                XCTAssertTrue(description.contains(reason), "\(description) lacks \(reason)")
            }
            XCTAssertFalse(Z85.isKey(text))
        }
        XCTAssertThrowsError(try CurveKeyPair.publicKey(fromSecret: "short"))
    }

    func testAKeyPairMustMatch() throws {
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        XCTAssertThrowsError(try CurveKeyPair(publicKey: a.publicKey, secretKey: b.secretKey)) { error in
            XCTAssertEqual(error as? CurveError, .keyMismatch)
        }
    }

    // MARK: - Key directories

    func testGenerateWritesEveryFileWithTheRightModeAndTheLoadersReadThemBack() throws {
        let directory = try scratchDirectory().appending("/keys")
        let written = try CurveKeys.generate(directory: directory, workers: 2)
        let names = ["server.key", "server.pub", "worker-1.key", "worker-1.pub", "worker-2.key", "worker-2.pub", "authorized_workers"]
        XCTAssertEqual(written, names.map { directory + "/" + $0 })
        XCTAssertEqual(try mode(directory), 0o700)
        for name in names {
            XCTAssertEqual(try mode(directory + "/" + name), name.hasSuffix(".key") ? 0o600 : 0o644, name)
        }

        let server = try CurveKeys.loadServer(directory: directory)
        let worker1 = try CurveKeys.loadClient(keyFile: directory + "/worker-1.key", serverPublicFile: directory + "/server.pub")
        let worker2 = try CurveKeys.loadClient(keyFile: directory + "/worker-2.key", serverPublicFile: directory + "/server.pub")
        XCTAssertEqual(worker1.serverPublicKey, server.keyPair.publicKey)
        XCTAssertEqual(server.authorizedWorkers, [worker1.keyPair.publicKey, worker2.keyPair.publicKey])
        XCTAssertEqual(try CurveKeys.readPublicKey(path: directory + "/worker-2.pub"), worker2.keyPair.publicKey)
        XCTAssertNotEqual(worker1.keyPair, worker2.keyPair)

        let keyFile = try String(contentsOfFile: directory + "/worker-1.key", encoding: .utf8)
        let fields = keyFile.split(separator: "\n").filter { !$0.hasPrefix("#") }
        XCTAssertEqual(fields, ["public \(worker1.keyPair.publicKey)", "secret \(worker1.keyPair.secretKey)"])
    }

    func testGenerateRefusesToOverwriteAndWritesNothing() throws {
        let directory = try scratchDirectory()
        _ = try CurveKeys.generate(directory: directory, workers: 1)
        let before = try String(contentsOfFile: directory + "/server.key", encoding: .utf8)
        XCTAssertThrowsError(try CurveKeys.generate(directory: directory, workers: 3)) { error in
            XCTAssertEqual(error as? CurveError, .alreadyExists(path: directory + "/server.key"))
            XCTAssertTrue("\(error)".contains("refusing to overwrite"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: directory + "/server.key", encoding: .utf8), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/worker-2.key"))

        // Any one existing file is enough to refuse, and nothing else is written.
        let other = try scratchDirectory()
        try "mine\n".write(toFile: other + "/authorized_workers", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try CurveKeys.generate(directory: other, workers: 1)) { error in
            XCTAssertEqual(error as? CurveError, .alreadyExists(path: other + "/authorized_workers"))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: other), ["authorized_workers"])
    }

    // MARK: - Loaders refuse bad files

    func testMissingFilesAreNamed() throws {
        let directory = try scratchDirectory()
        XCTAssertThrowsError(try CurveKeys.loadServer(directory: directory)) { error in
            XCTAssertEqual(error as? CurveError, .missingFile(path: directory + "/server.key"))
            XCTAssertEqual("\(error)", "\(directory)/server.key: no such key file")
        }
        _ = try CurveKeys.generate(directory: directory, workers: 1)
        try FileManager.default.removeItem(atPath: directory + "/authorized_workers")
        XCTAssertThrowsError(try CurveKeys.loadServer(directory: directory)) { error in
            XCTAssertEqual(error as? CurveError, .missingFile(path: directory + "/authorized_workers"))
        }
        XCTAssertThrowsError(try CurveKeys.loadClient(keyFile: directory + "/worker-1.key", serverPublicFile: directory + "/nope.pub")) { error in
            XCTAssertEqual(error as? CurveError, .missingFile(path: directory + "/nope.pub"))
        }
        XCTAssertThrowsError(try CurveKeys.readKeyPair(path: directory)) { error in
            XCTAssertEqual(error as? CurveError, .unreadable(path: directory, reason: "not a regular file"))
        }
    }

    func testASecretKeyReadableByGroupOrOthersIsRefused() throws {
        let directory = try scratchDirectory()
        _ = try CurveKeys.generate(directory: directory, workers: 1)
        let path = directory + "/worker-1.key"
        for bad in [0o640, 0o604, 0o644, 0o660, 0o602] as [mode_t] {
            XCTAssertEqual(chmod(path, bad), 0)
            XCTAssertThrowsError(try CurveKeys.readKeyPair(path: path)) { error in
                XCTAssertEqual(error as? CurveError, .permissionsTooOpen(path: path, mode: UInt16(bad)))
                XCTAssertTrue("\(error)".contains("are too open"), "\(error)")
                XCTAssertTrue("\(error)".contains("chmod 600 \(path)"), "\(error)")
            }
        }
        XCTAssertEqual(chmod(directory + "/server.key", 0o640), 0)
        XCTAssertThrowsError(try CurveKeys.loadServer(directory: directory)) { error in
            XCTAssertEqual(error as? CurveError, .permissionsTooOpen(path: directory + "/server.key", mode: 0o640))
        }
        for good in [0o600, 0o400] as [mode_t] {
            XCTAssertEqual(chmod(path, good), 0)
            XCTAssertNoThrow(try CurveKeys.readKeyPair(path: path))
        }
    }

    func testMalformedKeyFilesAreRefusedWithFileAndLine() throws {
        let pair = try CurveKeyPair.generate(), other = try CurveKeyPair.generate()
        let cases: [(String, String)] = [
            ("public \(pair.publicKey)\nsecret \(pair.secretKey.dropLast())\n", ":2: invalid CURVE secret key: 39 characters"),
            ("# comment\n\npublic \(pair.publicKey)\nsecret \(pair.secretKey) extra\n", ":4: expected 'public <key>' or 'secret <key>'"),
            ("private \(pair.secretKey)\n", ":1: expected 'public <key>' or 'secret <key>'"),
            ("public \(pair.publicKey)\npublic \(pair.publicKey)\nsecret \(pair.secretKey)\n", ":2: a second 'public' line"),
            ("public \(pair.publicKey)\n", ": no 'secret <key>' line; is this a .pub file?"),
            ("secret \(pair.secretKey)\n", ": no 'public <key>' line"),
            ("public \(other.publicKey)\nsecret \(pair.secretKey)\n", ": the public key does not belong to the secret key"),
            ("", ": no 'secret <key>' line"),
        ]
        let directory = try scratchDirectory()
        for (index, (text, reason)) in cases.enumerated() {
            let path = directory + "/case-\(index).key"
            try writeSecret(text, to: path)
            XCTAssertThrowsError(try CurveKeys.readKeyPair(path: path), text) { error in
                XCTAssertTrue("\(error)".hasPrefix(path + reason), "\(error) does not start with \(path + reason)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        // Comments, blank lines, CRLF and surrounding spaces are fine.
        let path = directory + "/fine.key"
        try writeSecret("# mine\r\n\r\n  public \(pair.publicKey)  \r\n\tsecret \(pair.secretKey)\r\n", to: path)
        XCTAssertEqual(try CurveKeys.readKeyPair(path: path), pair)
    }

    func testPublicKeyFilesMustNotHoldSecrets() throws {
        let pair = try CurveKeyPair.generate()
        let directory = try scratchDirectory()
        let secretPath = directory + "/server.key"
        try writeSecret("public \(pair.publicKey)\nsecret \(pair.secretKey)\n", to: secretPath)
        XCTAssertThrowsError(try CurveKeys.readPublicKey(path: secretPath)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(secretPath): holds a secret key"), "\(error)")
        }
        let badPath = directory + "/bad.pub"
        try "public \(pair.publicKey.prefix(20))~~~~~~~~~~~~~~~~~~~~\n".write(toFile: badPath, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try CurveKeys.readPublicKey(path: badPath)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(badPath):1: invalid CURVE public key: character \"~\" at position 21"), "\(error)")
        }
    }

    func testAuthorizedWorkersAllowsCommentsAndRefusesGarbage() throws {
        let a = try CurveKeyPair.generate().publicKey, b = try CurveKeyPair.generate().publicKey
        let c = try CurveKeyPair.generate().publicKey
        let directory = try scratchDirectory()
        let path = directory + "/authorized_workers"
        try "# workers\n\n\(a)\n  \(b)   # laptop\n#\(c)\n# \(c)\n".write(toFile: path, atomically: false, encoding: .utf8)
        XCTAssertEqual(try CurveKeys.readAuthorizedKeys(path: path), [a, b])

        for (text, reason) in [
            ("\(a)\nnot-a-key\n", ":2: invalid CURVE public key: 9 characters"),
            ("\(a) laptop\n", ":1: text after the key must be a '#' comment"),
            ("\(a.dropLast())\n", ":1: invalid CURVE public key: 39 characters"),
        ] {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            XCTAssertThrowsError(try CurveKeys.readAuthorizedKeys(path: path), text) { error in
                XCTAssertTrue("\(error)".hasPrefix(path + reason), "\(error) does not start with \(path + reason)")
            }
        }

        // A server whose list is empty could let no one in: that is a mistake, not a configuration.
        let pair = try CurveKeyPair.generate()
        try writeSecret("public \(pair.publicKey)\nsecret \(pair.secretKey)\n", to: directory + "/server.key")
        try "# nobody yet\n".write(toFile: path, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try CurveKeys.loadServer(directory: directory)) { error in
            XCTAssertEqual("\(error)", "\(path): lists no worker keys, so no worker could join")
        }
    }

    // MARK: - Helpers

    private func scratchDirectory() throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("CurveKeysTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    private func writeSecret(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        XCTAssertEqual(chmod(path, 0o600), 0)
    }

    private func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try XCTUnwrap(attributes[.posixPermissions] as? Int)
    }
}
