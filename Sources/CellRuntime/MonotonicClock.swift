import CRealtime

/// `CLOCK_MONOTONIC` in nanoseconds. Swift's `ContinuousClock` is `CLOCK_BOOTTIME` on Linux; the control loop
/// sleeps with `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`, so it reads the same clock.
public enum MonotonicClock {
    /// Now, in nanoseconds since an arbitrary origin.
    @inline(__always)
    public static func nanoseconds() -> Int64 { crt_monotonic_ns() }

    /// Now, in seconds since an arbitrary origin.
    @inline(__always)
    public static func seconds() -> Double { Double(crt_monotonic_ns()) * 1e-9 }

    /// Sleeps until an absolute time on the same clock (no drift: deadlines are absolute).
    @inline(__always)
    public static func sleep(untilNanoseconds deadline: Int64) {
        _ = crt_sleep_until_ns(deadline)
    }
}
