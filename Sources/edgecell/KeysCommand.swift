import ArgumentParser
import Foundation
import LinkSecurity
import ZeroMQ

/// `edgecell keys`: the cell's CURVE key pair and the allow-list of clients its servers accept.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage the cell's CURVE key pair and the allow-list of client public keys (encrypted links).",
        discussion: """
            Keys live in keys/ of the cell's state directory ($EDGECELL_STATE_DIR, else /var/lib/edgecell if \
            writable, else ~/.local/state/edgecell), beside the audit log: cell.key (secret, mode 0600, never \
            printed), cell.pub and allowed-clients. There are no built-in keys. A link that leaves the machine \
            refuses to run without them; `generate`, `allow` and `revoke` are recorded in the audit log \
            (docs/SECURITY.md).
            """,
        subcommands: [KeysGenerate.self, KeysShow.self, KeysAllow.self, KeysRevoke.self]
    )
}

/// Options shared by the keys subcommands.
struct KeysDirectoryOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The key folder (default: the cell's, keys/ in its state directory); e.g. a twin's own keys.",
            valueName: "dir"
        )
    )
    var dir: String?

    var store: KeyStore { self.dir.map { KeyStore(directory: $0) } ?? .cell }
}

/// Runs a key-store operation; a failure is printed and exits 1.
func keysOrExit<T>(_ body: () throws(KeyStoreError) -> T) throws -> T {
    do { return try body() } catch {
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        throw ExitCode(1)
    }
}

/// `edgecell keys generate`.
struct KeysGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Create the cell's CURVE key pair: cell.key (secret, mode 0600) and cell.pub.",
        discussion: """
            Give the printed public key line to every server this cell connects to (their `edgecell keys allow`, \
            or the twin's --curve-allow file); servers give theirs to this cell's --twin-key / --strategy-key. \
            An existing pair is kept unless --force.
            """
    )

    @OptionGroup var directory: KeysDirectoryOption

    @Option(help: "Who the key belongs to, stored after the public key (default: the host name).")
    var comment: String?

    @Flag(help: "Replace an existing key pair (servers must then allow the new public key).")
    var force = false

    func run() throws {
        let store = self.directory.store
        let comment = self.comment ?? ProcessInfo.processInfo.hostName
        let replacing = store.hasKeyPair
        let pair = try keysOrExit { () throws(KeyStoreError) in
            try store.generate(comment: comment, replace: self.force)
        }
        AuditTrail.record(
            "keys.generated",
            ["public_key": pair.publicKey.z85, "directory": store.directory, "replaced": "\(replacing)"]
        )
        print("secret key: \(store.secretKeyPath) (mode 0600; never share it)")
        print("public key: \(store.publicKeyPath); give this line to the servers this cell connects to:")
        print(PublicKeyLine(key: pair.publicKey, comment: comment).text)
    }
}

/// `edgecell keys show`.
struct KeysShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print the cell's public key and the allowed client keys (never the secret key)."
    )

    @OptionGroup var directory: KeysDirectoryOption

    func run() throws {
        let store = self.directory.store
        print("keys: \(store.directory)")
        var status: Int32 = 0
        if store.hasKeyPair {
            let pair = try keysOrExit { () throws(KeyStoreError) in try store.keyPair() }
            let line =
                (try? KeyStore.publicKey(argument: store.publicKeyPath))
                .flatMap { $0.key == pair.publicKey ? $0 : nil } ?? PublicKeyLine(key: pair.publicKey)
            print("public key: \(line.text)")
            print("secret key: \(store.secretKeyPath) (mode 0600, not shown)")
        } else {
            print("public key: none: create the key pair with `edgecell keys generate`")
            status = 1
        }
        let allowed = try keysOrExit { () throws(KeyStoreError) in try store.allowList() }
        print("allowed clients (\(allowed.count), \(store.allowListPath)):" + (allowed.isEmpty ? " none" : ""))
        for line in allowed { print("  " + line.text) }
        if status != 0 { throw ExitCode(status) }
    }
}

/// `edgecell keys allow`.
struct KeysAllow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allow",
        abstract: "Add a client's public key to the allow-list (the cell's servers accept it from the next connection)."
    )

    @Argument(
        help: ArgumentHelp(
            "The client's public key: 40 characters of Z85, its whole public key line, or its cell.pub file.",
            discussion: "A key that begins with '-' goes after `--`: edgecell keys allow -- -KEY"
        )
    )
    var key: String

    @Option(help: "Whose key it is (default: the comment in the key line, if any).")
    var comment: String?

    @OptionGroup var directory: KeysDirectoryOption

    func run() throws {
        let store = self.directory.store
        var line = try keysOrExit { () throws(KeyStoreError) in try KeyStore.publicKey(argument: self.key) }
        if let comment = self.comment { line.comment = comment }
        let added = try keysOrExit { () throws(KeyStoreError) in try store.allow(line) }
        guard added else {
            print("\(line.key.z85) is already allowed (\(store.allowListPath))")
            return
        }
        AuditTrail.record("keys.allowed", ["client_key": line.key.z85, "client": line.comment])
        print(
            "allowed \(line.key.z85)" + (line.comment.isEmpty ? "" : " (\(line.comment))")
                + " in \(store.allowListPath)"
        )
    }
}

/// `edgecell keys revoke`.
struct KeysRevoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Remove a client's public key from the allow-list.",
        discussion: """
            Servers re-read the list at each new connection, so the key is refused from its next connection on; \
            a connection already open stays open until it ends (restart the server to cut it).
            """
    )

    @Argument(
        help: ArgumentHelp(
            "The client's public key (Z85, key line or file), or the comment it was allowed with.",
            discussion: "A key that begins with '-' goes after `--`: edgecell keys revoke -- -KEY"
        )
    )
    var key: String

    @OptionGroup var directory: KeysDirectoryOption

    func run() throws {
        let store = self.directory.store
        let target: CurvePublicKey
        if let line = try? KeyStore.publicKey(argument: self.key) {
            target = line.key
        } else {
            let matches = try keysOrExit { () throws(KeyStoreError) in try store.allowList() }.filter {
                $0.comment == self.key
            }
            guard matches.count == 1 else {
                FileHandle.standardError.write(
                    Data(
                        ("error: '\(self.key)' is not a public key, and \(matches.count) allowed keys carry that "
                            + "comment (see `edgecell keys show`)\n").utf8
                    )
                )
                throw ExitCode(1)
            }
            target = matches[0].key
        }
        let removed = try keysOrExit { () throws(KeyStoreError) in try store.revoke(target) }
        AuditTrail.record("keys.revoked", ["client_key": removed.key.z85, "client": removed.comment])
        print(
            "revoked \(removed.key.z85)" + (removed.comment.isEmpty ? "" : " (\(removed.comment))")
                + "; servers refuse it from its next connection"
        )
    }
}
