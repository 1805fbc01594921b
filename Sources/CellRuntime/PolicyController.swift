import Foundation

/// How the control thread turns a stream of action chunks into joint targets.
public enum ChunkExecution: Sendable, Equatable, CustomStringConvertible {
    /// Execute each chunk's first `rows` rows open loop, then switch to the newest chunk (openpi's default).
    case sequential(rows: Int)
    /// Temporal ensembling (ACT): every control step averages the predictions of all live chunks for that
    /// instant, weighting the i-th oldest by exp(−decay·i); a new chunk is adopted as soon as it exists.
    case ensemble(decay: Double)

    public var description: String {
        switch self {
        case .sequential(let rows): "sequential, \(rows) rows per chunk"
        case .ensemble(let decay): "temporal ensembling, decay \(decay)"
        }
    }
}

/// Runs a learned policy: adopts chunks from the `PolicyPipeline` and interpolates their rows into a joint
/// target for every control period.
///
/// Row *i* of a chunk computed from the observation at time *t₀* is the target for *t₀* + (*i*+1)·`actionPeriod`;
/// between *t₀* and the first row the target moves from the observed posture, and between rows it is linear.
/// In lock-step the controller waits, at every observation that carried images, for the chunk computed from
/// it, so runs are deterministic; in real time it uses whatever chunk is newest. A failed inference or a
/// non-finite target ends the episode with `fault` set, holding the last good target. `update` allocates
/// nothing: chunk history lives in storage made at init.
public struct PolicyController: CellController {
    private final class History: @unchecked Sendable {
        let capacity: Int
        let rowValues: Int
        let storage: UnsafeMutablePointer<Double>
        let meta: UnsafeMutablePointer<PolicyPipeline.ChunkMeta>
        var count = 0
        var newest = -1

        init(capacity: Int, rowValues: Int) {
            self.capacity = capacity
            self.rowValues = rowValues
            self.storage = .allocate(capacity: capacity * rowValues)
            self.storage.initialize(repeating: 0, count: capacity * rowValues)
            self.meta = .allocate(capacity: capacity)
            self.meta.initialize(repeating: PolicyPipeline.ChunkMeta(), count: capacity)
        }

        deinit {
            self.storage.deallocate()
            self.meta.deallocate()
        }
    }

    private let pipeline: PolicyPipeline
    private let execution: ChunkExecution
    private let lockStep: Bool
    private let history: History
    private var lastTarget = JointVector()
    private var lastGripper = 0.0
    private var hasTarget = false
    private var faulted = false
    /// Chunks adopted in this episode.
    public private(set) var chunksUsed = 0

    /// A controller over a pipeline.
    /// - Parameters:
    ///   - lockStep: wait for the chunk of every image-bearing observation (deterministic lock-step runs).
    public init(pipeline: PolicyPipeline, execution: ChunkExecution, lockStep: Bool) {
        self.pipeline = pipeline
        self.execution = execution
        self.lockStep = lockStep
        let rows = pipeline.horizon
        let capacity: Int
        switch execution {
        case .sequential: capacity = 1
        case .ensemble: capacity = max(1, min(64, rows))
        }
        self.history = History(capacity: capacity, rowValues: rows * pipeline.actionDimension)
    }

    public var phaseLabels: [String] { ["policy"] }
    public var endsOnSuccess: Bool { true }

