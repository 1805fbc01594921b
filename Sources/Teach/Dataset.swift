import Crypto
import Foundation

/// A dataset on disk, validated in full when opened (docs/DATASET.md §6): the index, every episode's metadata,
/// file sizes and SHA-256, headers, every record and every frame. Readers ignore `.tmp-*` folders (episodes
/// being written) and refuse anything else that breaks the format, naming the file and the problem.
public struct Dataset: Sendable {
    /// The dataset's folder.
    public let directory: String
    /// `dataset.json`.
    public let index: DatasetIndex
    /// Every episode's `episode.json`, by index.
    public let episodes: [EpisodeMetadata]

    /// Opens and validates a dataset.
    /// - Parameter verifyFiles: false skips hashing and parsing the binary files (sizes are still checked).
    public init(directory: String, verifyFiles: Bool = true) throws(TeachError) {
        self.directory = directory
        self.index = try DatasetLayout.loadIndex(directory)
        let present = try DatasetLayout.episodeFolders(directory)
        for index in present where index >= self.index.episodes.count {
            throw TeachError(
                .invalidDataset,
                "episodes/\(DatasetLayout.folderName(index)) is not listed in dataset.json (a recording "
                    + "interrupted between its two renames? the next `edgecell teach record` adopts it)",
                path: directory
            )
        }
        var episodes: [EpisodeMetadata] = []
        for entry in self.index.episodes {
            guard present.contains(entry.index) else {
                throw TeachError(
                    .invalidDataset,
                    "episode \(DatasetLayout.folderName(entry.index)) is listed in dataset.json, but its folder "
                        + "episodes/\(DatasetLayout.folderName(entry.index)) is missing",
                    path: directory
                )
            }
            let metadata = try EpisodeValidator(directory: directory, index: self.index)
                .validate(entry.index, verifyFiles: verifyFiles)
            guard metadata.entry == entry else {
                throw TeachError(
                    .invalidDataset,
                    "episode \(DatasetLayout.folderName(entry.index)): dataset.json lists \(Self.describe(entry)), "
                        + "its episode.json says \(Self.describe(metadata.entry))",
                    path: DatasetLayout.indexPath(directory)
                )
            }
            episodes.append(metadata)
        }
        self.episodes = episodes
    }

    static func describe(_ e: DatasetIndex.Entry) -> String {
        "task \(e.task), source \(e.source.rawValue), success \(e.success), \(e.steps) steps, \(e.frames) frames"
    }

    /// Every step of an episode.
    public func steps(of episode: Int) throws(TeachError) -> [StepRecord] {
        let metadata = try self.metadata(episode)
        return try EpisodeValidator(directory: self.directory, index: self.index).steps(metadata)
    }

    /// Every frame of an episode, decompressed.
    public func frames(of episode: Int) throws(TeachError) -> [FrameRecord] {
        let metadata = try self.metadata(episode)
        return try EpisodeValidator(directory: self.directory, index: self.index).frames(metadata)
    }

    private func metadata(_ episode: Int) throws(TeachError) -> EpisodeMetadata {
        guard self.episodes.indices.contains(episode) else {
            throw TeachError(
                .usage,
                "no episode \(episode): the dataset has \(self.episodes.count)",
                path: self.directory
            )
        }
        return self.episodes[episode]
    }
}

/// Paths and the index file, shared by the reader and the writer.
enum DatasetLayout {
    static func indexPath(_ directory: String) -> String { directory + "/dataset.json" }
    static func episodesPath(_ directory: String) -> String { directory + "/episodes" }
    static func folderName(_ index: Int) -> String { String(format: "%06d", index) }
    static func episodePath(_ directory: String, _ index: Int) -> String {
        Self.episodesPath(directory) + "/" + Self.folderName(index)
    }

    /// Reads and checks `dataset.json` (format and version first, so an index of another version is named as
    /// such rather than as a missing field).
    static func loadIndex(_ directory: String) throws(TeachError) -> DatasetIndex {
        let path = Self.indexPath(directory)
        guard Posix.exists(path) else {
            throw TeachError(.invalidDataset, "not a dataset: \(path) does not exist", path: directory)
        }
        let data = Data(try Posix.read(path))
        struct Head: Decodable {
            var format: String?
            var formatVersion: Int?
            enum CodingKeys: String, CodingKey {
                case format
                case formatVersion = "format_version"
            }
        }
        let head = try TeachJSON.decode(Head.self, from: data, path: path)
        guard head.format == DatasetIndex.formatName else {
            throw TeachError(
                .invalidDataset,
                "format is \(head.format.map { "'\($0)'" } ?? "missing"), expected '\(DatasetIndex.formatName)'",
                path: path
            )
        }
        guard head.formatVersion == DatasetIndex.formatVersion else {
            throw TeachError(
                .invalidDataset,
                "format_version \(head.formatVersion.map(String.init) ?? "missing") is not supported "
                    + "(this reader knows version \(DatasetIndex.formatVersion))",
                path: path
            )
        }
        let index = try TeachJSON.decode(DatasetIndex.self, from: data, path: path)
        try Self.check(index, path: path)
        return index
    }

