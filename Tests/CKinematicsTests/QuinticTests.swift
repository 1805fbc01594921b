import CKinematics
import Testing

@Suite("Quintic (minimum-jerk) trajectories")
struct QuinticTests {
    struct Sample {
        var q: [Double]
        var qd: [Double]
        var qdd: [Double]
    }

    static func sample(_ q0: [Double], _ q1: [Double], duration: Double, t: Double) -> Sample {
        var s = Sample(
            q: [Double](repeating: .nan, count: q0.count),
            qd: [Double](repeating: .nan, count: q0.count),
            qdd: [Double](repeating: .nan, count: q0.count)
        )
        let status = ckin_quintic_sample(Int32(q0.count), q0, q1, duration, t, &s.q, &s.qd, &s.qdd)
        precondition(status == CKIN_OK)
        return s
    }

    static func duration(
        _ robot: ckin_robot,
        _ q0: [Double],
        _ q1: [Double],
        velocityScale: Double = 1,
        accelerationScale: Double = 1
    ) -> (ckin_status, Double) {
        var T = -1.0
        let status = withUnsafePointer(to: robot) {
            ckin_quintic_duration($0, q0, q1, velocityScale, accelerationScale, &T)
        }
        return (status, T)
    }

    @Test("endpoints are exact, with zero velocity and acceleration at both ends")
    func endpoints() {
        let q0 = [0.1, -1.3, 2.2, -0.7, 0.05, 3.0]
        let q1 = [1.7, -0.2, -0.4, -0.7, 0.35, -2.9]
        let T = 2.5
        let start = Self.sample(q0, q1, duration: T, t: 0)
        let end = Self.sample(q0, q1, duration: T, t: T)
        #expect(start.q == q0)
        #expect(end.q == q1)
        for s in [start, end] {
            #expect(s.qd.allSatisfy { $0 == 0 })
            #expect(s.qdd.allSatisfy { $0 == 0 })
        }
        // Times outside [0, T] clamp to the ends.
        #expect(Self.sample(q0, q1, duration: T, t: -1).q == q0)
        #expect(Self.sample(q0, q1, duration: T, t: T + 1).q == q1)
        #expect(Self.sample(q0, q1, duration: T, t: T + 1).qd.allSatisfy { $0 == 0 })
        // Halfway the minimum-jerk profile is at the midpoint (by symmetry).
        let mid = Self.sample(q0, q1, duration: T, t: T / 2)
        for i in q0.indices {
            #expect(abs(mid.q[i] - (q0[i] + q1[i]) / 2) < 1e-12)
        }
        // Velocity and acceleration outputs are optional.
        var q = [Double](repeating: 0, count: 6)
        #expect(ckin_quintic_sample(6, q0, q1, T, 1.0, &q, nil, nil) == CKIN_OK)
        #expect(q == Self.sample(q0, q1, duration: T, t: 1.0).q)
    }

    @Test("velocity and acceleration are the derivatives of position")
    func derivatives() {
        let q0 = [0.0, 1.0]
        let q1 = [2.0, -0.5]
        let T = 1.7
        let h = 1e-6
        for t in stride(from: 0.1, to: 1.6, by: 0.15) {
            let s = Self.sample(q0, q1, duration: T, t: t)
            let plus = Self.sample(q0, q1, duration: T, t: t + h)
            let minus = Self.sample(q0, q1, duration: T, t: t - h)
            for i in 0..<2 {
                #expect(abs((plus.q[i] - minus.q[i]) / (2 * h) - s.qd[i]) < 1e-6)
                #expect(abs((plus.qd[i] - minus.qd[i]) / (2 * h) - s.qdd[i]) < 1e-6)
            }
        }
    }

    /// Samples the profile densely and returns the peak |velocity| and |acceleration| per joint.
    static func peaks(
        _ q0: [Double],
        _ q1: [Double],
        duration T: Double,
        samples: Int = 20_000
    )
        -> (velocity: [Double], acceleration: [Double])
    {
        var velocity = [Double](repeating: 0, count: q0.count)
        var acceleration = [Double](repeating: 0, count: q0.count)
        for k in 0...samples {
            let s = Self.sample(q0, q1, duration: T, t: T * Double(k) / Double(samples))
            for i in q0.indices {
                velocity[i] = max(velocity[i], abs(s.qd[i]))
                acceleration[i] = max(acceleration[i], abs(s.qdd[i]))
            }
        }
        return (velocity, acceleration)
    }

