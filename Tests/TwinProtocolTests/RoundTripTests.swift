import Testing

@testable import TwinProtocol

@Suite("Round trips")
struct RoundTripTests {
    @Test("every message type encodes and decodes back to itself", arguments: Fixtures.messages.map { $0.0 })
    func roundTrip(name: String) throws {
        let (_, message, seq) = try #require(Fixtures.messages.first { $0.0 == name })
        let frame0 = try TwinCodec.encode(message, seq: seq)
        let sizes = Fixtures.frameSizes(message)
        let (header, decoded) = try frame0.withUnsafeBytes { bytes in
            try TwinCodec.decode(frame0: bytes, extraFrameSizes: sizes)
        }
        #expect(decoded == message)
        #expect(header.type == message.type)
        #expect(header.seq == seq)
        #expect(header.version == 1)
        #expect(Int(header.payloadLength) == frame0.count - MessageHeader.size)
        #expect(Int(header.extraFrames) == message.extraFrameCount)
        // The encoding is canonical: re-encoding what was decoded gives the same bytes.
        #expect(try TwinCodec.encode(decoded, seq: seq) == frame0)
        // The count-only entry point agrees.
        let (_, again) = try TwinCodec.decode(frame0: frame0, extraFrameCount: sizes.count)
        #expect(again == message)
    }

    @Test("header layout matches PROTOCOL.md §3 byte for byte")
    func headerLayout() throws {
        let frame0 = try TwinCodec.encode(.heartbeat(Heartbeat(time: 1.5)), seq: 0x0102_0304_0506_0708)
        #expect(
            frame0 == [
                0x45, 0x43, 0x54, 0x57,  // ECTW
                0x01, 0x00,  // version 1
                0x07, 0x00,  // HEARTBEAT
                0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // seq
                0x08, 0x00, 0x00, 0x00,  // payload_length 8
                0x00, 0x00,  // extra_frames
                0x00, 0x00,  // reserved
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,  // 1.5
            ]
        )
    }

    @Test("a STEP's payload is the count, the targets and the gripper target")
    func stepLayout() throws {
        let frame0 = try TwinCodec.encode(.step(Step(jointTargets: [1, -2], gripperTarget: 0.5)), seq: 3)
        #expect(frame0.count == 24 + 2 + 16 + 8)
        #expect(Array(frame0[24..<26]) == [2, 0])
        #expect(Array(frame0[26..<34]) == [0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
        #expect(Array(frame0[34..<42]) == [0, 0, 0, 0, 0, 0, 0, 0xC0])
        #expect(Array(frame0[42..<50]) == [0, 0, 0, 0, 0, 0, 0xE0, 0x3F])
    }

    @Test("EXPERT has no payload; ADVICE is targets, gripper target, phase and done")
    func expertAndAdviceLayout() throws {
        let expert = try TwinCodec.encode(.expert, seq: 7)
        #expect(expert.count == 24 && expert[6] == 9 && expert[7] == 0)
        let advice = Advice(jointTargets: [1], gripperTarget: 0.5, phase: "lift", done: true)
        let frame0 = try TwinCodec.encode(.advice(advice), seq: 8)
        #expect(frame0[6] == 10)
        #expect(
            Array(frame0[24...]) == [1, 0] + [0, 0, 0, 0, 0, 0, 0xF0, 0x3F] + [0, 0, 0, 0, 0, 0, 0xE0, 0x3F]
                + [4, 0] + Array("lift".utf8) + [1]
        )
    }

    @Test("WELCOME ends with camera_period and has_expert; the image interval follows from them")
    func welcomeCameraPeriodAndExpert() throws {
        let frame0 = try TwinCodec.encode(.welcome(Fixtures.welcome), seq: 1)
        #expect(Array(frame0.suffix(9)) == [0x9A, 0x99, 0x99, 0x99, 0x99, 0x99, 0xB9, 0x3F, 1])  // 0.1, then 1
        #expect(Fixtures.welcome.imageStepInterval == 5)  // 0.1 s of 0.02 s periods
        var welcome = Fixtures.welcome
        welcome.controlPeriod = 0.01
        welcome.cameraPeriod = 10 * 0.01
        #expect(welcome.imageStepInterval == 10)
        welcome.cameraPeriod = 0.001  // shorter than a step: every step
        #expect(welcome.imageStepInterval == 1)
        // Without a camera period the init takes the control period: images with every observation.
        let plain = Welcome(
            twinName: "",
            twinVersion: "",
            robotName: "",
            mode: .lockStep,
            controlPeriod: 0.25,
            physicsTimestep: 0.25,
            joints: [],
            basePose: Pose(position: .zero, orientation: .identity),
            dh: [],
            toolPose: Pose(position: .zero, orientation: .identity),
            gripper: GripperDescription(name: "", apertureMin: 0, apertureMax: 0, forceMax: 0, speedMax: 0),
            workspaceMin: .zero,
            workspaceMax: .zero,
            cameras: [],
            objects: [],
            tasks: [],
            task: "",
            instruction: "",
            seed: 0
        )
        #expect(plain.cameraPeriod == 0.25 && !plain.hasExpert && plain.imageStepInterval == 1)
    }

    @Test("encode(into:) replaces the contents and keeps the buffer's storage")
    func encodeReusesBuffer() throws {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        buffer.append(contentsOf: [1, 2, 3])
        let capacity = buffer.capacity
        try TwinCodec.encode(.step(Fixtures.step), seq: 5, into: &buffer)
        #expect(buffer == (try TwinCodec.encode(.step(Fixtures.step), seq: 5)))
        #expect(buffer.capacity == capacity)

        // A failed encode leaves the buffer empty, not half-written.
        let bad = Step(jointTargets: [0, .nan], gripperTarget: 0)
        #expect(throws: ProtocolError.self) { try TwinCodec.encode(.step(bad), seq: 6, into: &buffer) }
        #expect(buffer.isEmpty)
        #expect(buffer.capacity == capacity)
    }

    @Test("random valid messages survive encode → decode → encode", arguments: 0..<4)
    func randomRoundTrips(shard: UInt64) throws {
        var generator = SeededGenerator(seed: 1000 + shard)
        for _ in 0..<250 {
            let message = RandomMessages.make(using: &generator)
            let seq = generator.next()
            let frame0 = try TwinCodec.encode(message, seq: seq)
            let (header, decoded) = try TwinCodec.decode(
                frames: [frame0]
                    + Fixtures.frameSizes(message).map {
                        [UInt8](repeating: 0, count: $0)
                    }
            )
            #expect(header.seq == seq)
            #expect(decoded == message)
            #expect(try TwinCodec.encode(decoded, seq: seq) == frame0)
        }
    }
}