    static func check(_ index: DatasetIndex, path: String) throws(TeachError) {
        func fail(_ message: String) -> TeachError { TeachError(.invalidDataset, message, path: path) }
        let robot = index.robot
        guard (1...8).contains(robot.joints.count) else {
            throw fail("robot.joints has \(robot.joints.count) joints; 1…8 are supported")
        }
        guard robot.dh.count == robot.joints.count, robot.dh.allSatisfy({ $0.count == 4 }) else {
            throw fail("robot.dh must hold \(robot.joints.count) rows of 4 numbers (a, d, alpha, theta_offset)")
        }
        guard robot.basePose.count == 7, robot.toolPose.count == 7 else {
            throw fail("robot.base_pose and robot.tool_pose must hold 7 numbers (x, y, z, qw, qx, qy, qz)")
        }
        guard index.controlPeriod.isFinite, index.controlPeriod > 0 else {
            throw fail("control_period \(index.controlPeriod) is not a positive number of seconds")
        }
        guard index.frameEvery >= 1 else { throw fail("frame_every \(index.frameEvery) must be at least 1") }
        var names = Set<String>()
        for (c, camera) in index.cameras.enumerated() {
            guard (1...4096).contains(camera.width), (1...4096).contains(camera.height) else {
                throw fail("cameras[\(c)] '\(camera.name)' is \(camera.width)×\(camera.height); sides are 1…4096")
            }
            guard names.insert(camera.name).inserted else { throw fail("camera '\(camera.name)' is listed twice") }
        }
        guard index.cameras.count <= 64 else { throw fail("\(index.cameras.count) cameras; at most 64") }
        for (position, entry) in index.episodes.enumerated() {
            guard entry.index == position else {
                throw fail(
                    "episodes[\(position)] has index \(entry.index); episodes are numbered from 0 without gaps"
                )
            }
            guard entry.steps >= 1, entry.frames >= 0 else {
                throw fail("episode \(entry.index) has \(entry.steps) steps and \(entry.frames) frames")
            }
        }
        let counts = DatasetIndex.Counts(index.episodes)
        guard counts == index.counts else {
            throw fail(
                "counts (\(Self.describe(index.counts))) do not add up from the episodes listed "
                    + "(\(Self.describe(counts)))"
            )
        }
    }

    static func describe(_ c: DatasetIndex.Counts) -> String {
        "\(c.episodes) episodes, \(c.successes) successes, \(c.steps) steps, \(c.frames) frames, by task "
            + c.byTask.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    /// Numbers of the episode folders present; anything else in `episodes/` is an error.
    static func episodeFolders(_ directory: String) throws(TeachError) -> Set<Int> {
        let path = Self.episodesPath(directory)
        guard Posix.exists(path) else { return [] }
        var found = Set<Int>()
        for name in try Posix.list(path) {
            guard name.count == 6, name.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(name),
                Posix.isDirectory(path + "/" + name)
            else {
                throw TeachError(
                    .invalidDataset,
                    "unexpected entry '\(name)': episodes/ holds only episode folders named with six digits",
                    path: path
                )
            }
            found.insert(number)
        }
        return found
    }

    /// The expected `frame` of step `t`: frames come at steps 0, frame_every, 2·frame_every, … (none without
    /// cameras).
    static func expectedFrame(step t: Int, frameEvery: Int, cameras: Int) -> Int32 {
        cameras > 0 && t % frameEvery == 0 ? Int32(t / frameEvery) : -1
    }

    /// Frames an episode of `steps` steps has.
    static func frameCount(steps: Int, frameEvery: Int, cameras: Int) -> Int {
        cameras > 0 ? (steps + frameEvery - 1) / frameEvery : 0
    }
}

/// Checks one episode folder against the index.
struct EpisodeValidator {
    let directory: String
    let index: DatasetIndex

    func path(_ episode: Int, _ file: String) -> String {
        DatasetLayout.episodePath(self.directory, episode) + "/" + file
    }

