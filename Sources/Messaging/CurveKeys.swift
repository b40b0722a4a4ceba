import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a CURVE server needs: its key pair and the public keys of the workers it lets in.
public struct CurveServerKeys: Sendable, Equatable {
    public let keyPair: CurveKeyPair
    /// Z85 public keys; never empty.
    public let authorizedWorkers: Set<String>
}

/// What a CURVE client needs: its key pair and the public key of the server it trusts.
public struct CurveClientKeys: Sendable, Equatable {
    public let keyPair: CurveKeyPair
    public let serverPublicKey: String
}

/// Backprop's key files: writing a key directory and reading it back, checking everything before trusting it.
///
/// A key directory (`backprop keys generate DIR --workers N`) holds:
///
/// | file | contents | mode |
/// |---|---|---|
/// | `server.key` | the server's key pair | 0600 |
/// | `server.pub` | the server's public key (give it to every worker) | 0644 |
/// | `worker-<k>.key` | worker k's key pair (give it to that worker only) | 0600 |
/// | `worker-<k>.pub` | worker k's public key | 0644 |
/// | `authorized_workers` | the public keys the server lets in, one per line | 0644 |
///
/// A `.key` file has the lines `public <Z85>` and `secret <Z85>`; a `.pub` file the line
/// `public <Z85>`. In every file, blank lines and lines starting with `#` are ignored.
/// `authorized_workers` has one 40-character Z85 key per line, optionally followed by
/// whitespace and a `#` comment. A secret key file that group or others may read is refused, as ssh does.
public enum CurveKeys {
    public static let serverKeyFile = "server.key"
    public static let serverPublicFile = "server.pub"
    public static let authorizedWorkersFile = "authorized_workers"

    /// `worker-<k>.key`.
    public static func workerKeyFile(_ k: Int) -> String { "worker-\(k).key" }
    /// `worker-<k>.pub`.
    public static func workerPublicFile(_ k: Int) -> String { "worker-\(k).pub" }

    /// Larger files are not key files.
    static let maxFileBytes = 1 << 20

    // MARK: - Loading

    /// Reads `directory/server.key` and `directory/authorized_workers`.
    public static func loadServer(directory: String) throws -> CurveServerKeys {
        let keyPair = try readKeyPair(path: join(directory, serverKeyFile))
        let authorizedPath = join(directory, authorizedWorkersFile)
        let authorized = try readAuthorizedKeys(path: authorizedPath)
        guard !authorized.isEmpty else {
            throw CurveError.badFile(path: authorizedPath, line: nil, reason: "lists no worker keys, so no worker could join")
        }
        return CurveServerKeys(keyPair: keyPair, authorizedWorkers: authorized)
    }

    /// Reads a worker's key file and the server's public key file.
    public static func loadClient(keyFile: String, serverPublicFile: String) throws -> CurveClientKeys {
        CurveClientKeys(keyPair: try readKeyPair(path: keyFile), serverPublicKey: try readPublicKey(path: serverPublicFile))
    }

    /// Reads a `.key` file: refused if group or others may access it, or if its public key does not match its secret key.
    public static func readKeyPair(path: String) throws -> CurveKeyPair {
        let fields = try readFields(path: path, secret: true)
        guard let secret = fields["secret"] else {
            throw CurveError.badFile(path: path, line: nil, reason: "no 'secret <key>' line; is this a .pub file?")
        }
        guard let publicKey = fields["public"] else {
            throw CurveError.badFile(path: path, line: nil, reason: "no 'public <key>' line")
        }
        guard try CurveKeyPair.publicKey(fromSecret: secret) == publicKey else {
            throw CurveError.badFile(path: path, line: nil, reason: "the public key does not belong to the secret key")
        }
        return try CurveKeyPair(publicKey: publicKey, secretKey: secret)
    }

    /// Reads a `.pub` file; one that holds a secret key is refused, since it was meant to stay elsewhere.
    public static func readPublicKey(path: String) throws -> String {
        let fields = try readFields(path: path, secret: false)
        guard fields["secret"] == nil else {
            throw CurveError.badFile(path: path, line: nil,
                                     reason: "holds a secret key; give the public key file (.pub), not the .key file")
        }
        guard let publicKey = fields["public"] else {
            throw CurveError.badFile(path: path, line: nil, reason: "no 'public <key>' line")
        }
        return publicKey
    }

    /// Reads `authorized_workers`: one Z85 public key per line, `#` comments and blank lines allowed.
    public static func readAuthorizedKeys(path: String) throws -> Set<String> {
        var keys: Set<String> = []
        for (number, line) in try lines(path: path, secret: false) {
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            // '#' is a Z85 character, but it cannot start a key: a 5-character group starting with it exceeds 2^32.
            if Z85.isKey(words[0]) {
                guard words.count == 1 || words[1].hasPrefix("#") else {
                    throw CurveError.badFile(path: path, line: number, reason: "text after the key must be a '#' comment")
                }
                keys.insert(words[0])
            } else if line.hasPrefix("#") {
                continue
            } else {
                do {
                    try Z85.validateKey(words[0], role: "public key")
                } catch {
                    throw CurveError.badFile(path: path, line: number, reason: error.description)
                }
            }
        }
        return keys
    }

