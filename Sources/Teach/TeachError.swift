/// An error of the teaching side: a dataset, a program file or a recording session went wrong. The message names
/// the file (or option) and the problem in words an operator can act on.
public struct TeachError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A dataset on disk breaks docs/DATASET.md (bad format, version, size, hash, value).
        public static let invalidDataset = Code(rawValue: "invalid-dataset")
        /// The cell does not match the dataset being appended to (robot, cameras, timing).
        public static let mismatch = Code(rawValue: "mismatch")
        /// A program file is malformed, or an edit is impossible (unknown or duplicate name, bad value).
        public static let invalidProgram = Code(rawValue: "invalid-program")
        /// A bad option or argument.
        public static let usage = Code(rawValue: "usage")
        /// Another process holds the dataset.
        public static let busy = Code(rawValue: "busy")
        /// A system call failed (disk full, permissions…).
        public static let system = Code(rawValue: "system")
        /// The cell misbehaved during a recording (link failure, missing images).
        public static let cell = Code(rawValue: "cell")
        public var description: String { self.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// The file the problem is in, if any.
    public let path: String?
    /// What is wrong.
    public let message: String

    /// Creates an error; `path` names the offending file.
    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }

    public var description: String {
        if let path = self.path { return "\(path): \(self.message)" }
        return self.message
    }
}