    /// Reads and checks `episode.json`, and (with `verifyFiles`) every byte of the binary files.
    func validate(_ episode: Int, verifyFiles: Bool) throws(TeachError) -> EpisodeMetadata {
        let jsonPath = self.path(episode, "episode.json")
        guard Posix.exists(jsonPath) else {
            throw TeachError(.invalidDataset, "missing: every episode folder holds an episode.json", path: jsonPath)
        }
        let metadata = try TeachJSON.decode(
            EpisodeMetadata.self,
            from: Data(try Posix.read(jsonPath)),
            path: jsonPath
        )
        func fail(_ message: String) -> TeachError { TeachError(.invalidDataset, message, path: jsonPath) }
        guard metadata.index == episode else {
            throw fail("index is \(metadata.index), but the folder is \(DatasetLayout.folderName(episode))")
        }
        guard metadata.steps >= 1 else { throw fail("steps is \(metadata.steps); an episode has at least one") }
        let frames = DatasetLayout.frameCount(
            steps: metadata.steps,
            frameEvery: self.index.frameEvery,
            cameras: self.index.cameras.count
        )
        guard metadata.frames == frames else {
            throw fail(
                "frames is \(metadata.frames); \(metadata.steps) steps with a frame every "
                    + "\(self.index.frameEvery) steps and \(self.index.cameras.count) camera(s) make \(frames)"
            )
        }
        guard metadata.duration.isFinite, metadata.duration >= 0 else {
            throw fail("duration \(metadata.duration) is not a finite, non-negative number of seconds")
        }
        guard !metadata.phases.isEmpty, metadata.phases.count <= 256 else {
            throw fail("phases has \(metadata.phases.count) labels; 1…256 are allowed")
        }
        for (name, pose) in (metadata.objects ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard pose.count == 7 else { throw fail("objects.\(name) holds \(pose.count) numbers, expected 7") }
            guard pose.allSatisfy(\.isFinite) else { throw fail("objects.\(name) holds a non-finite number") }
        }
        for name in ["steps.bin", "frames.bin"] {
            guard let info = metadata.files[name] else { throw fail("files has no entry for \(name)") }
            let path = self.path(episode, name)
            guard let size = Posix.fileSize(path) else {
                throw TeachError(.invalidDataset, "missing (episode.json lists it)", path: path)
            }
            guard size == info.bytes else {
                throw TeachError(
                    .invalidDataset,
                    "is \(size) bytes, episode.json says \(info.bytes) (truncated or changed after it was written)",
                    path: path
                )
            }
        }
        if verifyFiles {
            _ = try self.steps(metadata)
            _ = try self.frames(metadata)
        }
        return metadata
    }

    /// Reads a binary file and checks its SHA-256 against `episode.json`.
    private func load(_ metadata: EpisodeMetadata, _ name: String) throws(TeachError) -> [UInt8] {
        let path = self.path(metadata.index, name)
        let bytes = try Posix.read(path)
        guard let info = metadata.files[name] else {
            throw TeachError(.invalidDataset, "episode.json lists no \(name)", path: path)
        }
        guard bytes.count == info.bytes else {
            throw TeachError(.invalidDataset, "is \(bytes.count) bytes, episode.json says \(info.bytes)", path: path)
        }
        let digest = FileSink.hex(SHA256.hash(data: bytes))
        guard digest == info.sha256.lowercased() else {
            throw TeachError(
                .invalidDataset,
                "SHA-256 mismatch: the file hashes to \(digest), episode.json says \(info.sha256) (it changed after "
                    + "it was written)",
                path: path
            )
        }
        return bytes
    }

