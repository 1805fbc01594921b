import CKinematics
import CRealtime
import Foundation

/// A self-test of the kinematics library: FK at the UR5e home posture against the hand-computed TCP, and
/// an IK round trip.
public enum KinematicsSelfTest {
    /// Runs the test.
    public static func run() -> (passed: Bool, detail: String) {
        var robot = ckin_robot()
        robot.joint_count = 6
        let a = [0, -0.425, -0.3922, 0, 0, 0]
        let d = [0.1625, 0, 0, 0.1333, 0.0997, 0.0996]
        let alpha = [Double.pi / 2, 0, 0, Double.pi / 2, -Double.pi / 2, 0]
        withUnsafeMutableBytes(of: &robot.a) { raw in
            for i in 0..<6 { raw.storeBytes(of: a[i], toByteOffset: i * 8, as: Double.self) }
        }
        withUnsafeMutableBytes(of: &robot.d) { raw in
            for i in 0..<6 { raw.storeBytes(of: d[i], toByteOffset: i * 8, as: Double.self) }
        }
        withUnsafeMutableBytes(of: &robot.alpha) { raw in
            for i in 0..<6 { raw.storeBytes(of: alpha[i], toByteOffset: i * 8, as: Double.self) }
        }
        withUnsafeMutableBytes(of: &robot.position_min) { raw in
            for i in 0..<6 { raw.storeBytes(of: -2 * Double.pi, toByteOffset: i * 8, as: Double.self) }
        }
        withUnsafeMutableBytes(of: &robot.position_max) { raw in
            for i in 0..<6 { raw.storeBytes(of: 2 * Double.pi, toByteOffset: i * 8, as: Double.self) }
        }
        robot.base_pose = (0, 0, 0, 1, 0, 0, 0)
        robot.tool_pose = (0, 0, 0, 1, 0, 0, 0)
        var q = [0, -Double.pi / 2, Double.pi / 2, -Double.pi / 2, -Double.pi / 2, 0]
        var pose = [Double](repeating: 0, count: 7)
        guard ckin_forward(&robot, &q, &pose) == CKIN_OK else { return (false, "ckin_forward failed") }
        // Home, base frame, no tool: the upper arm points up (d1 + |a2|), the forearm back (a3), then the wrist
        // offsets: flange at (-(|a3| + d5), -d4, d1 + |a2| - d6).
        let expected = [-(0.3922 + 0.0997), -0.1333, 0.1625 + 0.425 - 0.0996]
        let error = zip(pose.prefix(3), expected).map { abs($0 - $1) }.max() ?? 1
        var seed = q.map { $0 + 0.05 }
        var solution = [Double](repeating: 0, count: 6)
        var report = ckin_ik_report()
        let status = ckin_inverse(&robot, &pose, &seed, nil, &solution, &report)
        let passed = error < 1e-9 && status == CKIN_OK
        return (
            passed,
            String(
                format: "home FK error %.1e m, IK round trip %@ in %d iterations",
                error,
                status == CKIN_OK ? "converged" : String(cString: ckin_status_string(status)),
                report.iterations
            )
        )
    }
}

/// Probes the real-time permissions of this process.
public enum RealtimeProbe {
    /// What was found.
    public struct Report: Sendable {
        public var fifo = false
        public var fifoDetail = ""
        public var mlock = false
        public var mlockDetail = ""
        public var preemptRT = false
    }

    /// Tries SCHED_FIFO on a short-lived thread and `mlockall` (undone at once).
    public static func run() -> Report {
        var report = Report()
        let box = ProbeBox()
        var thread = pthread_t()
        let context = Unmanaged.passRetained(box).toOpaque()
        if pthread_create(
            &thread,
            nil,
            { raw in
                let box = Unmanaged<ProbeBox>.fromOpaque(raw!).takeRetainedValue()
                box.rc = crt_set_fifo(80)
                return nil
            },
            context
        ) == 0 {
            pthread_join(thread, nil)
        }
        let limit = crt_rtprio_limit()
        report.fifo = box.rc == 0
        report.fifoDetail =
            box.rc == 0
            ? "SCHED_FIFO 80 granted (rtprio limit \(limit < 0 ? "unlimited" : String(limit)), uid \(getuid()))"
            : "SCHED_FIFO refused: \(String(cString: strerror(box.rc))) (rtprio limit \(limit))"
        let rc = crt_lock_memory()
        report.mlock = rc == 0
        report.mlockDetail = rc == 0 ? "mlockall granted" : "mlockall refused: \(String(cString: strerror(rc)))"
        if rc == 0 { munlockall() }
        report.preemptRT = crt_kernel_is_preempt_rt() != 0
        return report
    }

    private final class ProbeBox: @unchecked Sendable { var rc: Int32 = -1 }
}
