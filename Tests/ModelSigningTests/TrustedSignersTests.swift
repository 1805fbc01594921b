import Foundation
import ModelSigning
import Testing

@Suite struct TrustedSignersTests {
    @Test func addListRemoveRoundTrip() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let trust = TrustedSigners(directory: dir.path + "/keys")
        #expect(try trust.keys().isEmpty)  // no file yet: nothing trusted
        let a = SigningSecretKey().publicKey(comment: "release")
        let b = SigningSecretKey().publicKey(comment: "lab")
        #expect(try trust.add([a, b]).map(\.id) == [a.id, b.id])
        #expect(try trust.add([a]).isEmpty)  // already trusted
        #expect(try trust.keys().map(\.id) == [a.id, b.id])
        // The folder is created private.
        let mode = try FileManager.default.attributesOfItem(atPath: dir.path + "/keys")[.posixPermissions] as? Int
        #expect(mode == 0o700)
        // Removal by comment or id; unknown names change nothing.
        #expect(try trust.remove("nobody").isEmpty)
        #expect(try trust.remove("lab").map(\.id) == [b.id])
        #expect(try trust.remove(a.id).map(\.id) == [a.id])
        #expect(try trust.keys().isEmpty)
    }

    @Test func aMalformedTrustFileIsAnErrorNotAnEmptyList() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let trust = TrustedSigners(directory: dir.path)
        try Data("edgecell-model-key-v1 ed25519 not-base64\n".utf8).write(to: URL(fileURLWithPath: trust.path))
        #expect(throws: ModelSigningError.self) { try trust.keys() }
        #expect(throws: ModelSigningError.self) { try trust.add([SigningSecretKey().publicKey()]) }
    }
}
