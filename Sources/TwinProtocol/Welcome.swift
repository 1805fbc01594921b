/// `WELCOME` (2), twin → client: the robot description, i.e. the handshake (`Sim/PROTOCOL.md` §4.2).
///
/// Once both sides hold it, messages are also checked against it (``validate(_:frameSizes:seq:)``).
public struct Welcome: Hashable, Sendable {
    /// The twin software, `edgecell-twin` for the MuJoCo twin.
    public var twinName: String
    /// Its version.
    public var twinVersion: String
    /// The robot, such as `UR5e`.
    public var robotName: String
    /// How the twin advances time.
    public var mode: TwinMode
    /// Seconds of simulated (lock-step) or wall (real-time) time per `STEP`.
    public var controlPeriod: Double
    /// Seconds per physics step (informational).
    public var physicsTimestep: Double
    /// The arm joints, base to wrist.
    public var joints: [JointDescription]
    /// The robot base frame in the world frame.
    public var basePose: Pose
    /// Denavit–Hartenberg rows, one per joint (same count as ``joints``).
    public var dh: [DHRow]
    /// The tool centre point in the flange frame.
    public var toolPose: Pose
    /// The gripper.
    public var gripper: GripperDescription
    /// Lower corner of the box (world frame) the TCP must stay in, m.
    public var workspaceMin: SIMD3<Double>
    /// Upper corner of that box, m.
    public var workspaceMax: SIMD3<Double>
    /// Cameras the twin renders (at most 255); images name them by index.
    public var cameras: [CameraDescription]
    /// Tracked objects, in the order observations report them.
    public var objects: [ObjectDescription]
    /// Task names the twin accepts in `RESET`.
    public var tasks: [String]
    /// The current task.
    public var task: String
    /// Its natural-language instruction.
    public var instruction: String
    /// The current seed.
    public var seed: UInt64
    /// Seconds of episode time between two observations that carry images (> 0): images come with `step` 0 and
    /// every ``imageStepInterval`` steps after it. The control period when every observation carries them, and
    /// when there are no cameras.
    public var cameraPeriod: Double
    /// Whether the twin answers `EXPERT` with its scripted expert's `ADVICE` (§4.9).
    public var hasExpert: Bool

    /// Control steps from one observation with images to the next: `cameraPeriod / controlPeriod`, rounded
    /// (at least 1). Observation `step` *s* carries images when *s* is a multiple of it.
    public var imageStepInterval: Int {
        let ratio = (self.cameraPeriod / self.controlPeriod).rounded()
        guard ratio.isFinite, ratio >= 1 else { return 1 }
        return ratio < Double(Int.max) ? Int(ratio) : Int.max
    }

    /// Creates a `WELCOME`.
    ///
    /// `cameraPeriod` nil means the control period (images with every observation).
    public init(
        twinName: String,
        twinVersion: String,
        robotName: String,
        mode: TwinMode,
        controlPeriod: Double,
        physicsTimestep: Double,
        joints: [JointDescription],
        basePose: Pose,
        dh: [DHRow],
        toolPose: Pose,
        gripper: GripperDescription,
        workspaceMin: SIMD3<Double>,
        workspaceMax: SIMD3<Double>,
        cameras: [CameraDescription],
        objects: [ObjectDescription],
        tasks: [String],
        task: String,
        instruction: String,
        seed: UInt64,
        cameraPeriod: Double? = nil,
        hasExpert: Bool = false
    ) {
        self.twinName = twinName
        self.twinVersion = twinVersion
        self.robotName = robotName
        self.mode = mode
        self.controlPeriod = controlPeriod
        self.physicsTimestep = physicsTimestep
        self.joints = joints
        self.basePose = basePose
        self.dh = dh
        self.toolPose = toolPose
        self.gripper = gripper
        self.workspaceMin = workspaceMin
        self.workspaceMax = workspaceMax
        self.cameras = cameras
        self.objects = objects
        self.tasks = tasks
        self.task = task
        self.instruction = instruction
        self.seed = seed
        self.cameraPeriod = cameraPeriod ?? controlPeriod
        self.hasExpert = hasExpert
    }
}
