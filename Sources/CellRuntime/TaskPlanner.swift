import Foundation
import TwinProtocol

/// Writes the waypoint program for a task from what the cell reports: the task name, the robot description
/// and the first observation's object poses (in a real cell these come from its perception system).
///
/// Tasks: `bin-<colour>` (put the cube in the bin) and `stack-<top>-<bottom>` (stack one cube on another).
/// Grasps are top-down, yaw-aligned with the cube's faces, choosing among the four equivalent yaws the one
/// closest to the current tool yaw so the wrist turns least.
public struct TaskPlanner: Sendable {
    /// Height above the object of the approach and retreat points, m.
    public var approachHeight = 0.10
    /// Height of the transport moves above the place point, m.
    public var liftHeight = 0.12
    /// How far below the cube's centre the TCP grasps, m (positive = lower).
    public var graspDepth = 0.0
    /// Extra height of the release point above the place point (bin), m.
    public var dropClearance = 0.03
    /// Speed scale of free moves (0…1].
    public var freeSpeed = 0.6
    /// Speed scale of moves near objects (0…1].
    public var fineSpeed = 0.3
    /// Time the gripper gets to close on a cube, s.
    public var graspDwell = 0.4
    /// Time the gripper gets to open, s.
    public var releaseDwell = 0.3

    /// Creates a planner with default heights and speeds.
    public init() {}

    /// The program for `task`.
    /// - Throws: `RuntimeError.planning` for an unknown task or an object the twin does not report.
    public func program(
        task: String,
        welcome: Welcome,
        observation: Observation
    ) throws(RuntimeError)
        -> WaypointProgram
    {
        let parts = task.split(separator: "-").map(String.init)
        func object(_ name: String) throws(RuntimeError) -> (pose: Pose, size: SIMD3<Double>) {
            guard let index = welcome.objects.firstIndex(where: { $0.name == name }),
                index < observation.objectPoses.count
            else {
                throw RuntimeError(
                    .planning,
                    "task '\(task)' needs object '\(name)', which the cell does not report "
                        + "(it reports: \(welcome.objects.map(\.name).joined(separator: ", ")))"
                )
            }
            return (observation.objectPoses[index], welcome.objects[index].size)
        }
        let toolYaw = Self.yaw(ofDownwardTool: observation.tcpPose.orientation)
        let open = welcome.gripper.apertureMax
        let closed = welcome.gripper.apertureMin

        switch parts.count {
        case 2 where parts[0] == "bin":
            let cube = try object("\(parts[1])_cube")
            let bin = try object("bin")
            let graspYaw = Self.nearestFaceYaw(Self.yaw(of: cube.pose.orientation), to: toolYaw)
            let binTop = bin.pose.position.z + bin.size.z / 2
            let release = SIMD3(bin.pose.position.x, bin.pose.position.y, binTop + cube.size.z / 2 + self.dropClearance)
            // Into the bin: release above its rim. Onto a cube: set it down exactly, then let go.
            return self.pickAndPlace(
                name: task,
                cube: cube,
                graspYaw: graspYaw,
                place: release,
                placeYaw: graspYaw,
                open: open,
                closed: closed
            )
        case 3 where parts[0] == "stack":
            let top = try object("\(parts[1])_cube")
            let bottom = try object("\(parts[2])_cube")
            let graspYaw = Self.nearestFaceYaw(Self.yaw(of: top.pose.orientation), to: toolYaw)
            let placeYaw = Self.nearestFaceYaw(Self.yaw(of: bottom.pose.orientation), to: graspYaw)
            let place = bottom.pose.position + SIMD3(0, 0, bottom.size.z / 2 + top.size.z / 2 + 0.002)
            return self.pickAndPlace(
                name: task,
                cube: top,
                graspYaw: graspYaw,
                place: place,
                placeYaw: placeYaw,
                open: open,
                closed: closed
            )
        default:
            throw RuntimeError(
                .planning,
                "no plan for task '\(task)': the waypoint controller knows bin-<colour> "
                    + "and stack-<top>-<bottom> (the twin offers: \(welcome.tasks.joined(separator: ", ")))"
            )
        }
    }

    func pickAndPlace(
        name: String,
        cube: (pose: Pose, size: SIMD3<Double>),
        graspYaw: Double,
        place: SIMD3<Double>,
        placeYaw: Double,
        open: Double,
        closed: Double
    ) -> WaypointProgram {
        let grasp = cube.pose.position - SIMD3(0, 0, self.graspDepth)
        let above = SIMD3<Double>(0, 0, self.approachHeight)
        let abovePlace = place + SIMD3(0, 0, self.liftHeight)
        let down = Self.downward(yaw: graspYaw)
        let downAtPlace = Self.downward(yaw: placeYaw)
        var steps: [WaypointProgram.Step] = [
            .init("reach", .gripper(aperture: open, dwell: 0)),
            .init(
                "reach",
                .move(
                    .pose(Pose(position: grasp + above, orientation: down)),
                    motion: .joint,
                    speed: self.freeSpeed
                )
            ),
            .init(
                "reach",
                .move(
                    .pose(Pose(position: grasp, orientation: down)),
                    motion: .linear,
                    speed: self.fineSpeed
                )
            ),
            .init("grasp", .gripper(aperture: closed, dwell: self.graspDwell)),
            .init(
                "lift",
                .move(
                    .pose(Pose(position: grasp + SIMD3(0, 0, self.liftHeight), orientation: down)),
                    motion: .linear,
                    speed: self.fineSpeed
                )
            ),
            .init(
                "transport",
                .move(
                    .pose(Pose(position: abovePlace, orientation: downAtPlace)),
                    motion: .joint,
                    speed: self.freeSpeed
                )
            ),
        ]
        steps.append(
            .init(
                "place",
                .move(
                    .pose(Pose(position: place, orientation: downAtPlace)),
                    motion: .linear,
                    speed: self.fineSpeed
                )
            )
        )
        steps.append(.init("release", .gripper(aperture: open, dwell: self.releaseDwell)))
        steps.append(
            .init(
                "retreat",
                .move(
                    .pose(Pose(position: place + above, orientation: downAtPlace)),
                    motion: .linear,
                    speed: self.fineSpeed
                )
            )
        )
        return WaypointProgram(name: name, steps: steps)
    }

    /// Yaw (rotation about world z) of an upright object's orientation.
    static func yaw(of q: Quaternion) -> Double {
        atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
    }

    /// Yaw ψ of a tool whose z axis points down, written Rz(ψ)·Rx(π): its x axis is (cos ψ, sin ψ, 0).
    static func yaw(ofDownwardTool q: Quaternion) -> Double {
        let r00 = 1 - 2 * (q.y * q.y + q.z * q.z)
        let r10 = 2 * (q.x * q.y + q.w * q.z)
        return atan2(r10, r00)
    }

    /// The orientation Rz(yaw)·Rx(π): the tool's z axis points straight down.
    static func downward(yaw: Double) -> Quaternion {
        Quaternion(w: 0, x: cos(yaw / 2), y: sin(yaw / 2), z: 0)
    }

    /// Among `yaw + k·π/2`, the one closest to `reference` (a cube looks the same every quarter turn).
    static func nearestFaceYaw(_ yaw: Double, to reference: Double) -> Double {
        let quarter = Double.pi / 2
        let k = ((reference - yaw) / quarter).rounded()
        return yaw + k * quarter
    }
}
