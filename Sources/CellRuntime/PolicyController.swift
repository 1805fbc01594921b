import Foundation

/// Runs a learned policy: adopts chunks from the `PolicyPipeline` and turns them into a joint target for every
/// control period through a `ChunkExecutor` (row timing, interpolation and the execution modes are documented
/// there).
///
/// In lock-step the controller waits, at every observation that carried images, for the chunk computed from
/// it, so runs are deterministic; in real time it uses whatever chunk is newest, and tells the policy thread when
/// the next chunk is due (`PolicyPipeline.nextChunkDue`). A failed inference or a non-finite target ends the
/// episode with `fault` set, holding the last good target. `update` allocates nothing.
public struct PolicyController: CellController {
    private let pipeline: PolicyPipeline
    private let lockStep: Bool
    private var executor: ChunkExecutor
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
        self.lockStep = lockStep
        self.executor = ChunkExecutor(
            execution: execution,
            horizon: pipeline.horizon,
            actionDimension: pipeline.actionDimension,
            jointCount: pipeline.jointCount,
            actionPeriod: pipeline.actionPeriod
        )
        pipeline.setNextChunkDue(-.infinity)
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
        guard let (q, gripper) = self.executor.target(at: time + period) else {
            // No chunk yet (real time, first frames): hold the observed posture.
            return ControllerCommand(q: observation.q, gripper: observation.gripperAperture, phase: 0, finished: false)
        }
        for j in 0..<self.pipeline.jointCount where !q[j].isFinite { return self.fail(observation) }
        guard gripper.isFinite else { return self.fail(observation) }
        self.lastTarget = q
        self.lastGripper = gripper
        self.hasTarget = true
        return ControllerCommand(q: q, gripper: gripper, phase: 0, finished: false)
    }

    private mutating func adopt(_ meta: PolicyPipeline.ChunkMeta, _ actions: UnsafePointer<Double>, now: Double) {
        // Late: the chunk being executed had run out (past its last row) before this one arrived.
        let late = self.executor.count > 0 && now > self.executor.currentChunkEnd + 1e-9
        // The chunk starts from the last command, not from the observed posture: the servos lag their targets,
        // so starting from the observation would pull the arm back at every chunk switch.
        let start = self.hasTarget ? (self.lastTarget, self.lastGripper) : (meta.q, meta.gripper)
        guard self.executor.adopt(sourceTime: meta.sourceTime, actions: actions, start: start, now: now) else {
            return
        }
        if late { self.pipeline.lateChunks += 1 }
        self.chunksUsed += 1
        // Lock-step needs the chunk of every image-bearing observation; only real time skips frames.
        if !self.lockStep { self.pipeline.setNextChunkDue(self.executor.nextChunkDue) }
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
