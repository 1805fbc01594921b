import ArgumentParser
import Foundation
import LinkSecurity
import ModelSigning

/// `edgecell model`: sign model folders and verify them against trusted signers.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Sign a model folder, or verify one against trusted signers' keys.",
        discussion: """
            `sign` writes MODEL/manifest.json (size and SHA-256 of every file) and MODEL/manifest.sig (an Ed25519 \
            signature of the manifest). `verify` checks both against the public keys a cell trusts. `trust`, \
            `distrust` and `trusted` manage those keys (keys/trusted-model-signers in the cell's state directory). \
            `edgecell run` and `eval` refuse a model that does not verify, unless started with \
            --allow-unsigned-model (development only; docs/SECURITY.md).
            """,
        subcommands: [
            ModelKeygen.self, ModelSign.self, ModelVerify.self, ModelTrust.self, ModelDistrust.self, ModelTrusted.self,
            ModelExport.self,
        ]
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
        help: ArgumentHelp(
            "Public key files of trusted signers (one or more keys each).",
            discussion: "Default: the cell's trusted signers (`edgecell model trusted`).",
            valueName: "pubkeyfile"
        )
    )
    var trust: [String] = []

    @OptionGroup var directory: TrustDirectoryOption

    func run() throws {
        let console = Console()
        do throws(ModelSigningError) {
            var trusted: [SigningPublicKey] = []
            for path in self.trust { trusted += try SigningPublicKey.load(path) }
            if self.trust.isEmpty {
                trusted = try self.directory.list.keys()
                guard !trusted.isEmpty else {
                    throw ModelSigningError(
                        .argument,
                        "this cell trusts no model signer (\(self.directory.list.path)): give --trust PUBKEYFILE, or "
                            + "trust a signer with `edgecell model trust PUBKEYFILE`"
                    )
                }
            }
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

/// `--dir`: the folder holding the cell's trusted-signers file (default: the cell's key folder).
struct TrustDirectoryOption: ParsableArguments {
    @Option(
        name: .customLong("trust-dir"),
        help: ArgumentHelp(
            "Folder of the trusted-signers file (default: keys/ in the cell's state directory).",
            valueName: "dir"
        )
    )
    var path: String?

    var list: TrustedSigners { TrustedSigners(directory: self.path ?? KeyStore.defaultDirectory()) }
}

/// `edgecell model trust`.
struct ModelTrust: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Trust the signers in public key files: run and eval accept models they signed."
    )

    @Argument(help: ArgumentHelp("Public key files (from `edgecell model keygen`).", valueName: "pubkeyfile"))
    var files: [String]

    @OptionGroup var directory: TrustDirectoryOption

    func run() throws {
        let console = Console()
        let list = self.directory.list
        do {
            var keys: [SigningPublicKey] = []
            for file in self.files { keys += try SigningPublicKey.load(file) }
            let added = try list.add(keys)
            for key in keys {
                let new = added.contains { $0.id == key.id }
                console.line((new ? "trusted " : "already trusted ") + "\(key) in \(list.path)")
                if new {
                    AuditTrail.record("signer.trusted", ["key": key.id, "comment": key.comment, "file": list.path])
                }
            }
        } catch {
            console.error("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `edgecell model distrust`.
struct ModelDistrust: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distrust",
        abstract: "Stop trusting a model signer: models it signed are refused from the next start."
    )

    @Argument(help: "The key's id (16 hex digits, as `edgecell model trusted` shows it) or its comment.")
    var key: String

    @OptionGroup var directory: TrustDirectoryOption

    func run() throws {
        let console = Console()
        let list = self.directory.list
        do {
            let removed = try list.remove(self.key)
            guard !removed.isEmpty else {
                console.error("error: no trusted signer has the id or comment \"\(self.key)\" (\(list.path))")
                throw ExitCode(1)
            }
            for key in removed {
                console.line("no longer trusted: \(key)")
                AuditTrail.record("signer.distrusted", ["key": key.id, "comment": key.comment, "file": list.path])
            }
        } catch let error as ModelSigningError {
            console.error("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `edgecell model trusted`.
struct ModelTrusted: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trusted",
        abstract: "List the model signers this cell trusts."
    )

    @OptionGroup var directory: TrustDirectoryOption

    func run() throws {
        let console = Console()
        let list = self.directory.list
        do {
            let keys = try list.keys()
            console.line("trusted model signers (\(keys.count), \(list.path)):" + (keys.isEmpty ? " none" : ""))
            for key in keys { console.line("  \(key)") }
        } catch {
            console.error("error: \(error)")
            throw ExitCode(1)
        }
    }
}

extension Console {
    fileprivate func line(_ text: String, terminator: String) {
        FileHandle.standardOutput.write(Data((text + terminator).utf8))
    }
}
