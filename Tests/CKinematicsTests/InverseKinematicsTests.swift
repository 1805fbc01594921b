import CKinematics
import Testing

@Suite("Inverse kinematics")
struct InverseKinematicsTests {
    static let positionTolerance = 1e-5
    static let orientationTolerance = 1e-4

    static func withinLimits(_ robot: ckin_robot, _ q: [Double]) -> Bool {
        let lo = read(robot.position_min, count: q.count)
        let hi = read(robot.position_max, count: q.count)
        return q.indices.allSatisfy { lo[$0] <= q[$0] && q[$0] <= hi[$0] }
    }

    /// Solves, checks the answer with FK, and returns the iteration count (nil on failure).
    static func roundTrip(_ robot: ckin_robot, target: [Double], seed: [Double]) -> Int? {
        let result = inverse(robot, target: target, seed: seed)
        let reached = tcp(robot, result.q)
        let positionError = positionDistance(reached, target)
        let orientationError = orientationDistance(reached, target)
        // The report must describe q_out honestly, whatever the status.
        #expect(abs(result.report.position_error - positionError) < 1e-9)
        #expect(abs(result.report.orientation_error - orientationError) < 1e-9)
        #expect(withinLimits(robot, result.q))
        guard result.status == CKIN_OK else { return nil }
        #expect(positionError < positionTolerance)
        #expect(orientationError < orientationTolerance)
        return Int(result.report.iterations)
    }

    static func summary(_ iterations: [Int], failures: Int) -> String {
        let sorted = iterations.sorted()
        guard !sorted.isEmpty else { return "no successes, \(failures) failures" }
        let mean = Double(sorted.reduce(0, +)) / Double(sorted.count)
        return
            "\(sorted.count) solved, \(failures) failed; iterations mean \(mean), median \(sorted[sorted.count / 2]), "
            + "95th percentile \(sorted[sorted.count * 95 / 100]), max \(sorted.last!)"
    }

    @Test("200 random postures: FK, then IK from a seed perturbed by up to 0.2 rad per joint")
    func perturbedSeeds() {
        var rng = SplitMix64(seed: 2024)
        let robot = UR5e.robot
        var iterations: [Int] = []
        var failures = 0
        for _ in 0..<200 {
            let q = (0..<6).map { _ in Double.random(in: -.pi ... .pi, using: &rng) }
            let seed = q.map { $0 + Double.random(in: -0.2...0.2, using: &rng) }
            if let count = Self.roundTrip(robot, target: tcp(robot, q), seed: seed) {
                iterations.append(count)
            } else {
                failures += 1
            }
        }
        print("IK from perturbed seeds: \(Self.summary(iterations, failures: failures))")
        #expect(failures == 0)
        #expect(internalFaults() == 0)
    }

    /// Tool-down postures of the home family: shoulder, elbow and base moved, wrist 1 chosen so the flange stays
    /// vertical (q2 + q3 + q4 = -pi/2 with q5 = -pi/2), wrist 3 turned. All reachable by construction.
    @Test("tool-down targets from the home posture")
    func fromHome() {
        var rng = SplitMix64(seed: 99)
        let robot = UR5e.robot
        var iterations: [Int] = []
        var failures = 0
        for _ in 0..<60 {
            var q = UR5e.home
            q[0] += Double.random(in: -1.2...1.2, using: &rng)
            q[1] += Double.random(in: -0.6...0.6, using: &rng)
            q[2] += Double.random(in: -0.9...0.9, using: &rng)
            q[3] = -.pi / 2 - q[1] - q[2]
            q[5] = Double.random(in: -1.5...1.5, using: &rng)
            let target = tcp(robot, q)
            // Tool z axis = R e_z; its world z component is 1 - 2 (qx^2 + qy^2).
            #expect(1 - 2 * (target[4] * target[4] + target[5] * target[5]) < -0.999999)
            if let count = Self.roundTrip(robot, target: target, seed: UR5e.home) {
                iterations.append(count)
            } else {
                failures += 1
            }
        }
        print("IK from home, tool down: \(Self.summary(iterations, failures: failures))")
        #expect(failures == 0)
    }

