import CZMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A ZeroMQ socket with one owner.
///
/// libzmq sockets are not thread safe (zmq(7)), so the type cannot be copied: exactly one value owns the
/// socket and closes it when it goes away. Receives go into caller-owned buffers, so the data path allocates
/// nothing. Every socket is created with `ZMQ_LINGER = 0`: closing it never blocks on unsent messages.
public struct ZMQSocket: ~Copyable {
    /// The socket types EdgeCell uses (zmq_socket(3)).
    public enum Kind: Int32, Sendable {
        case pair = 0
        case publisher = 1
        case subscriber = 2
        case request = 3
        case reply = 4
        case dealer = 5
        case router = 6
        case
            pull = 7
        case push = 8
    }

    /// Events for `poll`.
    public struct Events: OptionSet, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        /// At least one message can be received without blocking.
        public static let readable = Events(rawValue: Int16(ZMQ_POLLIN))
        /// At least one message can be sent without blocking.
        public static let writable = Events(rawValue: Int16(ZMQ_POLLOUT))
    }

    /// One received frame.
    public struct Frame: Sendable, Equatable {
        /// The frame's true size; larger than the buffer when the frame was truncated.
        public let size: Int
        /// More frames of the same message follow.
        public let more: Bool
        /// The frame did not fit in the buffer and its tail was dropped (zmq_recv(3)).
        public var isTruncated: Bool { self.size > self.capacity }
        let capacity: Int
    }

    @usableFromInline let handle: UnsafeMutableRawPointer
    /// The socket's type.
    public let kind: Kind

    /// Opens a socket of `kind` in `context`.
    public init(_ context: ZMQContext, kind: Kind) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, kind.rawValue) else {
            throw ZMQError.last("zmq_socket \(kind)")
        }
        self.handle = handle
        self.kind = kind
        var zero: Int32 = 0
        zmq_setsockopt(handle, ZMQ_LINGER, &zero, MemoryLayout<Int32>.size)
    }

    deinit {
        zmq_close(self.handle)
    }

    // MARK: - Endpoints

    /// Binds to an endpoint such as `tcp://127.0.0.1:5555`, `tcp://127.0.0.1:0` (a free port) or `inproc://x`.
    public func bind(_ endpoint: String) throws(ZMQError) {
        if zmq_bind(self.handle, endpoint) != 0 { throw ZMQError.last("bind \(endpoint)") }
    }

    /// Connects to an endpoint. libzmq connects in the background and reconnects by itself.
    public func connect(_ endpoint: String) throws(ZMQError) {
        if zmq_connect(self.handle, endpoint) != 0 { throw ZMQError.last("connect \(endpoint)") }
    }

    /// Disconnects from an endpoint given to `connect`.
    public func disconnect(_ endpoint: String) throws(ZMQError) {
        if zmq_disconnect(self.handle, endpoint) != 0 { throw ZMQError.last("disconnect \(endpoint)") }
    }

    /// The endpoint the socket last bound or connected to, with the real port after binding port 0.
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        guard zmq_getsockopt(self.handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return "" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - Options

    /// Sets an integer socket option (zmq_setsockopt(3)).
    public func setOption(_ option: Int32, _ value: Int32, name: String = "") throws(ZMQError) {
        var value = value
        if zmq_setsockopt(self.handle, option, &value, MemoryLayout<Int32>.size) != 0 {
            throw ZMQError.last("setsockopt \(name.isEmpty ? String(option) : name)=\(value)")
        }
    }

    /// Sets a 64-bit integer socket option.
    public func setOption(_ option: Int32, int64 value: Int64, name: String = "") throws(ZMQError) {
        var value = value
        if zmq_setsockopt(self.handle, option, &value, MemoryLayout<Int64>.size) != 0 {
            throw ZMQError.last("setsockopt \(name.isEmpty ? String(option) : name)=\(value)")
        }
    }

    /// Sets a binary socket option.
    public func setOption(_ option: Int32, bytes: [UInt8], name: String = "") throws(ZMQError) {
        let result = bytes.withUnsafeBytes { zmq_setsockopt(self.handle, option, $0.baseAddress, $0.count) }
        if result != 0 { throw ZMQError.last("setsockopt \(name.isEmpty ? String(option) : name)") }
    }

    /// Reads an integer socket option.
    public func option(_ option: Int32) throws(ZMQError) -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(self.handle, option, &value, &size) != 0 { throw ZMQError.last("getsockopt \(option)") }
        return value
    }

    /// Milliseconds a blocking receive waits before failing with `EAGAIN`; -1 waits forever.
    public func setReceiveTimeout(milliseconds: Int32) throws(ZMQError) {
        try self.setOption(ZMQ_RCVTIMEO, milliseconds, name: "ZMQ_RCVTIMEO")
    }

    /// Milliseconds a blocking send waits before failing with `EAGAIN`; -1 waits forever.
    public func setSendTimeout(milliseconds: Int32) throws(ZMQError) {
        try self.setOption(ZMQ_SNDTIMEO, milliseconds, name: "ZMQ_SNDTIMEO")
    }

    /// Queue limits in messages (0 = unlimited).
    public func setHighWaterMarks(send: Int32, receive: Int32) throws(ZMQError) {
        try self.setOption(ZMQ_SNDHWM, send, name: "ZMQ_SNDHWM")
        try self.setOption(ZMQ_RCVHWM, receive, name: "ZMQ_RCVHWM")
    }

    /// Queue messages only to completed connections (`ZMQ_IMMEDIATE`), so a send to a dead peer fails fast.
    public func setImmediate(_ on: Bool) throws(ZMQError) {
        try self.setOption(ZMQ_IMMEDIATE, on ? 1 : 0, name: "ZMQ_IMMEDIATE")
    }

    /// The largest inbound message libzmq accepts before dropping the connection; -1 = no limit.
    public func setMaxMessageSize(_ bytes: Int64) throws(ZMQError) {
        try self.setOption(ZMQ_MAXMSGSIZE, int64: bytes, name: "ZMQ_MAXMSGSIZE")
    }

    /// Reconnect interval after a connection is lost, milliseconds.
    public func setReconnectInterval(milliseconds: Int32) throws(ZMQError) {
        try self.setOption(ZMQ_RECONNECT_IVL, milliseconds, name: "ZMQ_RECONNECT_IVL")
    }

    /// The identity a ROUTER peer sees for this socket.
    public func setRoutingID(_ id: [UInt8]) throws(ZMQError) {
        try self.setOption(ZMQ_ROUTING_ID, bytes: id, name: "ZMQ_ROUTING_ID")
    }

    // MARK: - Sending

    /// Sends one frame.
    /// - Parameters:
    ///   - bytes: the frame's bytes; libzmq copies them before returning.
    ///   - more: more frames of the same message follow.
    ///   - wait: block until the frame is queued (subject to the send timeout); otherwise fail fast.
    /// - Returns: false if the frame could not be queued without blocking (or the send timeout expired).
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, more: Bool = false, wait: Bool = true) throws(ZMQError) -> Bool {
        let flags = (more ? ZMQ_SNDMORE : 0) | (wait ? 0 : ZMQ_DONTWAIT)
        while true {
            if zmq_send(self.handle, bytes.baseAddress, bytes.count, flags) >= 0 { return true }
            let code = zmq_errno()
            if code == EINTR { continue }
            if code == EAGAIN { return false }
            throw ZMQError(code: code, operation: "send")
        }
    }

    /// Sends one frame from an array.
    @discardableResult
    public func send(_ bytes: [UInt8], more: Bool = false, wait: Bool = true) throws(ZMQError) -> Bool {
        let result: Result<Bool, ZMQError> = bytes.withUnsafeBytes { buffer in
            do throws(ZMQError) { return .success(try self.send(buffer, more: more, wait: wait)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Sends a whole multipart message.
    @discardableResult
    public func send(frames: [[UInt8]], wait: Bool = true) throws(ZMQError) -> Bool {
        for (index, frame) in frames.enumerated() {
            let sent = try self.send(frame, more: index + 1 < frames.count, wait: wait)
            if !sent {
                // Only the first frame can fail without blocking; later frames of a message queue atomically.
                return false
            }
        }
        return true
    }

    // MARK: - Receiving

    /// Receives one frame into a caller-owned buffer.
    /// - Parameters:
    ///   - buffer: where the frame's bytes go; a longer frame is truncated and reported by `Frame.isTruncated`.
    ///   - wait: block (subject to the receive timeout) or return at once.
    /// - Returns: the frame, or nil if none arrived without blocking or before the receive timeout.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, wait: Bool = true) throws(ZMQError) -> Frame? {
        let flags = wait ? 0 : ZMQ_DONTWAIT
        while true {
            let size = zmq_recv(self.handle, buffer.baseAddress, buffer.count, flags)
            if size >= 0 {
                return Frame(size: Int(size), more: self.hasMoreFrames, capacity: buffer.count)
            }
            let code = zmq_errno()
            if code == EINTR { continue }
            if code == EAGAIN { return nil }
            throw ZMQError(code: code, operation: "receive")
        }
    }

    /// Whether the last received frame has more frames after it.
    public var hasMoreFrames: Bool {
        var more: Int32 = 0
        var size = MemoryLayout<Int32>.size
        return zmq_getsockopt(self.handle, ZMQ_RCVMORE, &more, &size) == 0 && more != 0
    }

    /// Receives a whole multipart message, allocating one array per frame (control plane and tests).
    /// - Returns: nil if none arrived without blocking or before the receive timeout.
    public func receiveMessage(wait: Bool = true) throws(ZMQError) -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        var flags = wait ? 0 : ZMQ_DONTWAIT
        while true {
            let size = zmq_msg_recv(&message, self.handle, flags)
            if size < 0 {
                let code = zmq_errno()
                if code == EINTR { continue }
                // Frames of one message arrive together, so EAGAIN can only happen before the first one.
                if code == EAGAIN && frames.isEmpty { return nil }
                throw ZMQError(code: code, operation: "receive")
            }
            let data = zmq_msg_data(&message)
            frames.append(Array(UnsafeRawBufferPointer(start: data, count: Int(size))))
            if zmq_msg_more(&message) == 0 { return frames }
            flags = 0
        }
    }

    /// Drops the remaining frames of a partly received message.
    public func discardRemainingFrames() {
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        while self.hasMoreFrames {
            if zmq_msg_recv(&message, self.handle, 0) < 0 && zmq_errno() != EINTR { return }
        }
    }

    // MARK: - Polling

    /// Waits until the socket has one of `events`, or the timeout expires.
    /// - Parameter milliseconds: 0 returns at once; -1 waits forever.
    /// - Returns: the events that are ready (empty on timeout).
    public func poll(_ events: Events, timeout milliseconds: Int) throws(ZMQError) -> Events {
        var item = zmq_pollitem_t(socket: self.handle, fd: 0, events: events.rawValue, revents: 0)
        while true {
            let result = zmq_poll(&item, 1, milliseconds)
            if result >= 0 { return Events(rawValue: item.revents) }
            let code = zmq_errno()
            if code == EINTR { continue }
            throw ZMQError(code: code, operation: "poll")
        }
    }
}

extension ZMQSocket {
    /// Waits until the socket has one of `events` or a plain file descriptor (an eventfd, a pipe) is readable,
    /// or the timeout expires: one `zmq_poll` over both, so an I/O thread can serve a socket and a wake-up
    /// signal from another thread without spinning.
    /// - Parameter milliseconds: 0 returns at once; -1 waits forever.
    public func poll(
        _ events: Events,
        orReadable fd: Int32,
        timeout milliseconds: Int
    ) throws(ZMQError) -> (socket: Events, fdReadable: Bool) {
        var items = (
            zmq_pollitem_t(socket: self.handle, fd: 0, events: events.rawValue, revents: 0),
            zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0)
        )
        while true {
            let result = withUnsafeMutableBytes(of: &items) { raw in
                zmq_poll(raw.baseAddress!.assumingMemoryBound(to: zmq_pollitem_t.self), 2, milliseconds)
            }
            if result >= 0 {
                return (Events(rawValue: items.0.revents), items.1.revents & Int16(ZMQ_POLLIN) != 0)
            }
            let code = zmq_errno()
            if code == EINTR { continue }
            throw ZMQError(code: code, operation: "poll")
        }
    }
}
