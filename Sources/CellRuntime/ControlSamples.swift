import TwinProtocol

/// What the control thread sees of one observation: plain values only, so it travels through an `SPSCRing`
/// without allocation. Object poses and images stay on the I/O side.
public struct ObservationSample: BitwiseCopyable, Sendable {
    /// Message `seq` (lock-step: the request's; real-time: the twin's stream counter).
    public var seq: UInt64 = 0
    /// Control steps since the reset.
    public var step: UInt64 = 0
    /// Simulated time since the reset, s.
    public var simTime: Double = 0
    /// Joint positions, rad.
    public var q = JointVector()
    /// Joint velocities, rad/s.
    public var qd = JointVector()
    /// Gripper aperture, m.
    public var gripperAperture: Double = 0
    /// Grip force, N.
    public var gripperForce: Double = 0
    /// The task's success predicate holds.
    public var success = false
    /// Observation flags (holding, collision).
    public var flags: UInt8 = 0
    /// When the I/O thread received it (`MonotonicClock` ns).
    public var receivedAt: Int64 = 0
    /// The link failed; no more observations will come. The error is in the I/O thread's result.
    public var linkFailed = false
    /// Images the observation carried (they went to the policy pipeline, not through the ring).
    public var imageCount: UInt8 = 0

    /// An empty sample.
    public init() {}

    /// Copies the control-relevant fields of an observation.
    public init(_ observation: Observation, seq: UInt64, receivedAt: Int64) {
        self.seq = seq
        self.step = observation.step
        self.simTime = observation.simTime
        // Index loops: `enumerated()` allocates per element in debug builds.
        for index in 0..<min(observation.jointPositions.count, 8) { self.q[index] = observation.jointPositions[index] }
        for index in 0..<min(observation.jointVelocities.count, 8) {
            self.qd[index] = observation.jointVelocities[index]
        }
        self.gripperAperture = observation.gripperAperture
        self.gripperForce = observation.gripperForce
        self.success = observation.success
        self.flags = observation.flags.rawValue
        self.receivedAt = receivedAt
        self.imageCount = UInt8(min(observation.images.count, 255))
    }
}

/// A command from the control thread to the I/O thread.
public struct CommandSample: BitwiseCopyable, Sendable {
    /// Joint position targets, rad.
    public var q = JointVector()
    /// Gripper aperture target, m.
    public var gripper: Double = 0
    /// End of the episode: the I/O thread stops after this (its targets are not sent).
    public var stop = false
    /// When the control thread issued it (`MonotonicClock` ns).
    public var issuedAt: Int64 = 0

    /// A command.
    public init(q: JointVector, gripper: Double, stop: Bool = false, issuedAt: Int64) {
        self.q = q
        self.gripper = gripper
        self.stop = stop
        self.issuedAt = issuedAt
    }
}
