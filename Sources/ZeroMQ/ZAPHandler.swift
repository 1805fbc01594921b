import CZMQ
import Dispatch
import Foundation
import Synchronization

/// A ZeroMQ authentication handler (ZAP, RFC 27) for one context, on a thread of its own.
///
/// libzmq asks the handler bound at `inproc://zeromq.zap.01` in a server socket's context about every client
/// that completes a CURVE handshake; the handler answers 200 (accept) or 400 (refuse), and a refused client is
/// dropped before any message passes. `init` returns only once the handler is bound, so a server socket made
/// after it can never run unauthenticated — libzmq accepts every client when no handler is bound. One handler per
/// context (a second one fails with `EADDRINUSE`).
public final class ZAPHandler: Sendable {
    /// The endpoint libzmq sends ZAP requests to.
    public static let endpoint = "inproc://zeromq.zap.01"

    /// One authentication request.
    public struct Request: Sendable, Hashable {
        /// The server socket's ZAP domain.
        public var domain: String
        /// The client's IP address (no port), as libzmq reports it.
        public var address: String
        /// The mechanism: `CURVE` here (`NULL` or `PLAIN` for sockets that set a ZAP domain without CURVE).
        public var mechanism: String
        /// The client's long-term public key (CURVE only).
        public var clientKey: CurvePublicKey?

        /// Creates a request.
        public init(domain: String, address: String, mechanism: String, clientKey: CurvePublicKey?) {
            self.domain = domain
            self.address = address
            self.mechanism = mechanism
            self.clientKey = clientKey
        }
    }

    /// The answer to a request.
    public enum Decision: Sendable, Hashable {
        /// Let the client in; `userID` is attached to its messages (`ZMQ_MSG_PROPERTY_USER_ID`).
        case accept(userID: String)
        /// Drop the client; `reason` goes back to it in the handshake's ERROR command.
        case refuse(reason: String)
    }

    /// Shared with the handler's thread (which must not keep the handler itself alive).
    private final class State: Sendable {
        let stopping = Atomic<Bool>(false)
        let finished = DispatchSemaphore(value: 0)
    }

    private let state = State()
    private let context: ZMQContext

    /// Binds the handler in `context` and starts answering; `authorize` runs on the handler's thread, once per
    /// connection attempt, and must not block for long (libzmq's handshake waits for it).
    public init(
        context: ZMQContext,
        authorize: @escaping @Sendable (Request) -> Decision
    ) throws(ZMQError) {
        self.context = context
        let bound = DispatchSemaphore(value: 0)
        let failure = Mutex<ZMQError?>(nil)
        let state = self.state
        let thread = Thread {
            defer { state.finished.signal() }
            do throws(ZMQError) {
                let socket = try ZMQSocket(context, kind: .reply)
                try socket.bind(Self.endpoint)
                bound.signal()
                Self.serve(socket, state, authorize)
            } catch {
                failure.withLock { $0 = error }
                bound.signal()
            }
        }
        thread.name = "edgecell-zap"
        thread.start()
        bound.wait()
        if let error = failure.withLock({ $0 }) {
            state.stopping.store(true, ordering: .relaxed)  // so deinit does not wait a second time
            state.finished.wait()
            throw error
        }
    }

    private static func serve(
        _ socket: borrowing ZMQSocket,
        _ state: State,
        _ authorize: (Request) -> Decision
    ) {
        while !state.stopping.load(ordering: .relaxed) {
            do throws(ZMQError) {
                guard try socket.poll(.readable, timeout: 100).contains(.readable),
                    let frames = try socket.receiveMessage(wait: false)
                else { continue }
                _ = try socket.send(frames: Self.answer(frames, authorize))
            } catch {
                if error.code == ZMQError.terminated { return }
                // A malformed request cannot come from libzmq itself; keep serving the next one.
            }
        }
    }

    /// Whether a ZAP handler (this one or any other) is bound in `context`: probes by trying to bind its endpoint.
    public static func isBound(in context: ZMQContext) -> Bool {
        guard let probe = try? ZMQSocket(context, kind: .reply) else { return false }
        guard (try? probe.bind(Self.endpoint)) != nil else { return true }
        _ = zmq_unbind(probe.handle, Self.endpoint)
        return false
    }

    /// Stops answering and closes the handler's socket (waits for its thread, at most ~0.1 s).
    public func stop() {
        if self.state.stopping.exchange(true, ordering: .relaxed) { return }
        self.state.finished.wait()
    }

    deinit { self.stop() }

    /// The reply frames to a request's frames (RFC 27: version, request id, status code, status text, user id,
    /// metadata).
    static func answer(_ frames: [[UInt8]], _ authorize: (Request) -> Decision) -> [[UInt8]] {
        let version = Array("1.0".utf8)
        guard frames.count >= 6, frames[0] == version else {
            return [
                version, frames.count > 1 ? frames[1] : [], Array("400".utf8), Array("bad ZAP request".utf8), [], [],
            ]
        }
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        var key: CurvePublicKey?
        if mechanism == "CURVE" {
            guard frames.count == 7, let parsed = try? CurvePublicKey(bytes: frames[6]) else {
                return [version, frames[1], Array("400".utf8), Array("bad CURVE credentials".utf8), [], []]
            }
            key = parsed
        }
        let request = Request(
            domain: String(decoding: frames[2], as: UTF8.self),
            address: String(decoding: frames[3], as: UTF8.self),
            mechanism: mechanism,
            clientKey: key
        )
        switch authorize(request) {
        case .accept(let userID):
            return [version, frames[1], Array("200".utf8), Array("OK".utf8), Array(userID.utf8), []]
        case .refuse(let reason):
            return [version, frames[1], Array("400".utf8), Array(reason.utf8), [], []]
        }
    }
}
