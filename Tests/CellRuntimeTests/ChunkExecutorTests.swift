import Foundation
import Testing

@testable import CellRuntime

/// The chunk executor's arithmetic, against hand-computed targets: row timing, the start of a chunk, the three
/// execution modes, and the delay estimate the policy thread schedules with.
@Suite struct ChunkExecutorTests {
    /// One joint + gripper, 4 rows, 0.1 s apart.
    static func executor(_ execution: ChunkExecution) -> ChunkExecutor {
        ChunkExecutor(execution: execution, horizon: 4, actionDimension: 2, jointCount: 1, actionPeriod: 0.1)
    }

    /// A chunk whose joint row i is `base + step·(i+1)` and gripper `gripper`.
    static func chunk(base: Double, step: Double, gripper: Double = 0.05) -> [Double] {
        (0..<4).flatMap { [base + step * Double($0 + 1), gripper] }
    }

    static func start(_ q: Double, _ g: Double = 0.08) -> (q: JointVector, gripper: Double) {
        var v = JointVector()
        v[0] = q
        return (v, g)
    }

    static func q(_ e: ChunkExecutor, _ t: Double) -> Double { e.target(at: t)!.q[0] }

    @Test func rowsAreTimedFromTheObservationAndHeldPastTheEnd() {
        var e = Self.executor(.sequential(rows: 2))
        #expect(e.target(at: 0) == nil)
        Self.chunk(base: 1, step: 1).withUnsafeBufferPointer {
            _ = e.adopt(sourceTime: 1.0, actions: $0.baseAddress!, start: Self.start(0.5), now: 1.0)
        }
        // From the start (0.5) at t₀ to row 0 (2.0) at t₀ + 0.1, linearly; the gripper likewise.
        #expect(abs(Self.q(e, 1.0) - 0.5) < 1e-12)
        #expect(abs(Self.q(e, 1.05) - 1.25) < 1e-12)
        #expect(abs(e.target(at: 1.05)!.gripper - 0.065) < 1e-12)
        #expect(abs(Self.q(e, 1.1) - 2.0) < 1e-12)
        #expect(abs(Self.q(e, 1.25) - 3.5) < 1e-12)  // halfway between rows 1 and 2
        #expect(abs(Self.q(e, 1.4) - 5.0) < 1e-12)  // the last row
        #expect(abs(Self.q(e, 9.0) - 5.0) < 1e-12)  // held, never extrapolated
        #expect(abs(e.nextChunkDue - 1.2) < 1e-12 && abs(e.currentChunkEnd - 1.4) < 1e-12)
    }

    @Test func sequentialExecutionIgnoresChunksUntilItsRowsAreDone() {
        var e = Self.executor(.sequential(rows: 2))
        let first = Self.chunk(base: 0, step: 1)
        let second = Self.chunk(base: 10, step: 1)
        first.withUnsafeBufferPointer {
            _ = e.adopt(sourceTime: 0, actions: $0.baseAddress!, start: Self.start(0), now: 0)
        }
        let early = second.withUnsafeBufferPointer {
            e.adopt(sourceTime: 0.1, actions: $0.baseAddress!, start: Self.start(1), now: 0.1)
        }
        #expect(!early && abs(Self.q(e, 0.2) - 2) < 1e-12)
        let due = second.withUnsafeBufferPointer {
            e.adopt(sourceTime: 0.2, actions: $0.baseAddress!, start: Self.start(2), now: 0.2)
        }
        // Adopted; it starts from the start given (the last command), so the target does not jump.
        #expect(due && abs(Self.q(e, 0.2) - 2) < 1e-12 && abs(Self.q(e, 0.3) - 11) < 1e-12)
    }

    @Test func ensemblingAveragesLiveChunksOldestHeaviest() {
        var e = Self.executor(.ensemble(decay: 0.5))
        Self.chunk(base: 0, step: 1).withUnsafeBufferPointer {
            _ = e.adopt(sourceTime: 0, actions: $0.baseAddress!, start: Self.start(0), now: 0)
        }
        Self.chunk(base: 10, step: 1).withUnsafeBufferPointer {
            _ = e.adopt(sourceTime: 0.1, actions: $0.baseAddress!, start: Self.start(1), now: 0.1)
        }
        // At t = 0.3: the old chunk's row 2 (3), the new one's row 1 (12); weights 1 and e^−0.5.
        let w = exp(-0.5)
        #expect(abs(Self.q(e, 0.3) - (3 + 12 * w) / (1 + w)) < 1e-12)
        // At t = 0.6 the old chunk has expired (last row at 0.4): the new one alone, row 4 → held row 3.
        #expect(abs(Self.q(e, 0.6) - 14) < 1e-12)
        #expect(e.nextChunkDue == -.infinity)
    }

