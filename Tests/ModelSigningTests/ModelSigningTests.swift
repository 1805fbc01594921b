import Foundation
import ModelSigning
import Testing

/// A fresh folder under the temporary directory.
struct TemporaryDirectory {
    let path: String

    init() {
        self.path =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "edgecell-signing-\(getpid())-\(UUID().uuidString.prefix(8))"
            ).path
        try? FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: self.path) }
}

/// A small model folder (the files a model has; contents arbitrary), a key pair and the signed folder.
struct SignedModel {
    let dir = TemporaryDirectory()
    var model: String { self.dir.path + "/base" }
    let secret: SigningSecretKey
    let publicKey: SigningPublicKey

    init() throws {
        let model = self.dir.path + "/base"
        try FileManager.default.createDirectory(atPath: model + "/card", withIntermediateDirectories: true)
        try Data(#"{"format": "edgecell-vla", "name": "base"}"#.utf8).write(
            to: URL(fileURLWithPath: model + "/config.json")
        )
        try Data((0..<70_000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: model + "/model.safetensors"))
        try Data((0..<9_000).map { UInt8($0 % 13) }).write(to: URL(fileURLWithPath: model + "/model-int8.safetensors"))
        try Data("<svg/>".utf8).write(to: URL(fileURLWithPath: model + "/loss.svg"))
        try Data("# card\n".utf8).write(to: URL(fileURLWithPath: model + "/card/README.md"))
        let keys = try SigningSecretKey.generate(directory: self.dir.path + "/keys", comment: "test signer")
        self.secret = try SigningSecretKey.load(keys.secretPath)
        self.publicKey = keys.publicKey
        try ModelSigner.sign(directory: model, key: self.secret)
    }

    /// The verification error, or nil if the folder verifies against `trusted`.
    func failure(trusted: [SigningPublicKey]? = nil) -> ModelSigningError? {
        do {
            _ = try ModelSigner.verify(directory: self.model, trusted: trusted ?? [self.publicKey])
            return nil
        } catch {
            return error
        }
    }
}

