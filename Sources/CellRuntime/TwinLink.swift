import Foundation
import TwinProtocol
import ZeroMQ

/// What the cell's scripted expert would command now (`ADVICE`, `Sim/PROTOCOL.md` §4.9), from `TwinLink.advice()`.
public struct ExpertAdvice: Sendable, Equatable {
    /// Joint position targets, rad (the arm's joints first, unused lanes 0), ready for `TwinLink.step`.
    public var targets: JointVector
    /// Finger aperture target, m.
    public var gripper: Double
    /// The expert's task phase (`reach`, `descend`, `grasp`, `lift`, `move`, `place`, `release`, `retreat`,
    /// `done`).
    public var phase: String
    /// Whether the expert has nothing more to do (its phase is `done`; the targets then hold the arm).
    public var done: Bool

    /// Creates an advice.
    public init(targets: JointVector, gripper: Double, phase: String, done: Bool) {
        self.targets = targets
        self.gripper = gripper
        self.phase = phase
        self.done = done
    }
}

/// The runtime's end of the twin protocol (`Sim/PROTOCOL.md`): one DEALER socket to the twin's ROUTER.
///
/// Requests follow the libzmq guide's *Lazy Pirate* pattern: send, poll for the reply with a timeout, and on
/// timeout close the socket, open a new one and resend the same request (same `seq`, so the twin answers a
/// retried `STEP` from its cache instead of stepping twice), giving up after a bounded number of attempts.
/// A dead twin is therefore reported within `timeout × attempts`, never a hang. Replies that are stale (another
/// `seq`) or malformed are dropped and counted; the link keeps waiting for the real answer.
///
/// One thread owns a link at a time (ZeroMQ sockets are not thread safe); ownership may move between threads
/// at points that synchronise (thread start and join).
public final class TwinLink: @unchecked Sendable {
    /// Link settings.
    public struct Options: Sendable {
        /// The twin's endpoint, e.g. `tcp://127.0.0.1:5555`.
        public var endpoint: String
        /// How long one attempt waits for a reply, s.
        public var timeout: Double = 1.0
        /// Attempts per request (≥ 1).
        public var attempts: Int = 3
        /// How long a `RESET` attempt waits (resets render the first images), s.
        public var resetTimeout: Double = 10.0
        /// Name sent in `HELLO`.
        public var clientName = "edgecell-runtime"
        /// Version sent in `HELLO`.
        public var clientVersion = "0.1.0"
        /// CURVE keys (this cell's pair and the twin's public key); nil: plaintext (loopback and ipc:// only, by
        /// the CLI's policy).
        public var curve: CurveClientKeys?

        /// Options for an endpoint, with default timeouts.
        public init(endpoint: String) { self.endpoint = endpoint }
    }

    /// Counters of what the link dropped or repeated.
    public struct Counters: Sendable {
        /// Requests resent after a timeout.
        public var retries = 0
        /// Replies dropped because their `seq` was not the outstanding request's.
        public var staleReplies = 0
        /// Replies dropped because they broke the protocol.
        public var malformedReplies = 0
        /// The last malformed reply's error.
        public var lastViolation: ProtocolError?
    }

    /// Settings.
    public let options: Options
    /// The handshake, once `handshake()` succeeded.
    public private(set) var welcome: Welcome?
    /// What went wrong on the wire so far.
    public private(set) var counters = Counters()

