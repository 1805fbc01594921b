import TwinProtocol

/// What the safety supervisor found in one command (several can hold at once).
public struct SafetyViolations: OptionSet, Sendable, BitwiseCopyable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// A joint target or the gripper target was NaN or infinite. Policy: stop.
    public static let nonFinite = SafetyViolations(rawValue: 1 << 0)
    /// A joint target was outside the joint's position limits. Policy: clamp to the limit.
    public static let position = SafetyViolations(rawValue: 1 << 1)
    /// A joint would move faster than its velocity limit within one period. Policy: clamp the step.
    public static let velocity = SafetyViolations(rawValue: 1 << 2)
    /// A joint's velocity would change faster than its acceleration limit. Policy: clamp the change.
    public static let acceleration = SafetyViolations(rawValue: 1 << 3)
    /// The TCP of the (clamped) command, or where braking from it would bring the arm to rest, is outside the
    /// cell's workspace box. Policy: stop (so the TCP never leaves the box).
    public static let workspace = SafetyViolations(rawValue: 1 << 4)
    /// The gripper target was outside the gripper's aperture range. Policy: clamp.
    public static let gripperAperture = SafetyViolations(rawValue: 1 << 5)
    /// The measured grip force exceeded the gripper's force limit. Policy: stop.
    public static let gripperForce = SafetyViolations(rawValue: 1 << 6)
    /// Forward kinematics failed for the command (cannot check the workspace). Policy: stop.
    public static let kinematics = SafetyViolations(rawValue: 1 << 7)
    /// An operator asked for a stop (`edgecell estop`, SIGINT, SIGTERM). Policy: stop.
    public static let operatorStop = SafetyViolations(rawValue: 1 << 8)
    /// Real time: no observation for the watchdog's number of periods. Policy: stop.
    public static let watchdog = SafetyViolations(rawValue: 1 << 9)

    /// The violations whose policy is a stop.
    public static let stopping: SafetyViolations = [
        .nonFinite, .workspace, .gripperForce, .kinematics, .operatorStop, .watchdog,
    ]

    /// Names, for log lines and summaries.
    public var names: [String] {
        let all: [(SafetyViolations, String)] = [
            (.nonFinite, "non-finite target"), (.position, "joint position limit"),
            (.velocity, "joint velocity limit"), (.acceleration, "joint acceleration limit"),
            (.workspace, "workspace box"), (.gripperAperture, "gripper aperture range"),
            (.gripperForce, "gripper force limit"), (.kinematics, "forward kinematics"),
            (.operatorStop, "operator stop"), (.watchdog, "observation watchdog"),
        ]
        return all.filter { self.contains($0.0) }.map(\.1)
    }
}

/// The limits the supervisor enforces: from the handshake (joints, gripper, workspace box), scaled.
public struct SafetyLimits: Sendable {
    /// Joints in use.
    public var jointCount: Int
    public var positionMin = JointVector()
    public var positionMax = JointVector()
    public var velocityMax = JointVector()
    public var accelerationMax = JointVector()
    public var gripperMin: Double
    public var gripperMax: Double
    public var gripperForceMax: Double
    public var workspaceMin: SIMD3<Double>
    public var workspaceMax: SIMD3<Double>

    /// The handshake's limits; velocity and acceleration limits multiplied by `velocityScale` and
    /// `accelerationScale` (0, 1].
    public init(welcome: Welcome, velocityScale: Double = 1, accelerationScale: Double = 1) {
        self.jointCount = min(welcome.joints.count, 8)
        for (j, joint) in welcome.joints.prefix(8).enumerated() {
            self.positionMin[j] = joint.positionMin
            self.positionMax[j] = joint.positionMax
            self.velocityMax[j] = joint.velocityMax * velocityScale
            self.accelerationMax[j] = joint.accelerationMax * accelerationScale
        }
        self.gripperMin = welcome.gripper.apertureMin
        self.gripperMax = welcome.gripper.apertureMax
        self.gripperForceMax = welcome.gripper.forceMax
        self.workspaceMin = welcome.workspaceMin
        self.workspaceMax = welcome.workspaceMax
    }
}

