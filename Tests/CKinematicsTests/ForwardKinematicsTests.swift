import CKinematics
import Testing

@Suite("Forward kinematics")
struct ForwardKinematicsTests {
    @Test("home posture: TCP in front of the base, tool pointing down")
    func home() {
        let pose = tcp(UR5e.robot, UR5e.home)
        // By hand: at home the upper arm stands vertical, the forearm and wrist 1 lie horizontal and wrist 2
        // points down. In the base frame x = a3 - d5 = -0.4919, y = -d4 = -0.1333 and z = d1 - a2 - d6 - tool =
        // 0.1625 + 0.425 - 0.0996 - 0.15 = 0.3379; the base yaw of pi flips x and y.
        #expect(abs(pose[0] - 0.4919) < 1e-9)
        #expect(abs(pose[1] - 0.1333) < 1e-9)
        #expect(abs(pose[2] - 0.3379) < 1e-9)
        // Orientation by hand: R = [[0, -1, 0], [-1, 0, 0], [0, 0, -1]], a half turn about (1, -1, 0) / sqrt 2.
        let expected: Quaternion = (0, 0.5.squareRoot(), -0.5.squareRoot(), 0)
        #expect(quaternionDifferenceUpToSign(quaternion(pose), expected) < 1e-9)
        #expect(pose[3] >= 0)
    }

    @Test("a second posture against an independent numpy computation")
    func numpyReference() {
        // Source: numpy 2.4.6, 4x4 homogeneous matrices base @ DH_1 @ ... @ DH_6 @ tool with
        // DH = [[ct, -st ca, st sa, a ct], [st, ct ca, -ct sa, a st], [0, sa, ca, d], [0, 0, 0, 1]],
        // base = diag(-1, -1, 1, 1), tool = translation (0, 0, 0.15); quaternion by w = sqrt(1 + tr R) / 2,
        // (x, y, z) = (R32 - R23, R13 - R31, R21 - R12) / 4w. Printed with repr (17 significant digits).
        let q = [0.3, -1.2, 1.4, -1.9, -1.3, 0.7]
        let expectedPosition = [0.5792707419436417, 0.388610632193635, 0.2550448204522162]
        let expectedOrientation: Quaternion = (
            0.09930290800183536, -0.5535955442732212, 0.8193261536236145, 0.11124549344376312
        )
        let pose = tcp(UR5e.robot, q)
        for axis in 0..<3 {
            #expect(abs(pose[axis] - expectedPosition[axis]) < 1e-9)
        }
        #expect(quaternionDifferenceUpToSign(quaternion(pose), expectedOrientation) < 1e-9)
        #expect(pose[3] >= 0)
    }

    @Test("output quaternions are unit length with w >= 0")
    func canonicalQuaternions() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let q = (0..<6).map { _ in Double.random(in: -2 * .pi...2 * .pi, using: &rng) }
            let pose = tcp(UR5e.robot, q)
            let n = norm(Array(pose[3...6]))
            #expect(abs(n - 1) < 1e-12)
            #expect(pose[3] >= 0)
        }
    }

    @Test("theta offsets add to the joint angles, and base and tool quaternions are normalised")
    func offsetsAndNormalisation() {
        let q = [0.3, -1.2, 1.4, -1.9, -1.3, 0.7]
        let offsets = [0.1, -0.2, 0.3, -0.4, 0.5, -0.6]
        var shifted = UR5e.robot
        fill(&shifted.theta_offset, offsets)
        let direct = tcp(UR5e.robot, zip(q, offsets).map { $0 + $1 })
        let viaOffsets = tcp(shifted, q)
        #expect(positionDistance(direct, viaOffsets) < 1e-12)
        #expect(orientationDistance(direct, viaOffsets) < 1e-12)

        // A base quaternion three times too long describes the same yaw.
        var scaled = UR5e.robot
        fill(&scaled.base_pose, [0, 0, 0, 0, 0, 0, 3])
        let reference = tcp(UR5e.robot, q)
        let fromScaled = tcp(scaled, q)
        #expect(positionDistance(reference, fromScaled) < 1e-12)
        #expect(orientationDistance(reference, fromScaled) < 1e-12)
    }

    @Test("no internal faults (Eigen assertions, heap allocations) on any entry point")
    func noInternalFaults() {
        // Tests run in parallel, so this sees whatever ran before it; the IK and Jacobian tests check again.
        let robot = UR5e.robot
        var q = UR5e.home
        q[4] += 0.3
        _ = tcp(robot, q)
        _ = jacobian(robot, q)
        _ = inverse(robot, target: tcp(robot, UR5e.home), seed: q)
        var target = tcp(robot, q)
        target[0] += 2
        _ = inverse(robot, target: target, seed: q)  // not converged, with the CKIN_LIMITS check
        #expect(internalFaults() == 0)
    }
}
