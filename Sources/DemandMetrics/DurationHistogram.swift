/// Durations in nanoseconds, kept two ways: log-linear buckets (32 per power of two, about 3 % relative
/// resolution, as HdrHistogram does) for percentiles, and exact cumulative counts at fixed bounds for a
/// Prometheus histogram. A value type; the collector keeps it behind its lock.
public struct DurationHistogram: Sendable, Equatable {
    static let subBucketBits = 5
    static let subBuckets = 1 << subBucketBits
    static let maxExponent = 40
    static let bucketCount = 2 * subBuckets + (maxExponent - subBucketBits - 1) * subBuckets

    /// The `le` bounds of the Prometheus buckets, s: 100 µs to 10 s, 1-2.5-5 steps.
    public static let prometheusBounds: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]

    private var counts: [UInt64]
    /// Samples at or below each of `prometheusBounds` (not cumulative; the exposition sums them).
    private var boundCounts: [UInt64]
    public private(set) var count: UInt64 = 0
    /// Sum of the samples, s.
    public private(set) var sumSeconds: Double = 0
    public private(set) var maxNanoseconds: Int64 = 0
    public private(set) var minNanoseconds: Int64 = .max

    public init() {
        self.counts = Array(repeating: 0, count: Self.bucketCount)
        self.boundCounts = Array(repeating: 0, count: Self.prometheusBounds.count)
    }

    static func bucket(of value: Int64) -> Int {
        let v = UInt64(Swift.max(value, 0))
        if v < UInt64(2 * subBuckets) { return Int(v) }
        let msb = 63 - v.leadingZeroBitCount
        if msb >= maxExponent { return bucketCount - 1 }
        let shift = msb - subBucketBits
        let top = Int(v >> UInt64(shift))
        return 2 * subBuckets + (msb - subBucketBits - 1) * subBuckets + (top - subBuckets)
    }

    static func value(ofBucket index: Int) -> Double {
        if index < 2 * subBuckets { return Double(index) }
        let octave = (index - 2 * subBuckets) / subBuckets + subBucketBits + 1
        let top = (index - 2 * subBuckets) % subBuckets + subBuckets
        let shift = octave - subBucketBits
        return Double(top) * Double(1 << shift) + Double(1 << shift) / 2
    }

    /// Records `count` durations of `nanoseconds` each (negative counts as 0).
    public mutating func record(nanoseconds: Int64, count: UInt64 = 1) {
        let value = Swift.max(nanoseconds, 0)
        self.counts[Self.bucket(of: value)] &+= count
        let seconds = Double(value) * 1e-9
        if let bound = Self.prometheusBounds.firstIndex(where: { seconds <= $0 }) { self.boundCounts[bound] &+= count }
        self.count &+= count
        self.sumSeconds += seconds * Double(count)
        self.maxNanoseconds = Swift.max(self.maxNanoseconds, value)
        self.minNanoseconds = Swift.min(self.minNanoseconds, value)
    }

    /// The value at a percentile (0…100), s; 0 when empty.
    public func percentileSeconds(_ percent: Double) -> Double {
        guard self.count > 0 else { return 0 }
        if percent >= 100 { return Double(self.maxNanoseconds) * 1e-9 }
        let rank = Swift.max(1, UInt64((percent / 100 * Double(self.count)).rounded(.up)))
        var seen: UInt64 = 0
        for index in self.counts.indices {
            seen &+= self.counts[index]
            if seen >= rank {
                let ns = Swift.min(
                    Swift.max(Self.value(ofBucket: index), Double(self.minNanoseconds)),
                    Double(self.maxNanoseconds)
                )
                return ns * 1e-9
            }
        }
        return Double(self.maxNanoseconds) * 1e-9
    }

    /// Cumulative counts at each of `prometheusBounds` (the `le` buckets; `+Inf` is `count`).
    public var cumulativeBucketCounts: [UInt64] {
        var total: UInt64 = 0
        return self.boundCounts.map {
            total &+= $0
            return total
        }
    }
}
