/// The 24-byte header at the start of frame 0 (`Sim/PROTOCOL.md` §3).
///
/// The magic and the reserved field are not stored: a decoded header always had them right.
public struct MessageHeader: Hashable, Sendable {
    /// Size of the header in bytes.
    public static let size = 24
    /// Largest payload the protocol allows, in bytes.
    public static let maxPayloadLength = 1_048_576
    /// Largest number of frames after frame 0.
    public static let maxExtraFrames = 16
    /// The only protocol version this codec speaks.
    public static let currentVersion: UInt16 = 1
    /// `ECTW` read as a little-endian `u32`.
    static let magic: UInt32 = 0x5754_4345

    /// Protocol version; always ``currentVersion`` for a decoded header.
    public var version: UInt16
    /// The message type.
    public var type: MessageType
    /// Sequence number (§5).
    public var seq: UInt64
    /// Bytes of payload after the header.
    public var payloadLength: UInt32
    /// Number of frames after frame 0.
    public var extraFrames: UInt16

    /// Creates a header.
    public init(
        version: UInt16 = MessageHeader.currentVersion,
        type: MessageType,
        seq: UInt64,
        payloadLength: UInt32,
        extraFrames: UInt16
    ) {
        self.version = version
        self.type = type
        self.seq = seq
        self.payloadLength = payloadLength
        self.extraFrames = extraFrames
    }
}
