import Testing

@testable import TwinProtocol

@Suite("Decoding errors")
struct DecodeErrorTests {
    /// Checks the code, the offending seq and that the message mentions `text`.
    func expectError(
        _ frame0: [UInt8],
        frameSizes: [Int] = [],
        _ code: ProtocolError.Code,
        seq: UInt64 = 9,
        mentioning text: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let error = decodeError(frame0, frameSizes: frameSizes) else {
            Issue.record("decoded without error, expected \(code.name)", sourceLocation: sourceLocation)
            return
        }
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.offendingSeq == seq, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(text), "\(error.message) should mention \(text)", sourceLocation: sourceLocation)
    }

    // MARK: - Header, §3 checks 1–7

    @Test("a frame shorter than the header is TRUNCATED with seq 0")
    func shortHeader() {
        for length in 0..<24 {
            self.expectError(
                Array(FrameBuilder(type: 7).bytes.prefix(length)),
                .truncated,
                seq: 0,
                mentioning: "header"
            )
        }
    }

    @Test("a wrong magic is BAD_MAGIC with seq 0")
    func badMagic() {
        var frame = FrameBuilder(type: 7, magic: Array("ECTX".utf8))
        frame.f64(1)
        self.expectError(frame.frame, .badMagic, seq: 0, mentioning: "45435458")
    }

    @Test("a version other than 1 is UNSUPPORTED_VERSION with seq 0")
    func badVersion() {
        for version: UInt16 in [0, 2, 0xFFFF] {
            var frame = FrameBuilder(type: 7, version: version)
            frame.f64(1)
            self.expectError(frame.frame, .unsupportedVersion, seq: 0, mentioning: "version is \(version)")
        }
    }

    @Test("a type outside 1…10 is UNKNOWN_TYPE with the header's seq")
    func unknownType() {
        for type: UInt16 in [0, 11, 0xFFFF] {
            self.expectError(FrameBuilder(type: type).frame, .unknownType, mentioning: "type is \(type)")
        }
    }

    @Test("payload_length over 1 MiB is TOO_LONG before the frame size is looked at")
    func payloadLengthOverLimit() {
        var frame = FrameBuilder(type: 7).bytes
        withUnsafeBytes(of: UInt32(1_048_577).littleEndian) { source in
            for index in 0..<4 { frame[16 + index] = source[index] }
        }
        self.expectError(frame, .tooLong, mentioning: "payload_length is 1048577")
    }

    @Test("frame 0 shorter than the header says is TRUNCATED, longer is TOO_LONG")
    func frameSizeAgainstHeader() {
        var heartbeat = FrameBuilder(type: 7)
        heartbeat.f64(1)
        let frame = heartbeat.frame
        self.expectError(Array(frame.dropLast()), .truncated, mentioning: "header says 32")
        self.expectError(frame + [0], .tooLong, mentioning: "header says 32")
    }

    @Test("extra_frames over 16, differing from the frames received, or a non-zero reserved is INCONSISTENT")
    func checkSeven() {
        var observation = FrameBuilder(type: 6, extraFrames: 17)
        observation.raw(Array((try! TwinCodec.encode(.observation(Fixtures.observation), seq: 9)).dropFirst(24)))
        self.expectError(observation.frame, frameSizes: Array(repeating: 1, count: 17), .inconsistent, mentioning: "17")

        var heartbeat = FrameBuilder(type: 7)
        heartbeat.f64(1)
        self.expectError(heartbeat.frame, frameSizes: [3], .inconsistent, mentioning: "1 frames received")

        var reserved = FrameBuilder(type: 7, reserved: 1)
        reserved.f64(1)
        self.expectError(reserved.frame, .inconsistent, mentioning: "reserved is 1")
    }

    @Test("check 7 comes after check 6: a frame with both problems is TRUNCATED")
    func checkOrder() {
        let frame = FrameBuilder(type: 7, extraFrames: 99, reserved: 5).frame
        var lying = frame
        lying[16] = 8  // payload_length 8, no payload
        self.expectError(lying, .truncated, mentioning: "header says 32")
    }

    // MARK: - Payload, §3 check 8

    @Test("a field cut short is TRUNCATED and named")
    func truncatedField() {
        var step = FrameBuilder(type: 5)
        step.u16(3)
        step.f64(0.1)
        step.f64(0.2)
        self.expectError(step.frame, .truncated, mentioning: "STEP joint_targets[2] needs 8 bytes")

        var welcome = try! TwinCodec.encode(.welcome(Fixtures.welcome), seq: 9)
        welcome.removeLast(12)  // has_expert, camera_period, 3 bytes of seed
        setPayloadLength(&welcome)
        self.expectError(welcome, .truncated, mentioning: "WELCOME seed needs 8 bytes")

        // A WELCOME without the fields that end it (camera_period, has_expert) is cut short.
        welcome = try! TwinCodec.encode(.welcome(Fixtures.welcome), seq: 9)
        welcome.removeLast(9)
        setPayloadLength(&welcome)
        self.expectError(welcome, .truncated, mentioning: "WELCOME camera_period needs 8 bytes")
        welcome = try! TwinCodec.encode(.welcome(Fixtures.welcome), seq: 9)
        welcome.removeLast(1)
        setPayloadLength(&welcome)
        self.expectError(welcome, .truncated, mentioning: "WELCOME has_expert needs 1 bytes")

        var advice = FrameBuilder(type: 10)
        advice.u16(1)
        advice.f64(0.5)
        advice.f64(0.04)
        advice.str("lift")
        self.expectError(advice.frame, .truncated, mentioning: "ADVICE done needs 1 bytes")
    }

    @Test("a non-finite f64 is BAD_VALUE and named, before the bytes run out")
    func nonFinite() {
        var step = FrameBuilder(type: 5)
        step.u16(4)
        step.f64(0.1)
        step.f64(0.2)
        step.f64(.nan)
        self.expectError(step.frame, .badValue, mentioning: "STEP joint_targets[2] is nan")

        var heartbeat = FrameBuilder(type: 7)
        heartbeat.f64(-.infinity)
        self.expectError(heartbeat.frame, .badValue, mentioning: "HEARTBEAT time is -inf")

        var observation = try! TwinCodec.encode(.observation(Fixtures.observation), seq: 9)
        // tcp_pose.orientation.w sits after episode, step, sim_time, 6+6 joints, aperture, force, position.
        let offset = 24 + 4 + 8 + 8 + 2 + 12 * 8 + 16 + 24
        withUnsafeBytes(of: Double.infinity.bitPattern.littleEndian) { source in
            for index in 0..<8 { observation[offset + index] = source[index] }
        }
        self.expectError(
            observation,
            frameSizes: Fixtures.frameSizes(.observation(Fixtures.observation)),
            .badValue,
            mentioning: "OBSERVATION tcp_pose.orientation.w is inf"
        )
    }

    @Test("strings: over 4096 bytes (checked before the bytes) or bad UTF-8 is BAD_VALUE")
    func strings() {
        var long = FrameBuilder(type: 1)
        long.u16(4097)
        self.expectError(long.frame, .badValue, mentioning: "HELLO client_name is 4097 bytes long")

        var longest = FrameBuilder(type: 1)
        longest.str(String(repeating: "é", count: 2048))
        longest.str("")
        #expect(decodeError(longest.frame) == nil)

        let invalid: [[UInt8]] = [
            [0xFF],  // never valid
            [0xC0, 0x80],  // overlong NUL
            [0xE0, 0x80, 0x80],  // overlong
            [0xED, 0xA0, 0x80],  // UTF-16 surrogate
            [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
            [0x61, 0xE2, 0x82],  // cut inside a scalar
            [0x80],  // lone continuation byte
        ]
        for bytes in invalid {
            var hello = FrameBuilder(type: 1)
            hello.str("ok")
            hello.u16(UInt16(bytes.count))
            hello.raw(bytes)
            self.expectError(hello.frame, .badValue, mentioning: "HELLO client_version is not valid UTF-8")
        }
    }

    @Test("enums and flags outside their defined values are BAD_VALUE")
    func enums() throws {
        let welcome = try TwinCodec.encode(.welcome(Fixtures.welcome), seq: 9)
        // mode sits after three strings.
        let modeOffset = 24 + (2 + 13) + (2 + 5) + (2 + 4)
        #expect(welcome[modeOffset] == 0)
        var badMode = welcome
        badMode[modeOffset] = 2
        self.expectError(badMode, .badValue, mentioning: "WELCOME mode is 2")

        let cameraOffset = try #require(self.offset(of: Array("scene".utf8), in: welcome)) + 5
        for (delta, value, field) in [
            (0, 0, "cameras[0].width is 0"), (0, 4097, "cameras[0].width is 4097"), (2, 0, "cameras[0].height is 0"),
        ] {
            var bad = welcome
            bad[cameraOffset + delta] = UInt8(value & 0xFF)
            bad[cameraOffset + delta + 1] = UInt8(value >> 8)
            self.expectError(bad, .badValue, mentioning: "WELCOME \(field)")
        }
        var badEncoding = welcome
        badEncoding[cameraOffset + 4] = 3
        self.expectError(badEncoding, .badValue, mentioning: "WELCOME cameras[0].encoding is 3")

        let message = Message.observation(Fixtures.observation)
        let sizes = Fixtures.frameSizes(message)
        let observation = try TwinCodec.encode(message, seq: 9)
        let tail = observation.count - 1 - 2 * 6  // success, flags, images count, two images
        var badSuccess = observation
        badSuccess[tail - 2] = 2
        self.expectError(badSuccess, frameSizes: sizes, .badValue, mentioning: "OBSERVATION success is 2")
        var badFlags = observation
        badFlags[tail - 1] = 0b110
        self.expectError(badFlags, frameSizes: sizes, .badValue, mentioning: "OBSERVATION flags is 6")
        var badImageEncoding = observation
        badImageEncoding[observation.count - 1] = 0
        self.expectError(badImageEncoding, frameSizes: sizes, .badValue, mentioning: "images[1].encoding is 0")
        var badImageWidth = observation
        badImageWidth[observation.count - 5] = 0
        badImageWidth[observation.count - 4] = 0
        self.expectError(badImageWidth, frameSizes: sizes, .badValue, mentioning: "images[1].width is 0")

        for code: UInt16 in [0, 11] {
            var error = FrameBuilder(type: 8)
            error.u16(code)
            error.u64(1)
            error.str("x")
            self.expectError(error.frame, .badValue, mentioning: "ERROR code is \(code)")
        }

        // WELCOME ends with camera_period (f64, > 0) and has_expert (u8, 0/1).
        let periodOffset = welcome.count - 9
        for (period, text) in [(0.0, "is 0.0"), (-0.0, "is -0.0"), (-0.1, "is -0.1"), (.nan, "is nan")] {
            var bad = welcome
            withUnsafeBytes(of: period.bitPattern.littleEndian) { source in
                for index in 0..<8 { bad[periodOffset + index] = source[index] }
            }
            self.expectError(bad, .badValue, mentioning: "WELCOME camera_period \(text)")
        }
        var badExpert = welcome
        badExpert[welcome.count - 1] = 2
        self.expectError(badExpert, .badValue, mentioning: "WELCOME has_expert is 2")

        var advice = FrameBuilder(type: 10)
        advice.u16(0)
        advice.f64(0.04)
        advice.str("done")
        advice.u8(2)
        self.expectError(advice.frame, .badValue, mentioning: "ADVICE done is 2")
    }

    @Test("bytes after the last field are TOO_LONG")
    func trailingBytes() {
        var reset = FrameBuilder(type: 3)
        reset.str("stack")
        reset.u64(1)
        reset.u8(0)
        self.expectError(reset.frame, .tooLong, mentioning: "RESET has 1 bytes left")

        var expert = FrameBuilder(type: 9)
        expert.u8(0)
        self.expectError(expert.frame, .tooLong, mentioning: "EXPERT has 1 bytes left")
    }

    @Test("image count against extra_frames, then image frame sizes, are INCONSISTENT after TOO_LONG")
    func imageFrames() throws {
        let message = Message.observation(Fixtures.observation)
        let frame = try TwinCodec.encode(message, seq: 9)
        var oneFrame = frame
        oneFrame[20] = 1
        self.expectError(oneFrame, frameSizes: [64 * 48 * 3], .inconsistent, mentioning: "images has 2 items")
        self.expectError(frame, frameSizes: [64 * 48 * 3, 1], .inconsistent, mentioning: "image frame 2 is 1 bytes")

        // Trailing bytes are found before the image count is compared.
        var both = oneFrame + [0]
        setPayloadLength(&both)
        self.expectError(both, frameSizes: [64 * 48 * 3], .tooLong, mentioning: "1 bytes left")

        // A type without images announcing one, with the frame present.
        var hello = FrameBuilder(type: 1, extraFrames: 1)
        hello.str("a")
        hello.str("b")
        self.expectError(hello.frame, frameSizes: [3], .inconsistent, mentioning: "HELLO extra_frames is 1")
    }

    @Test("every error code has its §4.8 name and value")
    func codeNames() {
        let names = ProtocolError.Code.allDefined.map(\.name)
        #expect(
            names == [
                "BAD_MAGIC", "UNSUPPORTED_VERSION", "UNKNOWN_TYPE", "TRUNCATED", "TOO_LONG", "INCONSISTENT",
                "BAD_VALUE", "BAD_STATE", "UNKNOWN_TASK", "INTERNAL",
            ]
        )
        #expect(ProtocolError.Code.allDefined.map(\.rawValue) == Array(1...10))
        #expect(ProtocolError.Code(name: "INTERNAL") == .internal)
        #expect(ProtocolError.Code(name: "nope") == nil)
        #expect(ProtocolError.Code(rawValue: 42).name == "CODE_42")
        let error = ProtocolError(code: .badValue, offendingSeq: 3, message: "STEP joint_targets[2] is nan")
        #expect(error.description == "BAD_VALUE (seq 3): STEP joint_targets[2] is nan")
    }

    @Test("an ERROR report carries any defined code, INTERNAL included, and truncates long messages")
    func errorReports() throws {
        for code in ProtocolError.Code.allDefined {
            let report = ErrorReport(code: code, offendingSeq: 77, message: "\(code.name) happened")
            let frame = try TwinCodec.encode(.error(report), seq: 77)
            #expect(try TwinCodec.decode(frame0: frame, extraFrameCount: 0).1 == .error(report))
        }
        let long = ProtocolError(code: .unknownTask, offendingSeq: 2, message: String(repeating: "ü", count: 3000))
        let report = ErrorReport(long)
        #expect(report.message.utf8.count == 4096)
        #expect(report.error.code == .unknownTask)
        _ = try TwinCodec.encode(.error(report), seq: 2)
    }

    func offset(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<$0 + needle.count]) == needle }
    }
}

