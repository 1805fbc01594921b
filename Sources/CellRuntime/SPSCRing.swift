import Synchronization

/// A bounded single-producer/single-consumer ring of plain values: the control thread's only way to talk to
/// other threads.
///
/// One thread pushes, one thread pops. Storage is allocated once at init; `push` and `pop` allocate nothing,
/// take no lock and never block (acquire/release atomics on the two indices).
public final class SPSCRing<Element: BitwiseCopyable>: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<Element>
    private let mask: Int
    /// Next index to read; written by the consumer only.
    private let head = Atomic<Int>(0)
    /// Next index to write; written by the producer only.
    private let tail = Atomic<Int>(0)

    /// Number of slots (a power of two at least `minimumCapacity`).
    public let capacity: Int

    /// Creates a ring with room for at least `minimumCapacity` elements.
    public init(minimumCapacity: Int) {
        var capacity = 1
        while capacity < max(minimumCapacity, 1) { capacity <<= 1 }
        self.capacity = capacity
        self.mask = capacity - 1
        self.storage = .allocate(capacity: capacity)
    }

    deinit { self.storage.deallocate() }

    /// Appends an element (producer thread only).
    /// - Returns: false if the ring is full; nothing was written.
    @inline(__always)
    @discardableResult
    public func push(_ element: Element) -> Bool {
        let tail = self.tail.load(ordering: .relaxed)
        let head = self.head.load(ordering: .acquiring)
        if tail &- head >= self.capacity { return false }
        (self.storage + (tail & self.mask)).initialize(to: element)
        self.tail.store(tail &+ 1, ordering: .releasing)
        return true
    }

    /// Removes the oldest element (consumer thread only), or returns nil if the ring is empty.
    @inline(__always)
    public func pop() -> Element? {
        let head = self.head.load(ordering: .relaxed)
        let tail = self.tail.load(ordering: .acquiring)
        if head == tail { return nil }
        let element = self.storage[head & self.mask]
        self.head.store(head &+ 1, ordering: .releasing)
        return element
    }

    /// Removes every element and returns the newest one (consumer thread only): "latest value" semantics.
    /// - Parameter skipped: incremented by the number of older elements dropped.
    @inline(__always)
    public func popLatest(skipped: inout Int) -> Element? {
        let head = self.head.load(ordering: .relaxed)
        let tail = self.tail.load(ordering: .acquiring)
        if head == tail { return nil }
        let element = self.storage[(tail &- 1) & self.mask]
        skipped += tail &- head &- 1
        self.head.store(tail, ordering: .releasing)
        return element
    }

    /// Elements waiting (approximate when read from a third thread).
    public var count: Int {
        self.tail.load(ordering: .acquiring) &- self.head.load(ordering: .acquiring)
    }
}