/// Random but valid messages, with extreme values mixed in.
enum RandomMessages {
    static func make(using generator: inout SeededGenerator) -> Message {
        switch generator.next() % 10 {
        case 0: .hello(Hello(clientName: self.string(&generator), clientVersion: self.string(&generator)))
        case 1: .welcome(self.welcome(&generator))
        case 2: .reset(Reset(task: self.string(&generator), seed: generator.next()))
        case 3:
            .episode(
                Episode(
                    task: self.string(&generator),
                    instruction: self.string(&generator),
                    seed: generator.next(),
                    observation: self.observation(&generator)
                )
            )
        case 4: .step(Step(jointTargets: self.doubles(&generator), gripperTarget: self.double(&generator)))
        case 5: .observation(self.observation(&generator))
        case 6: .heartbeat(Heartbeat(time: self.double(&generator)))
        case 7: .expert
        case 8:
            .advice(
                Advice(
                    jointTargets: self.doubles(&generator),
                    gripperTarget: self.double(&generator),
                    phase: self.string(&generator),
                    done: generator.next() % 2 == 0
                )
            )
        default:
            .error(
                ErrorReport(
                    code: ProtocolError.Code.allDefined.randomElement(using: &generator)!,
                    offendingSeq: generator.next(),
                    message: self.string(&generator)
                )
            )
        }
    }

    static func double(_ generator: inout SeededGenerator) -> Double {
        switch generator.next() % 6 {
        case 0:
            let extremes: [Double] = [
                0, -0.0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
            ]
            return extremes.randomElement(using: &generator)!
        case 1:
            // Any finite bit pattern.
            while true {
                let value = Double(bitPattern: generator.next())
                if value.isFinite {
                    return value
                }
            }
        default:
            return Double.random(in: -10...10, using: &generator)
        }
    }

    static func doubles(_ generator: inout SeededGenerator, count: Int? = nil) -> [Double] {
        (0..<(count ?? Int(generator.next() % 9))).map { _ in self.double(&generator) }
    }

