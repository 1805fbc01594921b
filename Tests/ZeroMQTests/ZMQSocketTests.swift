import Testing
import ZeroMQ

@Suite struct ZMQSocketTests {
    @Test func versionIsAtLeastFourThree() {
        let version = ZMQContext.version
        #expect(version.major == 4 && version.minor >= 3)
    }

    @Test func dealerRouterRoundTripOverInproc() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        try router.bind("inproc://round-trip")
        let dealer = try ZMQSocket(context, kind: .dealer)
        try dealer.setRoutingID(Array("client".utf8))
        try dealer.connect("inproc://round-trip")

        try dealer.send(frames: [Array("hello".utf8), [1, 2, 3]])
        let received = try #require(try router.receiveMessage())
        #expect(received == [Array("client".utf8), Array("hello".utf8), [1, 2, 3]])

        try router.send(frames: [Array("client".utf8), Array("world".utf8)])
        var buffer = [UInt8](repeating: 0, count: 16)
        let frame = try buffer.withUnsafeMutableBytes { try dealer.receive(into: $0) }
        #expect(frame?.size == 5)
        #expect(frame?.more == false)
        #expect(Array(buffer.prefix(5)) == Array("world".utf8))
    }

    @Test func receiveReportsTruncation() throws {
        let context = try ZMQContext()
        let a = try ZMQSocket(context, kind: .pair)
        try a.bind("inproc://truncation")
        let b = try ZMQSocket(context, kind: .pair)
        try b.connect("inproc://truncation")
        try a.send([UInt8](repeating: 7, count: 100))
        var small = [UInt8](repeating: 0, count: 10)
        let frame = try #require(try small.withUnsafeMutableBytes { try b.receive(into: $0) })
        #expect(frame.size == 100)
        #expect(frame.isTruncated)
        #expect(small == [UInt8](repeating: 7, count: 10))
    }

    @Test func receiveTimesOutWithNil() throws {
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context, kind: .dealer)
        try dealer.setReceiveTimeout(milliseconds: 20)
        try dealer.connect("tcp://127.0.0.1:1")  // nothing listens there: the receive must time out, not hang
        var buffer = [UInt8](repeating: 0, count: 8)
        let frame = try buffer.withUnsafeMutableBytes { try dealer.receive(into: $0) }
        #expect(frame == nil)
        #expect(try dealer.receiveMessage(wait: false) == nil)
        #expect(try dealer.poll(.readable, timeout: 10).isEmpty)
    }

    @Test func bindToPortZeroReportsTheRealPort() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        try router.bind("tcp://127.0.0.1:0")
        let endpoint = router.lastEndpoint
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        #expect(!endpoint.hasSuffix(":0"))
    }

    @Test func badEndpointThrowsANamedError() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, kind: .dealer)
        let error = #expect(throws: ZMQError.self) { try socket.connect("nonsense://nowhere") }
        #expect(error?.description.contains("connect nonsense://nowhere") == true)
    }

    @Test func pollSeesReadableMessage() throws {
        let context = try ZMQContext()
        let a = try ZMQSocket(context, kind: .pair)
        try a.bind("inproc://poll")
        let b = try ZMQSocket(context, kind: .pair)
        try b.connect("inproc://poll")
        try a.send([42])
        #expect(try b.poll(.readable, timeout: 1000).contains(.readable))
        #expect(try b.receiveMessage() == [[42]])
    }
}
