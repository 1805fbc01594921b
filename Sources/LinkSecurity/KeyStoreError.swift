/// An error of the key store or of a link's security settings, with a stable code and a message a person can act
/// on (naming the file and the command that fixes it).
public struct KeyStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A key file or the key directory cannot be created, read or written.
        public static let io = Code(rawValue: "io")
        /// A file is not in the expected format, or a key is not valid.
        public static let format = Code(rawValue: "format")
        /// The cell has no key pair yet.
        public static let missing = Code(rawValue: "missing")
        /// A secret key file can be read or written by others.
        public static let permissions = Code(rawValue: "permissions")
        /// A link would leave this machine without CURVE.
        public static let insecure = Code(rawValue: "insecure")
        /// A bad argument (a key already present, a key not in the list).
        public static let argument = Code(rawValue: "argument")
        public var description: String { self.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What happened and what to do.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }
}
