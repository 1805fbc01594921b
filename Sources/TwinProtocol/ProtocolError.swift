/// An error of the twin protocol (`Sim/PROTOCOL.md` §4.8): what went wrong, for which message, and why.
///
/// Modelled on swift-system's `Errno`: the code is an open set of static values, so an `ERROR` message from a
/// peer can carry any code it knows. The message names the field and the value, for example
/// `"STEP joint_targets[2] is nan"`.
public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The protocol's error code, as sent in an `ERROR` message.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code's wire value.
        public let rawValue: UInt16

        /// Creates a code from its wire value; values outside §4.8 are representable but not valid on the wire.
        public init(rawValue: UInt16) {
            self.rawValue = rawValue
        }

        /// Frame 0 does not start with `ECTW`.
        public static let badMagic = Code(rawValue: 1)
        /// The header's version is not 1.
        public static let unsupportedVersion = Code(rawValue: 2)
        /// The header's type is not one of §4.
        public static let unknownType = Code(rawValue: 3)
        /// Fewer bytes than the header or a field needs.
        public static let truncated = Code(rawValue: 4)
        /// The payload is over the limit, or bytes are left after the last field.
        public static let tooLong = Code(rawValue: 5)
        /// The frame count, a count or a size disagrees with the header or the handshake.
        public static let inconsistent = Code(rawValue: 6)
        /// A value is out of range: a non-finite `f64`, bad UTF-8, a string too long, a bad enum, a target out of
        /// limits.
        public static let badValue = Code(rawValue: 7)
        /// A valid message at the wrong time.
        public static let badState = Code(rawValue: 8)
        /// `RESET` named a task the twin does not have.
        public static let unknownTask = Code(rawValue: 9)
        /// The sender failed on its side.
        public static let `internal` = Code(rawValue: 10)

        /// Every code defined by protocol version 1, in wire order.
        public static let allDefined: [Code] = [
            .badMagic, .unsupportedVersion, .unknownType, .truncated, .tooLong, .inconsistent, .badValue, .badState,
            .unknownTask, .internal,
        ]

        /// Whether protocol version 1 defines this code (1…10).
        public var isDefined: Bool {
            (1...10).contains(self.rawValue)
        }

        /// The code's name in §4.8 (`"BAD_MAGIC"`, …), or `"CODE_<n>"` for a value the protocol does not define.
        public var name: String {
            switch self.rawValue {
            case 1: "BAD_MAGIC"
            case 2: "UNSUPPORTED_VERSION"
            case 3: "UNKNOWN_TYPE"
            case 4: "TRUNCATED"
            case 5: "TOO_LONG"
            case 6: "INCONSISTENT"
            case 7: "BAD_VALUE"
            case 8: "BAD_STATE"
            case 9: "UNKNOWN_TASK"
            case 10: "INTERNAL"
            default: "CODE_\(self.rawValue)"
            }
        }

        /// Creates a defined code from its §4.8 name, such as `"TRUNCATED"`; `nil` for any other string.
        public init?(name: String) {
            guard let code = Code.allDefined.first(where: { $0.name == name }) else {
                return nil
            }
            self = code
        }

        /// The code's name.
        public var description: String {
            self.name
        }
    }

    /// What kind of error this is.
    public let code: Code
    /// The `seq` of the message that caused the error; 0 when the header could not be read.
    public let offendingSeq: UInt64
    /// What was wrong, for a person: names the field and the value.
    public let message: String

    /// Creates an error.
    public init(code: Code, offendingSeq: UInt64, message: String) {
        self.code = code
        self.offendingSeq = offendingSeq
        self.message = message
    }

    /// `"TRUNCATED (seq 3): STEP joint_targets[1] needs 8 bytes at byte 36, 2 left"`.
    public var description: String {
        "\(self.code.name) (seq \(self.offendingSeq)): \(self.message)"
    }
}
