import CKinematics
import Testing

@Suite("Jacobian")
struct JacobianTests {
    /// Central differences of FK: linear rows from positions, angular rows from the rotation vector between
    /// the two perturbed orientations (world frame, as the geometric Jacobian is).
    static func finiteDifferenceJacobian(_ robot: ckin_robot, _ q: [Double], step h: Double) -> [Double] {
        let n = q.count
        var rows = [Double](repeating: 0, count: 6 * n)
        for joint in 0..<n {
            var plus = q
            var minus = q
            plus[joint] += h
            minus[joint] -= h
            let p = tcp(robot, plus)
            let m = tcp(robot, minus)
            let omega = rotationVector(from: quaternion(m), to: quaternion(p))
            for axis in 0..<3 {
                rows[axis * n + joint] = (p[axis] - m[axis]) / (2 * h)
                rows[(axis + 3) * n + joint] = omega[axis] / (2 * h)
            }
        }
        return rows
    }

    @Test("matches central finite differences of FK at random postures")
    func finiteDifferences() {
        var rng = SplitMix64(seed: 11)
        let robot = UR5e.robot
        var postures = [UR5e.home, [0, 0, 0, 0, 0, 0]]
        for _ in 0..<20 {
            postures.append((0..<6).map { _ in Double.random(in: -.pi ... .pi, using: &rng) })
        }
        for q in postures {
            let analytic = jacobian(robot, q)
            #expect(analytic.status == CKIN_OK)
            let numeric = Self.finiteDifferenceJacobian(robot, q, step: 1e-6)
            let worst = zip(analytic.rows, numeric).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst < 1e-6, "q = \(q): largest difference \(worst)")
        }
        #expect(internalFaults() == 0)
    }

    @Test("joint 1 turns about the world z axis through the origin (base yaw only)")
    func firstColumn() {
        let q = [0.4, -1.0, 1.2, -1.5, -1.4, 0.3]
        let rows = jacobian(UR5e.robot, q).rows
        let pose = tcp(UR5e.robot, q)
        // z x p = (-y, x, 0), angular (0, 0, 1); row-major with 6 columns.
        let expected = [-pose[1], pose[0], 0, 0, 0, 1]
        for row in 0..<6 {
            #expect(abs(rows[row * 6] - expected[row]) < 1e-12)
        }
    }
}
