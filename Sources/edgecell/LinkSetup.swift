import ArgumentParser
import Foundation
import LinkSecurity
import ZeroMQ

/// How the CLI secures its ZeroMQ links (`LinkPolicy`): CURVE when keys are configured; a refusal naming the
/// fix when a link that leaves the machine has none; plaintext with a warning for loopback and ipc:// otherwise.
enum LinkSetup {
    /// A client link's keys: the cell's key pair and the server's public key given by `option`, or nil for a
    /// local plaintext link (`plaintext`: --dev-plaintext was given; after a warning). Exits 1 when the link
    /// leaves the machine without a server key, when a local one has none and plaintext was not asked for, or
    /// when the keys cannot be read.
    static func client(
        endpoint: String,
        serverKey: String?,
        option: String,
        plaintext: Bool
    ) throws -> CurveClientKeys? {
        guard let serverKey else {
            guard LinkPolicy.reach(of: endpoint) == .local else {
                Self.error(LinkPolicy.clientWithoutServerKey(endpoint: endpoint, option: option))
                throw ExitCode(1)
            }
            guard plaintext else {
                Self.error(LinkPolicy.plaintextNotConfigured(endpoint: endpoint, option: option))
                throw ExitCode(1)
            }
            Self.warn(LinkPolicy.plaintextWarning(endpoint: endpoint))
            return nil
        }
        let server = try keysOrExit { () throws(KeyStoreError) in try KeyStore.publicKey(argument: serverKey) }
        let pair = try keysOrExit { () throws(KeyStoreError) in try KeyStore.cell.keyPair() }
        return CurveClientKeys(keyPair: pair, serverKey: server.key)
    }

    /// A server's CURVE setup: the ZAP handler (already serving `context`) and the server key pair.
    struct Server {
        let keyPair: CurveKeyPair
        let handler: ZAPHandler
        let authenticator: LinkAuthenticator
        let store: KeyStore
    }

    /// Starts the ZAP handler for a server binding `bind` in `context` if the cell has keys (each decision is
    /// recorded in the audit log and passed to `say`); nil for a local plaintext server (`plaintext`:
    /// --dev-plaintext was given; after a warning). Exits 1 when the endpoint is reachable from other machines
    /// and the cell has no keys, or when it is local, has none, and plaintext was not asked for.
    static func server(
        bind: String,
        context: ZMQContext,
        plaintext: Bool,
        say: @escaping @Sendable (String) -> Void
    ) throws -> Server? {
        let store = KeyStore.cell
        guard store.hasKeyPair else {
            guard LinkPolicy.reach(of: bind) == .local else {
                Self.error(LinkPolicy.serverWithoutKeys(endpoint: bind, store: store))
                throw ExitCode(1)
            }
            guard plaintext else {
                Self.error(LinkPolicy.plaintextNotConfigured(endpoint: bind, option: nil))
                throw ExitCode(1)
            }
            Self.warn(LinkPolicy.plaintextWarning(endpoint: bind))
            return nil
        }
        let pair = try keysOrExit { () throws(KeyStoreError) in try store.keyPair() }
        let authenticator = LinkAuthenticator(allowList: ClientAllowList(path: store.allowListPath), endpoint: bind) {
            event in
            AuditTrail.record(event.name, event.fields)
            say(event.line)
        }
        let handler: ZAPHandler
        do { handler = try ZAPHandler(context: context) { authenticator.authorize($0) } } catch {
            Self.error("cannot start the ZAP handler: \(error)")
            throw ExitCode(1)
        }
        if authenticator.allowList.count == 0 {
            Self.warn(
                "warning: the allow-list \(store.allowListPath) is empty: every client will be refused; add "
                    + "clients with `edgecell keys allow KEY`"
            )
        }
        return Server(keyPair: pair, handler: handler, authenticator: authenticator, store: store)
    }

    static func warn(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data(("error: " + text + "\n").utf8))
    }
}
