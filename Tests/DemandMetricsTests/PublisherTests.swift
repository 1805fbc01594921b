import DemandMetrics
import Foundation
import Synchronization
import Testing
import ZeroMQ

/// A free loopback TCP port: bound by a ROUTER with a wildcard port, then released.
func freeEndpoint(_ context: ZMQContext) throws -> String {
    let socket = try ZMQSocket(context, kind: .router)
    try socket.bind("tcp://127.0.0.1:*")
    return socket.lastEndpoint
}

/// Reports numbered by the window's end (seconds after a fixed start) so their order can be checked.
final class ReportSource: Sendable {
    private let made = Atomic<Int>(0)
    var count: Int { self.made.load(ordering: .relaxed) }

    func next() -> Data? {
        let k = self.made.add(1, ordering: .relaxed).newValue
        var report = try! DemandReport.decode(from: data(validReportObject()))
        report.window.end = report.window.start.addingTimeInterval(Double(k))
        return report.encoded()
    }
}

func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// Receives until `count` reports were accepted or `seconds` passed.
func receive(_ receiver: DemandReceiver, count: Int, seconds: Double) throws -> [DemandReport] {
    var reports: [DemandReport] = []
    let deadline = Date().addingTimeInterval(seconds)
    while reports.count < count && Date() < deadline {
        if case .accepted(let report, _) = try receiver.next(timeout: 0.05) { reports.append(report) }
    }
    return reports
}

@Suite(.serialized) struct PublisherTests {
    @Test func reports_made_while_the_endpoint_is_down_arrive_after_it_returns() throws {
        let context = try ZMQContext()
        let endpoint = try freeEndpoint(context)
        let source = ReportSource()
        var options = DemandPublisher.Options(endpoint: endpoint, interval: 0.05)
        options.answerTimeout = 0.2
        let publisher = DemandPublisher(context: context, options: options, makeReport: { source.next() })
        defer { publisher.stop() }
        #expect(waitUntil(5) { publisher.current.buffered >= 5 })
        #expect(publisher.current.sent == 0)
        let receiver = try DemandReceiver(context: context, bind: endpoint)
        let reports = try receive(receiver, count: 5, seconds: 10)
        // The first five reports, in the order they were made: none was lost while nobody listened.
        #expect(reports.map { Int($0.window.end.timeIntervalSince($0.window.start)) } == [1, 2, 3, 4, 5])
        #expect(waitUntil(5) { publisher.current.sent >= 5 })
        #expect(publisher.current.dropped == 0)
    }

    @Test func a_full_buffer_drops_the_oldest_and_counts_it() throws {
        let context = try ZMQContext()
        let endpoint = try freeEndpoint(context)
        let source = ReportSource()
        var options = DemandPublisher.Options(endpoint: endpoint, interval: 0.02)
        options.capacity = 3
        let counters = Mutex(DemandCollector.PublisherCounters())
        let publisher = DemandPublisher(
            context: context,
            options: options,
            makeReport: { source.next() },
            onCounters: { value in counters.withLock { $0 = value } }
        )
        defer { publisher.stop() }
        #expect(waitUntil(5) { publisher.current.dropped >= 4 })
        #expect(publisher.current.buffered == 3)
        #expect(counters.withLock { $0.dropped } >= 4)  // what /metrics shows
        let receiver = try DemandReceiver(context: context, bind: endpoint)
        let first = try receive(receiver, count: 1, seconds: 10)
        // The oldest were dropped: the first report to arrive is not report 1.
        #expect(first.count == 1 && Int(first[0].window.end.timeIntervalSince(first[0].window.start)) > 1)
    }

    @Test func malformed_and_future_reports_are_refused_and_the_receiver_keeps_going() throws {
        let context = try ZMQContext()
        let receiver = try DemandReceiver(context: context, bind: "tcp://127.0.0.1:*")
        let sender = try ZMQSocket(context, kind: .dealer)
        try sender.connect(receiver.endpoint)
        try sender.setReceiveTimeout(milliseconds: 5000)
        func exchange(_ payload: Data) throws -> (DemandReceiver.Event?, String) {
            try sender.send(frames: [Array("7".utf8), Array(payload)])
            var event: DemandReceiver.Event?
            for _ in 0..<100 where event == nil { event = try receiver.next(timeout: 0.05) }
            let answer = try sender.receiveMessage() ?? []
            return (event, answer.count == 2 ? String(decoding: answer[1], as: UTF8.self) : "no answer")
        }
        var future = validReportObject()
        future["version"] = 2
        let (futureEvent, futureAnswer) = try exchange(data(future))
        guard case .rejected(let error, _) = futureEvent else {
            Issue.record("a version 2 report was not refused")
            return
        }
        #expect(error.code == .unsupportedVersion)
        #expect(futureAnswer.contains("rejected: version 2 is newer than this build reads (1)"))
        let (badEvent, badAnswer) = try exchange(data(setting(validReportObject(), "rates.policy_hz", "fast")))
        guard case .rejected(let bad, _) = badEvent else {
            Issue.record("a malformed report was not refused")
            return
        }
        #expect(bad.field == "rates.policy_hz" && badAnswer.contains("field 'rates.policy_hz' has the wrong type"))
        let (garbageEvent, _) = try exchange(Data("{not json".utf8))
        if case .accepted = garbageEvent { Issue.record("garbage accepted") }
        let (goodEvent, goodAnswer) = try exchange(data(validReportObject()))
        guard case .accepted(let report, _) = goodEvent else {
            Issue.record("the receiver did not accept a valid report after refusing bad ones")
            return
        }
        #expect(report.cellId == "cell-7" && goodAnswer == "ok")
    }
}
