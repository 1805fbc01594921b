import CZMQ

/// An error reported by libzmq, carrying its `errno`-style code (in the style of swift-system's `Errno`).
public struct ZMQError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The raw error code (`errno` values, or libzmq's own codes above `ZMQ_HAUSNUMERO`).
    public let code: Int32
    /// What was being done when the error happened, e.g. `connect tcp://127.0.0.1:5555`.
    public let operation: String

    /// Creates an error from a code and the operation that failed.
    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// The error libzmq reports for the calling thread's last failed call.
    static func last(_ operation: String) -> ZMQError {
        ZMQError(code: zmq_errno(), operation: operation)
    }

    /// The resource is temporarily unavailable (a non-blocking call would block, or a timeout expired).
    public static let wouldBlock: Int32 = EAGAIN
    /// The call was interrupted by a signal.
    public static let interrupted: Int32 = EINTR
    /// The context was terminated.
    public static let terminated: Int32 = ETERM_VALUE

    /// libzmq's message for the code.
    public var reason: String { String(cString: zmq_strerror(self.code)) }

    public var description: String { "\(self.operation): \(self.reason) (errno \(self.code))" }
}

/// `ETERM` as libzmq defines it (`ZMQ_HAUSNUMERO + 53`), spelled out because the macro does not import.
let ETERM_VALUE: Int32 = 156_384_712 + 53

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
