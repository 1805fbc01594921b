import ZeroMQ

/// When a ZeroMQ link must use CURVE, and what to tell the operator when it cannot.
///
/// The rule: a link that can leave the machine (any `tcp://` endpoint that is not loopback, including a bind to
/// `*` or `0.0.0.0`, and any other transport) must use CURVE, and there is no switch to turn that off. A link that
/// stays on the machine (`ipc://`, `inproc://`, `tcp://` on 127.0.0.0/8, `[::1]` or `localhost`) uses CURVE
/// when keys are configured; it runs in plaintext only when explicitly configured for development
/// (`--dev-plaintext`), with a warning naming the risk: any local user can connect to a loopback port.
public enum LinkPolicy {
    /// Where an endpoint's traffic can go.
    public enum Reach: Sendable, Equatable {
        /// Only processes on this machine can connect.
        case local
        /// Other machines can connect (or be connected to).
        case network
    }

    /// Classifies an endpoint (`tcp://HOST:PORT`, `tcp://SOURCE;HOST:PORT`, `ipc://PATH`, `inproc://NAME`).
    public static func reach(of endpoint: String) -> Reach {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return .local }
        guard endpoint.hasPrefix("tcp://") else { return .network }
        var address = String(endpoint.dropFirst("tcp://".count))
        // A connect endpoint may name a source address first: the destination is what leaves the machine.
        if let semicolon = address.lastIndex(of: ";") { address = String(address[address.index(after: semicolon)...]) }
        let host: String
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            host = String(address[address.index(after: address.startIndex)..<close])
        } else if let colon = address.lastIndex(of: ":") {
            host = String(address[..<colon])
        } else {
            host = address
        }
        let lower = host.lowercased()
        if lower == "localhost" || lower == "::1" || lower == "0:0:0:0:0:0:0:1" { return .local }
        let octets = lower.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count == 4, octets[0] == "127", octets.allSatisfy({ UInt8($0) != nil }) { return .local }
        return .network
    }

    /// What a server must be told when it would bind `endpoint` without keys that can reach other machines.
    public static func serverWithoutKeys(endpoint: String, store: KeyStore) -> String {
        "refusing to serve \(endpoint) without CURVE: other machines can reach it, and this cell has no key pair "
            + "(\(store.secretKeyPath)). Create one with `edgecell keys generate`, allow each client's public key "
            + "with `edgecell keys allow KEY` (a client prints its key with `edgecell keys show`), and start again. "
            + "Only loopback (tcp://127.0.0.1:…) and ipc:// endpoints may run without keys, for development."
    }

    /// What a client must be told when it would connect to `endpoint`, which leaves the machine, without the
    /// server's public key (`option` names the command-line option that gives it).
    public static func clientWithoutServerKey(endpoint: String, option: String) -> String {
        "refusing to connect to \(endpoint) without CURVE: the link leaves this machine. Give the server's public "
            + "key with \(option) (the server prints it at start; `edgecell keys show` on an edgecell server), make "
            + "sure this cell has a key pair (`edgecell keys generate`), and have the server allow this cell's "
            + "public key (`edgecell keys allow KEY` there, or the twin's --curve-allow file)."
    }

    /// What to say when a local link has no keys and plaintext was not asked for (`option` names the key option
    /// of a client, nil for a server).
    public static func plaintextNotConfigured(endpoint: String, option: String?) -> String {
        let keys =
            option.map {
                "give the server's public key with \($0) (and this cell a key pair: `edgecell keys generate`)"
            } ?? "create this cell's keys (`edgecell keys generate`, `edgecell keys allow KEY` for each client)"
        return "refusing to run \(endpoint) without CURVE: \(keys), or, for development on this machine only, start "
            + "with --dev-plaintext (plaintext, no authentication: any local user can connect)"
    }

    /// The warning for a local link running without CURVE.
    public static func plaintextWarning(endpoint: String) -> String {
        "warning: \(endpoint) runs without CURVE (--dev-plaintext: plaintext, no authentication; for development "
            + "on loopback and ipc:// only): any local user can connect to it. For a production cell create keys with "
            + "`edgecell keys generate` and `edgecell keys allow` (docs/SECURITY.md)."
    }
}
