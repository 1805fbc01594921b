import Foundation
import Synchronization
import Testing

@testable import ZeroMQ

/// CURVE keys, the ZAP handler and what a CURVE link puts on the wire.
@Suite struct CurveTests {
    @Test func keyPairsRoundTripThroughZ85AndNeverShowTheSecret() throws {
        #expect(CurveKeyPair.isSupported)
        let pair = try CurveKeyPair.generate()
        #expect(pair.publicKey.z85.count == 40)
        let again = try CurveKeyPair(secretZ85: pair.secretZ85)
        #expect(again == pair)
        #expect(try CurvePublicKey(z85: pair.publicKey.z85) == pair.publicKey)
        for text in [pair.description, pair.debugDescription, String(reflecting: pair), "\(pair)"] {
            #expect(!text.contains(pair.secretZ85))
        }
        #expect(throws: CurveKeyError.self) { try CurvePublicKey(z85: "short") }
        #expect(throws: CurveKeyError.self) { try CurvePublicKey(z85: String(repeating: "~", count: 40)) }
        #expect(try CurveKeyPair.generate() != pair)
    }

    /// A client whose key the ZAP handler does not allow gets no message through, and the handler saw (and can
    /// log) its key and address; the allowed client's message arrives.
    @Test func zapHandlerRefusesUnknownKeysAndAdmitsAllowedOnes() throws {
        let server = try CurveKeyPair.generate()
        let allowed = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        let seen = Mutex<[ZAPHandler.Request]>([])
        let serverContext = try ZMQContext()
        let zap = try ZAPHandler(context: serverContext) { request in
            seen.withLock { $0.append(request) }
            return request.clientKey == allowed.publicKey ? .accept(userID: "allowed") : .refuse(reason: "unknown")
        }
        defer { zap.stop() }
        let router = try ZMQSocket(serverContext, kind: .router)
        try router.makeCurveServer(server, context: serverContext)
        try router.bind("tcp://127.0.0.1:0")
        #expect(router.mechanism == "CURVE")

        let clientContext = try ZMQContext()
        let refused = try Self.client(clientContext, stranger, server: server.publicKey, endpoint: router.lastEndpoint)
        try refused.send(Array("from the stranger".utf8))
        #expect(try router.poll(.readable, timeout: 500).isEmpty)
        let admitted = try Self.client(clientContext, allowed, server: server.publicKey, endpoint: router.lastEndpoint)
        try admitted.send(Array("from the allowed client".utf8))
        #expect(!(try router.poll(.readable, timeout: 5000).isEmpty))
        let message = try #require(try router.receiveMessage())
        #expect(message.last == Array("from the allowed client".utf8))

        let requests = seen.withLock { $0 }
        #expect(requests.contains { $0.clientKey == stranger.publicKey && $0.address == "127.0.0.1" })
        #expect(requests.contains { $0.clientKey == allowed.publicKey && $0.mechanism == "CURVE" })
        #expect(requests.allSatisfy { $0.domain == ZMQSocket.zapDomain })
    }

