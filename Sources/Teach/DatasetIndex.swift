import Foundation
import TwinProtocol

/// The robot a dataset was recorded on, as the cell's handshake describes it (docs/DATASET.md §2). A dataset holds
/// demonstrations of one robot: appending from another cell is refused, naming the field that differs.
public struct RobotDescription: Codable, Hashable, Sendable {
    /// The robot's name, e.g. `UR5e`.
    public var name: String
    /// Joint names, base to wrist.
    public var joints: [String]
    /// The gripper's name.
    public var gripper: String
    /// Denavit–Hartenberg rows `[a, d, alpha, theta_offset]`, one per joint.
    public var dh: [[Double]]
    /// Base pose in the world frame: `[x, y, z, qw, qx, qy, qz]`.
    public var basePose: [Double]
    /// TCP pose in the flange frame: `[x, y, z, qw, qx, qy, qz]`.
    public var toolPose: [Double]

    enum CodingKeys: String, CodingKey {
        case name, joints, gripper, dh
        case basePose = "base_pose"
        case toolPose = "tool_pose"
    }

    /// Creates a description from its fields.
    public init(
        name: String,
        joints: [String],
        gripper: String,
        dh: [[Double]],
        basePose: [Double],
        toolPose: [Double]
    ) {
        self.name = name
        self.joints = joints
        self.gripper = gripper
        self.dh = dh
        self.basePose = basePose
        self.toolPose = toolPose
    }

    /// What a cell's handshake says.
    public init(welcome: Welcome) {
        func pose(_ p: Pose) -> [Double] {
            [
                p.position.x, p.position.y, p.position.z, p.orientation.w, p.orientation.x, p.orientation.y,
                p.orientation.z,
            ]
        }
        self.init(
            name: welcome.robotName,
            joints: welcome.joints.map(\.name),
            gripper: welcome.gripper.name,
            dh: welcome.dh.map { [$0.a, $0.d, $0.alpha, $0.thetaOffset] },
            basePose: pose(welcome.basePose),
            toolPose: pose(welcome.toolPose)
        )
    }

    /// The first field in which `other` differs from this description, with both values, or nil if they match.
    /// Numbers match within 1e-9 (a JSON round trip of a float is exact, but a trainer may rewrite it).
    public func difference(from other: RobotDescription) -> String? {
        func numbers(_ a: [Double], _ b: [Double]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($0), abs($1)) }
        }
        if self.name != other.name { return "robot.name: '\(self.name)' here, '\(other.name)' there" }
        if self.joints != other.joints {
            return "robot.joints: \(self.joints) here, \(other.joints) there"
        }
        if self.gripper != other.gripper { return "robot.gripper: '\(self.gripper)' here, '\(other.gripper)' there" }
        if self.dh.count != other.dh.count {
            return "robot.dh: \(self.dh.count) rows here, \(other.dh.count) there"
        }
        for (row, (a, b)) in zip(self.dh, other.dh).enumerated() where !numbers(a, b) {
            return "robot.dh[\(row)]: \(a) here, \(b) there"
        }
        if !numbers(self.basePose, other.basePose) {
            return "robot.base_pose: \(self.basePose) here, \(other.basePose) there"
        }
        if !numbers(self.toolPose, other.toolPose) {
            return "robot.tool_pose: \(self.toolPose) here, \(other.toolPose) there"
        }
        return nil
    }
}

/// The cell that recorded a dataset (docs/DATASET.md §2).
public struct CellInfo: Codable, Hashable, Sendable {
    /// `twin` for the MuJoCo twin (`edgecell-twin`), `cell` for anything else (a real cell's bridge).
    public var kind: String
    /// The cell software's name from the handshake.
    public var name: String
    /// Its version.
    public var version: String

    /// Creates a description.
    public init(kind: String, name: String, version: String) {
        self.kind = kind
        self.name = name
        self.version = version
    }

    /// What a handshake says.
    public init(welcome: Welcome) {
        self.init(
            kind: welcome.twinName == "edgecell-twin" ? "twin" : "cell",
            name: welcome.twinName,
            version: welcome.twinVersion
        )
    }
}

/// A camera of a dataset: frames hold its images in `cameras` order.
public struct CameraInfo: Codable, Hashable, Sendable {
    /// Name, e.g. `scene`.
    public var name: String
    /// Width, pixels.
    public var width: Int
    /// Height, pixels.
    public var height: Int

    /// Creates a camera.
    public init(name: String, width: Int, height: Int) {
        self.name = name
        self.width = width
        self.height = height
    }

    /// Bytes of one RGB8 image.
    public var imageBytes: Int { self.width * self.height * 3 }
}

