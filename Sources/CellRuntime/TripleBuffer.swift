import Synchronization

/// A latest-value mailbox between one producer thread and one consumer thread: three slots, the producer
/// fills its back slot and swaps it with the middle one; the consumer swaps the middle one with its front slot
/// when a new value is there. Neither side ever waits for the other, nothing is allocated after init, and the
/// consumer always gets the newest complete value (older ones are overwritten, as a controller wants).
///
/// The slots' storage belongs to the owner (`Slot` indexes it); this type only hands indices over.
public final class TripleBuffer: @unchecked Sendable {
    private static let dirty: UInt8 = 0x4
    /// Index of the middle slot, plus `dirty` when it holds a value the consumer has not taken.
    private let middle = Atomic<UInt8>(1)
    /// The producer's slot (producer thread only).
    public private(set) var back: Int = 0
    /// The consumer's slot (consumer thread only).
    public private(set) var front: Int = 2

    /// A mailbox with slots 0, 1, 2.
    public init() {}

    /// Publishes the back slot (producer thread): it becomes the middle one; returns the new back slot.
    @inline(__always)
    @discardableResult
    public func publish() -> Int {
        let previous = self.middle.exchange(UInt8(self.back) | Self.dirty, ordering: .acquiringAndReleasing)
        self.back = Int(previous & 0x3)
        return self.back
    }

    /// Takes the newest value if there is one (consumer thread): returns its slot (now `front`), or nil.
    @inline(__always)
    public func take() -> Int? {
        guard self.middle.load(ordering: .acquiring) & Self.dirty != 0 else { return nil }
        let previous = self.middle.exchange(UInt8(self.front), ordering: .acquiringAndReleasing)
        self.front = Int(previous & 0x3)
        return self.front
    }
}
