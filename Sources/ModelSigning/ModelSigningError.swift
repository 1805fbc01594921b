/// An error of model signing or verification: what went wrong, the model folder or key file, the files that
/// failed, in words a person can act on, and a stable code.
public struct ModelSigningError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A file or folder cannot be read or written.
        public static let io = Code(rawValue: "io")
        /// A key file is malformed, or a secret key file is readable by others.
        public static let key = Code(rawValue: "key")
        /// The model folder has no `manifest.json` or `manifest.sig`.
        public static let unsigned = Code(rawValue: "unsigned")
        /// `manifest.json` or `manifest.sig` is malformed or of an unknown version.
        public static let format = Code(rawValue: "format")
        /// The signature was made by a key that is not among the trusted ones.
        public static let untrusted = Code(rawValue: "untrusted")
        /// The signature does not match `manifest.json` (either was changed, or the signature is corrupt).
        public static let signature = Code(rawValue: "signature")
        /// A file differs from the signed manifest: changed, missing, not listed, or not a regular file.
        public static let files = Code(rawValue: "files")
        /// A bad argument (no trusted key given).
        public static let argument = Code(rawValue: "argument")
        public var description: String { self.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What happened.
    public let message: String
    /// For `.files`: each file that failed, by its path inside the model folder.
    public let problems: [FileProblem]

    /// Creates an error.
    public init(_ code: Code, _ message: String, problems: [FileProblem] = []) {
        self.code = code
        self.message = message
        self.problems = problems
    }

    public var description: String { "\(self.message) [\(self.code)]" }
}

/// One file of a model folder that does not match its signed manifest.
public struct FileProblem: Hashable, Sendable, CustomStringConvertible {
    /// How it differs.
    public enum Kind: Hashable, Sendable {
        /// Its contents changed: size or SHA-256 differ from the manifest's.
        case changed
        /// Listed in the manifest, absent from the folder.
        case missing
        /// In the folder, not listed in the manifest (added after signing).
        case unlisted
        /// Not a regular file (a symbolic link, device, socket…): refused, as its contents could change under us.
        case notRegularFile
    }

    /// The path inside the model folder.
    public let path: String
    /// How it differs.
    public let kind: Kind
    /// Details (the hashes or sizes that differ).
    public let detail: String

    public var description: String { "\(self.path): \(self.detail)" }
}