    private let context: ZMQContext
    private var socket: ZMQSocket?
    /// With CURVE: the link socket's handshake events, read only when the twin does not answer (to say why).
    private var monitor: ZMQMonitor?
    /// The last handshake failure seen, for the "did not answer" error.
    private var handshakeFailure: String?
    private var seq: UInt64 = 0
    private var sendBuffer: [UInt8] = []
    /// STEP frames are encoded here without allocation (the hot path).
    private let stepStorage = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 16)
    /// Observations are decoded into this one value, reusing its arrays' storage (the hot path).
    private var scratch = Observation(jointCapacity: 8, objectCapacity: 64, imageCapacity: 16)
    private let frame0 = UnsafeMutableRawBufferPointer.allocate(
        byteCount: MessageHeader.size + MessageHeader.maxPayloadLength,
        alignment: 16
    )
    /// One buffer per possible extra frame, each as large as the largest camera image.
    private var frameBuffers: [UnsafeMutableRawBufferPointer] = []
    private var frameSizes: [Int] = []

    /// Opens a link (libzmq connects in the background; nothing is sent yet).
    public init(context: ZMQContext, options: Options) throws(RuntimeError) {
        guard options.attempts >= 1, options.timeout > 0, options.resetTimeout > 0 else {
            throw RuntimeError(.configuration, "link needs attempts ≥ 1 and positive timeouts")
        }
        self.context = context
        self.options = options
        self.sendBuffer.reserveCapacity(4096)
        self.frameSizes.reserveCapacity(Int(MessageHeader.maxExtraFrames))
        try self.reopen()
    }

    deinit {
        self.stepStorage.deallocate()
        self.frame0.deallocate()
        for buffer in self.frameBuffers { buffer.deallocate() }
    }

    private func reopen() throws(RuntimeError) {
        self.readHandshakeEvents()
        self.monitor = nil
        self.socket = nil
        do {
            let socket = try ZMQSocket(self.context, kind: .dealer)
            try socket.setHighWaterMarks(send: 1000, receive: 1000)
            try socket.setMaxMessageSize(
                Int64(MessageHeader.size + MessageHeader.maxPayloadLength + 16 * 4096 * 4096 * 3)
            )
            try socket.setReconnectInterval(milliseconds: 50)
            if let curve = self.options.curve {
                try socket.makeCurveClient(curve)
                self.monitor = try ZMQMonitor(
                    socket,
                    context: self.context,
                    events: ZMQMonitor.handshakeFailedAuth | ZMQMonitor.handshakeFailedProtocol
                        | ZMQMonitor.handshakeFailedNoDetail | ZMQMonitor.handshakeSucceeded
                )
            }
            try socket.connect(self.options.endpoint)
            self.socket = consume socket
        } catch {
            throw RuntimeError(.system, "cannot open a link to the twin at \(self.options.endpoint): \(error)")
        }
    }

    // MARK: - Requests

    /// Says hello and receives the robot description.
    @discardableResult
    public func handshake() throws(RuntimeError) -> Welcome {
        let reply = try self.request(
            .hello(
                Hello(
                    clientName: self.options.clientName,
                    clientVersion: self.options.clientVersion
                )
            ),
            timeout: self.options.timeout
        )
        guard case .welcome(let welcome) = reply else {
            throw RuntimeError(.protocolViolation, "the twin answered HELLO with \(Self.name(reply)), not WELCOME")
        }
        self.welcome = welcome
        let largest = welcome.cameras.map { Int($0.width) * Int($0.height) * 3 }.max() ?? 0
        for buffer in self.frameBuffers { buffer.deallocate() }
        self.frameBuffers = (0..<Int(MessageHeader.maxExtraFrames)).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: max(largest, 1), alignment: 16)
        }
        return welcome
    }

    /// Starts an episode.
    public func reset(task: String, seed: UInt64) throws(RuntimeError) -> Episode {
        let reply = try self.request(.reset(Reset(task: task, seed: seed)), timeout: self.options.resetTimeout)
        guard case .episode(let episode) = reply else {
            throw RuntimeError(.protocolViolation, "the twin answered RESET with \(Self.name(reply)), not EPISODE")
        }
        return episode
    }

    /// Lock-step: asks the cell's scripted expert what it would command for the current state (`EXPERT` →
    /// `ADVICE`), e.g. to record a demonstration: `advice()`, then `step(targets:gripper:)` with its targets, each
    /// step. The twin advances its expert once per step, so asking again before the next `step` (or a retry)
    /// returns the same advice; `reset` starts a fresh expert.
    /// - Throws: `RuntimeError.twinError` with `BAD_STATE` if the twin has no expert (`welcome.hasExpert` is
    ///   false), runs in real time, or no episode was reset yet.
    public func advice() throws(RuntimeError) -> ExpertAdvice {
        let reply = try self.request(.expert, timeout: self.options.timeout)
        guard case .advice(let advice) = reply else {
            throw RuntimeError(.protocolViolation, "the twin answered EXPERT with \(Self.name(reply)), not ADVICE")
        }
        guard advice.jointTargets.count <= JointVector.scalarCount else {
            throw RuntimeError(
                .protocolViolation,
                "ADVICE has \(advice.jointTargets.count) joint targets, the runtime handles at most "
                    + "\(JointVector.scalarCount)"
            )
        }
        var targets = JointVector()
        for (index, value) in advice.jointTargets.enumerated() { targets[index] = value }
        return ExpertAdvice(targets: targets, gripper: advice.gripperTarget, phase: advice.phase, done: advice.done)
    }

    /// Lock-step: sends joint and gripper targets and returns the observation one control period later.
    public func step(targets: JointVector, gripper: Double) throws(RuntimeError) -> Observation {
        _ = try self.stepSample(targets: targets, gripper: gripper)
        return self.scratch
    }

    /// Lock-step hot path: like `step`, but returns only the control thread's view of the observation and
    /// allocates nothing (the STEP is encoded into preallocated memory and the observation decoded into a
    /// reused value; its object poses and images stay readable through `lastObservation` and `imageBytes`).
    public func stepSample(targets: JointVector, gripper: Double) throws(RuntimeError) -> ObservationSample {
        self.seq &+= 1
        let count = try self.encodeStep(targets: targets, gripper: gripper)
        let received = try self.exchange(
            requestName: "STEP",
            bytes: UnsafeRawBufferPointer(rebasing: self.stepStorage[0..<count]),
            expected: .observation,
            timeout: self.options.timeout
        )
        guard case .observation(let header) = received else {
            throw RuntimeError(.protocolViolation, "the twin answered STEP with something else than OBSERVATION")
        }
        return ObservationSample(self.scratch, seq: header.seq, receivedAt: MonotonicClock.nanoseconds())
    }

    /// The last observation decoded in place (by `stepSample` or `nextObservation`).
    public var lastObservation: Observation { self.scratch }

    /// The image headers of the last observation decoded in place (image *j* is `imageBytes(j)`).
    public var lastImages: [ImageHeader] { self.scratch.images }

    /// Real-time: sends targets without waiting for an answer (the twin applies the latest one it has).
    public func command(targets: JointVector, gripper: Double) throws(RuntimeError) {
        self.seq &+= 1
        let count = try self.encodeStep(targets: targets, gripper: gripper)
        do {
            _ = try self.socket!.send(UnsafeRawBufferPointer(rebasing: self.stepStorage[0..<count]), wait: false)
        } catch {
            throw RuntimeError(.system, "sending a command to \(self.options.endpoint) failed: \(error)")
        }
    }

    private func encodeStep(targets: JointVector, gripper: Double) throws(RuntimeError) -> Int {
        var targets = targets
        let n = min(self.welcome?.joints.count ?? 0, 8)
        let result = withUnsafeBytes(of: &targets) { raw in
            Result { () throws(ProtocolError) -> Int in
                try TwinCodec.encodeStep(
                    seq: self.seq,
                    jointTargets: UnsafeBufferPointer(
                        start: raw.baseAddress!.assumingMemoryBound(to: Double.self),
                        count: n
                    ),
                    gripperTarget: gripper,
                    into: self.stepStorage
                )
            }
        }
        do {
            return try result.get()
        } catch {
            throw RuntimeError(.configuration, "cannot encode STEP: \(error)")
        }
    }

    /// Real-time: waits up to `timeout` seconds for the next streamed observation (malformed ones are dropped)
    /// and returns the control thread's view of it; the full observation is `lastObservation`.
    /// - Returns: nil if none arrived in time. An `ERROR` from the twin is thrown.
    public func nextObservation(timeout: Double) throws(RuntimeError) -> ObservationSample? {
        let deadline = MonotonicClock.seconds() + timeout
        while true {
            guard let received = try self.receive(until: deadline, inPlace: true) else { return nil }
            switch received {
            case .observation(let header):
                return ObservationSample(self.scratch, seq: header.seq, receivedAt: MonotonicClock.nanoseconds())
            case .message(_, .error(let report)):
                throw Self.twinError(report, request: "a command")
            case .message:
                continue  // late answers to heartbeats or resets
            }
        }
    }

    /// Measures one heartbeat round trip, s.
    public func heartbeat() throws(RuntimeError) -> Double {
        let start = MonotonicClock.seconds()
        let reply = try self.request(.heartbeat(Heartbeat(time: start)), timeout: self.options.timeout)
        guard case .heartbeat = reply else {
            throw RuntimeError(.protocolViolation, "the twin answered HEARTBEAT with \(Self.name(reply))")
        }
        return MonotonicClock.seconds() - start
    }

    /// Real-time: waits until the twin has sent something or `signal` is raised (one poll over both).
    public func waitForTraffic(
        orSignal signal: EventSignal,
        timeout: Double
    ) throws(RuntimeError)
        -> (readable: Bool, signalled: Bool)
    {
        do {
            let result = try self.socket!.poll(
                .readable,
                orReadable: signal.fileDescriptor,
                timeout: max(0, Int(timeout * 1000))
            )
            return (result.socket.contains(.readable), result.fdReadable)
        } catch {
            throw RuntimeError(.system, "polling the link to \(self.options.endpoint) failed: \(error)")
        }
    }

    // MARK: - Lazy Pirate

    /// The reply type a request expects (an ERROR is always possible).
    static func expectedReply(to message: Message) -> MessageType {
        switch message {
        case .hello: .welcome
        case .reset: .episode
        case .step: .observation
        case .expert: .advice
        default: .heartbeat
        }
    }

    private func request(_ message: Message, timeout: Double) throws(RuntimeError) -> Message {
        self.seq &+= 1
        try self.encode(message)
        // Array.withUnsafeBytes rethrows untyped errors, so carry the typed one out in a Result.
        let result = self.sendBuffer.withUnsafeBytes { bytes in
            Result { () throws(RuntimeError) in
                try self.exchange(
                    requestName: Self.name(message),
                    bytes: bytes,
                    expected: Self.expectedReply(to: message),
                    timeout: timeout
                )
            }
        }
        let received = try result.get()
        guard case .message(_, let reply) = received else {
            throw RuntimeError(.protocolViolation, "unexpected in-place observation")  // not reachable: inPlace is off
        }
        return reply
    }

    /// What `receive` produced.
    private enum Received {
        /// An OBSERVATION decoded into `scratch` (in-place mode).
        case observation(MessageHeader)
        /// Any other message, decoded normally.
        case message(MessageHeader, Message)

        var header: MessageHeader {
            switch self {
            case .observation(let header), .message(let header, _): header
            }
        }
    }

    /// One request with the Lazy Pirate retries: send `bytes` (frame 0 of request `seq`), wait for the reply
    /// of the `expected` type (or an ERROR) carrying the same `seq`.
    private func exchange(
        requestName: String,
        bytes: UnsafeRawBufferPointer,
        expected: MessageType,
        timeout: Double
    )
        throws(RuntimeError) -> Received
    {
        let seq = self.seq
        let started = MonotonicClock.seconds()
        for attempt in 1...self.options.attempts {
            if attempt > 1 {
                self.counters.retries += 1
                try self.reopen()  // a socket that missed a reply is reset, never reused
            }
            do {
                guard try self.socket!.send(bytes, wait: false) || self.sendBlocking(bytes, timeout: timeout)
                else { continue }
            } catch {
                throw RuntimeError(.system, "sending \(requestName) to \(self.options.endpoint) failed: \(error)")
            }
            let deadline = MonotonicClock.seconds() + timeout
            while let received = try self.receive(until: deadline, inPlace: expected == .observation) {
                let header = received.header
                // In real-time mode streamed observations carry the twin's own counter, which may equal this
                // request's seq: a reply must match both.
                guard header.seq == seq, header.type == expected || header.type == .error else {
                    self.counters.staleReplies += 1
                    continue
                }
                if case .message(_, .error(let report)) = received {
                    throw Self.twinError(report, request: requestName)
                }
                return received
            }
        }
        let elapsed = MonotonicClock.seconds() - started
        var text =
            "the twin at \(self.options.endpoint) did not answer \(requestName) seq \(seq): "
            + "\(self.options.attempts) attempts over \(String(format: "%.1f", elapsed)) s"
        self.readHandshakeEvents()
        if let violation = self.counters.lastViolation {
            text += " (it sent malformed replies; the last: \(violation))"
        } else if let failure = self.handshakeFailure {
            text += ": \(failure)"
        } else if self.options.curve != nil {
            text += "; is the twin running, with CURVE, and is --twin-key its public key (its ready line ends curve=…)?"
        } else {
            text += "; is the twin running?"
        }
        throw RuntimeError(.twinUnreachable, text)
    }

    /// Notes the last CURVE handshake failure the monitor reported (a later success clears it).
    private func readHandshakeEvents() {
        guard let events = self.monitor?.drain() else { return }
        for event in events {
            switch event.kind {
            case ZMQMonitor.handshakeSucceeded:
                self.handshakeFailure = nil
            case ZMQMonitor.handshakeFailedAuth:
                self.handshakeFailure =
                    "it refused this cell's CURVE key (ZAP status \(event.value)): add the cell's public key "
                    + "(`edgecell keys show`) to the twin's --curve-allow file"
            case ZMQMonitor.handshakeFailedProtocol:
                self.handshakeFailure =
                    "the CURVE handshake failed (protocol error 0x\(String(event.value, radix: 16))): does the twin run "
                    + "with CURVE (--curve-secret-key)?"
            default:
                self.handshakeFailure = "the CURVE handshake failed (errno \(event.value))"
            }
        }
    }

    private func sendBlocking(_ bytes: UnsafeRawBufferPointer, timeout: Double) throws(ZMQError) -> Bool {
        let ready = try self.socket!.poll(.writable, timeout: Int(timeout * 1000))
        guard ready.contains(.writable) else { return false }
        return try self.socket!.send(bytes, wait: false)
    }

    private func encode(_ message: Message) throws(RuntimeError) {
        do {
            try TwinCodec.encode(message, seq: self.seq, into: &self.sendBuffer)
        } catch {
            throw RuntimeError(.configuration, "cannot encode \(Self.name(message)): \(error)")
        }
    }

    /// Receives the next well-formed message before the deadline; drops and counts malformed ones.
    private func receive(until deadline: Double, inPlace: Bool = false) throws(RuntimeError) -> Received? {
        var first = true
        while true {
            let remaining = deadline - MonotonicClock.seconds()
            if remaining <= 0 && !first { return nil }
            first = false
            do {
                let ready = try self.socket!.poll(.readable, timeout: max(0, Int((remaining * 1000).rounded(.up))))
                guard ready.contains(.readable) else { continue }
                guard let head = try self.socket!.receive(into: self.frame0, wait: false) else { continue }
                // Pull the extra frames (images) into their buffers whatever happens, so the socket is
                // positioned at the next message.
                self.frameSizes.removeAll(keepingCapacity: true)
                var more = head.more
                while more {
                    let index = self.frameSizes.count
                    if index < self.frameBuffers.count,
                        let frame = try self.socket!.receive(into: self.frameBuffers[index])
                    {
                        self.frameSizes.append(frame.size)
                        more = frame.more
                    } else {
                        self.socket!.discardRemainingFrames()
                        self.frameSizes.append(Int.max)
                        more = false
                    }
                }
                if head.isTruncated {
                    self.violation(
                        ProtocolError(
                            code: .tooLong,
                            offendingSeq: 0,
                            message: "frame 0 of \(head.size) bytes exceeds the 1 MiB limit"
                        )
                    )
                    continue
                }
                let bytes = UnsafeRawBufferPointer(rebasing: self.frame0[0..<head.size])
                do {
                    if inPlace, try TwinCodec.decodeHeader(bytes).type == .observation {
                        let header = try TwinCodec.decodeObservation(
                            frame0: bytes,
                            extraFrameSizes: self.frameSizes,
                            into: &self.scratch
                        )
                        if let welcome = self.welcome {
                            try welcome.validate(
                                self.scratch,
                                type: .observation,
                                frameSizes: self.frameSizes,
                                seq: header.seq
                            )
                        }
                        return .observation(header)
                    }
                    let decoded = try TwinCodec.decode(frame0: bytes, extraFrameSizes: self.frameSizes)
                    if let welcome = self.welcome {
                        try welcome.validate(decoded.1, frameSizes: self.frameSizes, seq: decoded.0.seq)
                    }
                    return .message(decoded.0, decoded.1)
                } catch {
                    self.violation(error)
                    continue
                }
            } catch {
                throw RuntimeError(.system, "receiving from the twin at \(self.options.endpoint) failed: \(error)")
            }
        }
    }

    private func violation(_ error: ProtocolError) {
        self.counters.malformedReplies += 1
        self.counters.lastViolation = error
    }

    /// Bytes of image `index` of the last message received (valid until the next receive).
    public func imageBytes(_ index: Int) -> UnsafeRawBufferPointer? {
        guard index < self.frameSizes.count, self.frameSizes[index] != Int.max else { return nil }
        return UnsafeRawBufferPointer(rebasing: self.frameBuffers[index][0..<self.frameSizes[index]])
    }

    static func twinError(_ report: ErrorReport, request: String) -> RuntimeError {
        RuntimeError(.twinError, "the twin rejected \(request): \(report.code.name) \(report.message)")
    }

    static func name(_ message: Message) -> String { message.type.name }
}
