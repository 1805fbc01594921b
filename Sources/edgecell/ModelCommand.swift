import ArgumentParser
import Foundation
import ModelSigning

/// `edgecell model`: sign model folders and verify them against trusted signers.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Sign a model folder, or verify one against trusted signers' keys.",
        discussion: """
            `sign` writes MODEL/manifest.json (size and SHA-256 of every file) and MODEL/manifest.sig (an Ed25519 \
            signature of the manifest). `verify` checks both against the public keys a cell trusts. The runtime \
            does not enforce signatures yet (docs/SECURITY.md).
            """,
        subcommands: [ModelKeygen.self, ModelSign.self, ModelVerify.self]
    )
}

/// `edgecell model keygen`.
struct ModelKeygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create a model-signing key pair: NAME.key (secret, mode 0600) and NAME.pub.",
        discussion: """
            Keep the secret key where models are built and signed, never on a cell; copy the public key to each \
            cell that should run the models it signs. An existing key is never overwritten.
            """
    )

    @Option(help: ArgumentHelp("The folder for the key files (created mode 0700 if missing).", valueName: "dir"))
    var out: String

    @Option(help: "File name of the pair, without extension.")
    var name = "model-signing"

    @Option(help: "Who the key belongs to (stored in the public key).")
    var comment = ""

    func run() throws {
        let console = Console()
        let keys: (secretPath: String, publicPath: String, publicKey: SigningPublicKey)
        do {
            keys = try SigningSecretKey.generate(directory: self.out, name: self.name, comment: self.comment)
        } catch {
            console.error("error: \(error)")
            throw ExitCode(1)
        }
        console.line("secret key: \(keys.secretPath) (mode 0600; keep it off the cells and back it up offline)")
        console.line("public key: \(keys.publicPath) (id \(keys.publicKey.id)); give it to cells as --trust:")
        console.line(keys.publicKey.line, terminator: "")
    }
}

/// `edgecell model sign`.
struct ModelSign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Write MODEL/manifest.json and MODEL/manifest.sig, replacing earlier ones."
    )

    @Argument(help: "The model folder, e.g. Models/base.")
    var model: String

    @Option(help: ArgumentHelp("The secret key file (from `edgecell model keygen`).", valueName: "keyfile"))
    var key: String

    func run() throws {
        let console = Console()
        do {
            let secret = try SigningSecretKey.load(self.key)
            let (manifest, publicKey) = try ModelSigner.sign(directory: self.model, key: secret)
            let bytes = manifest.files.reduce(0) { $0 + $1.size }
            console.line(
                "signed \(manifest.model) (\(self.model)): \(manifest.files.count) files, "
                    + String(format: "%.1f MB", Double(bytes) / 1e6) + ", key \(publicKey.id); wrote "
                    + "\(ModelManifest.fileName) and \(ModelManifest.signatureFileName)"
            )
        } catch {
            console.error("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `edgecell model verify`.
struct ModelVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check MODEL's signature against trusted keys and every file against the signed manifest.",
        discussion: """
            Exits 1 naming what failed: a file changed, missing or added since signing; a manifest or signature \
            that does not match; or a signer that is not among the trusted keys.
            """
    )

    @Argument(help: "The model folder, e.g. Models/base.")
    var model: String

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp("Public key files of trusted signers (one or more keys each).", valueName: "pubkeyfile")
    )
    var trust: [String] = []

    func validate() throws {
        guard !self.trust.isEmpty else { throw ValidationError("give at least one --trust PUBKEYFILE") }
    }

    func run() throws {
        let console = Console()
        do {
            var trusted: [SigningPublicKey] = []
            for path in self.trust { trusted += try SigningPublicKey.load(path) }
            let verified = try ModelSigner.verify(directory: self.model, trusted: trusted)
            let bytes = verified.manifest.files.reduce(0) { $0 + $1.size }
            console.line(
                "\(self.model): signature by trusted key \(verified.signer) is valid; "
                    + "\(verified.manifest.files.count) files, " + String(format: "%.1f MB", Double(bytes) / 1e6)
                    + " match the manifest (sha256 \(verified.manifestSHA256))"
            )
        } catch {
            if error.problems.isEmpty {
                console.error("error: \(error)")
            } else {
                console.error("error: \(self.model) does not match its signed manifest [\(error.code)]:")
                for problem in error.problems { console.error("  \(problem)") }
            }
            throw ExitCode(1)
        }
    }
}

extension Console {
    fileprivate func line(_ text: String, terminator: String) {
        FileHandle.standardOutput.write(Data((text + terminator).utf8))
    }
}
