import CellRuntime
import Foundation
import Testing
import TwinProtocol
import ZeroMQ

/// The runtime's link to the real twin over CURVE: the twin admits the runtime whose key it allows, and refuses
/// (and logs) any other.
@Suite(.serialized) struct TwinCurveTests {
    /// The twin's key files in a fresh folder: its secret key (0600) and an allow-list holding `allowed`.
    static func twinKeys(allowing allowed: CurvePublicKey) throws -> (folder: String, keys: CurveKeyPair) {
        let folder = NSTemporaryDirectory() + "edgecell-twin-keys-\(UUID().uuidString)"
        try FileManager.default.createDirectory(
            atPath: folder,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let keys = try CurveKeyPair.generate()
        let secret = "edgecell-curve-secret-v1 \(keys.publicKey.z85) \(keys.secretZ85)\n"
        FileManager.default.createFile(
            atPath: folder + "/cell.key",
            contents: Data(secret.utf8),
            attributes: [.posixPermissions: 0o600]
        )
        try "edgecell-curve-key-v1 \(allowed.z85) test-runtime\n".write(
            toFile: folder + "/allowed-clients",
            atomically: true,
            encoding: .utf8
        )
        return (folder, keys)
    }

    @Test func theAllowedRuntimeStepsAndAnUnknownKeyIsRefusedAndLogged() throws {
        let runtime = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        let (folder, twinKeys) = try Self.twinKeys(allowing: runtime.publicKey)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let twin = try startTwin([
            "--cameras", "none", "--curve-secret-key", folder + "/cell.key", "--curve-allow",
            folder + "/allowed-clients",
        ])
        defer { twin.terminate() }
        #expect(twin.readyLine.hasSuffix("curve=\(twinKeys.publicKey.z85)"))
        let context = try ZMQContext()

        var refusedOptions = TwinLink.Options(endpoint: twin.endpoint)
        refusedOptions.timeout = 0.5
        refusedOptions.attempts = 2
        refusedOptions.curve = CurveClientKeys(keyPair: stranger, serverKey: twinKeys.publicKey)
        let refused = try TwinLink(context: context, options: refusedOptions)
        let error = #expect(throws: RuntimeError.self) { try refused.handshake() }
        #expect(error?.code == .twinUnreachable)
        #expect(error?.message.contains("refused this cell's CURVE key") == true, "\(String(describing: error))")

        // A runtime that expects another twin key never completes the handshake, and says what to check.
        var impostorOptions = refusedOptions
        impostorOptions.curve = CurveClientKeys(keyPair: runtime, serverKey: try CurveKeyPair.generate().publicKey)
        let impostor = try TwinLink(context: context, options: impostorOptions)
        let mismatch = #expect(throws: RuntimeError.self) { try impostor.handshake() }
        #expect(mismatch?.message.contains("CURVE") == true, "\(String(describing: mismatch))")

        var options = TwinLink.Options(endpoint: twin.endpoint)
        options.curve = CurveClientKeys(keyPair: runtime, serverKey: twinKeys.publicKey)
        let link = try TwinLink(context: context, options: options)
        let welcome = try link.handshake()
        let episode = try link.reset(task: "bin-red", seed: 0)
        var home = JointVector()
        for (index, value) in episode.observation.jointPositions.enumerated() { home[index] = value }
        let observation = try link.step(targets: home, gripper: 0.08)
        #expect(observation.jointPositions.count == welcome.joints.count)

        let log = twin.lastLogLines.joined(separator: "\n")
        #expect(log.contains("link.refused client_key=\(stranger.publicKey.z85) address=127.0.0.1"), "\(log)")
        #expect(log.contains("link.accepted client_key=\(runtime.publicKey.z85)"), "\(log)")
    }
}
