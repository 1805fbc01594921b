import Crypto
import Foundation

/// `manifest.sig`: an Ed25519 signature of `manifest.json`'s exact bytes and the id of the key that made it.
public struct ModelSignature: Codable, Hashable, Sendable {
    /// `format` of a signature file.
    public static let formatName = "edgecell-model-signature"

    /// Always `edgecell-model-signature`.
    public var format: String
    /// The signature format version (1).
    public var formatVersion: Int
    /// Always `ed25519`.
    public var algorithm: String
    /// The signer's key id (`SigningPublicKey.id`).
    public var keyID: String
    /// The 64-byte signature, base64.
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case format
        case formatVersion = "format_version"
        case algorithm
        case keyID = "key_id"
        case signature
    }
}

/// Signs model folders and verifies them against a cell's trusted keys.
public enum ModelSigner {
    /// What `verify` established.
    public struct Verified: Hashable, Sendable {
        /// The signed manifest.
        public let manifest: ModelManifest
        /// The trusted key that signed it.
        public let signer: SigningPublicKey
        /// SHA-256 of `manifest.json` (names exactly what was verified, e.g. in the audit log).
        public let manifestSHA256: String
    }

    /// Writes `manifest.json` (every file's size and SHA-256) and `manifest.sig` into `directory`, replacing any
    /// earlier ones. Returns the manifest and the signer's public key.
    @discardableResult
    public static func sign(
        directory: String,
        key: SigningSecretKey
    ) throws(ModelSigningError) -> (
        ModelManifest, SigningPublicKey
    ) {
        let manifest = try ModelManifest.make(directory: directory)
        let bytes = manifest.encoded()
        let publicKey = key.publicKey()
        let signature = ModelSignature(
            format: ModelSignature.formatName,
            formatVersion: 1,
            algorithm: "ed25519",
            keyID: publicKey.id,
            signature: try key.signature(for: bytes).base64EncodedString()
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let signatureBytes = try! encoder.encode(signature) + Data("\n".utf8)
        try writeAtomically(bytes, to: (directory as NSString).appendingPathComponent(ModelManifest.fileName))
        try writeAtomically(
            signatureBytes,
            to: (directory as NSString).appendingPathComponent(ModelManifest.signatureFileName)
        )
        return (manifest, publicKey)
    }

    /// Checks that `directory` was signed by one of `trusted` and that every file matches the signed manifest:
    /// none changed, none missing, none added. Throws saying which file failed, or that the signer is not trusted.
    public static func verify(directory: String, trusted: [SigningPublicKey]) throws(ModelSigningError) -> Verified {
        guard !trusted.isEmpty else {
            throw ModelSigningError(.argument, "no trusted key given: a model can only be verified against one")
        }
        let manifestPath = (directory as NSString).appendingPathComponent(ModelManifest.fileName)
        let signaturePath = (directory as NSString).appendingPathComponent(ModelManifest.signatureFileName)
        for path in [manifestPath, signaturePath] where !FileManager.default.fileExists(atPath: path) {
            throw ModelSigningError(
                .unsigned,
                "\(directory) is not signed: \(path) is missing (sign it with `edgecell model sign`)"
            )
        }
        guard let manifestBytes = FileManager.default.contents(atPath: manifestPath) else {
            throw ModelSigningError(.io, "cannot read \(manifestPath)")
        }
        guard let signatureBytes = FileManager.default.contents(atPath: signaturePath) else {
            throw ModelSigningError(.io, "cannot read \(signaturePath)")
        }
        let signature: ModelSignature
        do { signature = try JSONDecoder().decode(ModelSignature.self, from: signatureBytes) } catch {
            throw ModelSigningError(.format, "\(signaturePath) is not a model signature: \(error)")
        }
        guard signature.format == ModelSignature.formatName, signature.formatVersion == 1,
            signature.algorithm == "ed25519"
        else {
            throw ModelSigningError(
                .format,
                "\(signaturePath): unknown signature format \(signature.format) v\(signature.formatVersion) "
                    + "(\(signature.algorithm)); this edgecell reads \(ModelSignature.formatName) v1 (ed25519)"
            )
        }
        guard let signer = trusted.first(where: { $0.id == signature.keyID }) else {
            throw ModelSigningError(
                .untrusted,
                "\(directory) is signed by key \(signature.keyID), which is not trusted here (trusted: "
                    + trusted.map(\.description).joined(separator: ", ") + ")"
            )
        }
        // The signer is named by id only; the check below uses the trusted key itself, never one from the folder.
        guard let raw = Data(base64Encoded: signature.signature),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: signer.rawRepresentation),
            key.isValidSignature(raw, for: manifestBytes)
        else {
            throw ModelSigningError(
                .signature,
                "\(signaturePath): the signature does not match \(manifestPath) for key \(signer): the manifest was "
                    + "changed after signing, or the signature is corrupt"
            )
        }
        let manifest = try ModelManifest.decode(manifestBytes, path: manifestPath)
        try self.checkFiles(directory: directory, manifest: manifest)
        return Verified(manifest: manifest, signer: signer, manifestSHA256: sha256Hex(manifestBytes))
    }

    private static func checkFiles(directory: String, manifest: ModelManifest) throws(ModelSigningError) {
        let (present, odd) = try ModelManifest.listFiles(directory)
        var problems = odd.map {
            FileProblem(path: $0, kind: .notRegularFile, detail: "not a regular file (a symbolic link?): refused")
        }
        let listed = Set(manifest.files.map(\.path))
        let presentSet = Set(present)
        for file in manifest.files {
            let path = (directory as NSString).appendingPathComponent(file.path)
            guard presentSet.contains(file.path) else {
                if !odd.contains(file.path) {
                    problems.append(FileProblem(path: file.path, kind: .missing, detail: "missing (listed, not found)"))
                }
                continue
            }
            let (size, digest) = try ModelManifest.hashFile(path)
            if size != file.size || digest != file.sha256.lowercased() {
                problems.append(
                    FileProblem(
                        path: file.path,
                        kind: .changed,
                        detail: size != file.size
                            ? "changed: \(size) bytes, signed as \(file.size)"
                            : "changed: SHA-256 \(digest), signed as \(file.sha256)"
                    )
                )
            }
        }
        for path in present where !listed.contains(path) {
            problems.append(FileProblem(path: path, kind: .unlisted, detail: "not in the signed manifest (added)"))
        }
        guard problems.isEmpty else {
            problems.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
            throw ModelSigningError(
                .files,
                "\(directory) does not match its signed manifest: "
                    + problems.map(\.description).joined(separator: "; "),
                problems: problems
            )
        }
    }
}
