/// The codec for twin protocol version 1 (`Sim/PROTOCOL.md`): pure functions from frame 0's bytes to messages
/// and back, with no I/O.
///
/// Decoding is strict and total: any byte sequence either decodes or throws a ``ProtocolError`` whose code is the
/// one §3 and §4 prescribe; nothing traps. Encoding checks the same rules, so what it writes decodes.
///
/// The allocation-free paths for the runtime's I/O thread are
/// ``encodeStep(seq:jointTargets:gripperTarget:into:)`` and ``decodeObservation(frame0:extraFrameCount:into:)``.
public enum TwinCodec {
    /// Largest `str` in bytes of UTF-8.
    public static let maxStringLength = 4096

    // MARK: - Header

    /// Reads frame 0's header and checks it against the frame's size (`Sim/PROTOCOL.md` §3, checks 1–6 in
    /// order, then the parts of check 7 that do not need the frame count: `extra_frames` ≤ 16, `reserved` = 0).
    ///
    /// Errors from checks 1–3 (size, magic, version) carry `offendingSeq` 0, later ones the header's `seq`.
    public static func decodeHeader(_ frame0: UnsafeRawBufferPointer) throws(ProtocolError) -> MessageHeader {
        guard frame0.count >= MessageHeader.size else {
            throw ProtocolError(
                code: .truncated,
                offendingSeq: 0,
                message: "frame 0 is \(frame0.count) bytes, shorter than the \(MessageHeader.size)-byte header"
            )
        }
        let magic = UInt32(littleEndian: frame0.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard magic == MessageHeader.magic else {
            throw ProtocolError(
                code: .badMagic,
                offendingSeq: 0,
                message: "frame 0 starts with \(hex(UnsafeRawBufferPointer(rebasing: frame0[0..<4]))), "
                    + "expected 45435457 (ECTW)"
            )
        }
        let version = UInt16(littleEndian: frame0.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        let rawType = UInt16(littleEndian: frame0.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        let seq = UInt64(littleEndian: frame0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let payloadLength = UInt32(littleEndian: frame0.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        let extraFrames = UInt16(littleEndian: frame0.loadUnaligned(fromByteOffset: 20, as: UInt16.self))
        let reserved = UInt16(littleEndian: frame0.loadUnaligned(fromByteOffset: 22, as: UInt16.self))

        // The seq counts as read only once magic and version are right (§3).
        guard version == MessageHeader.currentVersion else {
            throw ProtocolError(
                code: .unsupportedVersion,
                offendingSeq: 0,
                message: "header version is \(version), this codec speaks \(MessageHeader.currentVersion)"
            )
        }
        guard let type = MessageType(rawValue: rawType) else {
            throw ProtocolError(
                code: .unknownType,
                offendingSeq: seq,
                message: "header type is \(rawType), expected 1…\(MessageType.allCases.count)"
            )
        }
        guard payloadLength <= MessageHeader.maxPayloadLength else {
            throw ProtocolError(
                code: .tooLong,
                offendingSeq: seq,
                message: "\(type.name) payload_length is \(payloadLength), over \(MessageHeader.maxPayloadLength)"
            )
        }
        let expectedSize = MessageHeader.size + Int(payloadLength)
        guard frame0.count >= expectedSize else {
            throw ProtocolError(
                code: .truncated,
                offendingSeq: seq,
                message: "\(type.name) frame 0 is \(frame0.count) bytes, header says \(expectedSize)"
            )
        }
        guard frame0.count == expectedSize else {
            throw ProtocolError(
                code: .tooLong,
                offendingSeq: seq,
                message: "\(type.name) frame 0 is \(frame0.count) bytes, header says \(expectedSize)"
            )
        }
        guard extraFrames <= MessageHeader.maxExtraFrames else {
            throw ProtocolError(
                code: .inconsistent,
                offendingSeq: seq,
                message: "\(type.name) extra_frames is \(extraFrames), over \(MessageHeader.maxExtraFrames)"
            )
        }
        guard reserved == 0 else {
            throw ProtocolError(
                code: .inconsistent,
                offendingSeq: seq,
                message: "\(type.name) reserved is \(reserved), expected 0"
            )
        }
        return MessageHeader(
            version: version,
            type: type,
            seq: seq,
            payloadLength: payloadLength,
            extraFrames: extraFrames
        )
    }

    /// Reads the header and checks `extra_frames` against the frames actually received (check 7).
    static func decodeHeader(
        _ frame0: UnsafeRawBufferPointer,
        extraFrameCount: Int
    ) throws(ProtocolError) -> MessageHeader {
        let header = try self.decodeHeader(frame0)
        guard Int(header.extraFrames) == extraFrameCount else {
            throw ProtocolError(
                code: .inconsistent,
                offendingSeq: header.seq,
                message: "\(header.type.name) extra_frames is \(header.extraFrames), "
                    + "\(extraFrameCount) frames received after frame 0"
            )
        }
        return header
    }

    // MARK: - Decoding

    /// Decodes one message from frame 0, given how many frames followed it (`Sim/PROTOCOL.md` §3 checks 1–8,
    /// except that the image frames' byte counts are not known here: use ``decode(frame0:extraFrameSizes:)``,
    /// or check them with ``Welcome/validate(_:frameSizes:seq:)``).
    public static func decode(
        frame0: UnsafeRawBufferPointer,
        extraFrameCount: Int
    ) throws(ProtocolError) -> (MessageHeader, Message) {
        try self.decodeMessage(frame0: frame0, extraFrameCount: extraFrameCount, frameSizes: nil)
    }

    /// Decodes one message from frame 0, given the byte counts of the frames that followed it
    /// (`Sim/PROTOCOL.md` §3 checks 1–8, including that image *j* is frame *j*+1 of `width × height × 3` bytes).
    ///
    /// The checks against the handshake (§6) are separate: ``Welcome/validate(_:frameSizes:seq:)``.
    public static func decode(
        frame0: UnsafeRawBufferPointer,
        extraFrameSizes: [Int]
    ) throws(ProtocolError) -> (MessageHeader, Message) {
        try self.decodeMessage(frame0: frame0, extraFrameCount: extraFrameSizes.count, frameSizes: extraFrameSizes)
    }

    /// Decodes one message from frame 0 held in an array; see ``decode(frame0:extraFrameCount:)``.
    public static func decode(
        frame0: [UInt8],
        extraFrameCount: Int
    ) throws(ProtocolError) -> (MessageHeader, Message) {
        // Array.withUnsafeBytes rethrows untyped errors, so carry the typed one out in a Result.
        let result = frame0.withUnsafeBytes { bytes in
            Result { () throws(ProtocolError) in try self.decode(frame0: bytes, extraFrameCount: extraFrameCount) }
        }
        return try result.get()
    }

    /// Decodes one message from its frames held in arrays (frame 0, then the images); see
    /// ``decode(frame0:extraFrameSizes:)``.
    public static func decode(frames: [[UInt8]]) throws(ProtocolError) -> (MessageHeader, Message) {
        guard let frame0 = frames.first else {
            throw ProtocolError(code: .truncated, offendingSeq: 0, message: "no frames: a message needs frame 0")
        }
        let sizes = frames.dropFirst().map(\.count)
        let result = frame0.withUnsafeBytes { bytes in
            Result { () throws(ProtocolError) in try self.decode(frame0: bytes, extraFrameSizes: sizes) }
        }
        return try result.get()
    }

    static func decodeMessage(
        frame0: UnsafeRawBufferPointer,
        extraFrameCount: Int,
        frameSizes: [Int]?
    ) throws(ProtocolError) -> (MessageHeader, Message) {
        let header = try self.decodeHeader(frame0, extraFrameCount: extraFrameCount)
        var reader = Reader(frame0, offset: MessageHeader.size, type: header.type, seq: header.seq)
        let message: Message
        switch header.type {
        case .hello: message = .hello(try self.readHello(&reader))
        case .welcome: message = .welcome(try self.readWelcome(&reader))
        case .reset: message = .reset(try self.readReset(&reader))
        case .episode: message = .episode(try self.readEpisode(&reader))
        case .step: message = .step(try self.readStep(&reader))
        case .observation:
            var observation = Observation()
            try self.readObservationBody(&reader, into: &observation)
            message = .observation(observation)
        case .heartbeat: message = .heartbeat(try self.readHeartbeat(&reader))
        case .error: message = .error(try self.readErrorReport(&reader))
        case .expert: message = .expert
        case .advice: message = .advice(try self.readAdvice(&reader))
        }
        try reader.expectEnd()
        switch message {
        case .episode(let episode):
            try self.checkImageFrames(episode.observation.images, header: header, frameSizes: frameSizes, &reader)
        case .observation(let observation):
            try self.checkImageFrames(observation.images, header: header, frameSizes: frameSizes, &reader)
        default:
            try self.checkImageFrames([], header: header, frameSizes: frameSizes, &reader)
        }
        return (header, message)
    }

    /// The last part of check 8: `extra_frames` must equal the image count (0 for types without images), and
    /// each image frame, when its size is known, must hold exactly the image's bytes.
    static func checkImageFrames(
        _ images: [ImageHeader],
        header: MessageHeader,
        frameSizes: [Int]?,
        _ reader: inout Reader
    ) throws(ProtocolError) {
        guard images.count == Int(header.extraFrames) else {
            throw reader.error(
                .inconsistent,
                header.type.carriesImages
                    ? "images has \(images.count) items, header extra_frames is \(header.extraFrames)"
                    : "extra_frames is \(header.extraFrames), this type carries none"
            )
        }
        // decodeMessage passes extraFrameCount = frameSizes.count, so this holds once the header check passed.
        guard let frameSizes, frameSizes.count == images.count else {
            return
        }
        for index in images.indices where frameSizes[index] != images[index].frameSize {
            let image = images[index]
            throw reader.error(
                .inconsistent,
                "image frame \(index + 1) is \(frameSizes[index]) bytes, images[\(index)] is "
                    + "\(image.width)×\(image.height)×\(image.encoding.bytesPerPixel) = \(image.frameSize)"
            )
        }
    }

    // MARK: - Encoding

    /// Encodes `message` as frame 0 into `buffer`, replacing its contents but keeping its capacity.
    ///
    /// The header's `extra_frames` is the image count for `EPISODE` and `OBSERVATION`, otherwise 0; the caller
    /// sends the images' pixels as the following frames. Throws `BAD_VALUE` for a value the decoder would reject
    /// (a non-finite number, a string over 4096 bytes, a list too long for its count, an undefined code or flag
    /// bit), `INCONSISTENT` for lists whose counts must agree but do not (`dh` and `joints`, joint positions and
    /// velocities, more than 16 images), and `TOO_LONG` for a payload over 1 MiB. On error `buffer` is left empty.
    public static func encode(_ message: Message, seq: UInt64, into buffer: inout [UInt8]) throws(ProtocolError) {
        buffer.removeAll(keepingCapacity: true)
        var writer = Writer(bytes: [], type: message.type, seq: seq)
        swap(&writer.bytes, &buffer)
        defer { swap(&writer.bytes, &buffer) }
        do {
            try self.write(message, into: &writer)
        } catch {
            writer.bytes.removeAll(keepingCapacity: true)
            throw error
        }
    }

    /// Encodes `message` as frame 0 into a new array; see ``encode(_:seq:into:)``.
    public static func encode(_ message: Message, seq: UInt64) throws(ProtocolError) -> [UInt8] {
        var buffer: [UInt8] = []
        try self.encode(message, seq: seq, into: &buffer)
        return buffer
    }

    private static func write(_ message: Message, into writer: inout Writer) throws(ProtocolError) {
        let extraFrames = message.extraFrameCount
        guard extraFrames <= MessageHeader.maxExtraFrames else {
            throw writer.error(.inconsistent, "has \(extraFrames) images, over \(MessageHeader.maxExtraFrames)")
        }
        self.writeHeader(type: message.type, seq: writer.seq, extraFrames: UInt16(extraFrames), into: &writer)
        switch message {
        case .hello(let hello): try self.write(hello, into: &writer)
        case .welcome(let welcome): try self.write(welcome, into: &writer)
        case .reset(let reset): try self.write(reset, into: &writer)
        case .episode(let episode): try self.write(episode, into: &writer)
        case .step(let step): try self.write(step, into: &writer)
        case .observation(let observation): try self.writeObservationBody(observation, into: &writer)
        case .heartbeat(let heartbeat): try self.write(heartbeat, into: &writer)
        case .error(let report): try self.write(report, into: &writer)
        case .expert: break
        case .advice(let advice): try self.write(advice, into: &writer)
        }
        let payloadLength = writer.bytes.count - MessageHeader.size
        guard payloadLength <= MessageHeader.maxPayloadLength else {
            throw writer.error(.tooLong, "payload is \(payloadLength) bytes, over \(MessageHeader.maxPayloadLength)")
        }
        writer.patchU32(UInt32(payloadLength), at: 16)
    }

    /// Writes the header with payload_length 0; ``write(_:into:)`` patches it at the end.
    private static func writeHeader(type: MessageType, seq: UInt64, extraFrames: UInt16, into writer: inout Writer) {
        writer.writeU32(MessageHeader.magic)
        writer.writeU16(MessageHeader.currentVersion)
        writer.writeU16(type.rawValue)
        writer.writeU64(seq)
        writer.writeU32(0)
        writer.writeU16(extraFrames)
        writer.writeU16(0)
    }

    /// Lower-case hex of `bytes`, for error messages.
    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        let digits: [Character] = Array("0123456789abcdef")
        var text = ""
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return text
    }
}
