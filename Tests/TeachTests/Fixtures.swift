import CellRuntime
import Foundation
import Teach

/// A fresh temporary folder, removed by `cleanUp`.
struct TemporaryDirectory {
    let path: String

    init(_ name: String = "teach") {
        self.path =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "edgecell-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))"
            ).path
        try? FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: self.path) }
}

let testRobot = RobotDescription(
    name: "UR5e",
    joints: ["shoulder_pan", "shoulder_lift", "elbow", "wrist_1", "wrist_2", "wrist_3"],
    gripper: "parallel-2f85",
    dh: [
        [0, 0.1625, .pi / 2, 0], [-0.425, 0, 0, 0], [-0.3922, 0, 0, 0], [0, 0.1333, .pi / 2, 0],
        [0, 0.0997, -.pi / 2, 0], [0, 0.0996, 0, 0],
    ],
    basePose: [0, 0, 0, 0, 0, 0, 1],
    toolPose: [0, 0, 0.15, 1, 0, 0, 0]
)

func testHeader(
    cameras: [CameraInfo] = [.init(name: "scene", width: 8, height: 6), .init(name: "wrist", width: 4, height: 4)]
)
    -> DatasetHeader
{
    DatasetHeader(
        name: "test",
        robot: testRobot,
        cell: CellInfo(kind: "twin", name: "edgecell-twin", version: "0.1.0"),
        controlPeriod: 0.01,
        frameEvery: 3,
        cameras: cameras
    )
}

/// A synthetic episode: values derived from (episode, step) so a read-back can be compared exactly.
struct SyntheticEpisode {
    let seed: UInt64
    let steps: Int
    let task: String
    var phases = ["reach", "grasp", "lift"]

    func observation(_ t: Int) -> ObservationSample {
        var o = ObservationSample()
        o.step = UInt64(t)
        o.simTime = Double(t) * 0.01
        for j in 0..<6 {
            o.q[j] = Double(seed) * 0.001 + Double(t) * 0.01 + Double(j) * 0.1
            o.qd[j] = -Double(t) * 0.5 + Double(j)
        }
        o.gripperAperture = 0.085 - Double(t) * 0.001
        o.gripperForce = Double(t % 4) * 2.5
        o.success = t == self.steps - 1
        o.flags = UInt8(t % 3 == 2 ? 2 : 0)
        return o
    }

    func action(_ t: Int) -> (JointVector, Double) {
        var q = JointVector()
        for j in 0..<6 { q[j] = Double(t) * 0.02 - Double(j) * 0.05 + Double(seed) }
        return (q, t > self.steps / 2 ? 0.0 : 0.085)
    }

    func image(_ t: Int, camera: CameraInfo, index: Int) -> [UInt8] {
        (0..<camera.imageBytes).map { UInt8(truncatingIfNeeded: $0 / 7 + t * 13 + index * 101 + Int(seed)) }
    }

    func phaseLabel(_ t: Int) -> String { self.phases[min(t * self.phases.count / self.steps, self.phases.count - 1)] }

    /// Fills a buffer as a recorder would.
    func fill(_ buffer: EpisodeBuffer, frameEvery: Int) throws {
        buffer.reset()
        for t in 0..<self.steps {
            let hasFrame = !buffer.cameras.isEmpty && t % frameEvery == 0
            if hasFrame {
                for (c, camera) in buffer.cameras.enumerated() {
                    let bytes = self.image(t, camera: camera, index: c)
                    try bytes.withUnsafeBytes { try buffer.stageImage(camera: c, $0) }
                }
            }
            let (q, g) = self.action(t)
            try buffer.append(
                time: Double(t) * 0.01,
                observation: self.observation(t),
                action: q,
                gripper: g,
                phase: try buffer.phase(self.phaseLabel(t)),
                frame: hasFrame
            )
        }
    }

    func description(source: DemonstrationSource = .expert) -> EpisodeDescription {
        EpisodeDescription(
            task: self.task,
            instruction: "do \(self.task)",
            seed: self.seed,
            source: source,
            success: true
        )
    }
}

/// Writes synthetic episodes into a dataset; returns them.
@discardableResult
func writeEpisodes(
    _ directory: String,
    _ episodes: [SyntheticEpisode],
    header: DatasetHeader = testHeader()
) throws -> DatasetWriter {
    let writer = try DatasetWriter(directory: directory, header: header)
    let buffer = EpisodeBuffer(jointCount: 6, cameras: header.cameras, stepCapacity: 8, frameEvery: header.frameEvery)
    for episode in episodes {
        try episode.fill(buffer, frameEvery: header.frameEvery)
        try writer.write(buffer, episode.description())
    }
    return writer
}

/// The message of the error `body` throws (or a note that it did not throw).
func errorMessage(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "(no error)"
    } catch {
        return "\(error)"
    }
}

/// Edits a file's bytes in place.
func patch(_ path: String, _ edit: (inout Data) -> Void) throws {
    var data = try Data(contentsOf: URL(fileURLWithPath: path))
    edit(&data)
    try data.write(to: URL(fileURLWithPath: path))
}
