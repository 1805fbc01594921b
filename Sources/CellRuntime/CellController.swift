/// What a controller asks the arm to do on one tick.
public struct ControllerCommand: BitwiseCopyable, Sendable {
    /// Joint position targets, rad.
    public var q: JointVector
    /// Gripper aperture target, m.
    public var gripper: Double
    /// Index of the current phase label (`CellController.phaseLabels`).
    public var phase: Int
    /// The controller has nothing more to do.
    public var finished: Bool
    /// The controller failed (inference error, non-finite output): the arm must stop; `q` holds it still.
    public var fault = false

    /// Creates a command.
    public init(q: JointVector, gripper: Double, phase: Int, finished: Bool) {
        self.q = q
        self.gripper = gripper
        self.phase = phase
        self.finished = finished
    }
}

/// A controller the control thread runs every tick.
///
/// `update` runs on the control thread: it must not allocate, lock, log or do I/O. Implementations are used
/// as generic parameters (specialised), never as existentials, so calls are static.
public protocol CellController: Sendable {
    /// Names of the phases `ControllerCommand.phase` indexes.
    var phaseLabels: [String] { get }
    /// Whether the episode ends as soon as the task's success predicate holds (a policy), rather than when the
    /// controller has finished and the predicate holds (a waypoint program finishes its retreat first).
    var endsOnSuccess: Bool { get }
    /// The command for the control period that starts at `time` (s since the episode's start), given the
    /// latest observation.
    mutating func update(time: Double, period: Double, observation: ObservationSample) -> ControllerCommand
}

extension CellController {
    public var endsOnSuccess: Bool { false }
}

/// Plays a resolved waypoint trajectory: every tick it commands the trajectory's point at the end of the
/// coming control period (the twin's position servos then reach it within the period).
public struct WaypointController: CellController {
    /// The trajectory.
    public let plan: TrajectoryPlan
    private var cursor = 0

    /// Plays `plan` from its start.
    public init(plan: TrajectoryPlan) { self.plan = plan }

    public var phaseLabels: [String] { self.plan.labels }

    @inline(__always)
    public mutating func update(time: Double, period: Double, observation: ObservationSample) -> ControllerCommand {
        let sample = self.plan.sample(at: time + period, cursor: &self.cursor)
        return ControllerCommand(
            q: sample.q,
            gripper: sample.gripper,
            phase: Int(self.plan.segment(sample.segment).label),
            finished: sample.finished
        )
    }
}
