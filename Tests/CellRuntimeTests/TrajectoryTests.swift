import Foundation
import Testing
import TwinProtocol

@testable import CellRuntime

@Suite struct TrajectoryTests {
    let planner: TrajectoryPlanner

    init() throws {
        self.planner = try TrajectoryPlanner(welcome: ur5eWelcome())
    }

    @Test func jointMoveStartsAndEndsAtRestWithinLimits() throws {
        var goal = ur5eHome
        goal[0] = 1.0
        goal[2] = 1.2
        let program = WaypointProgram(
            name: "t",
            steps: [
                .init(
                    "move",
                    .move(
                        .joints((0..<6).map { goal[$0] }),
                        motion: .joint,
                        speed: 1
                    )
                )
            ]
        )
        let plan = try self.planner.plan(program, from: ur5eHome, gripper: 0.085)
        #expect(plan.segmentCount == 1)
        // Peak joint-0 velocity and acceleration (numerical) stay within π rad/s and 8 rad/s², and the move is
        // as short as the limits allow: one of the two is nearly reached.
        var cursor = 0
        var peakVelocity = 0.0
        var peakAcceleration = 0.0
        let dt = 0.001
        var q0 = plan.sample(at: 0, cursor: &cursor).q
        #expect(q0 == ur5eHome)
        var v0 = 0.0
        var t = dt
        while t <= plan.duration + dt {
            let q = plan.sample(at: t, cursor: &cursor).q
            let v = (q[0] - q0[0]) / dt
            peakVelocity = max(peakVelocity, abs(v))
            peakAcceleration = max(peakAcceleration, abs(v - v0) / dt)
            q0 = q
            v0 = v
            t += dt
        }
        #expect(q0 == goal)
        #expect(peakVelocity <= .pi * 1.001)
        #expect(peakAcceleration <= 8 * 1.01)
        let usage = max(peakVelocity / .pi, peakAcceleration / 8)
        #expect(usage >= 0.95, "the limiting constraint should be nearly reached, got \(usage)")
        #expect(plan.sample(at: plan.duration + 1, cursor: &cursor).finished)
    }

    @Test func linearMoveKeepsTheTCPOnTheLine() throws {
        let kinematics = self.planner.kinematics
        let start = try kinematics.forward(ur5eHome)
        let end = Pose(position: start.position + SIMD3(0, 0, -0.2), orientation: start.orientation)
        let program = WaypointProgram(
            name: "down",
            steps: [.init("descend", .move(.pose(end), motion: .linear, speed: 0.5))]
        )
        let plan = try self.planner.plan(program, from: ur5eHome, gripper: 0.085)
        var cursor = 0
        var worst = 0.0
        for k in 0...100 {
            let q = plan.sample(at: plan.duration * Double(k) / 100, cursor: &cursor).q
            let p = try kinematics.forward(q).position
            // Distance from the vertical line through the start.
            let d =
                ((p.x - start.position.x) * (p.x - start.position.x)
                + (p.y - start.position.y) * (p.y - start.position.y)).squareRoot()
            worst = max(worst, d)
        }
        #expect(worst < 0.001, "TCP strays \(worst * 1000) mm from the line")
        let final = try kinematics.forward(plan.sample(at: plan.duration, cursor: &cursor).q)
        #expect(abs(final.position.z - end.position.z) < 1e-4)
    }

    @Test func gripperStepsLastAtLeastTheirTravelTime() throws {
        let program = WaypointProgram(name: "g", steps: [.init("grasp", .gripper(aperture: 0, dwell: 0.1))])
        let plan = try self.planner.plan(program, from: ur5eHome, gripper: 0.085)
        #expect(abs(plan.duration - 0.085 / 0.15) < 1e-9)
        var cursor = 0
        #expect(plan.sample(at: 0.01, cursor: &cursor).gripper == 0)
    }

