import Foundation
import TwinProtocol

/// Turns a `WaypointProgram` into a `TrajectoryPlan`: IK for every pose target (seeded from the previous
/// posture, so the arm stays in one configuration branch), straight-line Cartesian moves sampled every
/// `linearResolution`, minimum-jerk timing within the joint velocity/acceleration limits, and checks that
/// every point is inside the joint limits and every TCP position inside the cell's workspace box.
public struct TrajectoryPlanner: Sendable {
    /// The arm.
    public let kinematics: Kinematics
    /// Cell workspace box (world frame) the TCP must stay in.
    public var workspaceMin: SIMD3<Double>
    /// Upper corner of the workspace box.
    public var workspaceMax: SIMD3<Double>
    /// Gripper aperture range, m, and speed, m/s.
    public var gripperRange: ClosedRange<Double>
    /// Gripper speed, m/s.
    public var gripperSpeed: Double
    /// Cartesian speed limit of linear moves at speed 1, m/s.
    public var cartesianSpeed: Double = 0.5
    /// Spacing of IK points along a linear move, m.
    public var linearResolution: Double = 0.01
    /// Largest joint change allowed between two IK points of a linear move, rad (more means a singularity).
    public var maxJointStepOnLine: Double = 0.25

    /// Creates a planner for the arm a handshake describes.
    public init(welcome: Welcome) throws(RuntimeError) {
        self.kinematics = try Kinematics(welcome: welcome)
        self.workspaceMin = welcome.workspaceMin
        self.workspaceMax = welcome.workspaceMax
        self.gripperRange = welcome.gripper.apertureMin...welcome.gripper.apertureMax
        self.gripperSpeed = welcome.gripper.speedMax
    }

    /// Resolves a program starting from joint positions `q0` and gripper aperture `gripper0`.
    public func plan(
        _ program: WaypointProgram,
        from q0: JointVector,
        gripper gripper0: Double
    ) throws(RuntimeError)
        -> TrajectoryPlan
    {
        let n = self.kinematics.jointCount
        var points: [JointVector] = []
        var path: [Double] = []
        var segments: [TrajectoryPlan.Segment] = []
        var labels: [String] = []
        var q = q0
        var gripper = gripper0
        var time = 0.0

        func labelIndex(_ label: String) -> Int {
            if let index = labels.firstIndex(of: label) { return index }
            labels.append(label)
            return labels.count - 1
        }
        func append(_ segmentPoints: [JointVector], duration: Double, label: String) {
            var cumulative = [0.0]
            for index in 1..<max(segmentPoints.count, 1) {
                let delta = segmentPoints[index] - segmentPoints[index - 1]
                cumulative.append(cumulative[index - 1] + Self.maxAbs(delta, n))
            }
            let total = cumulative.last ?? 0
            segments.append(
                .init(
                    start: time,
                    duration: max(duration, 0),
                    firstPoint: points.count,
                    pointCount: segmentPoints.count,
                    gripper: gripper,
                    label: labelIndex(label)
                )
            )
            points.append(contentsOf: segmentPoints)
            path.append(contentsOf: cumulative.map { total > 0 ? $0 / total : 0 })
            time += max(duration, 0)
        }

        for (index, step) in program.steps.enumerated() {
            let where_ = "program '\(program.name)' step \(index + 1) '\(step.label)'"
            switch step.action {
            case .wait(let seconds):
                guard seconds.isFinite, seconds >= 0 else {
                    throw RuntimeError(.configuration, "\(where_): wait of \(seconds) s")
                }
                append([q], duration: seconds, label: step.label)
            case .gripper(let aperture, let dwell):
                guard aperture.isFinite, self.gripperRange.contains(aperture) else {
                    throw RuntimeError(
                        .unreachable,
                        "\(where_): gripper aperture \(aperture) m is outside "
                            + "\(self.gripperRange.lowerBound)…\(self.gripperRange.upperBound) m"
                    )
                }
                guard dwell.isFinite, dwell >= 0 else {
                    throw RuntimeError(.configuration, "\(where_): gripper dwell of \(dwell) s")
                }
                let travel = self.gripperSpeed > 0 ? abs(aperture - gripper) / self.gripperSpeed : 0
                gripper = aperture
                append([q], duration: max(dwell, travel), label: step.label)
            case .move(let target, let motion, let speed):
                guard speed.isFinite, speed > 0, speed <= 1 else {
                    throw RuntimeError(.configuration, "\(where_): speed \(speed) is outside (0, 1]")
                }
                let pathPoints = try self.resolve(target, motion: motion, from: q, context: where_)
                let last = pathPoints.last ?? q
                // Time law: every joint's path length within its scaled limits, and the Cartesian speed.
                var duration = 0.0
                for j in 0..<n {
                    var length = 0.0
                    for k in 1..<max(pathPoints.count, 1) { length += abs(pathPoints[k][j] - pathPoints[k - 1][j]) }
                    let limits = self.kinematics.limits(j)
                    let v = limits.velocity * speed
                    let a = limits.acceleration * speed
                    if length > 0 {
                        guard v > 0, a > 0 else {
                            throw RuntimeError(.configuration, "\(where_): joint \(j + 1) has no velocity limit")
                        }
                        duration = max(duration, 1.875 * length / v, (5.7735 * length / a).squareRoot())
                    }
                }
                if motion == .linear, let first = pathPoints.first {
                    let a = try self.kinematics.forward(first).position
                    let b = try self.kinematics.forward(last).position
                    duration = max(duration, 1.875 * Self.norm(b - a) / (self.cartesianSpeed * speed))
                }
                append(pathPoints, duration: duration, label: step.label)
                q = last
            }
        }
        guard !segments.isEmpty else {
            throw RuntimeError(.configuration, "program '\(program.name)' has no steps")
        }
        return TrajectoryPlan(jointCount: n, points: points, pathParameters: path, segments: segments, labels: labels)
    }

