import Audit
import CLITestSupport
import Foundation
import LinkSecurity
import Testing
import ZeroMQ

@Suite(.serialized) struct KeysCLITests {
    @Test func keysCommandRoundTripNeverPrintsTheSecretAndIsAudited() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let state = dir.path + "/state"
        var (status, text) = try edgecell(["keys", "show"], state: state)
        #expect(status == 1 && text.contains("edgecell keys generate"))

        (status, text) = try edgecell(["keys", "generate", "--comment", "cell-7"], state: state)
        #expect(status == 0, "\(text)")
        let store = KeyStore(directory: state + "/keys")
        let pair = try store.keyPair()
        #expect(mode(store.secretKeyPath) == 0o600)
        #expect(text.contains("edgecell-curve-key-v1 \(pair.publicKey.z85) cell-7"))
        var outputs = [text]
        (status, text) = try edgecell(["keys", "generate"], state: state)
        #expect(status == 1 && text.contains("--force"))

        // Another machine's key, given as its cell.pub file.
        let other = KeyStore(directory: dir.path + "/other")
        let otherPair = try other.generate(comment: "runtime on cell-9")
        (status, text) = try edgecell(["keys", "allow", other.publicKeyPath], state: state)
        #expect(status == 0 && text.contains("allowed \(otherPair.publicKey.z85) (runtime on cell-9)"), "\(text)")
        (status, text) = try edgecell(["keys", "show"], state: state)
        #expect(status == 0)
        #expect(text.contains("public key: edgecell-curve-key-v1 \(pair.publicKey.z85) cell-7"))
        #expect(text.contains("allowed clients (1") && text.contains(otherPair.publicKey.z85))
        outputs.append(text)
        (status, text) = try edgecell(["keys", "allow", store.secretKeyPath], state: state)
        #expect(status == 1 && text.contains("secret key file"))
        outputs.append(text)
        (status, text) = try edgecell(["keys", "revoke", "runtime on cell-9"], state: state)
        #expect(status == 0 && text.contains("revoked \(otherPair.publicKey.z85)"), "\(text)")
        #expect(try store.allowList().isEmpty)
        for output in outputs { #expect(!output.contains(pair.secretZ85)) }

        let log = AuditLog(path: state + "/audit.log")
        #expect(try log.verify().entries == 3)
        let entries = try log.entries()
        #expect(entries.map(\.event) == ["keys.generated", "keys.allowed", "keys.revoked"])
        #expect(entries[0].fields["public_key"] == pair.publicKey.z85)
        #expect(entries[1].fields["client_key"] == otherPair.publicKey.z85)
        #expect(!(try String(contentsOfFile: log.path, encoding: .utf8)).contains(pair.secretZ85))
    }

