import Foundation
import Synchronization
import ZeroMQ

/// Pushes demand reports to a strategy endpoint every `interval` seconds, from a thread of its own.
///
/// Wire format (ZeroMQ, DEALER here → ROUTER at `edgecell strategy serve`): two frames, a sequence number in
/// decimal ASCII and the report's JSON; the server answers the same sequence number and `ok` or
/// `rejected: <reason>`. A report leaves the buffer only when it is answered, so reports made while the
/// endpoint is down (or lost with a connection) are sent when it comes back, oldest first. The buffer holds
/// `capacity` reports; when full the oldest is dropped and counted (each report covers the run so far, so the
/// newest carries everything the dropped one did).
public final class DemandPublisher: Sendable {
    public struct Options: Sendable {
        public var endpoint: String
        /// Seconds between two reports.
        public var interval: Double
        /// Reports kept while the endpoint does not answer.
        public var capacity = 64
        /// Seconds to wait for an answer before sending the report again.
        public var answerTimeout = 1.0
        /// Seconds `stop` keeps trying to deliver what is buffered (including a last report).
        public var flushTimeout = 2.0
        /// CURVE keys (this cell's pair and the strategy server's public key); nil: plaintext.
        public var curve: CurveClientKeys?

        public init(endpoint: String, interval: Double) {
            self.endpoint = endpoint
            self.interval = interval
        }
    }

    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private let counters = Mutex(DemandCollector.PublisherCounters())
    private let failure = Mutex<String?>(nil)

    /// Starts the thread. `makeReport` is called on it every interval (nil: nothing to report yet);
    /// `counters` after every change; `log` for what an operator should see (one line each).
    public init(
        context: ZMQContext,
        options: Options,
        makeReport: @escaping @Sendable () -> Data?,
        onCounters: @escaping @Sendable (DemandCollector.PublisherCounters) -> Void = { _ in },
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        let thread = Thread { [self] in
            defer { self.finished.store(true, ordering: .releasing) }
            do {
                try self.loop(context, options, makeReport, onCounters, log)
            } catch {
                self.failure.withLock { $0 = "\(error)" }
                log("demand reports: stopped: \(error)")
            }
        }
        thread.name = "edgecell-demand"
        thread.start()
    }

    /// What the publisher has done so far.
    public var current: DemandCollector.PublisherCounters { self.counters.withLock { $0 } }

    /// Makes a last report, tries to deliver the buffer for `flushTimeout` seconds, and stops the thread.
    public func stop() {
        self.stopping.store(true, ordering: .relaxed)
        while !self.finished.load(ordering: .acquiring) { usleep(10_000) }
    }