    /// The joint points of one move, starting with the current posture.
    func resolve(
        _ target: WaypointProgram.Target,
        motion: WaypointProgram.Motion,
        from q: JointVector,
        context: String
    ) throws(RuntimeError) -> [JointVector] {
        let n = self.kinematics.jointCount
        switch (target, motion) {
        case (.joints(let values), _):
            guard values.count == n else {
                throw RuntimeError(.configuration, "\(context): \(values.count) joint values for a \(n)-joint arm")
            }
            var goal = JointVector()
            for (j, value) in values.enumerated() {
                let limits = self.kinematics.limits(j)
                guard value.isFinite, value >= limits.min, value <= limits.max else {
                    throw RuntimeError(
                        .unreachable,
                        "\(context): joint \(j + 1) target \(value) rad is outside "
                            + "\(limits.min)…\(limits.max) rad"
                    )
                }
                goal[j] = value
            }
            if motion == .linear {
                let pose = try self.kinematics.forward(goal)
                return try self.line(to: pose, from: q, context: context)
            }
            try self.checkWorkspace(goal, context: context)
            return [q, goal]
        case (.pose(let pose), .joint):
            try self.checkWorkspace(pose.position, context: context)
            let solution = self.kinematics.inverse(pose, seed: q)
            guard solution.converged else {
                throw RuntimeError(
                    .unreachable,
                    "\(context): no IK solution for TCP at "
                        + Self.format(pose.position)
                        + String(
                            format: " (left %.1f mm, %.2f°)",
                            solution.positionError * 1000,
                            solution.orientationError * 180 / .pi
                        )
                )
            }
            return [q, solution.q]
        case (.pose(let pose), .linear):
            return try self.line(to: pose, from: q, context: context)
        }
    }

    /// IK points every `linearResolution` along the straight line from the current TCP pose to `pose`
    /// (orientation by slerp).
    func line(to pose: Pose, from q: JointVector, context: String) throws(RuntimeError) -> [JointVector] {
        let start = try self.kinematics.forward(q)
        let distance = Self.norm(pose.position - start.position)
        let angle = Self.angle(start.orientation, pose.orientation)
        let count = max(1, Int((max(distance / self.linearResolution, angle / 0.05)).rounded(.up)))
        var result = [q]
        var seed = q
        for k in 1...count {
            let s = Double(k) / Double(count)
            let point = Pose(
                position: start.position + (pose.position - start.position) * s,
                orientation: Self.slerp(start.orientation, pose.orientation, s)
            )
            try self.checkWorkspace(point.position, context: context)
            let solution = self.kinematics.inverse(point, seed: seed)
            guard solution.converged else {
                throw RuntimeError(
                    .unreachable,
                    "\(context): the straight line leaves the arm's reach at "
                        + Self.format(point.position)
                )
            }
            let jump = Self.maxAbs(solution.q - seed, self.kinematics.jointCount)
            guard jump <= self.maxJointStepOnLine else {
                throw RuntimeError(
                    .unreachable,
                    String(
                        format: "\(context): the straight line passes near a "
                            + "singularity at %@ (a joint jumps %.2f rad in %.0f mm)",
                        Self.format(point.position),
                        jump,
                        distance / Double(count) * 1000
                    )
                )
            }
            result.append(solution.q)
            seed = solution.q
        }
        return result
    }

    func checkWorkspace(_ q: JointVector, context: String) throws(RuntimeError) {
        try self.checkWorkspace(try self.kinematics.forward(q).position, context: context)
    }

    func checkWorkspace(_ p: SIMD3<Double>, context: String) throws(RuntimeError) {
        let inside = all(p .>= self.workspaceMin - 1e-9) && all(p .<= self.workspaceMax + 1e-9)
        guard inside else {
            throw RuntimeError(
                .unreachable,
                "\(context): TCP target \(Self.format(p)) is outside the cell "
                    + "workspace \(Self.format(self.workspaceMin))…\(Self.format(self.workspaceMax))"
            )
        }
    }

    static func maxAbs(_ v: JointVector, _ n: Int) -> Double {
        var m = 0.0
        for j in 0..<n { m = max(m, abs(v[j])) }
        return m
    }

    static func norm(_ v: SIMD3<Double>) -> Double { (v * v).sum().squareRoot() }

    static func format(_ p: SIMD3<Double>) -> String { String(format: "(%.3f, %.3f, %.3f) m", p.x, p.y, p.z) }

    static func angle(_ a: Quaternion, _ b: Quaternion) -> Double {
        let dot = abs(a.w * b.w + a.x * b.x + a.y * b.y + a.z * b.z)
        return 2 * acos(min(dot, 1))
    }

    static func slerp(_ a: Quaternion, _ b: Quaternion, _ t: Double) -> Quaternion {
        var b = b
        var dot = a.w * b.w + a.x * b.x + a.y * b.y + a.z * b.z
        if dot < 0 {
            b = Quaternion(w: -b.w, x: -b.x, y: -b.y, z: -b.z)
            dot = -dot
        }
        let (wa, wb): (Double, Double)
        if dot > 0.9995 {
            (wa, wb) = (1 - t, t)
        } else {
            let theta = acos(dot)
            (wa, wb) = (sin((1 - t) * theta) / sin(theta), sin(t * theta) / sin(theta))
        }
        let w = wa * a.w + wb * b.w
        let x = wa * a.x + wb * b.x
        let y = wa * a.y + wb * b.y
        let z = wa * a.z + wb * b.z
        let norm = (w * w + x * x + y * y + z * z).squareRoot()
        return Quaternion(w: w / norm, x: x / norm, y: y / norm, z: z / norm)
    }
}
