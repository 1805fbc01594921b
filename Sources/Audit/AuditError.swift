/// An error of the audit log: what went wrong, the file and (when a chain check failed) the 1-based line, in
/// words a person can act on, and a stable code.
public struct AuditError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The log or its directory cannot be created, opened, locked, read or written.
        public static let io = Code(rawValue: "io")
        /// A line is not a well-formed entry (not JSON, missing or mistyped field, not in canonical form).
        public static let malformed = Code(rawValue: "malformed")
        /// A line's `hash` does not match its contents: the entry was edited.
        public static let edited = Code(rawValue: "edited")
        /// A line's `seq` or `prev` does not follow the line before: an entry was removed, inserted or reordered.
        public static let broken = Code(rawValue: "broken")
        /// The last line has no newline: a write was interrupted or the file was cut.
        public static let truncated = Code(rawValue: "truncated")
        /// The chain is intact but does not hold an entry the caller recorded earlier (an anchor).
        public static let anchor = Code(rawValue: "anchor")
        /// A bad argument (reserved field name, empty event name).
        public static let argument = Code(rawValue: "argument")
        public var description: String { self.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// The 1-based line of the log the failure is about, if any.
    public let line: Int?
    /// What happened.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, line: Int? = nil, _ message: String) {
        self.code = code
        self.line = line
        self.message = message
    }

    public var description: String { "\(self.message) [\(self.code)]" }
}