    static func string(_ generator: inout SeededGenerator) -> String {
        let pieces = ["", "a", "joint", "é", "ü", "✓", "🤖", "\u{0}", "task_name", " ", "\n"]
        var text = ""
        for _ in 0..<(generator.next() % 6) {
            text += pieces.randomElement(using: &generator)!
        }
        if generator.next() % 50 == 0 {
            text = String(repeating: "x", count: TwinCodec.maxStringLength)
        }
        return text
    }

    static func pose(_ generator: inout SeededGenerator) -> Pose {
        Pose(
            position: SIMD3(self.double(&generator), self.double(&generator), self.double(&generator)),
            orientation: Quaternion(
                w: self.double(&generator),
                x: self.double(&generator),
                y: self.double(&generator),
                z: self.double(&generator)
            )
        )
    }

    static func side(_ generator: inout SeededGenerator) -> UInt16 {
        UInt16(1 + generator.next() % 16)
    }

    static func observation(_ generator: inout SeededGenerator) -> Observation {
        let joints = Int(generator.next() % 8)
        return Observation(
            episode: UInt32(truncatingIfNeeded: generator.next()),
            step: generator.next(),
            simTime: self.double(&generator),
            jointPositions: self.doubles(&generator, count: joints),
            jointVelocities: self.doubles(&generator, count: joints),
            gripperAperture: self.double(&generator),
            gripperForce: self.double(&generator),
            tcpPose: self.pose(&generator),
            objectPoses: (0..<(generator.next() % 4)).map { _ in self.pose(&generator) },
            success: generator.next() % 2 == 0,
            flags: ObservationFlags(rawValue: UInt8(generator.next() % 4)),
            images: (0..<(generator.next() % 4)).map { _ in
                ImageHeader(
                    camera: UInt8(truncatingIfNeeded: generator.next()),
                    width: self.side(&generator),
                    height: self.side(&generator)
                )
            }
        )
    }

    static func welcome(_ generator: inout SeededGenerator) -> Welcome {
        let joints = Int(generator.next() % 8)
        return Welcome(
            twinName: self.string(&generator),
            twinVersion: self.string(&generator),
            robotName: self.string(&generator),
            mode: generator.next() % 2 == 0 ? .lockStep : .realTime,
            controlPeriod: self.double(&generator),
            physicsTimestep: self.double(&generator),
            joints: (0..<joints).map { _ in
                JointDescription(
                    name: self.string(&generator),
                    positionMin: self.double(&generator),
                    positionMax: self.double(&generator),
                    velocityMax: self.double(&generator),
                    accelerationMax: self.double(&generator),
                    effortMax: self.double(&generator)
                )
            },
            basePose: self.pose(&generator),
            dh: (0..<joints).map { _ in
                DHRow(
                    a: self.double(&generator),
                    d: self.double(&generator),
                    alpha: self.double(&generator),
                    thetaOffset: self.double(&generator)
                )
            },
            toolPose: self.pose(&generator),
            gripper: GripperDescription(
                name: self.string(&generator),
                apertureMin: self.double(&generator),
                apertureMax: self.double(&generator),
                forceMax: self.double(&generator),
                speedMax: self.double(&generator)
            ),
            workspaceMin: SIMD3(self.double(&generator), self.double(&generator), self.double(&generator)),
            workspaceMax: SIMD3(self.double(&generator), self.double(&generator), self.double(&generator)),
            cameras: (0..<(generator.next() % 4)).map { _ in
                CameraDescription(name: self.string(&generator), width: self.side(&generator), height: 4096)
            },
            objects: (0..<(generator.next() % 4)).map { _ in
                ObjectDescription(
                    name: self.string(&generator),
                    size: SIMD3(self.double(&generator), self.double(&generator), self.double(&generator))
                )
            },
            tasks: (0..<(generator.next() % 4)).map { _ in self.string(&generator) },
            task: self.string(&generator),
            instruction: self.string(&generator),
            seed: generator.next(),
            cameraPeriod: self.positiveDouble(&generator),
            hasExpert: generator.next() % 2 == 0
        )
    }

    /// A finite double > 0, extremes included.
    static func positiveDouble(_ generator: inout SeededGenerator) -> Double {
        let value = abs(self.double(&generator))
        return value > 0 ? value : .leastNonzeroMagnitude
    }
}