    public mutating func update(time: Double, period: Double, observation: ObservationSample) -> ControllerCommand {
        if self.faulted { return self.hold(observation) }
        if self.lockStep && observation.imageCount > 0 {
            // The chunk for this very observation: the policy thread is working on it.
            var adopted = false
            let deadline = MonotonicClock.nanoseconds() + 10_000_000_000
            while !adopted {
                while let chunk = self.pipeline.takeChunk() {
                    if chunk.meta.failed { return self.fail(observation) }
                    if chunk.meta.sourceStep == observation.step {
                        self.adopt(chunk.meta, chunk.actions, now: time)
                        adopted = true
                    }
                }
                if adopted { break }
                let left = deadline - MonotonicClock.nanoseconds()
                if left <= 0 { return self.fail(observation) }
                _ = self.pipeline.waitForChunk(timeoutNanoseconds: left)
            }
        } else if !self.lockStep {
            while let chunk = self.pipeline.takeChunk() {
                if chunk.meta.failed { return self.fail(observation) }
                self.adopt(chunk.meta, chunk.actions, now: time)
            }
        }
        guard self.history.count > 0 else {
            // No chunk yet (real time, first frames): hold the observed posture.
            return ControllerCommand(q: observation.q, gripper: observation.gripperAperture, phase: 0, finished: false)
        }
        let targetTime = time + period
        var q = JointVector()
        var gripper = 0.0
        var weightSum = 0.0
        let n = self.pipeline.jointCount
        let a = self.pipeline.actionDimension
        let rows = self.pipeline.horizon
        var weight = 1.0
        var decay = 1.0
        if case .ensemble(let d) = self.execution { decay = exp(-d) }
        // Oldest first, so the i-th oldest gets exp(−decay·i).
        for k in 0..<self.history.count {
            let slot =
                (self.history.newest - self.history.count + 1 + k + self.history.capacity) % self.history.capacity
            let meta = self.history.meta[slot]
            let r = (targetTime - meta.sourceTime) / self.pipeline.actionPeriod - 1
            let live = r <= Double(rows - 1)
            let isNewest = k == self.history.count - 1
            // Sequential execution keeps following its one chunk to its end; ensembling drops expired chunks.
            guard live || isNewest else { continue }
            let values = self.history.storage + slot * self.history.rowValues
            let clamped = min(r, Double(rows - 1))
            var rowQ = JointVector()
            var rowG = 0.0
            if clamped < 0 {
                let w = clamped + 1  // 0 at the observation, 1 at row 0
                for j in 0..<n { rowQ[j] = meta.q[j] + (values[j] - meta.q[j]) * max(w, 0) }
                rowG = meta.gripper + (values[n] - meta.gripper) * max(w, 0)
            } else {
                let i0 = Int(clamped)
                let i1 = min(i0 + 1, rows - 1)
                let f = clamped - Double(i0)
                for j in 0..<n { rowQ[j] = values[i0 * a + j] * (1 - f) + values[i1 * a + j] * f }
                rowG = values[i0 * a + n] * (1 - f) + values[i1 * a + n] * f
            }
            q += rowQ * weight
            gripper += rowG * weight
            weightSum += weight
            weight *= decay
        }
        q /= weightSum
        gripper /= weightSum
        for j in 0..<n where !q[j].isFinite { return self.fail(observation) }
        guard gripper.isFinite else { return self.fail(observation) }
        self.lastTarget = q
        self.lastGripper = gripper
        self.hasTarget = true
        return ControllerCommand(q: q, gripper: gripper, phase: 0, finished: false)
    }

    private mutating func adopt(_ meta: PolicyPipeline.ChunkMeta, _ actions: UnsafePointer<Double>, now: Double) {
        // Sequential execution follows a chunk for its `rows` rows, whatever newer chunks the policy made.
        if case .sequential(let rows) = self.execution, self.history.count > 0 {
            let current = self.history.meta[self.history.newest]
            if now < current.sourceTime + Double(rows) * self.pipeline.actionPeriod - 1e-9 { return }
        }
        if self.history.count > 0 {
            // Late: the chunk being executed had run out (past its last row) before this one arrived.
            let current = self.history.meta[self.history.newest]
            let end = current.sourceTime + Double(self.pipeline.horizon) * self.pipeline.actionPeriod
            if now > end + 1e-9 { self.pipeline.lateChunks += 1 }
        }
        let slot = (self.history.newest + 1) % self.history.capacity
        (self.history.storage + slot * self.history.rowValues).update(from: actions, count: self.history.rowValues)
        self.history.meta[slot] = meta
        self.history.newest = slot
        self.history.count = min(self.history.count + 1, self.history.capacity)
        self.chunksUsed += 1
    }

    private mutating func fail(_ observation: ObservationSample) -> ControllerCommand {
        self.faulted = true
        return self.hold(observation)
    }

    /// Holds the last good target (or, before the first one, the observed posture) and reports the fault.
    private func hold(_ observation: ObservationSample) -> ControllerCommand {
        var command =
            self.hasTarget
            ? ControllerCommand(q: self.lastTarget, gripper: self.lastGripper, phase: 0, finished: false)
            : ControllerCommand(q: observation.q, gripper: observation.gripperAperture, phase: 0, finished: false)
        command.fault = true
        return command
    }
}
