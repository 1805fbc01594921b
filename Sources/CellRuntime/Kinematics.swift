import CKinematics
import TwinProtocol

/// Up to eight joint values, stored inline (no allocation): the runtime's joint vector.
public typealias JointVector = SIMD8<Double>

/// The arm's kinematics, built from the twin's handshake (DH rows, base and tool poses, joint limits).
///
/// Wraps `CKinematics` (C++/Eigen behind a C ABI). Every call works on stack values and allocates nothing.
public struct Kinematics: Sendable {
    /// The C description.
    var robot: ckin_robot
    /// Joints in use (≤ 8).
    public let jointCount: Int

    /// Builds the kinematics from a handshake.
    /// - Throws: `RuntimeError.configuration` if the arm has no joints, more than 8, or a DH table of another size.
    public init(welcome: Welcome) throws(RuntimeError) {
        let n = welcome.joints.count
        guard n >= 1, n <= Int(CKIN_MAX_JOINTS) else {
            throw RuntimeError(.configuration, "the twin describes \(n) joints; EdgeCell supports 1…\(CKIN_MAX_JOINTS)")
        }
        guard welcome.dh.count == n else {
            throw RuntimeError(.configuration, "the twin sent \(welcome.dh.count) DH rows for \(n) joints")
        }
        var robot = ckin_robot()
        robot.joint_count = Int32(n)
        withUnsafeMutablePointer(to: &robot) { pointer in
            func fill<T>(_ keyPath: WritableKeyPath<ckin_robot, T>, _ values: [Double]) {
                withUnsafeMutableBytes(of: &pointer.pointee[keyPath: keyPath]) { raw in
                    let doubles = raw.bindMemory(to: Double.self)
                    for (index, value) in values.enumerated() where index < doubles.count { doubles[index] = value }
                }
            }
            fill(\.a, welcome.dh.map(\.a))
            fill(\.d, welcome.dh.map(\.d))
            fill(\.alpha, welcome.dh.map(\.alpha))
            fill(\.theta_offset, welcome.dh.map(\.thetaOffset))
            fill(\.base_pose, Self.array(welcome.basePose))
            fill(\.tool_pose, Self.array(welcome.toolPose))
            fill(\.position_min, welcome.joints.map(\.positionMin))
            fill(\.position_max, welcome.joints.map(\.positionMax))
            fill(\.velocity_max, welcome.joints.map(\.velocityMax))
            fill(\.acceleration_max, welcome.joints.map(\.accelerationMax))
        }
        self.robot = robot
        self.jointCount = n
    }

    static func array(_ pose: Pose) -> [Double] {
        [
            pose.position.x, pose.position.y, pose.position.z,
            pose.orientation.w, pose.orientation.x, pose.orientation.y, pose.orientation.z,
        ]
    }

    static func pose(_ values: SIMD8<Double>) -> Pose {
        Pose(
            position: SIMD3(values[0], values[1], values[2]),
            orientation: Quaternion(w: values[3], x: values[4], y: values[5], z: values[6])
        )
    }

    /// The TCP pose in the world frame.
    public func forward(_ q: JointVector) throws(RuntimeError) -> Pose {
        var robot = self.robot
        var q = q
        var out = SIMD8<Double>()
        let status = withUnsafeBytes(of: &q) { qRaw in
            withUnsafeMutableBytes(of: &out) { outRaw in
                ckin_forward(
                    &robot,
                    qRaw.baseAddress!.assumingMemoryBound(to: Double.self),
                    outRaw.baseAddress!.assumingMemoryBound(to: Double.self)
                )
            }
        }
        guard status == CKIN_OK else {
            throw RuntimeError(
                .configuration,
                "forward kinematics failed: \(String(cString: ckin_status_string(status)))"
            )
        }
        return Self.pose(out)
    }

