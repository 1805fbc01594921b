/// A little-endian writer that appends one message's frame 0 to a byte array, checking each value as the
/// decoder would (finite `f64`, strings of at most 4096 bytes, counts that fit their field).
///
/// Whatever the writer accepts, ``Reader`` accepts back: the codec never puts an invalid message on the wire.
struct Writer {
    /// The bytes written so far; the caller lends its buffer to reuse the capacity.
    var bytes: [UInt8]
    /// The message being written, for error messages.
    let type: MessageType
    /// Its sequence number, for errors.
    let seq: UInt64

    /// An error about this message: `"STEP joint_targets[2] is nan"`.
    func error(_ code: ProtocolError.Code, _ text: String) -> ProtocolError {
        ProtocolError(code: code, offendingSeq: self.seq, message: "\(self.type.name) \(text)")
    }

    mutating func writeU8(_ value: UInt8) {
        self.bytes.append(value)
    }

    mutating func writeU16(_ value: UInt16) {
        withUnsafeBytes(of: value.littleEndian) { self.bytes.append(contentsOf: $0) }
    }

    mutating func writeU32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { self.bytes.append(contentsOf: $0) }
    }

    mutating func writeU64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { self.bytes.append(contentsOf: $0) }
    }

    /// Writes a finite `f64`.
    mutating func writeF64(_ value: Double, _ field: FieldName) throws(ProtocolError) {
        guard value.isFinite else {
            throw self.error(.badValue, "\(field) is \(value)")
        }
        self.writeU64(value.bitPattern)
    }

    mutating func writeVec3(_ value: SIMD3<Double>, _ field: FieldName) throws(ProtocolError) {
        try self.writeF64(value.x, field.component("x"))
        try self.writeF64(value.y, field.component("y"))
        try self.writeF64(value.z, field.component("z"))
    }

    mutating func writeQuaternion(_ value: Quaternion, _ field: FieldName) throws(ProtocolError) {
        try self.writeF64(value.w, field.component("w"))
        try self.writeF64(value.x, field.component("x"))
        try self.writeF64(value.y, field.component("y"))
        try self.writeF64(value.z, field.component("z"))
    }

    mutating func writePose(_ value: Pose, _ field: FieldName) throws(ProtocolError) {
        try self.writeVec3(value.position, field.member("position"))
        try self.writeQuaternion(value.orientation, field.member("orientation"))
    }

    /// Writes a `str`.
    mutating func writeString(_ value: String, _ field: FieldName) throws(ProtocolError) {
        let length = value.utf8.count
        guard length <= TwinCodec.maxStringLength else {
            throw self.error(.badValue, "\(field) is \(length) bytes long, over \(TwinCodec.maxStringLength)")
        }
        self.writeU16(UInt16(length))
        self.bytes.append(contentsOf: value.utf8)
    }

    /// Writes a `u16` list count.
    mutating func writeCount16(_ count: Int, _ field: FieldName) throws(ProtocolError) {
        guard let value = UInt16(exactly: count) else {
            throw self.error(.badValue, "\(field) has \(count) items, over \(UInt16.max)")
        }
        self.writeU16(value)
    }

    /// Writes a `u8` list count.
    mutating func writeCount8(_ count: Int, _ field: FieldName) throws(ProtocolError) {
        guard let value = UInt8(exactly: count) else {
            throw self.error(.badValue, "\(field) has \(count) items, over \(UInt8.max)")
        }
        self.writeU8(value)
    }

    /// Overwrites a `u32` already written at `offset`.
    mutating func patchU32(_ value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { source in
            for index in 0..<4 {
                self.bytes[offset + index] = source[index]
            }
        }
    }
}
