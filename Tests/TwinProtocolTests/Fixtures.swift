@testable import TwinProtocol

/// Sample messages shared by the tests: a UR5e-like cell with two cameras and three objects.
enum Fixtures {
    static let welcome = Welcome(
        twinName: "edgecell-twin",
        twinVersion: "0.1.0",
        robotName: "UR5e",
        mode: .lockStep,
        controlPeriod: 0.02,
        physicsTimestep: 0.002,
        joints: (0..<6).map { index in
            JointDescription(
                name: "joint_\(index)",
                positionMin: -6.283185307179586,
                positionMax: 6.283185307179586,
                velocityMax: 3.14,
                accelerationMax: 10,
                effortMax: index < 3 ? 150 : 28
            )
        },
        basePose: Pose(position: SIMD3(0, 0, 0.8), orientation: .identity),
        dh: [
            DHRow(a: 0, d: 0.1625, alpha: .pi / 2, thetaOffset: 0),
            DHRow(a: -0.425, d: 0, alpha: 0, thetaOffset: 0),
            DHRow(a: -0.3922, d: 0, alpha: 0, thetaOffset: 0),
            DHRow(a: 0, d: 0.1333, alpha: .pi / 2, thetaOffset: 0),
            DHRow(a: 0, d: 0.0997, alpha: -.pi / 2, thetaOffset: 0),
            DHRow(a: 0, d: 0.0996, alpha: 0, thetaOffset: 0),
        ],
        toolPose: Pose(position: SIMD3(0, 0, 0.15), orientation: Quaternion(w: 0.5, x: 0.5, y: -0.5, z: 0.5)),
        gripper: GripperDescription(name: "2f-85", apertureMin: 0, apertureMax: 0.085, forceMax: 235, speedMax: 0.15),
        workspaceMin: SIMD3(-0.8, -0.8, 0.8),
        workspaceMax: SIMD3(0.8, 0.8, 1.6),
        cameras: [
            CameraDescription(name: "scene", width: 64, height: 48),
            CameraDescription(name: "wrist", width: 32, height: 24),
        ],
        objects: [
            ObjectDescription(name: "red_cube", size: SIMD3(0.04, 0.04, 0.04)),
            ObjectDescription(name: "blue_cube", size: SIMD3(0.04, 0.04, 0.04)),
            ObjectDescription(name: "bin", size: SIMD3(0.3, 0.2, 0.1)),
        ],
        tasks: ["pick_place", "stack", "sort — ünïcode ✓"],
        task: "pick_place",
        instruction: "put the red cube in the bin",
        seed: 0xFFFF_FFFF_FFFF_FFFF,
        cameraPeriod: 0.1,
        hasExpert: true
    )

    static let observation = Observation(
        episode: 3,
        step: 17,
        simTime: 0.34,
        jointPositions: [0, -1.5707963267948966, 1.2, -0.5, -1.5707963267948966, 0.25],
        jointVelocities: [0.01, -0.02, 0.03, -0.0, .leastNonzeroMagnitude, -.greatestFiniteMagnitude],
        gripperAperture: 0.085,
        gripperForce: 0,
        tcpPose: Pose(position: SIMD3(0.4, -0.1, 1.05), orientation: Quaternion(w: 0, x: 1, y: 0, z: 0)),
        objectPoses: [
            Pose(position: SIMD3(0.5, 0.1, 0.82), orientation: .identity),
            Pose(position: SIMD3(0.3, -0.2, 0.82), orientation: Quaternion(w: 0.7071, x: 0, y: 0, z: 0.7071)),
            Pose(position: SIMD3(-0.3, 0.3, 0.8), orientation: .identity),
        ],
        success: false,
        flags: [.collision],
        images: [ImageHeader(camera: 0, width: 64, height: 48), ImageHeader(camera: 1, width: 32, height: 24)]
    )

    static let episode = Episode(
        task: "pick_place",
        instruction: "put the red cube in the bin",
        seed: 42,
        observation: {
            var first = Fixtures.observation
            first.step = 0
            first.simTime = 0
            first.flags = []
            first.images = [ImageHeader(camera: 1, width: 32, height: 24)]
            return first
        }()
    )

    static let step = Step(jointTargets: [0.1, -1.5, 1.2, -0.5, -1.57, 0.25], gripperTarget: 0.04)

