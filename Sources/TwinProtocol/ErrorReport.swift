/// `ERROR` (8), both ways: reports a message the sender could not accept.
public struct ErrorReport: Hashable, Sendable {
    /// What kind of error; one of the codes protocol version 1 defines.
    public var code: ProtocolError.Code
    /// `seq` of the message that caused it (0 if its header could not be read).
    public var offendingSeq: UInt64
    /// What was wrong, for a person (at most 4096 bytes of UTF-8).
    public var message: String

    /// Creates an `ERROR`.
    public init(code: ProtocolError.Code, offendingSeq: UInt64, message: String) {
        self.code = code
        self.offendingSeq = offendingSeq
        self.message = message
    }

    /// Creates the report to send back for a decoding or validation error, cutting the message at a character
    /// boundary so it fits the protocol's 4096-byte string limit.
    public init(_ error: ProtocolError) {
        var message = error.message
        if message.utf8.count > TwinCodec.maxStringLength {
            var cut = ""
            for character in message {
                if cut.utf8.count + character.utf8.count > TwinCodec.maxStringLength {
                    break
                }
                cut.append(character)
            }
            message = cut
        }
        self.init(code: error.code, offendingSeq: error.offendingSeq, message: message)
    }

    /// The report as an error, to throw on the receiving side.
    public var error: ProtocolError {
        ProtocolError(code: self.code, offendingSeq: self.offendingSeq, message: self.message)
    }
}
