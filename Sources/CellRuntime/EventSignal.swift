import CRealtime

/// A wake-up signal from one thread to another, backed by a Linux eventfd.
///
/// Signalling and waiting are single system calls with no allocation and no lock, so the control thread may
/// use them. The descriptor can also be polled by `zmq_poll` next to a socket (`ZMQSocket.poll(_:orReadable:)`).
public final class EventSignal: @unchecked Sendable {
    /// The eventfd.
    public let fileDescriptor: Int32

    /// Creates a signal.
    public init() throws(RuntimeError) {
        let fd = crt_event_create()
        guard fd >= 0 else {
            throw RuntimeError(.system, "eventfd failed: errno \(-fd)")
        }
        self.fileDescriptor = fd
    }

    deinit { _ = crt_event_close(self.fileDescriptor) }

    /// Wakes the waiter (signals coalesce: several signals before a wait wake it once).
    @inline(__always)
    public func signal() { _ = crt_event_signal(self.fileDescriptor) }

    /// Waits until signalled or the timeout passes; resets the signal.
    /// - Parameter nanoseconds: 0 only checks; negative waits forever.
    /// - Returns: true if the signal was raised.
    @inline(__always)
    public func wait(timeoutNanoseconds nanoseconds: Int64) -> Bool {
        crt_event_wait(self.fileDescriptor, nanoseconds) == 1
    }

    /// Resets the signal without waiting; returns whether it was raised.
    @inline(__always)
    @discardableResult
    public func consume() -> Bool { crt_event_consume(self.fileDescriptor) == 1 }
}
