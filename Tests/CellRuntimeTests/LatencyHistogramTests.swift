import Testing

@testable import CellRuntime

@Suite struct LatencyHistogramTests {
    @Test func percentilesOfAUniformRangeAreWithinResolution() {
        let histogram = LatencyHistogram()
        for value in 1...100_000 { histogram.record(Int64(value) * 1000) }  // 1 µs … 100 ms
        #expect(histogram.count == 100_000)
        for (percent, exact) in [(50.0, 50_000_000.0), (99.0, 99_000_000.0), (99.9, 99_900_000.0)] {
            let value = histogram.percentile(percent)
            #expect(abs(value - exact) / exact < 0.02, "p\(percent) = \(value), exact \(exact)")
        }
        #expect(histogram.percentile(100) == 100_000_000)
        #expect(histogram.min == 1000)
        #expect(abs(histogram.mean - 50_000_500) < 1)
    }

    @Test func bucketsAreMonotoneAndCoverTheRange() {
        var previous = -1
        var value: Int64 = 0
        while value < 1 << 41 {
            let bucket = LatencyHistogram.bucket(of: value)
            #expect(bucket >= previous)
            #expect(bucket < LatencyHistogram.bucketCount)
            previous = bucket
            value = value < 1000 ? value + 1 : value + value / 37
        }
        #expect(LatencyHistogram.bucket(of: -5) == 0)
        #expect(LatencyHistogram.bucket(of: .max) == LatencyHistogram.bucketCount - 1)
    }

    @Test func emptyHistogramReportsZeroAndAddMerges() {
        let a = LatencyHistogram()
        #expect(a.percentile(99) == 0)
        let b = LatencyHistogram()
        b.record(10)
        b.record(30)
        a.add(b)
        #expect(a.count == 2)
        #expect(a.max == 30)
        a.reset()
        #expect(a.count == 0)
    }
}
