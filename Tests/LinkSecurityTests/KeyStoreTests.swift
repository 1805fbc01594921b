import Audit
import Foundation
import LinkSecurity
import Synchronization
import Testing
import ZeroMQ

/// A fresh directory under the system's temporary directory, removed by `cleanUp`.
struct TemporaryDirectory {
    let path: String
    init() {
        self.path = NSTemporaryDirectory() + "edgecell-keys-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }
    func cleanUp() { try? FileManager.default.removeItem(atPath: self.path) }
}

func mode(_ path: String) -> Int {
    var status = stat()
    guard stat(path, &status) == 0 else { return -1 }
    return Int(status.st_mode & 0o777)
}

@Suite struct KeyStoreTests {
    @Test func generateWritesASecretOnlyItsOwnerCanReadAndReadsItBack() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let store = KeyStore(directory: dir.path + "/state/keys")
        #expect(!store.hasKeyPair)
        let missing = #expect(throws: KeyStoreError.self) { try store.keyPair() }
        #expect(missing?.code == .missing && missing?.message.contains("edgecell keys generate") == true)

        let pair = try store.generate(comment: "cell-7")
        #expect(mode(store.secretKeyPath) == 0o600)
        #expect(mode(store.publicKeyPath) == 0o644)
        #expect(mode(store.directory) == 0o700)
        #expect(try store.keyPair() == pair)
        let publicText = try String(contentsOfFile: store.publicKeyPath, encoding: .utf8)
        #expect(publicText == "edgecell-curve-key-v1 \(pair.publicKey.z85) cell-7\n")
        #expect(!publicText.contains(pair.secretZ85))
        // No temporary files left behind.
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: store.directory).sorted() == ["cell.key", "cell.pub"]
        )

        let again = #expect(throws: KeyStoreError.self) { try store.generate() }
        #expect(again?.message.contains("--force") == true)
        let replaced = try store.generate(replace: true)
        #expect(try replaced != pair && store.keyPair() == replaced)
        #expect(mode(store.secretKeyPath) == 0o600)
    }

    @Test func aSecretOthersCanReadOrADamagedOneIsRefused() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let store = KeyStore(directory: dir.path)
        try store.generate()
        chmod(store.secretKeyPath, 0o640)
        let exposed = #expect(throws: KeyStoreError.self) { try store.keyPair() }
        #expect(exposed?.code == .permissions && exposed?.message.contains("chmod 600") == true)
        chmod(store.secretKeyPath, 0o600)

        var text = try String(contentsOfFile: store.secretKeyPath, encoding: .utf8)
        let other = try CurveKeyPair.generate()
        let words = text.split(separator: " ")
        text = "\(words[0]) \(other.publicKey.z85) \(words[2])"
        try text.write(toFile: store.secretKeyPath, atomically: false, encoding: .utf8)
        let damaged = #expect(throws: KeyStoreError.self) { try store.keyPair() }
        #expect(damaged?.code == .format)
        try "not a key\n".write(toFile: store.secretKeyPath, atomically: false, encoding: .utf8)
        #expect(throws: KeyStoreError.self) { try store.keyPair() }
    }

    @Test func allowAndRevokeEditTheListInPlace() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let store = KeyStore(directory: dir.path)
        #expect(try store.allowList().isEmpty)
        let a = try CurveKeyPair.generate().publicKey
        let b = try CurveKeyPair.generate().publicKey
        #expect(try store.allow(PublicKeyLine(key: a, comment: "runtime on cell-1")))
        #expect(try store.allow(PublicKeyLine(key: b)))
        #expect(try !store.allow(PublicKeyLine(key: a, comment: "again")))
        // Hand-written comments survive edits.
        var text = try String(contentsOfFile: store.allowListPath, encoding: .utf8)
        text = "# clients of the strategy server\n" + text
        try text.write(toFile: store.allowListPath, atomically: false, encoding: .utf8)
        #expect(try store.allowList().map(\.key) == [a, b])
        #expect(try store.allowList().first?.comment == "runtime on cell-1")

        #expect(try store.revoke(a).comment == "runtime on cell-1")
        #expect(try store.allowList().map(\.key) == [b])
        #expect(try String(contentsOfFile: store.allowListPath, encoding: .utf8).hasPrefix("# clients"))
        let unknown = #expect(throws: KeyStoreError.self) { try store.revoke(a) }
        #expect(unknown?.code == .argument)
        #expect(mode(store.allowListPath) == 0o644)
    }

    @Test func keyArgumentsAcceptZ85ALineOrAPublicKeyFileButNotASecret() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let store = KeyStore(directory: dir.path)
        let pair = try store.generate(comment: "host a")
        #expect(try KeyStore.publicKey(argument: pair.publicKey.z85).key == pair.publicKey)
        #expect(
            try KeyStore.publicKey(argument: store.publicKeyPath)
                == PublicKeyLine(key: pair.publicKey, comment: "host a")
        )
        let line = "edgecell-curve-key-v1 \(pair.publicKey.z85) host a"
        #expect(try KeyStore.publicKey(argument: line).comment == "host a")
        let secret = #expect(throws: KeyStoreError.self) { try KeyStore.publicKey(argument: store.secretKeyPath) }
        #expect(secret?.message.contains("secret key file") == true)
        #expect(throws: KeyStoreError.self) { try KeyStore.publicKey(argument: "nonsense") }
    }

    /// Keys live beside the audit log, in the same persistent state directory.
    @Test func defaultDirectoryIsTheAuditLogsStateDirectory() {
        for environment in [
            ["EDGECELL_STATE_DIR": "/srv/cell"], ["XDG_STATE_HOME": "/home/op/.state", "HOME": "/home/op"],
            ["HOME": "/home/op"],
        ] {
            let keys = KeyStore.defaultDirectory(environment: environment, systemDirectory: "/nonexistent/edgecell")
            let log = AuditLog.defaultPath(environment: environment, systemDirectory: "/nonexistent/edgecell")
            #expect(keys == (log as NSString).deletingLastPathComponent + "/keys")
        }
    }
}