    func steps(_ metadata: EpisodeMetadata) throws(TeachError) -> [StepRecord] {
        let path = self.path(metadata.index, "steps.bin")
        let bytes = try self.load(metadata, "steps.bin")
        func fail(_ message: String) -> TeachError { TeachError(.invalidDataset, message, path: path) }
        let r = ByteReader(bytes: bytes)
        let n = self.index.robot.joints.count
        guard bytes.count >= EpisodeFiles.headerSize, r.matches(EpisodeFiles.stepsMagic) else {
            throw fail("does not start with the ECSTEPS1 header")
        }
        guard Int(r.u32(8)) == n else { throw fail("header says \(r.u32(8)) joints; the robot has \(n)") }
        let size = EpisodeFiles.recordSize(joints: n)
        guard Int(r.u32(12)) == size else {
            throw fail("header says records of \(r.u32(12)) bytes; \(n) joints make \(size)")
        }
        let expected = EpisodeFiles.headerSize + metadata.steps * size
        guard bytes.count == expected else {
            throw fail(
                "is \(bytes.count) bytes; a header and \(metadata.steps) records of \(size) bytes make \(expected)"
            )
        }
        let l = EpisodeFiles.Layout(n: n)
        let cameras = self.index.cameras.count
        var records: [StepRecord] = []
        records.reserveCapacity(metadata.steps)
        for t in 0..<metadata.steps {
            let base = EpisodeFiles.headerSize + t * size
            func value(_ offset: Int, _ field: String) throws(TeachError) -> Double {
                let v = r.f64(base + offset)
                guard v.isFinite else { throw fail("step \(t): \(field) is \(v); every number must be finite") }
                return v
            }
            func vector(_ offset: Int, _ field: String) throws(TeachError) -> [Double] {
                var out: [Double] = []
                for j in 0..<n { out.append(try value(offset + 8 * j, "\(field)[\(j)]")) }
                return out
            }
            let record = StepRecord(
                time: try value(0, "time"),
                jointPositions: try vector(l.positions, "joint_positions"),
                jointVelocities: try vector(l.velocities, "joint_velocities"),
                gripperAperture: try value(l.aperture, "gripper_aperture"),
                gripperForce: try value(l.force, "gripper_force"),
                actionJoints: try vector(l.action, "action_joints"),
                actionGripper: try value(l.actionGripper, "action_gripper"),
                phase: r.u8(base + l.phase),
                success: r.u8(base + l.success) == 1,
                flags: r.u16(base + l.flags),
                frame: Int32(bitPattern: r.u32(base + l.frame))
            )
            guard Int(record.phase) < metadata.phases.count else {
                throw fail("step \(t): phase \(record.phase), but episode.json lists \(metadata.phases.count) phases")
            }
            guard r.u8(base + l.success) <= 1 else { throw fail("step \(t): success is \(r.u8(base + l.success))") }
            let frame = DatasetLayout.expectedFrame(step: t, frameEvery: self.index.frameEvery, cameras: cameras)
            guard record.frame == frame else {
                throw fail("step \(t): frame is \(record.frame), expected \(frame)")
            }
            records.append(record)
        }
        return records
    }

    func frames(_ metadata: EpisodeMetadata) throws(TeachError) -> [FrameRecord] {
        let path = self.path(metadata.index, "frames.bin")
        let bytes = try self.load(metadata, "frames.bin")
        func fail(_ message: String) -> TeachError { TeachError(.invalidDataset, message, path: path) }
        let r = ByteReader(bytes: bytes)
        guard bytes.count >= EpisodeFiles.headerSize, r.matches(EpisodeFiles.framesMagic) else {
            throw fail("does not start with the ECFRAME1 header")
        }
        let cameras = self.index.cameras
        guard Int(r.u32(8)) == cameras.count else {
            throw fail("header says \(r.u32(8)) cameras; dataset.json lists \(cameras.count)")
        }
        guard r.u32(12) == 0 else { throw fail("header's reserved field is \(r.u32(12)), not 0") }
        var offset = EpisodeFiles.headerSize
        var frames: [FrameRecord] = []
        var previous = -1
        for f in 0..<metadata.frames {
            guard offset + 4 <= bytes.count else { throw fail("ends in frame \(f) of \(metadata.frames)") }
            let step = Int(r.u32(offset))
            offset += 4
            guard step > previous else { throw fail("frame \(f) is at step \(step), not after step \(previous)") }
            guard step < metadata.steps, step == f * self.index.frameEvery else {
                throw fail(
                    "frame \(f) is at step \(step); expected step \(f * self.index.frameEvery) of \(metadata.steps)"
                )
            }
            previous = step
            var images: [[UInt8]] = []
            for camera in cameras {
                guard offset + 5 <= bytes.count else {
                    throw fail("ends in frame \(f), camera '\(camera.name)'")
                }
                let encoding = r.u8(offset)
                let length = Int(r.u32(offset + 1))
                offset += 5
                guard length <= bytes.count - offset else {
                    throw fail(
                        "frame \(f), camera '\(camera.name)': \(length) bytes announced, \(bytes.count - offset) left"
                    )
                }
                let data = bytes[offset..<(offset + length)]
                offset += length
                switch encoding {
                case EpisodeFiles.rawRGB:
                    guard length == camera.imageBytes else {
                        throw fail(
                            "frame \(f), camera '\(camera.name)': \(length) bytes of raw RGB8; "
                                + "\(camera.width)×\(camera.height) makes \(camera.imageBytes)"
                        )
                    }
                    images.append(Array(data))
                case EpisodeFiles.zlibRGB:
                    switch Zlib.decompress(data, expected: camera.imageBytes) {
                    case .image(let image): images.append(image)
                    case .bad(let problem):
                        throw fail("frame \(f), camera '\(camera.name)': the image \(problem)")
                    }
                default:
                    throw fail("frame \(f), camera '\(camera.name)': encoding \(encoding) (1 = raw, 2 = zlib)")
                }
            }
            frames.append(FrameRecord(step: step, images: images))
        }
        guard offset == bytes.count else {
            throw fail("\(bytes.count - offset) bytes follow the last of \(metadata.frames) frames")
        }
        return frames
    }
}
