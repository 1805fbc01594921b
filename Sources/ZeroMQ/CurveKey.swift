import CZMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A key that could not be made or read: what was wrong, in words a person can act on.
public struct CurveKeyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { self.message }
}

/// A CURVE public key (Curve25519, 32 bytes), written as 40 characters of Z85 (ZeroMQ RFC 32) — the form libzmq,
/// pyzmq and `edgecell keys` exchange.
public struct CurvePublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The raw 32 bytes.
    public let bytes: [UInt8]

    /// A key from its raw 32 bytes.
    public init(bytes: [UInt8]) throws(CurveKeyError) {
        guard bytes.count == 32 else { throw CurveKeyError("a CURVE key is 32 bytes, not \(bytes.count)") }
        self.bytes = bytes
    }

    /// A key from its Z85 text (40 characters).
    public init(z85: String) throws(CurveKeyError) {
        self.bytes = try Z85.decode32(z85, what: "public key")
    }

    /// The key as 40 characters of Z85.
    public var z85: String { Z85.encode(self.bytes) }

    public var description: String { self.z85 }
}

/// A CURVE key pair. The secret never appears in a description, a log or a test failure's expansion; only
/// `secretZ85` hands it out, to be written to a key file.
public struct CurveKeyPair: Hashable, Sendable {
    /// The public half.
    public let publicKey: CurvePublicKey
    let secret: [UInt8]

    /// A new random key pair (`zmq_curve_keypair`, libsodium's random source).
    public static func generate() throws(CurveKeyError) -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else {
            throw CurveKeyError("libzmq cannot make a CURVE key pair (built without CURVE?): errno \(zmq_errno())")
        }
        defer { for index in secretText.indices { secretText[index] = 0 } }
        return try CurveKeyPair(secretZ85: Z85.string(secretText))
    }

    /// The pair whose secret key is `secretZ85` (the public key is derived from it, `zmq_curve_public`).
    public init(secretZ85: String) throws(CurveKeyError) {
        let secret = try Z85.decode32(secretZ85, what: "secret key")
        var publicText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicText, secretZ85) == 0 else {
            throw CurveKeyError("libzmq cannot derive the public key (built without CURVE?): errno \(zmq_errno())")
        }
        self.publicKey = try CurvePublicKey(z85: Z85.string(publicText))
        self.secret = secret
    }

    /// The secret key as Z85, for writing a key file. Never log or print it.
    public var secretZ85: String { Z85.encode(self.secret) }

    /// Whether libzmq was built with CURVE (Debian's and pyzmq's wheels are).
    public static var isSupported: Bool { ZMQContext.has("curve") }
}

// Never shows the secret: not in logs, not in a test failure's expansion, not in a debugger's dump.
extension CurveKeyPair: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "CurveKeyPair(public \(self.publicKey.z85))" }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: ["publicKey": self.publicKey], displayStyle: .struct) }
}

/// Z85 (ZeroMQ RFC 32) for 32-byte keys, through libzmq's own codec.
enum Z85 {
    static let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

    static func encode(_ bytes: [UInt8]) -> String {
        var text = [CChar](repeating: 0, count: bytes.count * 5 / 4 + 1)
        _ = zmq_z85_encode(&text, bytes, bytes.count)
        return Self.string(text)
    }

    /// A NUL-terminated C string from libzmq as a Swift string.
    static func string(_ text: [CChar]) -> String {
        String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func decode32(_ text: String, what: String) throws(CurveKeyError) -> [UInt8] {
        guard text.count == 40, text.allSatisfy({ Self.alphabet.contains($0) }) else {
            throw CurveKeyError(
                "a CURVE \(what) is 40 characters of Z85 (as `edgecell keys show` prints it), not \(text.count) "
                    + "characters" + (text.count == 40 ? " with some outside the Z85 alphabet" : "")
            )
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&bytes, text) != nil else { throw CurveKeyError("the CURVE \(what) is not valid Z85") }
        return bytes
    }
}