@Suite struct LinkPolicyTests {
    @Test func loopbackAndIpcAreLocalEverythingElseIsNetwork() {
        for endpoint in [
            "tcp://127.0.0.1:5555", "tcp://127.1.2.3:0", "tcp://localhost:6000", "tcp://[::1]:5555",
            "ipc:///run/edgecell/twin", "inproc://x", "tcp://10.0.0.1;127.0.0.1:5555",
        ] {
            #expect(LinkPolicy.reach(of: endpoint) == .local, "\(endpoint)")
        }
        for endpoint in [
            "tcp://0.0.0.0:5555", "tcp://*:6000", "tcp://10.0.0.5:5555", "tcp://cell-7.plant:5555",
            "tcp://[fe80::1]:5555", "tcp://127.0.0.1;10.0.0.5:5555", "tcp://128.0.0.1:1", "udp://127.0.0.1:1",
            "tcp://eth0:5555",
        ] {
            #expect(LinkPolicy.reach(of: endpoint) == .network, "\(endpoint)")
        }
    }

    @Test func messagesSayHowToCreateKeys() {
        let store = KeyStore(directory: "/srv/cell/keys")
        let server = LinkPolicy.serverWithoutKeys(endpoint: "tcp://0.0.0.0:6000", store: store)
        #expect(server.contains("edgecell keys generate") && server.contains("edgecell keys allow"))
        let client = LinkPolicy.clientWithoutServerKey(endpoint: "tcp://10.0.0.5:5555", option: "--twin-key")
        #expect(client.contains("--twin-key") && client.contains("edgecell keys generate"))
    }
}

@Suite struct LinkAuthenticatorTests {
    @Test func acceptsAllowedKeysRefusesOthersAndFollowsTheFile() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let store = KeyStore(directory: dir.path)
        let allowed = try CurveKeyPair.generate().publicKey
        let stranger = try CurveKeyPair.generate().publicKey
        try store.allow(PublicKeyLine(key: allowed, comment: "cell-1"))
        let events = Mutex<[LinkEvent]>([])
        let authenticator = LinkAuthenticator(
            allowList: ClientAllowList(path: store.allowListPath),
            endpoint: "tcp://0.0.0.0:6000",
            refusalInterval: 3600
        ) { event in events.withLock { $0.append(event) } }
        func ask(_ key: CurvePublicKey?, mechanism: String = "CURVE") -> ZAPHandler.Decision {
            authenticator.authorize(
                .init(domain: "edgecell", address: "10.0.0.9", mechanism: mechanism, clientKey: key)
            )
        }
        #expect(ask(allowed) == .accept(userID: allowed.z85))
        guard case .refuse = ask(stranger) else {
            Issue.record("a stranger was admitted")
            return
        }
        guard case .refuse = ask(nil, mechanism: "NULL") else {
            Issue.record("plaintext was admitted")
            return
        }
        // A refused client retrying at its reconnect interval is recorded once, with the count later.
        for _ in 0..<5 { _ = ask(stranger) }
        var recorded = events.withLock { $0 }
        #expect(recorded.map(\.name) == ["link.accepted", "link.refused", "link.refused"])
        #expect(recorded[0].fields["client"] == "cell-1" && recorded[0].fields["client_key"] == allowed.z85)
        #expect(recorded[1].fields["client_key"] == stranger.z85 && recorded[1].fields["address"] == "10.0.0.9")
        #expect(recorded[1].fields["endpoint"] == "tcp://0.0.0.0:6000")
        #expect(recorded[1].line.contains("link refused") && recorded[1].line.contains(stranger.z85))

        // Allowing and revoking take effect at the next connection.
        try store.allow(PublicKeyLine(key: stranger, comment: "cell-2"))
        #expect(ask(stranger) == .accept(userID: stranger.z85))
        try store.revoke(allowed)
        guard case .refuse = ask(allowed) else {
            Issue.record("a revoked key was admitted")
            return
        }
        // A damaged list refuses everyone.
        try "garbage\n".write(toFile: store.allowListPath, atomically: true, encoding: .utf8)
        guard case .refuse = ask(stranger) else {
            Issue.record("a damaged list admitted a key")
            return
        }
        recorded = events.withLock { $0 }
        #expect(recorded.last?.reason.contains("cannot be read") == true)
    }
}
