import Foundation

/// A fixed-size log-linear histogram of non-negative durations in nanoseconds, in the manner of HdrHistogram:
/// 64 sub-buckets per power of two (about 1.6 % relative resolution) from 1 ns to about 18 minutes.
///
/// All memory is allocated at init; `record` is a few integer operations with no allocation, no lock and no
/// system call, so the control thread may call it. One thread records; read it after that thread stopped
/// (or from the same thread).
public final class LatencyHistogram: @unchecked Sendable {
    private static let subBucketBits = 6
    private static let subBuckets = 1 << subBucketBits  // 64
    private static let maxExponent = 40  // 2^40 ns ≈ 18.3 min
    /// Number of buckets.
    static let bucketCount = 2 * subBuckets + (maxExponent - subBucketBits - 1) * subBuckets

    private let counts: UnsafeMutablePointer<UInt64>
    /// Samples recorded.
    public private(set) var count: UInt64 = 0
    /// Smallest sample, ns (0 if empty).
    public private(set) var min: Int64 = .max
    /// Largest sample, ns (0 if empty).
    public private(set) var max: Int64 = 0
    /// Sum of the samples, ns.
    public private(set) var sum: Double = 0

    /// Creates an empty histogram.
    public init() {
        self.counts = .allocate(capacity: Self.bucketCount)
        self.counts.initialize(repeating: 0, count: Self.bucketCount)
    }

    deinit { self.counts.deallocate() }

    @inline(__always)
    static func bucket(of value: Int64) -> Int {
        let v = UInt64(Swift.max(value, 0))
        if v < UInt64(2 * subBuckets) { return Int(v) }
        let msb = 63 - v.leadingZeroBitCount  // ≥ 7
        if msb >= maxExponent { return bucketCount - 1 }
        let shift = msb - subBucketBits
        let top = Int(v >> UInt64(shift))  // 64…127
        return 2 * subBuckets + (msb - subBucketBits - 1) * subBuckets + (top - subBuckets)
    }

    /// The middle of a bucket's range, ns.
    static func value(ofBucket index: Int) -> Double {
        if index < 2 * subBuckets { return Double(index) }
        let octave = (index - 2 * subBuckets) / subBuckets + subBucketBits + 1
        let top = (index - 2 * subBuckets) % subBuckets + subBuckets
        let shift = octave - subBucketBits
        let low = Double(top) * Double(1 << shift)
        return low + Double(1 << shift) / 2
    }

    /// Records one sample, ns (negative values count as 0).
    @inline(__always)
    public func record(_ nanoseconds: Int64) {
        self.counts[Self.bucket(of: nanoseconds)] &+= 1
        self.count &+= 1
        if nanoseconds < self.min { self.min = nanoseconds }
        if nanoseconds > self.max { self.max = nanoseconds }
        self.sum += Double(nanoseconds)
    }

    /// Forgets every sample.
    public func reset() {
        self.counts.update(repeating: 0, count: Self.bucketCount)
        self.count = 0
        self.min = .max
        self.max = 0
        self.sum = 0
    }

    /// Adds another histogram's samples.
    public func add(_ other: LatencyHistogram) {
        for index in 0..<Self.bucketCount { self.counts[index] &+= other.counts[index] }
        self.count &+= other.count
        self.min = Swift.min(self.min, other.min)
        self.max = Swift.max(self.max, other.max)
        self.sum += other.sum
    }

    /// The value at a percentile (0…100), ns; the exact max for 100, 0 if empty.
    public func percentile(_ percent: Double) -> Double {
        guard self.count > 0 else { return 0 }
        if percent >= 100 { return Double(self.max) }
        let rank = Swift.max(1, UInt64((percent / 100 * Double(self.count)).rounded(.up)))
        var seen: UInt64 = 0
        for index in 0..<Self.bucketCount {
            seen &+= self.counts[index]
            if seen >= rank {
                return Swift.min(Swift.max(Self.value(ofBucket: index), Double(self.min)), Double(self.max))
            }
        }
        return Double(self.max)
    }

    /// Calls `body` with each non-empty bucket's middle value (ns) and count, to copy the samples elsewhere.
    public func forEachBucket(_ body: (Double, UInt64) -> Void) {
        for index in 0..<Self.bucketCount where self.counts[index] > 0 {
            body(Self.value(ofBucket: index), self.counts[index])
        }
    }

    /// Mean, ns (0 if empty).
    public var mean: Double { self.count == 0 ? 0 : self.sum / Double(self.count) }

    /// A one-line summary in microseconds: `p50 12.3 µs, p99 …, p99.9 …, max …`.
    public func summaryMicros() -> String {
        func us(_ ns: Double) -> String { String(format: "%.1f µs", ns / 1000) }
        return "p50 \(us(self.percentile(50))), p99 \(us(self.percentile(99))), "
            + "p99.9 \(us(self.percentile(99.9))), max \(us(Double(self.count == 0 ? 0 : self.max)))"
    }
}
