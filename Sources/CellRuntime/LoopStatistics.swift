import Foundation

/// Timing of the control loop, recorded by the control thread into preallocated histograms.
///
/// Real-time mode: `lateness` is how late each wake-up came after its absolute deadline, `period` the
/// interval between consecutive wake-ups, `overruns` the ticks whose deadline had already passed when the
/// previous tick finished (missed slots are skipped, not caught up). Lock-step mode: the loop advances on
/// simulation time, so `period` is the wall time per simulated control period and lateness is not recorded.
/// `compute` is the control work per tick (observation in → command out). `roundTrip` is the I/O thread's
/// request-to-reply time per step.
public final class LoopStatistics: @unchecked Sendable {
    /// Wake-up lateness, ns.
    public let lateness = LatencyHistogram()
    /// Interval between ticks, ns.
    public let period = LatencyHistogram()
    /// Control work per tick, ns.
    public let compute = LatencyHistogram()
    /// Step round trip on the link, ns (recorded by the I/O thread).
    public let roundTrip = LatencyHistogram()
    /// Policy inference per chunk, ns (recorded by the policy thread).
    public let inference = LatencyHistogram()
    /// Ticks that started after their deadline had passed.
    public var overruns = 0
    /// Policy chunks that arrived after the one being executed had run out.
    public var lateChunks = 0
    /// Frames the policy thread did not infer on because no chunk was due before the next (real time).
    public var framesSkipped = 0
    /// The policy thread's inference-delay estimate at the end of the episode (the last one added), s.
    public var inferenceDelayEstimate = 0.0
    /// Control ticks.
    public var ticks = 0
    /// Observations that arrived out of order or were skipped (real-time).
    public var observationGaps = 0
    /// Observations that arrived after a newer one and were dropped, never given to the controller (real-time).
    public var staleObservations = 0
    /// Simulated seconds covered.
    public var simulatedSeconds = 0.0
    /// Wall seconds taken.
    public var wallSeconds = 0.0

    /// Empty statistics.
    public init() {}

    /// Adds another run's statistics.
    public func add(_ other: LoopStatistics) {
        self.lateness.add(other.lateness)
        self.period.add(other.period)
        self.compute.add(other.compute)
        self.roundTrip.add(other.roundTrip)
        self.inference.add(other.inference)
        self.overruns += other.overruns
        self.lateChunks += other.lateChunks
        self.framesSkipped += other.framesSkipped
        if other.inference.count > 0 { self.inferenceDelayEstimate = other.inferenceDelayEstimate }
        self.ticks += other.ticks
        self.observationGaps += other.observationGaps
        self.staleObservations += other.staleObservations
        self.simulatedSeconds += other.simulatedSeconds
        self.wallSeconds += other.wallSeconds
    }

    /// Simulated time per wall time (lock-step speed), or 0.
    public var realTimeFactor: Double { self.wallSeconds > 0 ? self.simulatedSeconds / self.wallSeconds : 0 }
}