@Suite struct ModelSigningTests {
    @Test func signThenVerifyPasses() throws {
        let signed = try SignedModel()
        defer { signed.dir.cleanUp() }
        let verified = try ModelSigner.verify(directory: signed.model, trusted: [signed.publicKey])
        #expect(verified.signer == signed.publicKey)
        #expect(verified.manifest.model == "base" && verified.manifest.formatVersion == 1)
        #expect(
            verified.manifest.files.map(\.path)
                == ["card/README.md", "config.json", "loss.svg", "model-int8.safetensors", "model.safetensors"]
        )
        #expect(verified.manifest.files.first { $0.path == "model.safetensors" }?.size == 70_000)
        let signature = try String(contentsOfFile: signed.model + "/manifest.sig", encoding: .utf8)
        #expect(signature.contains("\"key_id\" : \"\(signed.publicKey.id)\""))
    }

    @Test func oneFlippedByteIsRefusedNamingTheFile() throws {
        let signed = try SignedModel()
        defer { signed.dir.cleanUp() }
        let path = signed.model + "/model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[12_345] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        let error = try #require(signed.failure())
        #expect(error.code == .files)
        #expect(error.problems.map(\.path) == ["model.safetensors"] && error.problems[0].kind == .changed)
        #expect(error.message.contains("model.safetensors: changed"))
    }

    @Test func addedFileIsRefused() throws {
        let signed = try SignedModel()
        defer { signed.dir.cleanUp() }
        try Data("extra".utf8).write(to: URL(fileURLWithPath: signed.model + "/card/extra.bin"))
        let error = try #require(signed.failure())
        #expect(error.code == .files && error.problems.map(\.path) == ["card/extra.bin"])
        #expect(error.problems[0].kind == .unlisted && error.message.contains("not in the signed manifest"))
    }

    @Test func removedFileIsRefused() throws {
        let signed = try SignedModel()
        defer { signed.dir.cleanUp() }
        try FileManager.default.removeItem(atPath: signed.model + "/model-int8.safetensors")
        let error = try #require(signed.failure())
        #expect(error.code == .files && error.problems.map(\.path) == ["model-int8.safetensors"])
        #expect(error.problems[0].kind == .missing && error.message.contains("missing"))
    }

    @Test func symbolicLinkIsRefused() throws {
        let signed = try SignedModel()
        defer { signed.dir.cleanUp() }
        try FileManager.default.removeItem(atPath: signed.model + "/loss.svg")
        try FileManager.default.createSymbolicLink(
            atPath: signed.model + "/loss.svg",
            withDestinationPath: "/etc/hostname"
        )
        let error = try #require(signed.failure())
        #expect(error.problems.map(\.path) == ["loss.svg"] && error.problems[0].kind == .notRegularFile)
    }

    @Test func untrustedSignerIsRefused() throws {
        let signed = try SignedModel()
        defer { signed.dir.cleanUp() }
        let other = SigningSecretKey().publicKey(comment: "someone else")
        let error = try #require(signed.failure(trusted: [other]))
        #expect(error.code == .untrusted)
        #expect(error.message.contains(signed.publicKey.id) && error.message.contains("not trusted"))
        // Re-signed by an untrusted key: the files all match, the signer still does not.
        try ModelSigner.sign(directory: signed.model, key: SigningSecretKey())
        #expect(signed.failure()?.code == .untrusted)
        #expect(signed.failure(trusted: [other, signed.publicKey])?.code == .untrusted)
    }

    @Test func corruptSignatureIsRefused() throws {
        let signed = try SignedModel()
        defer { signed.dir.cleanUp() }
        let path = signed.model + "/manifest.sig"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.contains("\"signature\"") })
        let encoded = String(try #require(line.split(separator: "\"").last))
        var raw = try #require(Data(base64Encoded: encoded))
        raw[10] ^= 0x80
        try text.replacingOccurrences(of: encoded, with: raw.base64EncodedString())
            .write(toFile: path, atomically: true, encoding: .utf8)
        let error = try #require(signed.failure())
        #expect(error.code == .signature && error.message.contains("signature does not match"))
    }

    @Test func editedManifestIsRefused() throws {
        let signed = try SignedModel()
        defer { signed.dir.cleanUp() }
        // Someone swaps the weights and updates the manifest's hash to match: the signature no longer does.
        let path = signed.model + "/manifest.json"
        let manifest = try String(contentsOfFile: path, encoding: .utf8)
        try manifest.replacingOccurrences(of: "\"size\" : 70000", with: "\"size\" : 70001")
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(signed.failure()?.code == .signature)
    }

    @Test func unsignedFolderIsRefused() throws {
        let signed = try SignedModel()
        defer { signed.dir.cleanUp() }
        try FileManager.default.removeItem(atPath: signed.model + "/manifest.sig")
        let error = try #require(signed.failure())
        #expect(error.code == .unsigned && error.message.contains("not signed"))
    }

    @Test func secretKeyFileIsPrivateAndNeverOverwritten() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let keys = try SigningSecretKey.generate(directory: dir.path + "/keys", name: "cell1")
        let attributes = try FileManager.default.attributesOfItem(atPath: keys.secretPath)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        let secretText = try String(contentsOfFile: keys.secretPath, encoding: .utf8)
        let publicText = try String(contentsOfFile: keys.publicPath, encoding: .utf8)
        #expect(
            !publicText.contains(secretText.split(separator: " ")[2].trimmingCharacters(in: .whitespacesAndNewlines))
        )
        #expect(try SigningPublicKey.load(keys.publicPath) == [keys.publicKey])
        #expect(throws: ModelSigningError.self) {
            try SigningSecretKey.generate(directory: dir.path + "/keys", name: "cell1")
        }
        // A secret key others can read is refused.
        chmod(keys.secretPath, 0o644)
        #expect(throws: ModelSigningError.self) { try SigningSecretKey.load(keys.secretPath) }
        chmod(keys.secretPath, 0o600)
        #expect(try SigningSecretKey.load(keys.secretPath).publicKey() == keys.publicKey)
    }
}
