import TwinProtocol

/// A waypoint program: what a teach pendant produces. A list of labelled steps (moves, gripper actions,
/// waits) that `TrajectoryPlanner` resolves into a smooth joint-space trajectory before execution.
public struct WaypointProgram: Hashable, Sendable {
    /// How a move travels to its target.
    public enum Motion: String, Hashable, Sendable, Codable {
        /// Minimum-jerk in joint space: fastest, the TCP path is curved.
        case joint
        /// Straight line of the TCP in Cartesian space (IK every centimetre), minimum-jerk timing along it.
        case linear
    }

    /// Where a move goes.
    public enum Target: Hashable, Sendable {
        /// A TCP pose in the world frame, reached through IK.
        case pose(Pose)
        /// Joint positions, rad.
        case joints([Double])
    }

    /// One step.
    public enum Action: Hashable, Sendable {
        /// Move the arm; `speed` scales the joint velocity/acceleration limits (0…1].
        case move(Target, motion: Motion, speed: Double)
        /// Drive the gripper to an aperture, m, then wait `dwell` seconds (at least the travel time).
        case gripper(aperture: Double, dwell: Double)
        /// Hold still.
        case wait(seconds: Double)
    }

    /// A labelled step; the label is the task phase (reach, grasp, lift, place, release, retreat…).
    public struct Step: Hashable, Sendable {
        /// Phase label.
        public var label: String
        /// What to do.
        public var action: Action

        /// Creates a step.
        public init(_ label: String, _ action: Action) {
            self.label = label
            self.action = action
        }
    }

    /// The program's name.
    public var name: String
    /// The steps, in order.
    public var steps: [Step]

    /// Creates a program.
    public init(name: String, steps: [Step]) {
        self.name = name
        self.steps = steps
    }
}