    /// Without a ZAP handler libzmq would let any CURVE client in, so `makeCurveServer` refuses to run without one.
    @Test func curveServerNeedsZapHandler() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        #expect(!ZAPHandler.isBound(in: context))
        let error = #expect(throws: ZMQError.self) {
            try router.makeCurveServer(try CurveKeyPair.generate(), context: context)
        }
        #expect(error?.description.contains("ZAP handler") == true)
        let zap = try ZAPHandler(context: context) { _ in .refuse(reason: "") }
        #expect(ZAPHandler.isBound(in: context))
        #expect(throws: ZMQError.self) { _ = try ZAPHandler(context: context) { _ in .refuse(reason: "") } }
        try router.makeCurveServer(try CurveKeyPair.generate(), context: context)
        zap.stop()
    }

    /// What the guard prevents: without a handler, libzmq lets any CURVE client in (raw options, no guard).
    @Test func withoutZapHandlerLibzmqAdmitsAnyKey() throws {
        let server = try CurveKeyPair.generate()
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        try router.setOption(47, 1, name: "ZMQ_CURVE_SERVER")
        try router.setOption(49, bytes: server.secret, name: "ZMQ_CURVE_SECRETKEY")
        try router.bind("tcp://127.0.0.1:0")
        let client = try Self.client(
            context,
            try CurveKeyPair.generate(),
            server: server.publicKey,
            endpoint: router.lastEndpoint
        )
        try client.send(Array("anyone".utf8))
        #expect(!(try router.poll(.readable, timeout: 5000).isEmpty))
    }

    /// A client that expects another server key never completes the handshake.
    @Test func clientRefusesAServerWithAnotherKey() throws {
        let server = try CurveKeyPair.generate()
        let impostor = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        let context = try ZMQContext()
        let zap = try ZAPHandler(context: context) { _ in .accept(userID: "") }
        defer { zap.stop() }
        let router = try ZMQSocket(context, kind: .router)
        try router.makeCurveServer(impostor, context: context)
        try router.bind("tcp://127.0.0.1:0")
        let clientContext = try ZMQContext()
        let dealer = try Self.client(clientContext, client, server: server.publicKey, endpoint: router.lastEndpoint)
        try dealer.send(Array("to the real server only".utf8))
        #expect(try router.poll(.readable, timeout: 500).isEmpty)
    }

    /// The same exchange through a recording relay: in plaintext the payload and the `NULL` mechanism are on the
    /// wire; with CURVE neither the payload nor the protocol's magic is, only the `CURVE` greeting.
    @Test func curveTrafficIsNotPlaintextOnTheWire() throws {
        let payload = Array("ECTW EDGECELL-PLAINTEXT-MARKER joint targets 0.125 0.25".utf8)
        let plain = try Self.capture(payload: payload, curve: false)
        #expect(occurs(payload, in: plain))
        #expect(occurs(Array("ECTW".utf8), in: plain))
        #expect(occurs(Array("NULL".utf8), in: plain))

        let secured = try Self.capture(payload: payload, curve: true)
        #expect(secured.count > payload.count * 2)  // the exchange happened (handshake + two messages)
        #expect(!occurs(Array("EDGECELL-PLAINTEXT-MARKER".utf8), in: secured))
        #expect(!occurs(Array("ECTW".utf8), in: secured))
        #expect(occurs(Array("CURVE".utf8), in: secured))
    }

    // MARK: - Helpers

    static func client(
        _ context: ZMQContext,
        _ keys: CurveKeyPair,
        server: CurvePublicKey,
        endpoint: String
    ) throws -> ZMQSocket {
        let socket = try ZMQSocket(context, kind: .dealer)
        try socket.makeCurveClient(CurveClientKeys(keyPair: keys, serverKey: server))
        try socket.connect(endpoint)
        return socket
    }

    /// One request and its echo through a relay; returns every byte the relay saw.
    static func capture(payload: [UInt8], curve: Bool) throws -> [UInt8] {
        let serverKeys = try CurveKeyPair.generate()
        let clientKeys = try CurveKeyPair.generate()
        let serverContext = try ZMQContext()
        let zap = try ZAPHandler(context: serverContext) { request in
            request.clientKey == clientKeys.publicKey ? .accept(userID: "") : .refuse(reason: "unknown")
        }
        defer { zap.stop() }
        let router = try ZMQSocket(serverContext, kind: .router)
        if curve { try router.makeCurveServer(serverKeys, context: serverContext) }
        try router.bind("tcp://127.0.0.1:0")
        let port = try #require(UInt16(router.lastEndpoint.split(separator: ":").last ?? ""))
        let relay = try TCPRelay(targetPort: port)
        defer { relay.stop() }
        let clientContext = try ZMQContext()
        let dealer = try ZMQSocket(clientContext, kind: .dealer)
        if curve { try dealer.makeCurveClient(CurveClientKeys(keyPair: clientKeys, serverKey: serverKeys.publicKey)) }
        try dealer.connect(relay.endpoint)
        try dealer.send(payload)
        #expect(!(try router.poll(.readable, timeout: 5000).isEmpty))
        let request = try #require(try router.receiveMessage())
        #expect(request.last == payload)
        try router.send(frames: [request[0], payload])
        #expect(!(try dealer.poll(.readable, timeout: 5000).isEmpty))
        #expect(try dealer.receiveMessage() == [payload])
        return relay.bytes
    }
}