    /// A cell without keys refuses links that leave the machine, saying how to create keys.
    @Test func nonLoopbackLinksWithoutKeysAreRefusedWithTheFix() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let state = dir.path + "/state"
        var (status, text) = try edgecell(
            ["strategy", "serve", "--bind", "tcp://0.0.0.0:0", "--duration", "1"],
            state: state
        )
        #expect(status == 1, "\(text)")
        #expect(text.contains("refusing to serve tcp://0.0.0.0:0 without CURVE"), "\(text)")
        #expect(text.contains("edgecell keys generate") && text.contains("edgecell keys allow"))
        // The runtime refuses before it connects (192.0.2.1 is a documentation address; nothing is sent).
        (status, text) = try edgecell(["run", "--twin", "tcp://192.0.2.1:5555"], state: state)
        #expect(status != 0 && text.contains("refusing to connect to tcp://192.0.2.1:5555 without CURVE"), "\(text)")
        #expect(text.contains("--twin-key") && text.contains("edgecell keys generate"))
        (status, text) = try edgecell(
            ["run", "--controller", "policy", "--model", "x", "--strategy-endpoint", "tcp://192.0.2.1:6000"],
            state: state
        )
        #expect(status != 0 && text.contains("--strategy-key"), "\(text)")
        // A Z85 key may begin with "-": --twin-key and --strategy-key take it as their value (parsing passes,
        // and the run stops at the model, which does not exist, before connecting).
        let dashKey = "-" + String(repeating: "0", count: 39)
        let plainKey = String(repeating: "0", count: 40)
        for dashed in [true, false] {
            (status, text) = try edgecell(
                [
                    "run", "--controller", "policy", "--model", "x", "--twin", "tcp://192.0.2.1:5555",
                    "--twin-key", dashed ? dashKey : plainKey, "--strategy-endpoint", "tcp://192.0.2.1:6000",
                    "--strategy-key", dashed ? plainKey : dashKey,
                ],
                state: state
            )
            #expect(status != 0 && !text.contains("Missing value") && text.contains("refusing to run x"), "\(text)")
        }
        // Loopback without keys: refused unless plaintext is asked for explicitly (development), then a warning.
        (status, text) = try edgecell(
            ["strategy", "serve", "--bind", "tcp://127.0.0.1:0", "--duration", "0.3"],
            state: state
        )
        #expect(status == 1 && text.contains("refusing to run tcp://127.0.0.1:0 without CURVE"), "\(text)")
        #expect(text.contains("--dev-plaintext") && text.contains("edgecell keys generate"), "\(text)")
        (status, text) = try edgecell(["run", "--twin", "tcp://127.0.0.1:9"], state: state)
        #expect(status == 1 && text.contains("refusing to run tcp://127.0.0.1:9 without CURVE"), "\(text)")
        #expect(text.contains("--twin-key") && text.contains("--dev-plaintext"), "\(text)")
        (status, text) = try edgecell(
            ["strategy", "serve", "--bind", "tcp://127.0.0.1:0", "--duration", "0.3", "--dev-plaintext"],
            state: state
        )
        #expect(status == 0 && text.contains("runs without CURVE (--dev-plaintext"), "\(text)")
    }

    /// The twin `edgecell run` starts for itself is a CURVE server admitting only this run's key; nothing is
    /// written to the cell's key folder.
    @Test func theLocalTwinRunsOverCurveWithKeysMadeForTheRun() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let state = dir.path + "/state"
        let (status, text) = try edgecell(
            ["run", "--episodes", "1", "--time-limit", "2", "--min-success", "0", "--verbose", "--no-realtime"],
            state: state
        )
        #expect(status == 0, "\(text)")
        #expect(text.contains("(CURVE, keys made for this run)"), "\(text)")
        let ready = try #require(text.split(separator: "\n").first { $0.contains("edgecell-twin ready:") })
        #expect(ready.contains(" curve=") && !ready.contains("curve=off"), "\(ready)")
        #expect(text.contains("link.accepted client_key="), "\(text)")
        #expect(!text.contains("runs without CURVE"))
        #expect(!FileManager.default.fileExists(atPath: state + "/keys"))
    }

    /// `strategy serve` with the cell's keys: an allowed client's report gets an answer, an unknown key gets
    /// nothing, and both attempts are in the audit log with the key and the endpoint.
    @Test func strategyServerAdmitsAllowedKeysAndAuditsBoth() throws {
        let dir = TemporaryDirectory()
        defer { dir.cleanUp() }
        let state = dir.path + "/state"
        let store = KeyStore(directory: state + "/keys")
        let server = try store.generate()
        let allowed = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        try store.allow(PublicKeyLine(key: allowed.publicKey, comment: "cell-1"))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: try edgecellBinary())
        process.arguments = [
            "strategy", "serve", "--bind", "tcp://127.0.0.1:*", "--duration", "6", "--write-every", "0",
        ]
        process.environment = ProcessInfo.processInfo.environment.merging(["EDGECELL_STATE_DIR": state]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var output = ""
        while !output.contains("listening on ") || !output.hasSuffix("\n") {
            let data = pipe.fileHandleForReading.availableData
            if data.isEmpty { break }
            output += String(decoding: data, as: UTF8.self)
        }
        let line = try #require(output.split(separator: "\n").first { $0.contains("listening on ") })
        let endpoint = String(line.split(separator: " ").last!)
        #expect(output.contains("CURVE on") && output.contains(server.publicKey.z85))

        let context = try ZMQContext()
        let refused = try ZMQSocket(context, kind: .dealer)
        try refused.makeCurveClient(CurveClientKeys(keyPair: stranger, serverKey: server.publicKey))
        try refused.connect(endpoint)
        try refused.send(frames: [Array("1".utf8), Array("{}".utf8)])
        #expect(try refused.poll(.readable, timeout: 800).isEmpty)
        let admitted = try ZMQSocket(context, kind: .dealer)
        try admitted.makeCurveClient(CurveClientKeys(keyPair: allowed, serverKey: server.publicKey))
        try admitted.connect(endpoint)
        try admitted.send(frames: [Array("1".utf8), Array("{}".utf8)])
        #expect(!(try admitted.poll(.readable, timeout: 5000).isEmpty))
        let answer = try #require(try admitted.receiveMessage())
        // It got in: "{}" is no report, and the server says so.
        #expect(String(decoding: answer.last ?? [], as: UTF8.self).hasPrefix("rejected: "))
        process.waitUntilExit()

        let entries = try AuditLog(path: state + "/audit.log").entries()
        let refusal = try #require(entries.first { $0.event == "link.refused" })
        #expect(refusal.fields["client_key"] == stranger.publicKey.z85)
        #expect(refusal.fields["endpoint"] == endpoint && refusal.fields["address"] == "127.0.0.1")
        let acceptance = try #require(entries.first { $0.event == "link.accepted" })
        #expect(acceptance.fields["client_key"] == allowed.publicKey.z85 && acceptance.fields["client"] == "cell-1")
        #expect(entries.filter { $0.event == "link.refused" }.count == 1)  // its retries are counted, not logged
    }
}
