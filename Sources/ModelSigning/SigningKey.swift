import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A model signer's public key (Ed25519), as a cell trusts it.
///
/// File format, one key per line (blank lines and `#` comments allowed, so one file can hold a cell's whole
/// trust list): `edgecell-model-key-v1 ed25519 <32-byte key, base64> [comment]`.
public struct SigningPublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The first word of a public key line (names the format and its version).
    public static let tag = "edgecell-model-key-v1"

    /// The raw 32-byte key.
    public let rawRepresentation: Data
    /// Free text after the key (who it belongs to).
    public let comment: String

    /// A key from its raw 32 bytes.
    public init(rawRepresentation: Data, comment: String = "") throws(ModelSigningError) {
        guard (try? Curve25519.Signing.PublicKey(rawRepresentation: rawRepresentation)) != nil else {
            throw ModelSigningError(.key, "an Ed25519 public key is 32 bytes, not \(rawRepresentation.count)")
        }
        self.rawRepresentation = rawRepresentation
        self.comment = comment
    }

    /// The key id: the first 16 hex digits of the SHA-256 of the raw key. Signatures name their key by it.
    public var id: String { Self.id(of: self.rawRepresentation) }

    static func id(of raw: Data) -> String { String(sha256Hex(raw).prefix(16)) }

    /// The line written to a public key file (with a newline).
    public var line: String {
        "\(Self.tag) ed25519 \(self.rawRepresentation.base64EncodedString())"
            + (self.comment.isEmpty ? "" : " \(self.comment)") + "\n"
    }

    public var description: String { "\(self.id)" + (self.comment.isEmpty ? "" : " (\(self.comment))") }

    /// Every key in a public key file.
    public static func load(_ path: String) throws(ModelSigningError) -> [SigningPublicKey] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ModelSigningError(.io, "cannot read the public key file \(path): \(error.localizedDescription)")
        }
        var keys: [SigningPublicKey] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true).map(String.init)
            guard words.count >= 3, words[0] == Self.tag, words[1] == "ed25519",
                let bytes = Data(base64Encoded: words[2]), bytes.count == 32
            else {
                throw ModelSigningError(
                    .key,
                    "\(path) line \(index + 1) is not a public key (expected "
                        + "\"\(Self.tag) ed25519 <base64 of 32 bytes> [comment]\")"
                )
            }
            keys.append(try SigningPublicKey(rawRepresentation: bytes, comment: words.count > 3 ? words[3] : ""))
        }
        guard !keys.isEmpty else { throw ModelSigningError(.key, "\(path) holds no public key") }
        return keys
    }
}

/// A model signer's secret key (Ed25519).
///
/// File format: one line, `edgecell-model-secret-v1 ed25519 <32-byte seed, base64>`, mode 0600. It is read only
/// if no one but its owner can read or write it (as ssh does), and never printed.
public struct SigningSecretKey {
    /// The first word of a secret key file (names the format and its version).
    public static let tag = "edgecell-model-secret-v1"

    let key: Curve25519.Signing.PrivateKey

    /// A new random key.
    public init() {
        self.key = Curve25519.Signing.PrivateKey()
    }

    /// Its public key.
    public func publicKey(comment: String = "") -> SigningPublicKey {
        // A valid private key always yields a valid 32-byte public key.
        try! SigningPublicKey(rawRepresentation: self.key.publicKey.rawRepresentation, comment: comment)
    }

    /// Signs `data`.
    public func signature(for data: Data) throws(ModelSigningError) -> Data {
        do { return try self.key.signature(for: data) } catch {
            throw ModelSigningError(.key, "cannot sign: \(error)")
        }
    }

    /// Reads a secret key file, refusing one that others can read or write.
    public static func load(_ path: String) throws(ModelSigningError) -> SigningSecretKey {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw ModelSigningError(.io, "cannot read the secret key file \(path): \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw ModelSigningError(
                .key,
                "the secret key file \(path) is accessible by others (mode \(String(status.st_mode & 0o777, radix: 8))):"
                    + " `chmod 600 \(path)`, and consider the key exposed"
            )
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ModelSigningError(.io, "cannot read the secret key file \(path): \(error.localizedDescription)")
        }
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        guard words.count == 3, words[0] == Self.tag, words[1] == "ed25519", let seed = Data(base64Encoded: words[2]),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        else {
            throw ModelSigningError(
                .key,
                "\(path) is not an edgecell model secret key (expected \"\(Self.tag) ed25519 <base64 of 32 bytes>\")"
            )
        }
        return SigningSecretKey(key: key)
    }

    private init(key: Curve25519.Signing.PrivateKey) {
        self.key = key
    }

    /// Writes a new key pair to `directory` as `<name>.key` (mode 0600, created exclusively: an existing key is
    /// never overwritten) and `<name>.pub`. Returns the two paths and the public key.
    public static func generate(
        directory: String,
        name: String = "model-signing",
        comment: String = ""
    ) throws(ModelSigningError) -> (secretPath: String, publicPath: String, publicKey: SigningPublicKey) {
        guard !name.isEmpty, !name.contains("/") else {
            throw ModelSigningError(.argument, "key name \"\(name)\" must be a file name, without '/'")
        }
        guard !comment.contains("\n") else { throw ModelSigningError(.argument, "the comment must be one line") }
        if !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory,
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700]
                )
            } catch {
                throw ModelSigningError(.io, "cannot create \(directory): \(error.localizedDescription)")
            }
        }
        let secretPath = (directory as NSString).appendingPathComponent(name + ".key")
        let publicPath = (directory as NSString).appendingPathComponent(name + ".pub")
        for path in [secretPath, publicPath] where FileManager.default.fileExists(atPath: path) {
            throw ModelSigningError(.io, "\(path) exists: not overwriting a key (choose another --name or folder)")
        }
        let secret = SigningSecretKey()
        let text = "\(Self.tag) ed25519 \(secret.key.rawRepresentation.base64EncodedString())\n"
        // O_EXCL and mode 0600 at creation: the secret is never readable by others, not even for an instant.
        let fd = open(secretPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ModelSigningError(.io, "cannot create \(secretPath): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced else {
            unlink(secretPath)
            throw ModelSigningError(.io, "cannot write \(secretPath)")
        }
        let publicKey = secret.publicKey(comment: comment)
        try writeAtomically(Data(publicKey.line.utf8), to: publicPath)
        return (secretPath, publicPath, publicKey)
    }
}

/// SHA-256, lower-case hex.
func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

/// Writes a file whole or not at all: a temporary file beside it, fsync, rename.
func writeAtomically(_ data: Data, to path: String) throws(ModelSigningError) {
    let directory = (path as NSString).deletingLastPathComponent
    let temporary = (directory as NSString).appendingPathComponent(
        ".\((path as NSString).lastPathComponent).tmp-\(getpid())"
    )
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
        throw ModelSigningError(.io, "cannot create \(temporary): \(String(cString: strerror(errno)))")
    }
    let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    let synced = fsync(fd) == 0
    close(fd)
    guard written == data.count, synced, rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw ModelSigningError(.io, "cannot write \(path): \(reason)")
    }
}

// Never shows the key: not in logs, not in a test failure's expansion, not in a debugger's dump.
extension SigningSecretKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "SigningSecretKey(public key \(self.publicKey().id))" }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