@Suite("Encoding errors")
struct EncodeErrorTests {
    func expectError(
        _ message: Message,
        _ code: ProtocolError.Code,
        mentioning text: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try TwinCodec.encode(message, seq: 4)
            Issue.record("encoded without error, expected \(code.name)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.offendingSeq == 4, sourceLocation: sourceLocation)
            #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test("the encoder refuses what the decoder would refuse, naming the field")
    func refusals() {
        self.expectError(
            .step(Step(jointTargets: [0, 0, .nan], gripperTarget: 0)),
            .badValue,
            mentioning: "STEP joint_targets[2] is nan"
        )
        self.expectError(
            .step(Step(jointTargets: Array(repeating: 0, count: 65536), gripperTarget: 0)),
            .badValue,
            mentioning: "joint_targets has 65536 items"
        )
        self.expectError(
            .hello(Hello(clientName: String(repeating: "x", count: 4097), clientVersion: "")),
            .badValue,
            mentioning: "HELLO client_name is 4097 bytes long"
        )
        var welcome = Fixtures.welcome
        welcome.dh.removeLast()
        self.expectError(.welcome(welcome), .inconsistent, mentioning: "dh has 5 rows, joints has 6")
        welcome = Fixtures.welcome
        welcome.cameras[1].height = 0
        self.expectError(.welcome(welcome), .badValue, mentioning: "WELCOME cameras[1].height is 0")
        welcome = Fixtures.welcome
        welcome.joints[3].effortMax = .infinity
        self.expectError(.welcome(welcome), .badValue, mentioning: "WELCOME joints[3].effort_max is inf")
        welcome = Fixtures.welcome
        welcome.tasks = Array(repeating: String(repeating: "t", count: 4096), count: 300)
        self.expectError(.welcome(welcome), .tooLong, mentioning: "over 1048576")

        var observation = Fixtures.observation
        observation.jointVelocities.removeLast()
        self.expectError(.observation(observation), .inconsistent, mentioning: "joint_velocities has 5 items")
        observation = Fixtures.observation
        observation.flags = ObservationFlags(rawValue: 0x80)
        self.expectError(.observation(observation), .badValue, mentioning: "flags is 128")
        observation = Fixtures.observation
        observation.images = Array(repeating: ImageHeader(camera: 0, width: 1, height: 1), count: 17)
        self.expectError(.observation(observation), .inconsistent, mentioning: "17 images")
        observation = Fixtures.observation
        observation.objectPoses[1].orientation.y = -.nan
        self.expectError(.observation(observation), .badValue, mentioning: "OBSERVATION objects[1].orientation.y")

        self.expectError(
            .error(ErrorReport(code: ProtocolError.Code(rawValue: 11), offendingSeq: 0, message: "")),
            .badValue,
            mentioning: "ERROR code is 11"
        )

        welcome = Fixtures.welcome
        welcome.cameraPeriod = 0
        self.expectError(.welcome(welcome), .badValue, mentioning: "WELCOME camera_period is 0.0, expected > 0")
        welcome.cameraPeriod = .nan
        self.expectError(.welcome(welcome), .badValue, mentioning: "WELCOME camera_period is nan")
        self.expectError(
            .advice(Advice(jointTargets: [0], gripperTarget: .infinity, phase: "reach", done: false)),
            .badValue,
            mentioning: "ADVICE gripper_target is inf"
        )
        self.expectError(
            .advice(Advice(jointTargets: [], gripperTarget: 0, phase: String(repeating: "p", count: 4097), done: true)),
            .badValue,
            mentioning: "ADVICE phase is 4097 bytes long"
        )
    }
}