    @Test("a vertical descent in 1 cm steps, each solved from the previous answer")
    func verticalDescent() {
        let robot = UR5e.robot
        var q = UR5e.home
        var target = tcp(robot, q)
        var worst = 0
        for _ in 0..<25 {
            target[2] -= 0.01
            let result = inverse(robot, target: target, seed: q)
            #expect(result.status == CKIN_OK)
            // Continuity: a small Cartesian step must not jump to another arm configuration.
            let jump = zip(result.q, q).map { abs($0 - $1) }.max()!
            #expect(jump < 0.1)
            worst = max(worst, Int(result.report.iterations))
            q = result.q
        }
        print("IK vertical descent: at most \(worst) iterations per 1 cm step")
    }

    @Test("a target 2 m away is reported as not converged, with the best iterate and its error")
    func unreachable() {
        let robot = UR5e.robot
        var target = tcp(robot, UR5e.home)
        target[0] += 2
        let result = inverse(robot, target: target, seed: UR5e.home)
        #expect(result.status == CKIN_NOT_CONVERGED)
        #expect(result.report.iterations == 200)
        #expect(result.report.position_error > 1)
        #expect(Self.withinLimits(robot, result.q))
        let reached = tcp(robot, result.q)
        #expect(abs(positionDistance(reached, target) - result.report.position_error) < 1e-9)
        // The best iterate stretches towards the target: closer than the seed was.
        #expect(result.report.position_error < 2)
    }

    @Test("joint limits are respected; a target only reachable past a limit reports CKIN_LIMITS")
    func limits() {
        var robot = UR5e.robot
        var lo = read(robot.position_min, count: 6)
        var hi = read(robot.position_max, count: 6)
        lo[0] = -0.2
        hi[0] = 0.2
        fill(&robot.position_min, lo)
        fill(&robot.position_max, hi)
        var q = UR5e.home
        q[0] = 1.0  // base turned well past its (narrowed) limit
        let target = tcp(UR5e.robot, q)
        let result = inverse(robot, target: target, seed: UR5e.home)
        #expect(result.status == CKIN_LIMITS)
        #expect(Self.withinLimits(robot, result.q))
        #expect(abs(result.q[0] - 0.2) < 1e-12)

        // A seed outside the limits is clamped first, and a reachable target is still solved.
        var seed = UR5e.home
        seed[0] = 3
        let inside = tcp(robot, UR5e.home)
        let fromOutside = inverse(robot, target: inside, seed: seed)
        #expect(fromOutside.status == CKIN_OK)
        #expect(Self.withinLimits(robot, fromOutside.q))
    }

    @Test("options: zero fields take the defaults, explicit fields are honoured")
    func options() {
        let robot = UR5e.robot
        var q = UR5e.home
        q[1] += 0.3
        let target = tcp(robot, q)
        let defaults = inverse(robot, target: target, seed: UR5e.home)
        let zeros = inverse(robot, target: target, seed: UR5e.home, options: ckin_ik_options())
        #expect(defaults.status == CKIN_OK)
        #expect(zeros.q == defaults.q)
        #expect(zeros.report.iterations == defaults.report.iterations)

        var capped = ckin_ik_options()
        capped.max_iterations = 2
        let short = inverse(robot, target: target, seed: UR5e.home, options: capped)
        #expect(short.status == CKIN_NOT_CONVERGED)
        #expect(short.report.iterations == 2)

        var loose = ckin_ik_options()
        loose.position_tolerance = 1e-2
        loose.orientation_tolerance = 1e-1
        let coarse = inverse(robot, target: target, seed: UR5e.home, options: loose)
        #expect(coarse.status == CKIN_OK)
        #expect(coarse.report.iterations <= defaults.report.iterations)
        #expect(coarse.report.position_error <= 1e-2)

        var small = ckin_ik_options()
        small.max_step = 0.01
        small.max_iterations = 1
        let oneStep = inverse(robot, target: target, seed: UR5e.home, options: small)
        let moved = zip(oneStep.q, UR5e.home).map { abs($0 - $1) }.max()!
        #expect(moved <= 0.01 + 1e-15)
    }

    @Test("q_out may alias q_seed")
    func aliasing() {
        let robot = UR5e.robot
        var q = UR5e.home
        q[2] -= 0.2
        let target = tcp(robot, q)
        var inOut = UR5e.home
        let status = withUnsafePointer(to: robot) { robotPointer in
            inOut.withUnsafeMutableBufferPointer { buffer in
                ckin_inverse(robotPointer, target, buffer.baseAddress, nil, buffer.baseAddress, nil)
            }
        }
        #expect(status == CKIN_OK)
        #expect(positionDistance(tcp(robot, inOut), target) < 1e-5)
    }
}