/// Who or what demonstrated an episode.
public enum DemonstrationSource: String, Codable, Hashable, Sendable, CaseIterable {
    /// The cell's scripted expert (protocol §4.9).
    case expert
    /// An operator at the keyboard.
    case keyboard
    /// A waypoint program replayed.
    case program
}

/// `dataset.json`: what the dataset is and which episodes it holds (docs/DATASET.md §2).
public struct DatasetIndex: Codable, Hashable, Sendable {
    /// The value of `format`.
    public static let formatName = "edgecell-dataset"
    /// The value of `format_version` this code reads and writes.
    public static let formatVersion = 1

    /// One finished episode, as listed in the index.
    public struct Entry: Codable, Hashable, Sendable {
        /// Its index (its folder's number).
        public var index: Int
        /// Task name.
        public var task: String
        /// Who demonstrated it.
        public var source: DemonstrationSource
        /// Whether the task succeeded.
        public var success: Bool
        /// Control steps.
        public var steps: Int
        /// Camera frames.
        public var frames: Int

        /// Creates an entry.
        public init(index: Int, task: String, source: DemonstrationSource, success: Bool, steps: Int, frames: Int) {
            self.index = index
            self.task = task
            self.source = source
            self.success = success
            self.steps = steps
            self.frames = frames
        }
    }

    /// Totals over the episodes, recomputed by every writer.
    public struct Counts: Codable, Hashable, Sendable {
        /// Episodes.
        public var episodes = 0
        /// Successful episodes.
        public var successes = 0
        /// Control steps.
        public var steps = 0
        /// Camera frames.
        public var frames = 0
        /// Episodes per task.
        public var byTask: [String: Int] = [:]

        enum CodingKeys: String, CodingKey {
            case episodes, successes, steps, frames
            case byTask = "by_task"
        }

        /// Empty counts.
        public init() {}

        /// The counts of a list of episodes.
        public init(_ entries: [Entry]) {
            for entry in entries {
                self.episodes += 1
                self.successes += entry.success ? 1 : 0
                self.steps += entry.steps
                self.frames += entry.frames
                self.byTask[entry.task, default: 0] += 1
            }
        }
    }

    /// `edgecell-dataset`.
    public var format: String
    /// 1.
    public var formatVersion: Int
    /// The dataset's name.
    public var name: String
    /// The robot.
    public var robot: RobotDescription
    /// The cell that created it.
    public var cell: CellInfo
    /// Seconds per control step.
    public var controlPeriod: Double
    /// Steps between two frames.
    public var frameEvery: Int
    /// Cameras, in frame order.
    public var cameras: [CameraInfo]
    /// Finished episodes, by index.
    public var episodes: [Entry]
    /// Totals.
    public var counts: Counts
    /// When the dataset was created (ISO 8601, UTC).
    public var created: String
    /// When it last changed.
    public var updated: String

    enum CodingKeys: String, CodingKey {
        case format
        case formatVersion = "format_version"
        case name, robot, cell
        case controlPeriod = "control_period"
        case frameEvery = "frame_every"
        case cameras, episodes, counts, created, updated
    }

    /// A new, empty index.
    public init(
        name: String,
        robot: RobotDescription,
        cell: CellInfo,
        controlPeriod: Double,
        frameEvery: Int,
        cameras: [CameraInfo],
        created: String
    ) {
        self.format = Self.formatName
        self.formatVersion = Self.formatVersion
        self.name = name
        self.robot = robot
        self.cell = cell
        self.controlPeriod = controlPeriod
        self.frameEvery = frameEvery
        self.cameras = cameras
        self.episodes = []
        self.counts = Counts()
        self.created = created
        self.updated = created
    }
}

/// `episode.json`: what one episode is (docs/DATASET.md §3).
public struct EpisodeMetadata: Codable, Hashable, Sendable {
    /// Where an episode came from and when.
    public struct Provenance: Codable, Hashable, Sendable {
        /// `twin` or `cell` (as `dataset.json` `cell.kind`).
        public var cell: String
        /// The cell software.
        public var cellName: String
        /// Its version.
        public var cellVersion: String
        /// The recording software, e.g. `edgecell 0.1.0`.
        public var recorder: String
        /// When it was recorded (ISO 8601, UTC).
        public var recordedAt: String
        /// Who demonstrated it (keyboard), if known.
        public var `operator`: String?
        /// The program file replayed (source `program`).
        public var program: String?

        enum CodingKeys: String, CodingKey {
            case cell
            case cellName = "cell_name"
            case cellVersion = "cell_version"
            case recorder
            case recordedAt = "recorded_at"
            case `operator`
            case program
        }

