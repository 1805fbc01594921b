import Testing

@testable import TwinProtocol

@Suite("Hot path")
struct HotPathTests {
    @Test("encodeStep writes the same bytes as encode(.step)")
    func encodeStepMatches() throws {
        var buffer = [UInt8](repeating: 0xAA, count: 256)
        let written = try Fixtures.step.jointTargets.withUnsafeBufferPointer { targets in
            try buffer.withUnsafeMutableBytes { raw in
                try TwinCodec.encodeStep(seq: 3, jointTargets: targets, gripperTarget: 0.04, into: raw)
            }
        }
        #expect(written == TwinCodec.stepFrameSize(jointCount: 6))
        #expect(Array(buffer.prefix(written)) == (try TwinCodec.encode(.step(Fixtures.step), seq: 3)))
        #expect(buffer[written] == 0xAA)
    }

    @Test("encodeStep refuses non-finite targets and short buffers, writing nothing")
    func encodeStepErrors() {
        var buffer = [UInt8](repeating: 0xAA, count: 256)
        func attempt(_ targets: [Double], gripper: Double = 0, size: Int = 256) -> ProtocolError? {
            do {
                _ = try targets.withUnsafeBufferPointer { targets in
                    try buffer.withUnsafeMutableBytes { raw in
                        try TwinCodec.encodeStep(
                            seq: 8,
                            jointTargets: targets,
                            gripperTarget: gripper,
                            into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<size])
                        )
                    }
                }
                return nil
            } catch {
                return error as? ProtocolError
            }
        }
        let nan = attempt([0, 1, .nan])
        #expect(nan?.code == .badValue)
        #expect(nan?.message == "STEP joint_targets[2] is nan")
        #expect(nan?.offendingSeq == 8)
        #expect(attempt([0], gripper: .infinity)?.message == "STEP gripper_target is inf")
        let short = attempt([0, 1], size: 49)
        #expect(short?.code == .tooLong)
        #expect(short?.message == "STEP needs 50 bytes, the buffer holds 49")
        #expect(buffer.allSatisfy { $0 == 0xAA })
    }

    @Test("decodeObservation gives the same body as decode, for OBSERVATION and EPISODE")
    func decodeObservationMatches() throws {
        var observation = Observation()
        for message in [Message.observation(Fixtures.observation), .episode(Fixtures.episode)] {
            let frame = try TwinCodec.encode(message, seq: 12)
            let sizes = Fixtures.frameSizes(message)
            let header = try frame.withUnsafeBytes { bytes in
                try TwinCodec.decodeObservation(frame0: bytes, extraFrameSizes: sizes, into: &observation)
            }
            #expect(header.seq == 12)
            #expect(header.type == message.type)
            switch message {
            case .observation(let expected): #expect(observation == expected)
            case .episode(let episode): #expect(observation == episode.observation)
            default: Issue.record("unexpected sample")
            }
        }
    }

    @Test("decodeObservation rejects other types with BAD_STATE")
    func decodeObservationOtherTypes() throws {
        var observation = Observation()
        let frame = try TwinCodec.encode(.heartbeat(Heartbeat(time: 1)), seq: 4)
        let error = frame.withUnsafeBytes { bytes in
            Result { () throws(ProtocolError) in
                try TwinCodec.decodeObservation(frame0: bytes, extraFrameCount: 0, into: &observation)
            }
        }
        #expect(
            throws: ProtocolError(
                code: .badState,
                offendingSeq: 4,
                message: "HEARTBEAT arrived where an OBSERVATION or EPISODE was expected"
            )
        ) {
            try error.get()
        }
    }

    @Test("decodeObservation keeps the arrays' storage")
    func decodeObservationKeepsCapacity() throws {
        var observation = Observation(jointCapacity: 16, objectCapacity: 8, imageCapacity: 4)
        let capacities = [
            observation.jointPositions.capacity, observation.jointVelocities.capacity,
            observation.objectPoses.capacity, observation.images.capacity,
        ]
        let message = Message.observation(Fixtures.observation)
        let frame = try TwinCodec.encode(message, seq: 1)
        for _ in 0..<3 {
            _ = try frame.withUnsafeBytes { bytes in
                try TwinCodec.decodeObservation(frame0: bytes, extraFrameCount: 2, into: &observation)
            }
        }
        #expect(
            [
                observation.jointPositions.capacity, observation.jointVelocities.capacity,
                observation.objectPoses.capacity, observation.images.capacity,
            ] == capacities
        )
    }

    /// The base address of an array's storage, to see whether it was reallocated.
    func storage<Element>(_ array: [Element]) -> UnsafeRawPointer? {
        array.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
    }

    /// Exact malloc counts need an interposer, which would change the allocator of the whole shared test
    /// process; this checks what can be checked in-process: after warm-up, 1000 step/observation cycles through
    /// caller-owned buffers reallocate none of the observation's storage and leave no failure.
    @Test("after warm-up, the step/observation cycle reuses all storage")
    func storageIsReused() throws {
        let welcome = Fixtures.welcome
        let message = Message.observation(Fixtures.observation)
        let frame = try TwinCodec.encode(message, seq: 3)
        let frameSizes = Fixtures.frameSizes(message)
        let targets = UnsafeMutableBufferPointer<Double>.allocate(capacity: 6)
        defer { targets.deallocate() }
        _ = targets.initialize(from: Fixtures.step.jointTargets)
        let sendBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 8)
        defer { sendBuffer.deallocate() }
        let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: frame.count, alignment: 8)
        defer { receiveBuffer.deallocate() }
        receiveBuffer.copyBytes(from: frame)
        var observation = Observation()
        var failures = 0

        func cycle(seq: UInt64) {
            do {
                _ = try TwinCodec.encodeStep(
                    seq: seq,
                    jointTargets: UnsafeBufferPointer(targets),
                    gripperTarget: 0.04,
                    into: sendBuffer
                )
                try welcome.validateStep(jointTargets: UnsafeBufferPointer(targets), gripperTarget: 0.04, seq: seq)
                _ = try TwinCodec.decodeObservation(
                    frame0: UnsafeRawBufferPointer(receiveBuffer),
                    extraFrameSizes: frameSizes,
                    into: &observation
                )
                try welcome.validate(observation, frameSizes: frameSizes, seq: seq)
            } catch {
                failures += 1
            }
        }

        cycle(seq: 0)
        let before = [
            self.storage(observation.jointPositions), self.storage(observation.jointVelocities),
            self.storage(observation.objectPoses), self.storage(observation.images),
        ]
        for seq in 1...1000 {
            cycle(seq: UInt64(seq))
        }
        let after = [
            self.storage(observation.jointPositions), self.storage(observation.jointVelocities),
            self.storage(observation.objectPoses), self.storage(observation.images),
        ]
        #expect(failures == 0)
        #expect(before == after)
        #expect(observation == Fixtures.observation)
        #expect(
            Array(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<TwinCodec.stepFrameSize(jointCount: 6)]))
                == (try TwinCodec.encode(.step(Fixtures.step), seq: 1000))
        )
    }
}
