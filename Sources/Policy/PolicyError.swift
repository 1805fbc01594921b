/// An error of the policy layer: what went wrong, with the file, field or tensor, in words a person can act
/// on, and a stable code.
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The model folder or one of its files cannot be read.
        public static let io = Code(rawValue: "io")
        /// `config.json` is malformed or inconsistent.
        public static let config = Code(rawValue: "config")
        /// A weight file's SHA-256 differs from the one in `config.json`.
        public static let checksum = Code(rawValue: "checksum")
        /// The weights file was refused by the kernel (format, tensor names, dtypes, shapes).
        public static let weights = Code(rawValue: "weights")
        /// A bad argument (image size, state length, unknown variant or SIMD path).
        public static let argument = Code(rawValue: "argument")
        /// Inference failed (non-finite input or output, kernel error).
        public static let inference = Code(rawValue: "inference")
        public var description: String { self.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What happened.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.message) [\(self.code)]" }
}