    @Test func unreachableAndOutOfWorkspaceTargetsAreRefusedWithTheirStep() throws {
        let far = Pose(position: SIMD3(0.85, 0, 0.3), orientation: TaskPlanner.downward(yaw: 0))
        let program = WaypointProgram(name: "p", steps: [.init("reach", .move(.pose(far), motion: .joint, speed: 1))])
        let error = #expect(throws: RuntimeError.self) { try self.planner.plan(program, from: ur5eHome, gripper: 0) }
        #expect(error?.code == .unreachable)
        #expect(error?.message.contains("step 1 'reach'") == true)

        let outside = Pose(position: SIMD3(0.5, 0, -0.05), orientation: TaskPlanner.downward(yaw: 0))
        let below = WaypointProgram(name: "p", steps: [.init("dive", .move(.pose(outside), motion: .joint, speed: 1))])
        let second = #expect(throws: RuntimeError.self) { try self.planner.plan(below, from: ur5eHome, gripper: 0) }
        #expect(second?.message.contains("outside the cell workspace") == true)

        let badJoints = WaypointProgram(
            name: "p",
            steps: [.init("j", .move(.joints([0, 0, 0]), motion: .joint, speed: 1))]
        )
        #expect(throws: RuntimeError.self) { try self.planner.plan(badJoints, from: ur5eHome, gripper: 0) }
        let badSpeed = WaypointProgram(
            name: "p",
            steps: [.init("j", .move(.joints([0, 0, 0, 0, 0, 0]), motion: .joint, speed: 2))]
        )
        #expect(throws: RuntimeError.self) { try self.planner.plan(badSpeed, from: ur5eHome, gripper: 0) }
    }
}

@Suite struct TaskPlannerTests {
    @Test func downwardOrientationRoundTripsItsYaw() {
        for yaw in stride(from: -3.0, through: 3.0, by: 0.5) {
            let q = TaskPlanner.downward(yaw: yaw)
            #expect(abs(TaskPlanner.yaw(ofDownwardTool: q) - yaw) < 1e-12)
        }
    }

    @Test func faceYawIsTheClosestQuarterTurn() {
        #expect(abs(TaskPlanner.nearestFaceYaw(0.1, to: 1.5) - (0.1 + .pi / 2)) < 1e-12)
        #expect(abs(TaskPlanner.nearestFaceYaw(0.1, to: -3.0) - (0.1 - .pi)) < 1e-12)
    }

    @Test func binTaskPlansReachableProgramFromHome() throws {
        let welcome = ur5eWelcome()
        let planner = try TrajectoryPlanner(welcome: welcome)
        let tcp = try planner.kinematics.forward(ur5eHome)
        let observation = Observation(
            episode: 1,
            step: 0,
            simTime: 0,
            jointPositions: (0..<6).map { ur5eHome[$0] },
            jointVelocities: [Double](repeating: 0, count: 6),
            gripperAperture: 0.085,
            gripperForce: 0,
            tcpPose: tcp,
            objectPoses: [
                cubePose(0.5, 0.0, yaw: 0.3), cubePose(0.45, 0.15), cubePose(0.6, -0.1),
                Pose(position: SIMD3(0.3, 0.35, 0.04), orientation: Quaternion(w: 1, x: 0, y: 0, z: 0)),
            ],
            success: false,
            flags: [],
            images: []
        )
        let program = try TaskPlanner().program(task: "bin-red", welcome: welcome, observation: observation)
        #expect(program.steps.map { $0.label }.contains("grasp"))
        let plan = try planner.plan(program, from: ur5eHome, gripper: 0.085)
        #expect(plan.duration > 2 && plan.duration < 15)
        let stack = try TaskPlanner().program(task: "stack-blue-green", welcome: welcome, observation: observation)
        _ = try planner.plan(stack, from: ur5eHome, gripper: 0.085)

        #expect(throws: RuntimeError.self) {
            try TaskPlanner().program(task: "juggle", welcome: welcome, observation: observation)
        }
        let missing = #expect(throws: RuntimeError.self) {
            try TaskPlanner().program(task: "bin-purple", welcome: welcome, observation: observation)
        }
        #expect(missing?.message.contains("purple_cube") == true)
    }
}