/// Sits between every controller command and the wire (docs/SAFETY.md): clamps what can be clamped (joint
/// position, velocity and acceleration limits, gripper aperture) and stops on what cannot (a non-finite target,
/// the TCP leaving the workspace box, excessive grip force). A stop latches: from then on every command is the
/// supervisor's own, decelerating each joint at its acceleration limit to standstill and then holding, until
/// `reset`. Allocation-free and lock-free: it runs on the control thread.
public struct SafetySupervisor: Sendable {
    /// The limits.
    public let limits: SafetyLimits
    private let kinematics: Kinematics?
    private var previous = JointVector()
    private var velocity = JointVector()
    private var gripper = 0.0
    /// Latched: the arm is stopping or stopped.
    public private(set) var stopped = false
    /// The violations that latched the stop.
    public private(set) var stopCause: SafetyViolations = []
    /// Every violation seen since `reset`.
    public private(set) var seen: SafetyViolations = []
    /// Commands changed by a clamp since `reset`.
    public private(set) var clampedCommands = 0
    /// When the workspace box stopped the arm: the TCP point that left the box (world frame, m) and whether it
    /// was the point where braking from the command would come to rest rather than the command itself.
    public private(set) var workspaceExit: (position: SIMD3<Double>, braking: Bool)?

    /// A supervisor for `limits`; with `kinematics` it also checks the TCP against the workspace box.
    public init(limits: SafetyLimits, kinematics: Kinematics?) {
        self.limits = limits
        self.kinematics = kinematics
    }

    /// Starts supervising from a measured state at rest (after a reset of the cell): clears the latch.
    public mutating func reset(q: JointVector, gripper: Double) {
        self.previous = q
        self.velocity = JointVector()
        self.gripper = gripper
        self.stopped = false
        self.stopCause = []
        self.seen = []
        self.clampedCommands = 0
        self.workspaceExit = nil
    }

    /// Filters one command for the coming `period` s: returns what may go on the wire and what was violated.
    /// `gripperForce` is the latest measured grip force, N.
    public mutating func filter(
        q target: JointVector,
        gripper gripperTarget: Double,
        period: Double,
        gripperForce: Double = 0
    ) -> (q: JointVector, gripper: Double, violations: SafetyViolations) {
        let n = self.limits.jointCount
        var violations: SafetyViolations = []
        if self.stopped { return (self.decelerate(period: period), self.gripper, []) }
        var finite = gripperTarget.isFinite
        for j in 0..<n where !target[j].isFinite { finite = false }
        if !finite {
            violations.insert(.nonFinite)
            return self.latch(violations, period: period)
        }
        if gripperForce.isFinite, gripperForce > self.limits.gripperForceMax {
            violations.insert(.gripperForce)
            return self.latch(violations, period: period)
        }
        var q = self.previous
        var v = JointVector()
        for j in 0..<n {
            var goal = target[j]
            if goal < self.limits.positionMin[j] || goal > self.limits.positionMax[j] {
                violations.insert(.position)
                goal = min(max(goal, self.limits.positionMin[j]), self.limits.positionMax[j])
            }
            var speed = (goal - self.previous[j]) / period
            let vMax = self.limits.velocityMax[j]
            if abs(speed) > vMax * (1 + 1e-9) {
                violations.insert(.velocity)
                speed = speed > 0 ? vMax : -vMax
            }
            let dvMax = self.limits.accelerationMax[j] * period
            let dv = speed - self.velocity[j]
            if abs(dv) > dvMax * (1 + 1e-9) {
                violations.insert(.acceleration)
                speed = self.velocity[j] + (dv > 0 ? dvMax : -dvMax)
            }
            q[j] = min(max(self.previous[j] + speed * period, self.limits.positionMin[j]), self.limits.positionMax[j])
            v[j] = (q[j] - self.previous[j]) / period
        }
        var g = gripperTarget
        if g < self.limits.gripperMin || g > self.limits.gripperMax {
            violations.insert(.gripperAperture)
            g = min(max(g, self.limits.gripperMin), self.limits.gripperMax)
        }
        if let kinematics = self.kinematics {
            // The TCP must stay in the box where the command puts it and where braking from there at the
            // acceleration limits would bring it to rest, so that a stop never carries it out of the box.
            var rest = q
            for j in 0..<n where self.limits.accelerationMax[j] > 0 {
                rest[j] += v[j] * abs(v[j]) / (2 * self.limits.accelerationMax[j])
                rest[j] = min(max(rest[j], self.limits.positionMin[j]), self.limits.positionMax[j])
            }
            do {
                let p = try kinematics.forward(q).position
                let r = try kinematics.forward(rest).position
                let lo = self.limits.workspaceMin
                let hi = self.limits.workspaceMax
                let commandOutside = any(p .< lo) || any(p .> hi)
                if commandOutside || any(r .< lo) || any(r .> hi) {
                    violations.insert(.workspace)
                    self.workspaceExit = commandOutside ? (p, false) : (r, true)
                    return self.latch(violations, period: period)
                }
            } catch {
                violations.insert(.kinematics)
                return self.latch(violations, period: period)
            }
        }
        if !violations.isEmpty {
            self.clampedCommands += 1
            self.seen.formUnion(violations)
        }
        self.previous = q
        self.velocity = v
        self.gripper = g
        return (q, g, violations)
    }

