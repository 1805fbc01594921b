import CKinematics
import Foundation

/// The UR5e used by the kinematics tests: Universal Robots' published DH parameters, base yawed by pi about
/// the world z axis at the origin, a 0.15 m tool along the flange z axis, joint limits +-2 pi, pi rad/s, 8 rad/s^2.
enum UR5e {
    static let a: [Double] = [0, -0.425, -0.3922, 0, 0, 0]
    static let d: [Double] = [0.1625, 0, 0, 0.1333, 0.0997, 0.0996]
    static let alpha: [Double] = [.pi / 2, 0, 0, .pi / 2, -.pi / 2, 0]
    static let home: [Double] = [0, -.pi / 2, .pi / 2, -.pi / 2, -.pi / 2, 0]
    static let basePose: [Double] = [0, 0, 0, 0, 0, 0, 1]
    static let toolPose: [Double] = [0, 0, 0.15, 1, 0, 0, 0]

    static var robot: ckin_robot {
        makeRobot(
            a: a,
            d: d,
            alpha: alpha,
            thetaOffset: [Double](repeating: 0, count: 6),
            basePose: basePose,
            toolPose: toolPose
        )
    }
}

/// A robot from DH rows and poses, with the UR5e's joint limits.
func makeRobot(
    a: [Double],
    d: [Double],
    alpha: [Double],
    thetaOffset: [Double],
    basePose: [Double],
    toolPose: [Double]
) -> ckin_robot {
    let n = a.count
    var robot = ckin_robot()
    robot.joint_count = Int32(n)
    fill(&robot.a, a)
    fill(&robot.d, d)
    fill(&robot.alpha, alpha)
    fill(&robot.theta_offset, thetaOffset)
    fill(&robot.base_pose, basePose)
    fill(&robot.tool_pose, toolPose)
    fill(&robot.position_min, [Double](repeating: -2 * .pi, count: n))
    fill(&robot.position_max, [Double](repeating: 2 * .pi, count: n))
    fill(&robot.velocity_max, [Double](repeating: .pi, count: n))
    fill(&robot.acceleration_max, [Double](repeating: 8, count: n))
    return robot
}

/// Writes doubles into a C fixed-size array (imported as a homogeneous tuple).
func fill<Tuple>(_ tuple: inout Tuple, _ values: [Double]) {
    withUnsafeMutableBytes(of: &tuple) { raw in
        precondition(values.count * MemoryLayout<Double>.stride <= raw.count, "too many values for the C array")
        for (index, value) in values.enumerated() {
            raw.storeBytes(of: value, toByteOffset: index * MemoryLayout<Double>.stride, as: Double.self)
        }
    }
}

/// Reads the first `count` doubles of a C fixed-size array.
func read<Tuple>(_ tuple: Tuple, count: Int) -> [Double] {
    withUnsafeBytes(of: tuple) { raw in
        (0..<count).map { raw.load(fromByteOffset: $0 * MemoryLayout<Double>.stride, as: Double.self) }
    }
}

// MARK: - Thin wrappers over the C API

func forward(_ robot: ckin_robot, _ q: [Double]) -> (status: ckin_status, pose: [Double]) {
    var pose = [Double](repeating: .nan, count: 7)
    let status = withUnsafePointer(to: robot) { ckin_forward($0, q, &pose) }
    return (status, pose)
}

/// FK that must succeed.
func tcp(_ robot: ckin_robot, _ q: [Double]) -> [Double] {
    let result = forward(robot, q)
    precondition(result.status == CKIN_OK, "ckin_forward failed: \(String(cString: ckin_status_string(result.status)))")
    return result.pose
}

func jacobian(_ robot: ckin_robot, _ q: [Double]) -> (status: ckin_status, rows: [Double]) {
    var out = [Double](repeating: .nan, count: 6 * Int(robot.joint_count))
    let status = withUnsafePointer(to: robot) { ckin_jacobian($0, q, &out) }
    return (status, out)
}

struct IKResult {
    var status: ckin_status
    var q: [Double]
    var report: ckin_ik_report
}

func inverse(_ robot: ckin_robot, target: [Double], seed: [Double], options: ckin_ik_options? = nil) -> IKResult {
    var q = [Double](repeating: .nan, count: Int(robot.joint_count))
    var report = ckin_ik_report()
    let status = withUnsafePointer(to: robot) { robotPointer in
        if var options {
            return ckin_inverse(robotPointer, target, seed, &options, &q, &report)
        }
        return ckin_inverse(robotPointer, target, seed, nil, &q, &report)
    }
    return IKResult(status: status, q: q, report: report)
}

// MARK: - Pose arithmetic, written independently of the library

typealias Quaternion = (w: Double, x: Double, y: Double, z: Double)

func quaternion(_ pose: [Double]) -> Quaternion { (pose[3], pose[4], pose[5], pose[6]) }

func multiply(_ a: Quaternion, _ b: Quaternion) -> Quaternion {
    (
        a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z,
        a.w * b.x + a.x * b.w + a.y * b.z - a.z * b.y,
        a.w * b.y - a.x * b.z + a.y * b.w + a.z * b.x,
        a.w * b.z + a.x * b.y - a.y * b.x + a.z * b.w
    )
}

func conjugate(_ q: Quaternion) -> Quaternion { (q.w, -q.x, -q.y, -q.z) }

/// Rotation vector (axis times angle, world frame) of the rotation taking orientation `from` to `to`.
func rotationVector(from: Quaternion, to: Quaternion) -> [Double] {
    var delta = multiply(to, conjugate(from))
    if delta.w < 0 { delta = (-delta.w, -delta.x, -delta.y, -delta.z) }
    let s = (delta.x * delta.x + delta.y * delta.y + delta.z * delta.z).squareRoot()
    let scale = s > 1e-15 ? 2 * atan2(s, delta.w) / s : 2
    return [scale * delta.x, scale * delta.y, scale * delta.z]
}

func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }

func positionDistance(_ p: [Double], _ q: [Double]) -> Double { norm([p[0] - q[0], p[1] - q[1], p[2] - q[2]]) }

func orientationDistance(_ p: [Double], _ q: [Double]) -> Double {
    norm(rotationVector(from: quaternion(p), to: quaternion(q)))
}

/// Largest componentwise difference between two quaternions, allowing for q and -q being the same rotation.
func quaternionDifferenceUpToSign(_ p: Quaternion, _ q: Quaternion) -> Double {
    let same = max(abs(p.w - q.w), abs(p.x - q.x), abs(p.y - q.y), abs(p.z - q.z))
    let flipped = max(abs(p.w + q.w), abs(p.x + q.x), abs(p.y + q.y), abs(p.z + q.z))
    return min(same, flipped)
}

/// SplitMix64: a small, seedable generator so every test run draws the same configurations.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Fails the test run if the library ever hit an internal Eigen assertion (a heap allocation included).
func internalFaults() -> UInt { UInt(ckin_internal_faults()) }