    /// Result of an IK solve.
    public struct Solution: Sendable {
        /// Joint positions (the best iterate if not converged).
        public var q: JointVector
        /// Whether the tolerances were met within the joint limits.
        public var converged: Bool
        /// Remaining position error, m.
        public var positionError: Double
        /// Remaining orientation error, rad.
        public var orientationError: Double
        /// Iterations used.
        public var iterations: Int
    }

    /// Damped-least-squares IK for a TCP pose, seeded from `seed` (normally the current or previous posture).
    public func inverse(_ target: Pose, seed: JointVector) -> Solution {
        var robot = self.robot
        var seed = seed
        var out = JointVector()
        var targetValues = SIMD8<Double>()
        let values = Self.array(target)
        for index in 0..<7 { targetValues[index] = values[index] }
        var report = ckin_ik_report()
        let status = withUnsafeBytes(of: &seed) { seedRaw in
            withUnsafeMutableBytes(of: &out) { outRaw in
                withUnsafeBytes(of: &targetValues) { targetRaw in
                    ckin_inverse(
                        &robot,
                        targetRaw.baseAddress!.assumingMemoryBound(to: Double.self),
                        seedRaw.baseAddress!.assumingMemoryBound(to: Double.self),
                        nil,
                        outRaw.baseAddress!.assumingMemoryBound(to: Double.self),
                        &report
                    )
                }
            }
        }
        return Solution(
            q: out,
            converged: status == CKIN_OK,
            positionError: report.position_error,
            orientationError: report.orientation_error,
            iterations: Int(report.iterations)
        )
    }

    /// Shortest duration of a synchronised minimum-jerk move within scaled velocity/acceleration limits.
    public func quinticDuration(
        from q0: JointVector,
        to q1: JointVector,
        velocityScale: Double,
        accelerationScale: Double
    ) throws(RuntimeError) -> Double {
        var robot = self.robot
        var q0 = q0
        var q1 = q1
        var duration = 0.0
        let status = withUnsafeBytes(of: &q0) { a in
            withUnsafeBytes(of: &q1) { b in
                ckin_quintic_duration(
                    &robot,
                    a.baseAddress!.assumingMemoryBound(to: Double.self),
                    b.baseAddress!.assumingMemoryBound(to: Double.self),
                    velocityScale,
                    accelerationScale,
                    &duration
                )
            }
        }
        guard status == CKIN_OK else {
            throw RuntimeError(
                .configuration,
                "cannot time a move with velocity scale \(velocityScale), acceleration scale \(accelerationScale): "
                    + String(cString: ckin_status_string(status))
            )
        }
        return duration
    }

    /// Joint limits, per joint.
    public func limits(_ joint: Int) -> (min: Double, max: Double, velocity: Double, acceleration: Double) {
        var robot = self.robot
        return withUnsafeBytes(of: &robot.position_min) { lo in
            withUnsafeBytes(of: &robot.position_max) { hi in
                withUnsafeBytes(of: &robot.velocity_max) { v in
                    withUnsafeBytes(of: &robot.acceleration_max) { a in
                        (
                            lo.load(fromByteOffset: joint * 8, as: Double.self),
                            hi.load(fromByteOffset: joint * 8, as: Double.self),
                            v.load(fromByteOffset: joint * 8, as: Double.self),
                            a.load(fromByteOffset: joint * 8, as: Double.self)
                        )
                    }
                }
            }
        }
    }
}

/// Quintic (minimum-jerk) rest-to-rest interpolation shape: s(τ) = 10τ³ − 15τ⁴ + 6τ⁵, τ ∈ [0, 1].
@inline(__always)
func minimumJerk(_ tau: Double) -> (s: Double, ds: Double) {
    let t = Swift.min(Swift.max(tau, 0), 1)
    let t2 = t * t
    let t3 = t2 * t
    let s = t3 * (10 - 15 * t + 6 * t2)
    let ds = 30 * t2 * (1 - 2 * t + t2)
    return (s, ds)
}