    /// Stops the arm from outside (an operator's stop, the observation watchdog): latches like a stopping
    /// violation with `cause`.
    public mutating func requestStop(
        _ cause: SafetyViolations = .operatorStop,
        period: Double
    ) -> (q: JointVector, gripper: Double) {
        if self.stopped { return (self.decelerate(period: period), self.gripper) }
        let out = self.latch(cause, period: period)
        return (out.q, out.gripper)
    }

    private mutating func latch(
        _ violations: SafetyViolations,
        period: Double
    ) -> (q: JointVector, gripper: Double, violations: SafetyViolations) {
        self.stopped = true
        self.stopCause = violations.intersection(.stopping)
        self.seen.formUnion(violations)
        return (self.decelerate(period: period), self.gripper, violations)
    }

    /// Stopping: every joint slows at its acceleration limit (a joint already still stays where it is).
    private mutating func decelerate(period: Double) -> JointVector {
        for j in 0..<self.limits.jointCount {
            let dvMax = self.limits.accelerationMax[j] * period
            let v = self.velocity[j]
            let slower = abs(v) <= dvMax ? 0 : v - (v > 0 ? dvMax : -dvMax)
            self.velocity[j] = slower
            self.previous[j] = min(
                max(self.previous[j] + slower * period, self.limits.positionMin[j]),
                self.limits.positionMax[j]
            )
        }
        return self.previous
    }

    /// Whether a stop has brought every joint to standstill.
    public var atStandstill: Bool {
        for j in 0..<self.limits.jointCount where self.velocity[j] != 0 { return false }
        return true
    }
}

extension SafetySupervisor {
    /// Where the TCP left the workspace box, for a stop's explanation (control plane only: it formats text):
    /// "; TCP (x, y, z) m, outside z ≥ 0.010" naming every bound it crossed, or "" without a box exit.
    public static func describe(
        _ exit: (position: SIMD3<Double>, braking: Bool)?,
        limits: SafetyLimits
    ) -> String {
        guard let exit else { return "" }
        let p = exit.position
        var crossed: [String] = []
        for (i, axis) in ["x", "y", "z"].enumerated() {
            if p[i] < limits.workspaceMin[i] {
                crossed.append(String(format: "%@ ≥ %.3f", axis, limits.workspaceMin[i]))
            }
            if p[i] > limits.workspaceMax[i] {
                crossed.append(String(format: "%@ ≤ %.3f", axis, limits.workspaceMax[i]))
            }
        }
        let which =
            exit.braking ? "braking from the command would bring the TCP to rest at" : "the command puts the TCP at"
        return String(format: "; %@ (%.3f, %.3f, %.3f) m, outside ", which, p.x, p.y, p.z)
            + crossed.joined(separator: ", ")
    }
}
