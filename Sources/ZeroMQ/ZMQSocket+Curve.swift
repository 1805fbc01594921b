import CZMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a client needs to open a CURVE link: its own key pair (the server's ZAP handler checks the public half
/// against its allow-list) and the server's public key (so it talks to the right server, not an impostor).
public struct CurveClientKeys: Hashable, Sendable {
    /// This client's key pair.
    public var keyPair: CurveKeyPair
    /// The server's public key.
    public var serverKey: CurvePublicKey

    /// Creates client keys.
    public init(keyPair: CurveKeyPair, serverKey: CurvePublicKey) {
        self.keyPair = keyPair
        self.serverKey = serverKey
    }
}

extension ZMQSocket {
    /// The ZAP domain EdgeCell's servers announce to their handler (any non-empty domain makes libzmq ask it).
    public static let zapDomain = "edgecell"

    /// Makes this socket a CURVE server (zmq_curve(7)): every connection is encrypted and its client
    /// authenticated through the ZAP handler of the socket's context. Call before `bind`.
    ///
    /// libzmq accepts any client key when no ZAP handler is bound in the context (its "Stonehouse" fallback), so
    /// this refuses (`EPERM`) unless a `ZAPHandler` already serves `context`, the socket's context.
    public func makeCurveServer(_ keyPair: CurveKeyPair, context: ZMQContext) throws(ZMQError) {
        guard ZAPHandler.isBound(in: context) else {
            throw ZMQError(
                code: EPERM,
                operation: "CURVE server without a ZAP handler in its context (libzmq would admit any client key)"
            )
        }
        try self.setOption(ZMQ_CURVE_SERVER, 1, name: "ZMQ_CURVE_SERVER")
        try self.setOption(ZMQ_CURVE_SECRETKEY, bytes: keyPair.secret, name: "ZMQ_CURVE_SECRETKEY")
        try self.setOption(ZMQ_ZAP_DOMAIN, bytes: Array(Self.zapDomain.utf8), name: "ZMQ_ZAP_DOMAIN")
    }

    /// Makes this socket a CURVE client of the server whose public key is `keys.serverKey`. Call before
    /// `connect`. A server that refuses the key drops the connection during the handshake: no message passes,
    /// and libzmq keeps retrying at the reconnect interval.
    public func makeCurveClient(_ keys: CurveClientKeys) throws(ZMQError) {
        try self.setOption(ZMQ_CURVE_SERVERKEY, bytes: keys.serverKey.bytes, name: "ZMQ_CURVE_SERVERKEY")
        try self.setOption(ZMQ_CURVE_PUBLICKEY, bytes: keys.keyPair.publicKey.bytes, name: "ZMQ_CURVE_PUBLICKEY")
        try self.setOption(ZMQ_CURVE_SECRETKEY, bytes: keys.keyPair.secret, name: "ZMQ_CURVE_SECRETKEY")
    }

    /// The security mechanism in force: `NULL` (plaintext), `PLAIN` or `CURVE`.
    public var mechanism: String {
        switch (try? self.option(ZMQ_MECHANISM)) ?? 0 {
        case 0: "NULL"
        case 1: "PLAIN"
        case 2: "CURVE"
        case let other: "mechanism \(other)"
        }
    }
}
