// The allocation-free paths for the runtime's I/O thread, which steps at up to 1 kHz.

extension TwinCodec {
    /// Bytes a `STEP` frame 0 takes for `jointCount` joints: size the send buffer with this once.
    public static func stepFrameSize(jointCount: Int) -> Int {
        MessageHeader.size + 2 + 8 * jointCount + 8
    }

    /// Encodes a `STEP` as frame 0 into caller-owned memory, without allocating, and returns the bytes written.
    ///
    /// Throws `BAD_VALUE` for a non-finite target or more than 65535 joints, and `TOO_LONG` when `buffer` is
    /// smaller than ``stepFrameSize(jointCount:)``; nothing is written then.
    public static func encodeStep(
        seq: UInt64,
        jointTargets: UnsafeBufferPointer<Double>,
        gripperTarget: Double,
        into buffer: UnsafeMutableRawBufferPointer
    ) throws(ProtocolError) -> Int {
        let count = jointTargets.count
        guard let wireCount = UInt16(exactly: count) else {
            throw ProtocolError(
                code: .badValue,
                offendingSeq: seq,
                message: "STEP joint_targets has \(count) items, over \(UInt16.max)"
            )
        }
        let size = self.stepFrameSize(jointCount: count)
        guard buffer.count >= size else {
            throw ProtocolError(
                code: .tooLong,
                offendingSeq: seq,
                message: "STEP needs \(size) bytes, the buffer holds \(buffer.count)"
            )
        }
        for index in 0..<count where !jointTargets[index].isFinite {
            throw ProtocolError(
                code: .badValue,
                offendingSeq: seq,
                message: "STEP \(FieldName("joint_targets", index)) is \(jointTargets[index])"
            )
        }
        guard gripperTarget.isFinite else {
            throw ProtocolError(code: .badValue, offendingSeq: seq, message: "STEP gripper_target is \(gripperTarget)")
        }
        buffer.storeBytes(of: MessageHeader.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        buffer.storeBytes(of: MessageHeader.currentVersion.littleEndian, toByteOffset: 4, as: UInt16.self)
        buffer.storeBytes(of: MessageType.step.rawValue.littleEndian, toByteOffset: 6, as: UInt16.self)
        buffer.storeBytes(of: seq.littleEndian, toByteOffset: 8, as: UInt64.self)
        buffer.storeBytes(of: UInt32(size - MessageHeader.size).littleEndian, toByteOffset: 16, as: UInt32.self)
        buffer.storeBytes(of: UInt32(0), toByteOffset: 20, as: UInt32.self)  // extra_frames and reserved
        buffer.storeBytes(of: wireCount.littleEndian, toByteOffset: 24, as: UInt16.self)
        var offset = 26
        for target in jointTargets {
            buffer.storeBytes(of: target.bitPattern.littleEndian, toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        buffer.storeBytes(of: gripperTarget.bitPattern.littleEndian, toByteOffset: offset, as: UInt64.self)
        return size
    }

    /// Decodes an `OBSERVATION`, or the observation body of an `EPISODE`, into `observation`, reusing its arrays'
    /// capacity: once they have grown to the handshake's sizes, this allocates nothing.
    ///
    /// Runs the same checks as ``decode(frame0:extraFrameCount:)``. For an `EPISODE`, `task` and `instruction` are
    /// checked but not returned; use ``decode(frame0:extraFrameSizes:)`` to read them. Any other type throws
    /// `BAD_STATE`: call ``decodeHeader(_:)`` first to route other messages (such as an `ERROR` reply) to
    /// ``decode(frame0:extraFrameSizes:)``. On error, `observation` holds a partly decoded body.
    public static func decodeObservation(
        frame0: UnsafeRawBufferPointer,
        extraFrameCount: Int,
        into observation: inout Observation
    ) throws(ProtocolError) -> MessageHeader {
        try self.decodeObservation(
            frame0: frame0,
            extraFrameCount: extraFrameCount,
            frameSizes: nil,
            into: &observation
        )
    }

    /// Decodes an `OBSERVATION` or `EPISODE` into `observation` as ``decodeObservation(frame0:extraFrameCount:into:)``
    /// does, and also checks that image *j*'s frame holds `width × height × 3` bytes (§3 check 8). Keep
    /// `extraFrameSizes` in a preallocated array to stay allocation-free.
    public static func decodeObservation(
        frame0: UnsafeRawBufferPointer,
        extraFrameSizes: [Int],
        into observation: inout Observation
    ) throws(ProtocolError) -> MessageHeader {
        try self.decodeObservation(
            frame0: frame0,
            extraFrameCount: extraFrameSizes.count,
            frameSizes: extraFrameSizes,
            into: &observation
        )
    }

    private static func decodeObservation(
        frame0: UnsafeRawBufferPointer,
        extraFrameCount: Int,
        frameSizes: [Int]?,
        into observation: inout Observation
    ) throws(ProtocolError) -> MessageHeader {
        let header = try self.decodeHeader(frame0, extraFrameCount: extraFrameCount)
        var reader = Reader(frame0, offset: MessageHeader.size, type: header.type, seq: header.seq)
        switch header.type {
        case .observation:
            break
        case .episode:
            try reader.skipString("task")
            try reader.skipString("instruction")
            _ = try reader.readU64("seed")
        default:
            throw reader.error(.badState, "arrived where an OBSERVATION or EPISODE was expected")
        }
        try self.readObservationBody(&reader, into: &observation)
        try reader.expectEnd()
        try self.checkImageFrames(observation.images, header: header, frameSizes: frameSizes, &reader)
        return header
    }
}
