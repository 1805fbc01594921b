/// An error of the runtime: what went wrong, in words an operator can act on, with a stable code.
public struct RuntimeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The twin did not answer within the link's timeout and retries.
        public static let twinUnreachable = Code(rawValue: "twin-unreachable")
        /// The twin answered with an ERROR message.
        public static let twinError = Code(rawValue: "twin-error")
        /// The twin sent something that breaks the protocol.
        public static let protocolViolation = Code(rawValue: "protocol-violation")
        /// The local twin process could not be started or exited.
        public static let twinProcess = Code(rawValue: "twin-process")
        /// A waypoint cannot be reached (IK failed, out of limits or workspace).
        public static let unreachable = Code(rawValue: "unreachable")
        /// The task cannot be planned (unknown task, missing object).
        public static let planning = Code(rawValue: "planning")
        /// A bad option or configuration.
        public static let configuration = Code(rawValue: "configuration")
        /// A system call failed.
        public static let system = Code(rawValue: "system")
        /// The control loop stopped the arm (watchdog, limit, non-finite command).
        public static let safetyStop = Code(rawValue: "safety-stop")
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