    @Test func realtimeChunkingBlendsWithoutAStepAndSkipsTheDelay() {
        var e = Self.executor(.realtime(rows: 2, blendRows: 2))
        Self.chunk(base: 0, step: 1).withUnsafeBufferPointer {
            _ = e.adopt(sourceTime: 0, actions: $0.baseAddress!, start: Self.start(0), now: 0)
        }
        #expect(abs(e.nextChunkDue - 0.2) < 1e-12)
        // A chunk computed from the observation at 0.15 arrives at 0.18 (30 ms inference delay).
        let before = Self.q(e, 0.18)
        Self.chunk(base: 20, step: 1).withUnsafeBufferPointer {
            _ = e.adopt(sourceTime: 0.15, actions: $0.baseAddress!, start: Self.start(before), now: 0.18)
        }
        // No step at the hand-over: at the moment of adoption the target is still the old trajectory.
        #expect(abs(Self.q(e, 0.18) - before) < 1e-9)
        // Halfway through the blend (0.1 s after arrival): the mean of old (row at 0.28: 2.8) and new (row at
        // 0.28 of the chunk from 0.15: r = 0.3 → 21.3).
        #expect(abs(Self.q(e, 0.28) - (2.8 + 21.3) / 2) < 1e-9)
        // After the blend: the new chunk alone, indexed by time (its rows before 0.18 were never executed).
        #expect(abs(Self.q(e, 0.38) - 22.3) < 1e-9)
        #expect(abs(e.nextChunkDue - 0.35) < 1e-12)
        // A third chunk in the middle of a blend continues what is being followed, blend included.
        let mid = Self.q(e, 0.31)
        Self.chunk(base: -5, step: 0).withUnsafeBufferPointer {
            _ = e.adopt(sourceTime: 0.3, actions: $0.baseAddress!, start: Self.start(mid), now: 0.31)
        }
        #expect(abs(Self.q(e, 0.31) - mid) < 1e-9)
        #expect(abs(Self.q(e, 0.6) - -5) < 1e-9)
    }

    @Test func theDelayEstimateIgnoresWarmUpAndOutliers() {
        var d = DelayEstimator(window: 32, warmUp: 2, initialNanoseconds: 50_000_000)
        #expect(d.nanoseconds == 50_000_000)  // nothing measured yet: the conservative default
        d.record(400_000_000)  // cold caches, page faults
        d.record(90_000_000)
        #expect(d.nanoseconds == 50_000_000)  // warm-up is not counted
        for k in 0..<31 { d.record(3_000_000 + Int64(k) * 10_000) }
        d.record(80_000_000)  // one scheduling hiccup among 32
        let estimate = d.nanoseconds
        #expect(estimate >= 3_270_000 && estimate <= 3_300_000, "\(estimate)")
        // A real slow-down (the model now takes 3× as long) moves it once it is the rule, not the exception.
        for _ in 0..<32 { d.record(9_000_000) }
        #expect(d.nanoseconds == 9_000_000)
    }

    @Test func thePolicyThreadInfersOnlyWhenTheNextFrameWouldBeTooLate() {
        // Frames every 0.1 s, 30 ms delay, chunk due at 1.0: the frame at 0.8 can wait for the next (0.9 + 0.03 <
        // 1.0); the frame at 0.9 cannot (1.0 + 0.03 ≥ 1.0).
        #expect(!PolicyPipeline.chunkNeeded(frameTime: 0.8, framePeriod: 0.1, delay: 0.03, due: 1.0))
        #expect(PolicyPipeline.chunkNeeded(frameTime: 0.9, framePeriod: 0.1, delay: 0.03, due: 1.0))
        #expect(PolicyPipeline.chunkNeeded(frameTime: 0.0, framePeriod: 0.1, delay: 0.03, due: -.infinity))
    }
}
