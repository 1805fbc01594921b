/// A resolved trajectory: segments of joint-space paths with minimum-jerk timing and gripper targets.
///
/// Built by `TrajectoryPlanner` in the control plane before an episode starts; read by the control thread.
/// Storage is allocated once at init and never changes, so sampling allocates nothing and takes no lock.
public final class TrajectoryPlan: @unchecked Sendable {
    /// One segment: a path through `pointCount` joint points, traversed with a minimum-jerk time law.
    public struct Segment: BitwiseCopyable, Sendable {
        /// Start time from the beginning of the plan, s.
        public var start: Double
        /// Duration, s.
        public var duration: Double
        /// Index of the first point in `points`.
        public var firstPoint: Int
        /// Points on the path (1 = hold still).
        public var pointCount: Int
        /// Gripper aperture target during the segment, m.
        public var gripper: Double
        /// Index into `labels`.
        public var label: Int
    }

    private let pointStorage: UnsafeMutableBufferPointer<JointVector>
    /// Path parameter (0…1) of each point within its segment, parallel to the points.
    private let pathStorage: UnsafeMutableBufferPointer<Double>
    private let segmentStorage: UnsafeMutableBufferPointer<Segment>
    /// Phase labels of the segments.
    public let labels: [String]
    /// Joints in use.
    public let jointCount: Int
    /// Total duration, s.
    public let duration: Double

    /// Creates a plan from resolved segments.
    init(jointCount: Int, points: [JointVector], pathParameters: [Double], segments: [Segment], labels: [String]) {
        self.jointCount = jointCount
        self.pointStorage = .allocate(capacity: max(points.count, 1))
        _ = self.pointStorage.initialize(from: points)
        self.pathStorage = .allocate(capacity: max(pathParameters.count, 1))
        _ = self.pathStorage.initialize(from: pathParameters)
        self.segmentStorage = .allocate(capacity: max(segments.count, 1))
        _ = self.segmentStorage.initialize(from: segments)
        self.segmentCount = segments.count
        self.labels = labels
        self.duration = segments.last.map { $0.start + $0.duration } ?? 0
    }

    deinit {
        self.pointStorage.deallocate()
        self.pathStorage.deallocate()
        self.segmentStorage.deallocate()
    }

    /// Number of segments.
    public let segmentCount: Int

    /// A segment.
    public func segment(_ index: Int) -> Segment { self.segmentStorage[index] }

    /// A point.
    public func point(_ index: Int) -> JointVector { self.pointStorage[index] }

    /// Every joint point of the plan (for checks and tests).
    public var allPoints: [JointVector] { Array(self.pointStorage.prefix(self.pointCount)) }

    private var pointCount: Int {
        guard self.segmentCount > 0 else { return 0 }
        let last = self.segmentStorage[self.segmentCount - 1]
        return last.firstPoint + last.pointCount
    }

    /// What the arm should do at a time.
    public struct Sample: BitwiseCopyable, Sendable {
        /// Joint position targets.
        public var q: JointVector
        /// Gripper aperture target, m.
        public var gripper: Double
        /// Segment index (its label is the phase).
        public var segment: Int
        /// The plan is over: `q` is its final point.
        public var finished: Bool
    }

    /// Samples the plan at time `t` (s from its start). `cursor` remembers the segment between calls so the
    /// search is O(1) when time moves forward; start it at 0.
    @inline(__always)
    public func sample(at t: Double, cursor: inout Int) -> Sample {
        precondition(self.segmentCount > 0, "an empty plan cannot be sampled")
        if cursor >= self.segmentCount || cursor < 0 { cursor = 0 }
        while cursor + 1 < self.segmentCount && t >= self.segmentStorage[cursor + 1].start { cursor += 1 }
        while cursor > 0 && t < self.segmentStorage[cursor].start { cursor -= 1 }
        let segment = self.segmentStorage[cursor]
        let finished = cursor == self.segmentCount - 1 && t >= segment.start + segment.duration
        let first = segment.firstPoint
        if segment.pointCount == 1 || segment.duration <= 0 {
            let index = first + (t >= segment.start + segment.duration ? segment.pointCount - 1 : 0)
            return Sample(q: self.pointStorage[index], gripper: segment.gripper, segment: cursor, finished: finished)
        }
        let s = minimumJerk((t - segment.start) / segment.duration).s
        // Find the path interval holding s (points are few, so a linear scan is fine).
        var j = first
        let last = first + segment.pointCount - 1
        while j + 1 < last && self.pathStorage[j + 1] <= s { j += 1 }
        let u0 = self.pathStorage[j]
        let u1 = self.pathStorage[j + 1]
        let w = u1 > u0 ? min(max((s - u0) / (u1 - u0), 0), 1) : 1
        let q = self.pointStorage[j] + (self.pointStorage[j + 1] - self.pointStorage[j]) * w
        return Sample(q: q, gripper: segment.gripper, segment: cursor, finished: finished)
    }
}