    private func loop(
        _ context: ZMQContext,
        _ options: Options,
        _ makeReport: () -> Data?,
        _ onCounters: (DemandCollector.PublisherCounters) -> Void,
        _ log: (String) -> Void
    ) throws(ZMQError) {
        let socket = try ZMQSocket(context, kind: .dealer)
        try socket.setImmediate(true)
        try socket.setReconnectInterval(milliseconds: 200)
        if let curve = options.curve { try socket.makeCurveClient(curve) }
        try socket.connect(options.endpoint)
        var pending: [(sequence: UInt64, data: Data)] = []
        var sequence: UInt64 = 0
        var inFlight: (sequence: UInt64, sentAt: Double)?
        var next = Self.now() + options.interval
        var flushDeadline: Double?
        var down = false
        func publish(_ change: (inout DemandCollector.PublisherCounters) -> Void) {
            let value = self.counters.withLock { counters in
                change(&counters)
                counters.buffered = pending.count
                return counters
            }
            onCounters(value)
        }
        func enqueue() {
            guard let data = makeReport() else { return }
            sequence += 1
            pending.append((sequence, data))
            var dropped = 0
            while pending.count > options.capacity {
                if inFlight?.sequence == pending[0].sequence { inFlight = nil }
                pending.removeFirst()
                dropped += 1
            }
            publish { $0.dropped += dropped }
        }
        while true {
            let now = Self.now()
            if flushDeadline == nil, self.stopping.load(ordering: .relaxed) {
                enqueue()
                flushDeadline = now + options.flushTimeout
            }
            if let deadline = flushDeadline, pending.isEmpty || now >= deadline { break }
            if flushDeadline == nil, now >= next {
                enqueue()
                next += options.interval
                if next < now { next = now + options.interval }
            }
            if let flight = inFlight, now - flight.sentAt > options.answerTimeout { inFlight = nil }
            if inFlight == nil, let first = pending.first {
                if try socket.send(frames: [Array(String(first.sequence).utf8), Array(first.data)], wait: false) {
                    inFlight = (first.sequence, now)
                } else if !down {
                    down = true
                    log(
                        "demand reports: \(options.endpoint) does not answer; keeping up to \(options.capacity) reports"
                    )
                }
            }
            let wait = max(0, min(0.05, next - Self.now()))
            guard try socket.poll(.readable, timeout: Int(wait * 1000) + 1).contains(.readable) else { continue }
            while let frames = try socket.receiveMessage(wait: false) {
                guard frames.count == 2, let answered = UInt64(String(decoding: frames[0], as: UTF8.self)) else {
                    continue
                }
                let status = String(decoding: frames[1], as: UTF8.self)
                guard let index = pending.firstIndex(where: { $0.sequence == answered }) else { continue }
                pending.remove(at: index)
                if inFlight?.sequence == answered { inFlight = nil }
                if down {
                    down = false
                    log("demand reports: \(options.endpoint) answers again")
                }
                if status == "ok" {
                    publish { $0.sent += 1 }
                } else {
                    log("demand reports: the strategy endpoint refused report \(answered): \(status)")
                    publish { $0.rejected += 1 }
                }
            }
        }
        publish { _ in }
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}

/// The receiving end (`edgecell strategy serve`): a ROUTER socket that decodes each report with the strict
/// decoder and answers it.
public final class DemandReceiver {
    /// What arrived.
    public enum Event {
        /// A valid report.
        case accepted(DemandReport, peer: String)
        /// A message that is not a valid report: why, and from which peer (the DEALER's routing id, hex).
        case rejected(DemandReportError, peer: String)
    }

    private let socket: ZMQSocket
    /// The bound endpoint (with the port the system chose for `tcp://host:*`).
    public let endpoint: String

    /// Binds the receiver. With `curve`, every sender must complete a CURVE handshake that the ZAP handler serving
    /// `context` accepts (start it first: `makeCurveServer` refuses otherwise).
    public init(context: ZMQContext, bind endpoint: String, curve: CurveKeyPair? = nil) throws(ZMQError) {
        let socket = try ZMQSocket(context, kind: .router)
        try socket.setMaxMessageSize(4 << 20)
        if let curve { try socket.makeCurveServer(curve, context: context) }
        try socket.bind(endpoint)
        self.endpoint = socket.lastEndpoint
        self.socket = socket
    }

    /// Waits up to `timeout` seconds for one message and answers it; nil if none came.
    public func next(timeout: Double) throws(ZMQError) -> Event? {
        guard try self.socket.poll(.readable, timeout: Int(timeout * 1000)).contains(.readable),
            let frames = try self.socket.receiveMessage(wait: false), let identity = frames.first
        else { return nil }
        let peer = identity.map { String(format: "%02x", $0) }.joined()
        // [identity, sequence, report] from a publisher; [identity, report] from a sender without sequence numbers.
        let sequence = frames.count == 3 ? frames[1] : []
        let event: Event
        if frames.count == 3 || frames.count == 2 {
            do {
                event = .accepted(try DemandReport.decode(from: Data(frames[frames.count - 1])), peer: peer)
            } catch {
                event = .rejected(error, peer: peer)
            }
        } else {
            event = .rejected(
                DemandReportError(
                    .notJSON,
                    "expected 1 or 2 frames (sequence number, report), got \(frames.count - 1)"
                ),
                peer: peer
            )
        }
        let status: String
        switch event {
        case .accepted: status = "ok"
        case .rejected(let error, _): status = "rejected: \(error.message)"
        }
        _ = try self.socket.send(frames: [identity, sequence, Array(status.utf8)], wait: false)
        return event
    }
}
