/// `HEARTBEAT` (7), both ways: keeps the link alive; the twin answers with a heartbeat carrying the same `seq`.
public struct Heartbeat: Hashable, Sendable {
    /// The sender's monotonic clock, seconds (informational).
    public var time: Double

    /// Creates a `HEARTBEAT`.
    public init(time: Double) {
        self.time = time
    }
}
