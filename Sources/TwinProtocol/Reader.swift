/// A bounds-checked little-endian reader over a borrowed byte buffer, for one message's frame 0.
///
/// Every read checks the bytes left first and throws `TRUNCATED` instead of trapping; `f64` values must be
/// finite and strings valid UTF-8 of at most 4096 bytes (`BAD_VALUE`). Errors name the message type and the
/// field. The reader never allocates except to build a `String` or an error.
struct Reader {
    /// The whole frame; offsets in error messages count from its start.
    let bytes: UnsafeRawBufferPointer
    /// Where the next read starts.
    private(set) var offset: Int
    /// The message being read, for error messages.
    let type: MessageType
    /// Its sequence number, for errors.
    let seq: UInt64

    init(_ bytes: UnsafeRawBufferPointer, offset: Int, type: MessageType, seq: UInt64) {
        self.bytes = bytes
        self.offset = offset
        self.type = type
        self.seq = seq
    }

    /// Bytes not read yet.
    var remaining: Int {
        self.bytes.count - self.offset
    }

    /// An error about this message: `"STEP joint_targets[2] is nan"`.
    func error(_ code: ProtocolError.Code, _ text: String) -> ProtocolError {
        ProtocolError(code: code, offendingSeq: self.seq, message: "\(self.type.name) \(text)")
    }

    /// Checks that `count` more bytes are there and returns where they start.
    private mutating func advance(by count: Int, _ field: FieldName) throws(ProtocolError) -> Int {
        guard count <= self.remaining else {
            throw self.error(
                .truncated,
                "\(field) needs \(count) bytes at byte \(self.offset), \(self.remaining) left"
            )
        }
        let start = self.offset
        self.offset += count
        return start
    }

    mutating func readU8(_ field: FieldName) throws(ProtocolError) -> UInt8 {
        let start = try self.advance(by: 1, field)
        return self.bytes[start]
    }

    mutating func readU16(_ field: FieldName) throws(ProtocolError) -> UInt16 {
        let start = try self.advance(by: 2, field)
        return UInt16(littleEndian: self.bytes.loadUnaligned(fromByteOffset: start, as: UInt16.self))
    }

    mutating func readU32(_ field: FieldName) throws(ProtocolError) -> UInt32 {
        let start = try self.advance(by: 4, field)
        return UInt32(littleEndian: self.bytes.loadUnaligned(fromByteOffset: start, as: UInt32.self))
    }

    mutating func readU64(_ field: FieldName) throws(ProtocolError) -> UInt64 {
        let start = try self.advance(by: 8, field)
        return UInt64(littleEndian: self.bytes.loadUnaligned(fromByteOffset: start, as: UInt64.self))
    }

    /// Reads a finite `f64`.
    mutating func readF64(_ field: FieldName) throws(ProtocolError) -> Double {
        let value = Double(bitPattern: try self.readU64(field))
        guard value.isFinite else {
            throw self.error(.badValue, "\(field) is \(value)")
        }
        return value
    }

    /// Reads a `vec3` (x, y, z).
    mutating func readVec3(_ field: FieldName) throws(ProtocolError) -> SIMD3<Double> {
        let x = try self.readF64(field.component("x"))
        let y = try self.readF64(field.component("y"))
        let z = try self.readF64(field.component("z"))
        return SIMD3(x, y, z)
    }

    /// Reads a `quat` (w, x, y, z).
    mutating func readQuaternion(_ field: FieldName) throws(ProtocolError) -> Quaternion {
        let w = try self.readF64(field.component("w"))
        let x = try self.readF64(field.component("x"))
        let y = try self.readF64(field.component("y"))
        let z = try self.readF64(field.component("z"))
        return Quaternion(w: w, x: x, y: y, z: z)
    }

    /// Reads a `pose` (`vec3` position, then `quat` orientation).
    mutating func readPose(_ field: FieldName) throws(ProtocolError) -> Pose {
        let position = try self.readVec3(field.member("position"))
        let orientation = try self.readQuaternion(field.member("orientation"))
        return Pose(position: position, orientation: orientation)
    }

    /// Reads a `u8` that must be 0 or 1.
    mutating func readBool(_ field: FieldName) throws(ProtocolError) -> Bool {
        let value = try self.readU8(field)
        guard value <= 1 else {
            throw self.error(.badValue, "\(field) is \(value), expected 0 or 1")
        }
        return value == 1
    }

    /// Reads a `str`'s length and bytes, checks them, and returns where the bytes sit.
    private mutating func readStringBytes(_ field: FieldName) throws(ProtocolError) -> UnsafeRawBufferPointer {
        let length = Int(try self.readU16(field))
        guard length <= TwinCodec.maxStringLength else {
            throw self.error(.badValue, "\(field) is \(length) bytes long, over \(TwinCodec.maxStringLength)")
        }
        let start = try self.advance(by: length, field)
        let bytes = UnsafeRawBufferPointer(rebasing: self.bytes[start..<start + length])
        guard Self.isValidUTF8(bytes) else {
            throw self.error(.badValue, "\(field) is not valid UTF-8 (\(length) bytes at byte \(start))")
        }
        return bytes
    }

    /// Reads a `str`.
    mutating func readString(_ field: FieldName) throws(ProtocolError) -> String {
        let bytes = try self.readStringBytes(field)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads and checks a `str` without building it (the allocation-free path).
    mutating func skipString(_ field: FieldName) throws(ProtocolError) {
        _ = try self.readStringBytes(field)
    }

    /// Checks that the whole payload was read.
    func expectEnd() throws(ProtocolError) {
        guard self.remaining == 0 else {
            throw self.error(.tooLong, "has \(self.remaining) bytes left after the last field at byte \(self.offset)")
        }
    }

    /// Whether `bytes` are well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), without
    /// allocating.
    static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}
