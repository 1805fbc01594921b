/// The observation body (`Sim/PROTOCOL.md` §4.6): the payload of `OBSERVATION` (6) and the tail of `EPISODE`.
///
/// For the allocation-free receive path, keep one instance and pass it to
/// ``TwinCodec/decodeObservation(frame0:extraFrameCount:into:)``, which reuses the arrays' storage.
public struct Observation: Hashable, Sendable {
    /// Episode counter since the twin started (first episode = 1).
    public var episode: UInt32
    /// Control steps since the episode's reset (0 in `EPISODE`).
    public var step: UInt64
    /// Simulated seconds since the reset.
    public var simTime: Double
    /// Joint positions, rad.
    public var jointPositions: [Double]
    /// Joint velocities, rad/s; same count as ``jointPositions``.
    public var jointVelocities: [Double]
    /// Distance between the finger pads, m.
    public var gripperAperture: Double
    /// Grip force the fingers apply, N (0 when open).
    public var gripperForce: Double
    /// The twin's measurement of the TCP, world frame.
    public var tcpPose: Pose
    /// Object poses in the world frame, in handshake order.
    public var objectPoses: [Pose]
    /// Whether the task's success predicate holds now.
    public var success: Bool
    /// Status bits.
    public var flags: ObservationFlags
    /// Images in the extra frames, in order (at most 16).
    public var images: [ImageHeader]

    /// Creates an observation.
    public init(
        episode: UInt32,
        step: UInt64,
        simTime: Double,
        jointPositions: [Double],
        jointVelocities: [Double],
        gripperAperture: Double,
        gripperForce: Double,
        tcpPose: Pose,
        objectPoses: [Pose],
        success: Bool,
        flags: ObservationFlags,
        images: [ImageHeader]
    ) {
        self.episode = episode
        self.step = step
        self.simTime = simTime
        self.jointPositions = jointPositions
        self.jointVelocities = jointVelocities
        self.gripperAperture = gripperAperture
        self.gripperForce = gripperForce
        self.tcpPose = tcpPose
        self.objectPoses = objectPoses
        self.success = success
        self.flags = flags
        self.images = images
    }

    /// Creates an empty observation whose arrays already hold the given capacity, so that decoding into it
    /// allocates nothing.
    public init(jointCapacity: Int = 0, objectCapacity: Int = 0, imageCapacity: Int = 0) {
        self.init(
            episode: 0,
            step: 0,
            simTime: 0,
            jointPositions: [],
            jointVelocities: [],
            gripperAperture: 0,
            gripperForce: 0,
            tcpPose: .identity,
            objectPoses: [],
            success: false,
            flags: [],
            images: []
        )
        self.jointPositions.reserveCapacity(jointCapacity)
        self.jointVelocities.reserveCapacity(jointCapacity)
        self.objectPoses.reserveCapacity(objectCapacity)
        self.images.reserveCapacity(imageCapacity)
    }
}