    // MARK: - Generating

    /// Writes a fresh server key pair, `workers` worker key pairs and `authorized_workers` into `directory`, and returns the paths written.
    ///
    /// Creates the directory (mode 0700) if needed. Refuses, before writing anything, if any of
    /// the files exists; if a write fails, removes the files it wrote.
    public static func generate(directory: String, workers: Int) throws -> [String] {
        guard workers >= 0 else {
            throw CurveError.cannotWrite(path: directory, reason: "the number of workers must not be negative")
        }
        let server = try CurveKeyPair.generate()
        let workerPairs = try (0..<workers).map { _ in try CurveKeyPair.generate() }

        var files: [(name: String, text: String, secret: Bool)] = [
            (serverKeyFile, keyFileText(server, about: "the server's key pair; it never leaves the server"), true),
            (serverPublicFile, publicFileText(server.publicKey, about: "the server's public key; every worker needs it (--server-key)"), false),
        ]
        var authorized = """
            # Workers this server lets in: one CURVE public key (Z85) per line.
            # Lines starting with '#' are comments. Add a worker by appending its public key.

            """
        for (index, pair) in workerPairs.enumerated() {
            let k = index + 1
            files.append((workerKeyFile(k), keyFileText(pair, about: "worker \(k)'s key pair; give it to that worker only (--key)"), true))
            files.append((workerPublicFile(k), publicFileText(pair.publicKey, about: "worker \(k)'s public key"), false))
            authorized += "# worker-\(k)\n\(pair.publicKey)\n"
        }
        files.append((authorizedWorkersFile, authorized, false))

        let paths = files.map { join(directory, $0.name) }
        for path in paths where exists(path) {
            throw CurveError.alreadyExists(path: path)
        }
        try makeDirectory(directory)
        var written: [String] = []
        do {
            for (file, path) in zip(files, paths) {
                try writeFile(file.text, to: path, mode: file.secret ? 0o600 : 0o644)
                written.append(path)
            }
        } catch {
            for path in written { unlink(path) }
            throw error
        }
        return paths
    }

    private static func keyFileText(_ pair: CurveKeyPair, about: String) -> String {
        "# Backprop CURVE key pair: \(about).\n# Keep this file secret (mode 0600).\npublic \(pair.publicKey)\nsecret \(pair.secretKey)\n"
    }

    private static func publicFileText(_ key: String, about: String) -> String {
        "# Backprop CURVE public key: \(about).\npublic \(key)\n"
    }

    // MARK: - Files

    /// The `public` and `secret` fields of a key file, each a checked Z85 key.
    private static func readFields(path: String, secret: Bool) throws -> [String: String] {
        var fields: [String: String] = [:]
        for (number, line) in try lines(path: path, secret: secret) where !line.hasPrefix("#") {
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard words.count == 2, words[0] == "public" || words[0] == "secret" else {
                throw CurveError.badFile(path: path, line: number, reason: "expected 'public <key>' or 'secret <key>'")
            }
            guard fields[words[0]] == nil else {
                throw CurveError.badFile(path: path, line: number, reason: "a second '\(words[0])' line")
            }
            do {
                try Z85.validateKey(words[1], role: "\(words[0]) key")
            } catch {
                throw CurveError.badFile(path: path, line: number, reason: error.description)
            }
            fields[words[0]] = words[1]
        }
        return fields
    }

    /// The non-blank lines of a key file, trimmed, with their 1-based numbers; `secret` files must be private to their owner.
    private static func lines(path: String, secret: Bool) throws -> [(Int, String)] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT { throw CurveError.missingFile(path: path) }
            throw CurveError.unreadable(path: path, reason: String(cString: strerror(code)))
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw CurveError.unreadable(path: path, reason: "not a regular file")
        }
        guard Int(info.st_size) <= maxFileBytes else {
            throw CurveError.badFile(path: path, line: nil, reason: "\(info.st_size) bytes is too large for a key file")
        }
        let mode = UInt16(info.st_mode & 0o7777)
        if secret && mode & 0o077 != 0 {
            throw CurveError.permissionsTooOpen(path: path, mode: mode)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CurveError.unreadable(path: path, reason: String(cString: strerror(errno == 0 ? EACCES : errno)))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CurveError.badFile(path: path, line: nil, reason: "not UTF-8 text")
        }
        // `isNewline`, not "\n": Swift sees "\r\n" as one character.
        return text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated().compactMap { index, raw in
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            return line.isEmpty ? nil : (index + 1, line)
        }
    }

    private static func writeFile(_ text: String, to path: String, mode: mode_t) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            let code = errno
            if code == EEXIST { throw CurveError.alreadyExists(path: path) }
            throw CurveError.cannotWrite(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(descriptor) }
        // The umask may have narrowed `mode`; a secret stays 0600 either way, and a public file is meant to be readable.
        guard fchmod(descriptor, mode) == 0 else {
            throw CurveError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CurveError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            offset += count
        }
        guard fsync(descriptor) == 0 else {
            throw CurveError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
    }

    private static func makeDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CurveError.cannotWrite(path: path, reason: "not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CurveError.cannotWrite(path: path, reason: "cannot create the directory")
        }
    }

    private static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    private static func join(_ directory: String, _ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }
}
