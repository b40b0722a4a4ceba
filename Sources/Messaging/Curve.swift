import CZeroMQ
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A CurveZMQ key pair in Z85 text, the 40-character form libzmq reads and writes.
public struct CurveKeyPair: Sendable, Equatable {
    /// The public key: 40 Z85 characters (32 bytes). Safe to share.
    public let publicKey: String
    /// The secret key: 40 Z85 characters (32 bytes). Never leaves its owner.
    public let secretKey: String

    /// A key pair from Z85 text; throws unless both are well-formed keys and the public key belongs to the secret key.
    public init(publicKey: String, secretKey: String) throws {
        try Z85.validateKey(publicKey, role: "public key")
        try Z85.validateKey(secretKey, role: "secret key")
        guard try Self.publicKey(fromSecret: secretKey) == publicKey else {
            throw CurveError.keyMismatch
        }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    private init(checkedPublic: String, checkedSecret: String) {
        publicKey = checkedPublic
        secretKey = checkedSecret
    }

    /// A fresh random key pair (`zmq_curve_keypair`).
    public static func generate() throws -> CurveKeyPair {
        try requireCurve()
        var publicText = [CChar](repeating: 0, count: Z85.keyLength + 1)
        var secretText = [CChar](repeating: 0, count: Z85.keyLength + 1)
        try zmqCall("zmq_curve_keypair") { zmq_curve_keypair(&publicText, &secretText) }
        return CurveKeyPair(checkedPublic: Z85.string(publicText), checkedSecret: Z85.string(secretText))
    }

    /// The public key that belongs to `secret` (`zmq_curve_public`).
    public static func publicKey(fromSecret secret: String) throws -> String {
        try requireCurve()
        try Z85.validateKey(secret, role: "secret key")
        var publicText = [CChar](repeating: 0, count: Z85.keyLength + 1)
        try zmqCall("zmq_curve_public") { zmq_curve_public(&publicText, secret) }
        return Z85.string(publicText)
    }

    /// Throws unless this libzmq was built with CURVE (`zmq_has("curve")`).
    static func requireCurve() throws(CurveError) {
        guard zmq_has("curve") == 1 else { throw CurveError.unsupported }
    }
}

/// ZeroMQ's Z85 encoding (RFC 32): 4 bytes to 5 printable characters; a CURVE key is 32 bytes, 40 characters.
public enum Z85 {
    /// Characters in a Z85-encoded CURVE key.
    public static let keyLength = 40
    /// The 85 characters of Z85, in digit order.
    public static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    private static let digitValue: [UInt8: UInt64] = Dictionary(
        uniqueKeysWithValues: alphabet.enumerated().map { ($1, UInt64($0)) })

    /// Throws `CurveError.invalidKey` unless `text` is 40 Z85 characters that decode to 32 bytes.
    ///
    /// `role` names the key in the message, e.g. `"server public key"`.
    public static func validateKey(_ text: String, role: String = "key") throws(CurveError) {
        let bytes = Array(text.utf8)
        guard bytes.count == keyLength else {
            throw CurveError.invalidKey(role: role, reason: "\(bytes.count) characters, expected \(keyLength) Z85 characters")
        }
        for start in stride(from: 0, to: keyLength, by: 5) {
            var value: UInt64 = 0
            for offset in start..<start + 5 {
                guard let digit = digitValue[bytes[offset]] else {
                    let shown = String(decoding: [bytes[offset]], as: UTF8.self).debugDescription
                    throw CurveError.invalidKey(
                        role: role, reason: "character \(shown) at position \(offset + 1) is not in the Z85 alphabet")
                }
                value = value * 85 + digit
            }
            guard value <= UInt64(UInt32.max) else {
                throw CurveError.invalidKey(role: role, reason: "characters \(start + 1)-\(start + 5) do not encode 4 bytes")
            }
        }
    }

    /// True when `text` is a well-formed Z85 CURVE key.
    public static func isKey(_ text: String) -> Bool {
        (try? validateKey(text)) != nil
    }

    /// The Z85 text of `bytes` (`zmq_z85_encode`); the count must be a multiple of 4.
    public static func encode(_ bytes: [UInt8]) throws -> String {
        guard bytes.count % 4 == 0 else {
            throw ZMQError(call: "zmq_z85_encode", code: EINVAL)
        }
        var text = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
        let result = bytes.withUnsafeBufferPointer { zmq_z85_encode(&text, $0.baseAddress, $0.count) }
        guard result != nil else { throw ZMQError(call: "zmq_z85_encode", code: EINVAL) }
        return string(text)
    }

    /// The 32 bytes of a Z85 CURVE key (`zmq_z85_decode`).
    public static func decodeKey(_ text: String, role: String = "key") throws -> [UInt8] {
        try validateKey(text, role: role)
        var bytes = [UInt8](repeating: 0, count: 32)
        let result = zmq_z85_decode(&bytes, text)
        guard result != nil else {
            throw CurveError.invalidKey(role: role, reason: "libzmq cannot decode it")
        }
        return bytes
    }

    /// The text before the first NUL of a C buffer.
    static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Why a CURVE key, key file or key directory cannot be used; each description is one line naming the file and the problem.
public enum CurveError: Error, Equatable, CustomStringConvertible {
    /// This libzmq was built without CURVE support.
    case unsupported
    /// Text that is not a Z85 CURVE key.
    case invalidKey(role: String, reason: String)
    /// A public key that does not belong to the secret key next to it.
    case keyMismatch
    /// A key file that does not exist.
    case missingFile(path: String)
    /// A key file that exists but cannot be read.
    case unreadable(path: String, reason: String)
    /// A key file whose contents break the format; `line` is 1-based, nil for the file as a whole.
    case badFile(path: String, line: Int?, reason: String)
    /// A secret key file that group or others may read or write.
    case permissionsTooOpen(path: String, mode: UInt16)
    /// A key file that `generate` would overwrite.
    case alreadyExists(path: String)
    /// A key file or directory that cannot be written.
    case cannotWrite(path: String, reason: String)
    /// A CURVE server asked for without a running ZAP handler in its context, which would let any client in.
    case noAuthenticator(String)

    /// One line for people.
    public var description: String {
        switch self {
        case .unsupported:
            return "this libzmq was built without CURVE support (zmq_has(\"curve\") is false)"
        case .invalidKey(let role, let reason):
            return "invalid CURVE \(role): \(reason)"
        case .keyMismatch:
            return "the public key does not belong to the secret key"
        case .missingFile(let path):
            return "\(path): no such key file"
        case .unreadable(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .badFile(let path, let line, let reason):
            return line.map { "\(path):\($0): \(reason)" } ?? "\(path): \(reason)"
        case .permissionsTooOpen(let path, let mode):
            return "\(path): permissions \(String(format: "%04o", mode)) are too open; a secret key must be readable only by its owner (chmod 600 \(path))"
        case .alreadyExists(let path):
            return "\(path) already exists; refusing to overwrite keys (remove it or choose another directory)"
        case .cannotWrite(let path, let reason):
            return "\(path): cannot write: \(reason)"
        case .noAuthenticator(let reason):
            return "cannot make a CURVE server: \(reason)"
        }
    }
}
