import CZMQ
import Synchronization

/// Watches one socket's connection events (zmq_socket_monitor(3)) through an inproc PAIR socket, so a client can
/// tell *why* a server does not answer: its CURVE key was refused, the handshake failed, or nothing connected.
/// Events queue in libzmq until `drain` reads them; drain off the hot path (the monitor costs nothing per message).
public struct ZMQMonitor: ~Copyable {
    /// One event.
    public struct Event: Sendable, Hashable {
        /// The `ZMQ_EVENT_*` bit.
        public let kind: Int32
        /// The event's value: the ZAP status code for `handshakeFailedAuth`, the protocol error for
        /// `handshakeFailedProtocol`, an errno for `handshakeFailedNoDetail`.
        public let value: UInt32
        /// The endpoint it concerns.
        public let endpoint: String
    }

    /// The server refused the client's credentials (value: ZAP status, e.g. 400).
    public static let handshakeFailedAuth = Int32(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
    /// The handshake broke the protocol (e.g. one side uses CURVE, the other not; value: `ZMQ_PROTOCOL_ERROR_*`).
    public static let handshakeFailedProtocol = Int32(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
    /// The handshake failed for another reason (value: errno).
    public static let handshakeFailedNoDetail = Int32(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    /// The handshake completed (for CURVE: keys checked both ways).
    public static let handshakeSucceeded = Int32(ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
    /// A connection was closed (by the peer, or after a failed handshake).
    public static let disconnected = Int32(ZMQ_EVENT_DISCONNECTED)

    private static let serial = Atomic<Int>(0)
    private let socket: ZMQSocket

    /// Starts monitoring `watched` (which must stay open while the monitor is read) for `events`, an OR of the
    /// constants above.
    public init(_ watched: borrowing ZMQSocket, context: ZMQContext, events: Int32) throws(ZMQError) {
        let number = Self.serial.add(1, ordering: .relaxed).newValue
        let endpoint = "inproc://edgecell-monitor-\(number)"
        if zmq_socket_monitor(watched.handle, endpoint, events) != 0 {
            throw ZMQError.last("zmq_socket_monitor \(endpoint)")
        }
        let socket = try ZMQSocket(context, kind: .pair)
        try socket.connect(endpoint)
        self.socket = socket
    }

    /// The events that arrived since the last call, without waiting.
    public func drain() -> [Event] {
        var events: [Event] = []
        while let frames = try? self.socket.receiveMessage(wait: false), frames.count == 2, frames[0].count >= 6 {
            let head = frames[0]
            let kind = Int32(UInt16(head[0]) | UInt16(head[1]) << 8)
            let value = UInt32(head[2]) | UInt32(head[3]) << 8 | UInt32(head[4]) << 16 | UInt32(head[5]) << 24
            events.append(Event(kind: kind, value: value, endpoint: String(decoding: frames[1], as: UTF8.self)))
        }
        return events
    }
}