        /// Creates a provenance.
        public init(
            cell: String,
            cellName: String,
            cellVersion: String,
            recorder: String,
            recordedAt: String,
            operator: String? = nil,
            program: String? = nil
        ) {
            self.cell = cell
            self.cellName = cellName
            self.cellVersion = cellVersion
            self.recorder = recorder
            self.recordedAt = recordedAt
            self.operator = `operator`
            self.program = program
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.cell, forKey: .cell)
            try container.encode(self.cellName, forKey: .cellName)
            try container.encode(self.cellVersion, forKey: .cellVersion)
            try container.encode(self.recorder, forKey: .recorder)
            try container.encode(self.recordedAt, forKey: .recordedAt)
            try container.encode(self.operator, forKey: .operator)  // null when unknown, as the format shows
            try container.encodeIfPresent(self.program, forKey: .program)
        }
    }

    /// Size and hash of one file of the episode.
    public struct FileInfo: Codable, Hashable, Sendable {
        /// Bytes.
        public var bytes: Int
        /// SHA-256, lower-case hex.
        public var sha256: String

        /// Creates an entry.
        public init(bytes: Int, sha256: String) {
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    /// Its index.
    public var index: Int
    /// Task name.
    public var task: String
    /// The task's instruction.
    public var instruction: String
    /// Seed of the episode's initial poses.
    public var seed: UInt64
    /// Who demonstrated it.
    public var source: DemonstrationSource
    /// Whether the task succeeded.
    public var success: Bool
    /// Control steps.
    public var steps: Int
    /// Camera frames.
    public var frames: Int
    /// Episode time covered, s (steps × control period).
    public var duration: Double
    /// Phase labels in first-use order; step records index them.
    public var phases: [String]
    /// Where it came from.
    public var provenance: Provenance
    /// `steps.bin` and `frames.bin`: sizes and hashes.
    public var files: [String: FileInfo]
    /// The tracked objects' poses at the first step, name → x y z qw qx qy qz; absent when not recorded.
    public var objects: [String: [Double]]?

    /// Creates metadata.
    public init(
        index: Int,
        task: String,
        instruction: String,
        seed: UInt64,
        source: DemonstrationSource,
        success: Bool,
        steps: Int,
        frames: Int,
        duration: Double,
        phases: [String],
        provenance: Provenance,
        files: [String: FileInfo],
        objects: [String: [Double]]? = nil
    ) {
        self.index = index
        self.task = task
        self.instruction = instruction
        self.seed = seed
        self.source = source
        self.success = success
        self.steps = steps
        self.frames = frames
        self.duration = duration
        self.phases = phases
        self.provenance = provenance
        self.files = files
        self.objects = objects
    }

    /// Its entry in `dataset.json`.
    public var entry: DatasetIndex.Entry {
        DatasetIndex.Entry(
            index: self.index,
            task: self.task,
            source: self.source,
            success: self.success,
            steps: self.steps,
            frames: self.frames
        )
    }
}

/// JSON in and out, with decoding errors turned into messages that name the file and the field.
enum TeachJSON {
    static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Only finite numbers reach here (validated on the way in), so encoding cannot fail.
        return ((try? encoder.encode(value)) ?? Data()) + Data("\n".utf8)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data, path: String) throws(TeachError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw TeachError(.invalidDataset, Self.describe(error), path: path)
        } catch {
            throw TeachError(.invalidDataset, "not valid JSON: \(error)", path: path)
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey]) -> String {
            var text = ""
            for key in path {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text.isEmpty ? "the top level" : "'\(text)'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field " + field(context.codingPath + [key])
        case .valueNotFound(_, let context):
            return "field \(field(context.codingPath)) is null"
        case .typeMismatch(let type, let context):
            return "field \(field(context.codingPath)) is not a \(Self.typeName(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "not valid JSON (\(context.debugDescription))" }
            return "field \(field(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "string"
        case is Bool.Type: "boolean"
        case is Int.Type, is UInt64.Type: "integer"
        case is Double.Type: "number"
        default: "\(type)".lowercased().contains("array") ? "list" : "an object of the expected shape"
        }
    }
}

/// ISO 8601 UTC timestamps, to the second.
enum Timestamp {
    static func now() -> String {
        var t = time(nil)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02dZ",
            Int(parts.tm_year) + 1900,
            Int(parts.tm_mon) + 1,
            Int(parts.tm_mday),
            Int(parts.tm_hour),
            Int(parts.tm_min),
            Int(parts.tm_sec)
        )
    }
}
