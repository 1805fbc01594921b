import CKinematics
import Testing

/// Every entry point must return CKIN_BAD_ARGUMENT (never crash, never write outputs) on bad input.
@Suite("Argument validation")
struct ArgumentValidationTests {
    static let sentinel = -12345.0

    static func expectUntouched(_ values: [Double], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(values.allSatisfy { $0 == sentinel }, sourceLocation: sourceLocation)
    }

    /// Runs FK, Jacobian, IK and duration on a robot and joint vector that should all be rejected.
    static func expectAllRejected(_ robot: ckin_robot, q: [Double], sourceLocation: SourceLocation = #_sourceLocation) {
        var pose = [Double](repeating: sentinel, count: 7)
        var jac = [Double](repeating: sentinel, count: 6 * 8)
        var qOut = [Double](repeating: sentinel, count: 8)
        var duration = sentinel
        let target = tcp(UR5e.robot, UR5e.home)
        withUnsafePointer(to: robot) { r in
            #expect(ckin_forward(r, q, &pose) == CKIN_BAD_ARGUMENT, sourceLocation: sourceLocation)
            #expect(ckin_jacobian(r, q, &jac) == CKIN_BAD_ARGUMENT, sourceLocation: sourceLocation)
            #expect(ckin_inverse(r, target, q, nil, &qOut, nil) == CKIN_BAD_ARGUMENT, sourceLocation: sourceLocation)
            #expect(
                ckin_quintic_duration(r, q, q, 1, 1, &duration) == CKIN_BAD_ARGUMENT,
                sourceLocation: sourceLocation
            )
        }
        expectUntouched(pose, sourceLocation: sourceLocation)
        expectUntouched(jac, sourceLocation: sourceLocation)
        expectUntouched(qOut, sourceLocation: sourceLocation)
        #expect(duration == sentinel, sourceLocation: sourceLocation)
    }

    @Test("null pointers")
    func nullPointers() {
        let robot = UR5e.robot
        let q = UR5e.home
        let target = tcp(robot, q)
        var pose = [Double](repeating: 0, count: 7)
        var out = [Double](repeating: 0, count: 36)
        var duration = 0.0
        #expect(ckin_forward(nil, q, &pose) == CKIN_BAD_ARGUMENT)
        #expect(ckin_jacobian(nil, q, &out) == CKIN_BAD_ARGUMENT)
        #expect(ckin_inverse(nil, target, q, nil, &out, nil) == CKIN_BAD_ARGUMENT)
        #expect(ckin_quintic_duration(nil, q, q, 1, 1, &duration) == CKIN_BAD_ARGUMENT)
        withUnsafePointer(to: robot) { r in
            #expect(ckin_forward(r, nil, &pose) == CKIN_BAD_ARGUMENT)
            #expect(ckin_forward(r, q, nil) == CKIN_BAD_ARGUMENT)
            #expect(ckin_jacobian(r, nil, &out) == CKIN_BAD_ARGUMENT)
            #expect(ckin_jacobian(r, q, nil) == CKIN_BAD_ARGUMENT)
            #expect(ckin_inverse(r, nil, q, nil, &out, nil) == CKIN_BAD_ARGUMENT)
            #expect(ckin_inverse(r, target, nil, nil, &out, nil) == CKIN_BAD_ARGUMENT)
            #expect(ckin_inverse(r, target, q, nil, nil, nil) == CKIN_BAD_ARGUMENT)
            #expect(ckin_quintic_duration(r, nil, q, 1, 1, &duration) == CKIN_BAD_ARGUMENT)
            #expect(ckin_quintic_duration(r, q, nil, 1, 1, &duration) == CKIN_BAD_ARGUMENT)
            #expect(ckin_quintic_duration(r, q, q, 1, 1, nil) == CKIN_BAD_ARGUMENT)
        }
        #expect(ckin_quintic_sample(6, nil, q, 1, 0.5, &out, nil, nil) == CKIN_BAD_ARGUMENT)
        #expect(ckin_quintic_sample(6, q, nil, 1, 0.5, &out, nil, nil) == CKIN_BAD_ARGUMENT)
        #expect(ckin_quintic_sample(6, q, q, 1, 0.5, nil, nil, nil) == CKIN_BAD_ARGUMENT)
    }

    @Test("joint count outside 1...CKIN_MAX_JOINTS", arguments: [0, -1, 9, Int(Int32.max)])
    func jointCount(count: Int) {
        var robot = UR5e.robot
        robot.joint_count = Int32(count)
        Self.expectAllRejected(robot, q: [Double](repeating: 0, count: 8))
        var out = [Double](repeating: Self.sentinel, count: 8)
        let q = [Double](repeating: 0, count: 8)
        #expect(ckin_quintic_sample(Int32(count), q, q, 1, 0.5, &out, nil, nil) == CKIN_BAD_ARGUMENT)
        Self.expectUntouched(out)
    }

    @Test("non-finite joint positions", arguments: [Double.nan, .infinity, -.infinity])
    func nonFiniteJoints(value: Double) {
        var q = UR5e.home
        q[3] = value
        Self.expectAllRejected(UR5e.robot, q: q)
    }

    @Test(
        "non-finite robot description",
        arguments: ["a", "d", "alpha", "theta_offset", "base", "tool", "min", "max", "vel", "acc"]
    )
    func nonFiniteRobot(field: String) {
        var robot = UR5e.robot
        var values = [Double](repeating: 0, count: 8)
        values[2] = .nan
        switch field {
        case "a": fill(&robot.a, values)
        case "d": fill(&robot.d, values)
        case "alpha": fill(&robot.alpha, values)
        case "theta_offset": fill(&robot.theta_offset, values)
        case "base": fill(&robot.base_pose, [0, 0, Double.nan, 1, 0, 0, 0])
        case "tool": fill(&robot.tool_pose, [0, 0, 0.15, 1, Double.nan, 0, 0])
        case "min": fill(&robot.position_min, [-1, -1, -.infinity, -1, -1, -1])
        case "max": fill(&robot.position_max, [1, 1, .nan, 1, 1, 1])
        case "vel": fill(&robot.velocity_max, [1, 1, .infinity, 1, 1, 1])
        default: fill(&robot.acceleration_max, [1, 1, .nan, 1, 1, 1])
        }
        Self.expectAllRejected(robot, q: UR5e.home)
    }

    @Test("inconsistent limits: min above max, negative velocity or acceleration limit")
    func inconsistentLimits() {
        var inverted = UR5e.robot
        fill(&inverted.position_min, [0, 0, 1, 0, 0, 0])
        fill(&inverted.position_max, [0, 0, -1, 0, 0, 0])
        Self.expectAllRejected(inverted, q: UR5e.home)
        var negative = UR5e.robot
        fill(&negative.velocity_max, [1, 1, -1, 1, 1, 1])
        Self.expectAllRejected(negative, q: UR5e.home)
    }

    @Test("zero and tiny quaternions are rejected, wherever they appear")
    func zeroQuaternion() {
        var robot = UR5e.robot
        fill(&robot.base_pose, [0, 0, 0, 0, 0, 0, 0])
        Self.expectAllRejected(robot, q: UR5e.home)
        robot = UR5e.robot
        fill(&robot.tool_pose, [0, 0, 0.15, 1e-7, 0, 0, 0])
        Self.expectAllRejected(robot, q: UR5e.home)

        var out = [Double](repeating: Self.sentinel, count: 6)
        var target = tcp(UR5e.robot, UR5e.home)
        target[3] = 0
        target[4] = 0
        target[5] = 0
        target[6] = 0
        #expect(inverse(UR5e.robot, target: target, seed: UR5e.home).status == CKIN_BAD_ARGUMENT)
        target[6] = .nan
        withUnsafePointer(to: UR5e.robot) { r in
            #expect(ckin_inverse(r, target, UR5e.home, nil, &out, nil) == CKIN_BAD_ARGUMENT)
        }
        Self.expectUntouched(out)
    }

    @Test("IK options: negative or non-finite values")
    func badOptions() {
        let target = tcp(UR5e.robot, UR5e.home)
        var options = [ckin_ik_options](repeating: ckin_ik_options(), count: 7)
        options[0].max_iterations = -1
        options[1].position_tolerance = -1e-5
        options[2].orientation_tolerance = .nan
        options[3].damping = -0.1
        options[4].max_step = .infinity
        options[5].orientation_weight = -0.3
        options[6].damping = .nan
        for option in options {
            #expect(inverse(UR5e.robot, target: target, seed: UR5e.home, options: option).status == CKIN_BAD_ARGUMENT)
        }
    }

    @Test("trajectory arguments: scales outside (0, 1], bad durations and times")
    func trajectoryArguments() {
        let robot = UR5e.robot
        let q0 = UR5e.home
        let q1 = q0.map { $0 + 0.5 }
        var duration = Self.sentinel
        withUnsafePointer(to: robot) { r in
            for (v, a) in [
                (0.0, 1.0), (1.0, 0.0), (1.5, 1.0), (1.0, 1.0001), (-0.5, 0.5), (.nan, 1.0), (1.0, .infinity),
            ] {
                #expect(ckin_quintic_duration(r, q0, q1, v, a, &duration) == CKIN_BAD_ARGUMENT)
            }
            var nanGoal = q1
            nanGoal[5] = .nan
            #expect(ckin_quintic_duration(r, q0, nanGoal, 1, 1, &duration) == CKIN_BAD_ARGUMENT)
        }
        #expect(duration == Self.sentinel)

        var out = [Double](repeating: Self.sentinel, count: 6)
        for (T, t) in [(-1.0, 0.5), (.nan, 0.5), (.infinity, 0.5), (1.0, .nan), (1.0, .infinity)] {
            #expect(ckin_quintic_sample(6, q0, q1, T, t, &out, nil, nil) == CKIN_BAD_ARGUMENT)
        }
        var nanStart = q0
        nanStart[0] = .nan
        #expect(ckin_quintic_sample(6, nanStart, q1, 1, 0.5, &out, nil, nil) == CKIN_BAD_ARGUMENT)
        Self.expectUntouched(out)
    }

    @Test("status strings")
    func statusStrings() {
        #expect(String(cString: ckin_status_string(CKIN_OK)) == "ok")
        #expect(String(cString: ckin_status_string(CKIN_BAD_ARGUMENT)) == "bad argument")
        #expect(String(cString: ckin_status_string(CKIN_NOT_CONVERGED)) == "not converged")
        #expect(String(cString: ckin_status_string(CKIN_LIMITS)) == "joint limits")
        #expect(String(cString: ckin_status_string(CKIN_INFEASIBLE)) == "infeasible")
        #expect(String(cString: ckin_status_string(ckin_status(rawValue: 42))) == "unknown status")
    }
}