    static let advice = Advice(
        jointTargets: [0.1, -1.5, 1.2, -0.5, -1.57, 0.25],
        gripperTarget: 0.085,
        phase: "reach",
        done: false
    )

    /// One message of each type, with the seq each is sent with.
    static let messages: [(String, Message, UInt64)] = [
        ("hello", .hello(Hello(clientName: "edgecell-runtime", clientVersion: "0.1.0")), 1),
        ("welcome", .welcome(welcome), 1),
        ("reset", .reset(Reset(task: "stack", seed: 7)), 2),
        ("reset_keep_task", .reset(Reset(task: "", seed: 0)), 2),
        ("episode", .episode(episode), 2),
        ("step", .step(step), 3),
        ("step_empty", .step(Step(jointTargets: [], gripperTarget: 0)), 3),
        ("observation", .observation(observation), 3),
        ("observation_no_images", .observation(Self.withoutImages(observation)), 4),
        ("heartbeat", .heartbeat(Heartbeat(time: 12345.678)), 0xFFFF_FFFF_FFFF_FFFF),
        ("error", .error(ErrorReport(code: .unknownTask, offendingSeq: 2, message: "RESET task 'x' is unknown")), 2),
        ("welcome_minimal", .welcome(minimalWelcome), 1),
        ("expert", .expert, 5),
        ("advice", .advice(advice), 5),
        ("advice_done", .advice(Advice(jointTargets: [], gripperTarget: 0, phase: "done — 完了", done: true)), 6),
    ]

    /// A handshake with no joints, cameras, objects or tasks, and empty strings.
    static let minimalWelcome: Welcome = {
        var minimal = welcome
        minimal.twinName = ""
        minimal.joints = []
        minimal.dh = []
        minimal.cameras = []
        minimal.objects = []
        minimal.tasks = []
        minimal.task = ""
        minimal.instruction = ""
        minimal.mode = .realTime
        minimal.seed = 0
        minimal.cameraPeriod = minimal.controlPeriod
        minimal.hasExpert = false
        return minimal
    }()

    static func withoutImages(_ observation: Observation) -> Observation {
        var copy = observation
        copy.images = []
        return copy
    }

    /// The byte counts of the image frames that go with `message`.
    static func frameSizes(_ message: Message) -> [Int] {
        switch message {
        case .episode(let episode): episode.observation.images.map(\.frameSize)
        case .observation(let observation): observation.images.map(\.frameSize)
        default: []
        }
    }
}

/// A small deterministic generator (SplitMix64), so fuzz cases are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Builds frame 0 by hand, for inputs the encoder refuses to produce.
struct FrameBuilder {
    var bytes: [UInt8] = []

    init(
        type: UInt16,
        seq: UInt64 = 9,
        extraFrames: UInt16 = 0,
        reserved: UInt16 = 0,
        magic: [UInt8] = Array("ECTW".utf8),
        version: UInt16 = 1
    ) {
        self.bytes = magic
        self.u16(version)
        self.u16(type)
        self.u64(seq)
        self.u32(0)
        self.u16(extraFrames)
        self.u16(reserved)
    }

    mutating func u8(_ value: UInt8) { self.bytes.append(value) }
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { self.bytes += $0 } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { self.bytes += $0 } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { self.bytes += $0 } }
    mutating func f64(_ value: Double) { self.u64(value.bitPattern) }
    mutating func str(_ value: String) {
        self.u16(UInt16(value.utf8.count))
        self.bytes += value.utf8
    }
    mutating func raw(_ value: [UInt8]) { self.bytes += value }

    /// Frame 0 with payload_length set to the payload written.
    var frame: [UInt8] {
        var frame = self.bytes
        setPayloadLength(&frame)
        return frame
    }
}

/// Decodes frame 0 and returns the error it throws, or nil.
func decodeError(_ frame0: [UInt8], frameSizes: [Int] = []) -> ProtocolError? {
    do {
        _ = try frame0.withUnsafeBytes { bytes in
            try TwinCodec.decode(frame0: bytes, extraFrameSizes: frameSizes)
        }
        return nil
    } catch let error as ProtocolError {
        return error
    } catch {
        return nil
    }
}

/// Sets frame 0's payload_length to match its size.
func setPayloadLength(_ frame: inout [UInt8]) {
    withUnsafeBytes(of: UInt32(frame.count - 24).littleEndian) { source in
        for index in 0..<4 { frame[16 + index] = source[index] }
    }
}
