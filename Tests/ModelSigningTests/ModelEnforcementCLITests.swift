import CLITestSupport
import Foundation
import ModelSigning
import Testing

/// The runtime's signature check, through the built CLI (`swift build` first): `edgecell run` refuses an unsigned,
/// tampered or untrusted-signer model naming what failed, runs a model its cell trusts, and lets an unverified one
/// run only with --allow-unsigned-model; each decision lands in the cell's audit log.
@Suite(.serialized) struct ModelEnforcementCLITests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/tiny").path

    /// A short policy run against a local twin (lock-step, one short episode: exit 1 is a refusal, 3 an episode
    /// that did not succeed, which this untrained fixture never does).
    static func run(_ model: String, state: String, _ extra: [String] = []) throws -> (Int32, String) {
        try edgecell(
            [
                "run", "--controller", "policy", "--model", model, "--episodes", "1", "--time-limit", "0.3",
                "--no-realtime", "--pin", "none",
            ] + extra,
            state: state
        )
    }

    static func audit(_ state: String) -> String {
        (try? String(contentsOfFile: state + "/audit.log", encoding: .utf8)) ?? ""
    }

    @Test func theRuntimeRunsOnlyModelsItsCellTrusts() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let state = dir.path + "/state"
        let model = dir.path + "/tiny"
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: model)

        // Unsigned, and the cell trusts no one: refused before any twin starts.
        var (status, text) = try Self.run(model, state: state)
        #expect(status == 1 && text.contains("refusing to run \(model): this cell trusts no model signer"), "\(text)")
        #expect(text.contains("edgecell model trust") && !text.contains("edgecell-twin ready"), "\(text)")
        #expect(Self.audit(state).contains("model.refused"))

        // Signed; the signer trusted for this run with --trust: it runs, and the log names the signer.
        let keys = try SigningSecretKey.generate(directory: dir.path + "/keys", comment: "release")
        try ModelSigner.sign(directory: model, key: try SigningSecretKey.load(keys.secretPath))
        (status, text) = try Self.run(model, state: state, ["--trust", keys.publicPath])
        #expect(
            status != 1 && text.contains("episode 1/1")
                && text.contains("signed by trusted key \(keys.publicKey.id) (release)"),
            "\(text)"
        )
        let loaded = Self.audit(state).split(separator: "\n").last { $0.contains("\"model.loaded\"") } ?? ""
        #expect(loaded.contains(keys.publicKey.id) && loaded.contains("manifest_sha256"), "\(loaded)")

        // Signed by a key this cell does not trust.
        let stranger = try SigningSecretKey.generate(directory: dir.path + "/keys", name: "other")
        (status, text) = try Self.run(model, state: state, ["--trust", stranger.publicPath])
        #expect(status == 1 && text.contains("signed by key \(keys.publicKey.id), which is not trusted"), "\(text)")

        // Trusted on the cell (`model trust`): no --trust needed.
        (status, text) = try edgecell(["model", "trust", keys.publicPath], state: state)
        #expect(status == 0, "\(text)")
        (status, text) = try edgecell(["model", "trusted"], state: state)
        #expect(text.contains("trusted model signers (1") && text.contains(keys.publicKey.id), "\(text)")

        // One byte of the weights changed: refused, naming the file.
        let weights = model + "/model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: weights))
        bytes[bytes.count - 3] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: weights))
        (status, text) = try Self.run(model, state: state)
        #expect(status == 1 && text.contains("does not match its signed manifest: model.safetensors"), "\(text)")
        #expect(!text.contains("edgecell-twin ready"), "\(text)")

        // For development only: --allow-unsigned-model runs a model that does not verify (here: the weights restored
        // but a file added since signing), warns, and the log says so. (Changed weights would still stop at the
        // loader, which checks them against config.json's SHA-256.)
        bytes[bytes.count - 3] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: weights))
        try Data("added later\n".utf8).write(to: URL(fileURLWithPath: model + "/notes.txt"))
        (status, text) = try Self.run(model, state: state, ["--allow-unsigned-model"])
        #expect(
            status != 1 && text.contains("episode 1/1") && text.contains("warning: --allow-unsigned-model"),
            "\(text)"
        )
        #expect(Self.audit(state).contains("\"model.unverified\""))
        #expect(Self.audit(state).contains("none (--allow-unsigned-model)"))

        // Distrusted: the cell refuses the signer's models again (re-signed, so only trust is in question).
        try FileManager.default.removeItem(atPath: model + "/notes.txt")
        try ModelSigner.sign(directory: model, key: try SigningSecretKey.load(keys.secretPath))
        (status, text) = try edgecell(["model", "distrust", "release"], state: state)
        #expect(status == 0 && text.contains("no longer trusted"), "\(text)")
        (status, text) = try Self.run(model, state: state)
        #expect(status == 1 && text.contains("trusts no model signer"), "\(text)")

        // The whole story is in the hash-chained log, which still verifies.
        (status, text) = try edgecell(["audit", "verify"], state: state)
        #expect(status == 0, "\(text)")
        for event in ["signer.trusted", "signer.distrusted", "model.refused", "model.loaded", "model.unverified"] {
            #expect(Self.audit(state).contains(event), "\(event)")
        }
    }
}
