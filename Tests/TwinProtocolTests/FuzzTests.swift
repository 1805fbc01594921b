import Testing

@testable import TwinProtocol

/// Any byte sequence either decodes or throws a `ProtocolError`; a crash fails the whole run.
@Suite("Robustness")
struct FuzzTests {
    /// Decodes through every entry point and checks they agree.
    func decodeEverywhere(_ frame0: [UInt8], frameSizes: [Int]) {
        let full = Result { () throws(ProtocolError) in
            try frame0.withUnsafeBytes { bytes in
                Result { () throws(ProtocolError) in try TwinCodec.decode(frame0: bytes, extraFrameSizes: frameSizes) }
            }.get()
        }
        let countOnly = Result { () throws(ProtocolError) in
            try TwinCodec.decode(frame0: frame0, extraFrameCount: frameSizes.count)
        }
        var observation = Observation(jointCapacity: 8, objectCapacity: 4, imageCapacity: 4)
        let hot = frame0.withUnsafeBytes { bytes in
            Result { () throws(ProtocolError) in
                try TwinCodec.decodeObservation(frame0: bytes, extraFrameSizes: frameSizes, into: &observation)
            }
        }
        switch full {
        case .success(let (header, message)):
            // What decodes re-encodes to the same bytes.
            #expect((try? TwinCodec.encode(message, seq: header.seq)) == frame0)
            if case .success = countOnly {} else { Issue.record("count-only decode disagrees") }
            switch message {
            case .observation(let expected):
                #expect((try? hot.get()) == header)
                #expect(observation == expected)
            case .episode(let episode):
                #expect((try? hot.get()) == header)
                #expect(observation == episode.observation)
            default:
                #expect((try? hot.get()) == nil)
            }
        case .failure(let error):
            #expect(error.code.isDefined)
            if case .failure(let other) = hot, error.code != .badState, other.code != .badState {
                #expect(other == error, "hot path and full decode disagree")
            }
            if case .failure(let other) = countOnly, error.message.contains("image frame") == false {
                #expect(other == error)
            }
        }
    }

    static let samples: [(Message, UInt64)] = Fixtures.messages.map { ($0.1, $0.2) }

    @Test("every truncation of every valid encoding is rejected cleanly")
    func truncations() throws {
        for (message, seq) in Self.samples {
            let frame0 = try TwinCodec.encode(message, seq: seq)
            let sizes = Fixtures.frameSizes(message)
            for length in 0..<frame0.count {
                var cut = Array(frame0.prefix(length))
                self.decodeEverywhere(cut, frameSizes: sizes)
                #expect(decodeError(cut, frameSizes: sizes)?.code == .truncated)
                // With payload_length patched to agree, a field runs out of bytes: still TRUNCATED.
                if length >= 24 {
                    setPayloadLength(&cut)
                    self.decodeEverywhere(cut, frameSizes: sizes)
                    #expect(decodeError(cut, frameSizes: sizes)?.code == .truncated)
                }
            }
        }
    }

    @Test("every single bit flip of every valid encoding decodes or is rejected cleanly")
    func bitFlips() throws {
        for (message, seq) in Self.samples {
            let frame0 = try TwinCodec.encode(message, seq: seq)
            let sizes = Fixtures.frameSizes(message)
            for bit in 0..<(frame0.count * 8) {
                var flipped = frame0
                flipped[bit / 8] ^= 1 << UInt8(bit % 8)
                self.decodeEverywhere(flipped, frameSizes: sizes)
            }
        }
    }

    @Test("10 000 random byte strings behind a valid header, and 10 000 with none, never crash", arguments: 0..<4)
    func randomBytes(shard: UInt64) {
        var generator = SeededGenerator(seed: 42 + shard)
        for _ in 0..<2500 {
            // Random payloads behind a plausible header, so the payload decoders get exercised.
            var frame = FrameBuilder(type: UInt16(1 + generator.next() % 10), seq: generator.next())
            let length = Int(generator.next() % 600)
            frame.raw((0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
            var bytes = frame.frame
            let images = Int(generator.next() % 3)
            bytes[20] = UInt8(images)
            let sizes = (0..<images).map { _ in Int(generator.next() % 64) }
            self.decodeEverywhere(bytes, frameSizes: sizes)

            // Plain noise.
            let noise = (0..<Int(generator.next() % 80)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            self.decodeEverywhere(noise, frameSizes: [])
        }
    }

    @Test("random mutations of valid encodings never crash", arguments: 0..<4)
    func mutations(shard: UInt64) throws {
        var generator = SeededGenerator(seed: 7 + shard)
        let frames = try Self.samples.map { try TwinCodec.encode($0.0, seq: $0.1) }
        for _ in 0..<2500 {
            let index = Int(generator.next() % UInt64(frames.count))
            var frame = frames[index]
            for _ in 0..<(1 + generator.next() % 4) {
                let position = 24 + Int(generator.next() % UInt64(frame.count - 24 + 1))
                switch generator.next() % 3 {
                case 0 where position < frame.count: frame[position] = UInt8(truncatingIfNeeded: generator.next())
                case 1: frame.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
                default: if position < frame.count { frame.remove(at: position) }
                }
            }
            setPayloadLength(&frame)
            self.decodeEverywhere(frame, frameSizes: Fixtures.frameSizes(Self.samples[index].0))
        }
    }

    @Test("the UTF-8 check agrees with the standard library's validating decoder")
    func utf8Agreement() {
        var generator = SeededGenerator(seed: 99)
        for _ in 0..<20_000 {
            let bytes = (0..<Int(generator.next() % 8)).map { _ -> UInt8 in
                // Bias towards the interesting ranges: ASCII, continuation bytes and lead bytes.
                let pick = generator.next()
                switch pick % 4 {
                case 0: return UInt8(truncatingIfNeeded: pick >> 8) & 0x7F
                case 1: return 0x80 | (UInt8(truncatingIfNeeded: pick >> 8) & 0x3F)
                default: return 0xC0 | UInt8(truncatingIfNeeded: pick >> 8) & 0x3F
                }
            }
            let ours = bytes.withUnsafeBytes { Reader.isValidUTF8($0) }
            #expect(ours == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
        }
    }
}