    @Test(
        "the computed duration keeps every joint within its limits and is tight for the limiting joint",
        arguments: [
            // (move, velocity scale, acceleration scale): long moves are velocity-limited, short ones
            // acceleration-limited.
            ([2.5, -1.0, 0.3, 0.0, 1.2, -3.0], 1.0, 1.0),
            ([0.05, -0.02, 0.01, 0.0, 0.03, -0.04], 1.0, 1.0),
            ([1.0, 0.5, -0.25, 0.1, 0.0, 0.0], 0.25, 0.5),
            ([0.2, 0.2, 0.2, 0.2, 0.2, 0.2], 0.1, 1.0),
        ]
    )
    func limitsAtDuration(move: [Double], velocityScale: Double, accelerationScale: Double) {
        var robot = UR5e.robot
        // Unequal limits so that the limiting joint is not simply the one that moves farthest.
        fill(&robot.velocity_max, [3.14, 3.14, 3.14, 6.28, 6.28, 6.28])
        fill(&robot.acceleration_max, [8, 8, 8, 16, 16, 16])
        let vmax = read(robot.velocity_max, count: 6).map { $0 * velocityScale }
        let amax = read(robot.acceleration_max, count: 6).map { $0 * accelerationScale }
        let q0 = UR5e.home
        let q1 = zip(q0, move).map { $0 + $1 }
        let (status, T) = Self.duration(
            robot,
            q0,
            q1,
            velocityScale: velocityScale,
            accelerationScale: accelerationScale
        )
        #expect(status == CKIN_OK)
        #expect(T > 0)
        let (velocity, acceleration) = Self.peaks(q0, q1, duration: T)
        var tightest = 0.0
        for i in 0..<6 {
            #expect(velocity[i] <= vmax[i] * (1 + 1e-9))
            #expect(acceleration[i] <= amax[i] * (1 + 1e-9))
            tightest = max(tightest, velocity[i] / vmax[i], acceleration[i] / amax[i])
        }
        // The binding constraint is met (dense sampling sees the peak to within ~1e-7 relative).
        #expect(tightest > 1 - 1e-6)
        // And the peak formulas of the header hold for the limiting joint.
        let peakAcceleration: Double = 10 / 3.0.squareRoot()
        var analytic = 0.0
        for i in 0..<6 {
            let velocityBound: Double = 1.875 * abs(move[i]) / vmax[i]
            let accelerationBound: Double = (peakAcceleration * abs(move[i]) / amax[i]).squareRoot()
            analytic = max(analytic, velocityBound, accelerationBound)
        }
        #expect(abs(T - analytic) < 1e-12 * analytic)
    }

    @Test("a single joint moves monotonically")
    func monotone() {
        for (q0, q1) in [(-1.0, 2.0), (0.7, -0.3)] {
            var previous = q0
            let T = 1.3
            for k in 0...1000 {
                let s = Self.sample([q0], [q1], duration: T, t: T * Double(k) / 1000)
                if q1 > q0 {
                    #expect(s.q[0] >= previous)
                    #expect(s.qd[0] >= 0)
                } else {
                    #expect(s.q[0] <= previous)
                    #expect(s.qd[0] <= 0)
                }
                previous = s.q[0]
            }
            #expect(previous == q1)
        }
    }

    @Test("no motion takes no time; a zero limit on a moving joint is infeasible")
    func degenerate() {
        var robot = UR5e.robot
        let (status, T) = Self.duration(robot, UR5e.home, UR5e.home)
        #expect(status == CKIN_OK)
        #expect(T == 0)
        // Duration 0 holds the goal at rest.
        let s = Self.sample(UR5e.home, UR5e.home, duration: 0, t: 0)
        #expect(s.q == UR5e.home)
        #expect(s.qd.allSatisfy { $0 == 0 })

        fill(&robot.velocity_max, [3, 3, 0, 3, 3, 3])
        var q1 = UR5e.home
        q1[0] += 0.5
        // Joint 3 has no velocity but does not move: fine.
        #expect(Self.duration(robot, UR5e.home, q1).0 == CKIN_OK)
        q1[2] += 0.5
        #expect(Self.duration(robot, UR5e.home, q1).0 == CKIN_INFEASIBLE)
    }
}
