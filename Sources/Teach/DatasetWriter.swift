import Foundation

/// What a dataset must agree on with the cell recording into it.
public struct DatasetHeader: Hashable, Sendable {
    /// The dataset's name (a new dataset only; an existing one keeps its name).
    public var name: String
    /// The robot.
    public var robot: RobotDescription
    /// The cell.
    public var cell: CellInfo
    /// Seconds per control step.
    public var controlPeriod: Double
    /// Steps between two frames.
    public var frameEvery: Int
    /// Cameras, in frame order.
    public var cameras: [CameraInfo]

    /// Creates a header.
    public init(
        name: String,
        robot: RobotDescription,
        cell: CellInfo,
        controlPeriod: Double,
        frameEvery: Int,
        cameras: [CameraInfo]
    ) {
        self.name = name
        self.robot = robot
        self.cell = cell
        self.controlPeriod = controlPeriod
        self.frameEvery = frameEvery
        self.cameras = cameras
    }
}

/// What is known about an episode besides its steps and frames.
public struct EpisodeDescription: Sendable {
    /// Task name.
    public var task: String
    /// Its instruction.
    public var instruction: String
    /// Seed of the initial poses.
    public var seed: UInt64
    /// Who demonstrated it.
    public var source: DemonstrationSource
    /// Whether the task succeeded.
    public var success: Bool
    /// The operator, if known.
    public var `operator`: String?
    /// The program file replayed (source `program`).
    public var program: String?
    /// The tracked objects' poses at the first step, name → x y z qw qx qy qz (docs/DATASET.md §3), if known.
    public var objects: [String: [Double]]?

    /// Creates a description.
    public init(
        task: String,
        instruction: String,
        seed: UInt64,
        source: DemonstrationSource,
        success: Bool,
        operator: String? = nil,
        program: String? = nil,
        objects: [String: [Double]]? = nil
    ) {
        self.task = task
        self.instruction = instruction
        self.seed = seed
        self.source = source
        self.success = success
        self.operator = `operator`
        self.program = program
        self.objects = objects
    }
}

/// Writes episodes into a dataset (docs/DATASET.md §1): each one in `.tmp-<pid>-<index>/`, every file `fsync`ed,
/// renamed into `episodes/`, the directory `fsync`ed, and only then `dataset.json` replaced atomically.
///
/// Opening an existing dataset resumes it: the robot, cameras and timing must match (else the writer refuses,
/// naming the field), leftover `.tmp-*` folders are deleted, an episode that was renamed into place but not yet
/// listed (a crash between the two renames) is validated and adopted, and the counts are recomputed from the
/// episodes present. One writer at a time: the writer holds an exclusive `flock` on `<dataset>/.lock`.
public final class DatasetWriter {
    /// The dataset's folder.
    public let directory: String
    /// `dataset.json` as last written.
    public private(set) var index: DatasetIndex
    /// The highest seed among the episodes present (nil in an empty dataset).
    public private(set) var highestSeed: UInt64?
    /// Leftovers deleted on open (`.tmp-*` folders of interrupted writers).
    public private(set) var removedLeftovers: [String] = []
    /// Episodes adopted on open (renamed into place by an interrupted writer, not yet listed).
    public private(set) var adopted: [Int] = []
    /// Whether the dataset was created by this writer.
    public let created: Bool
    /// zlib level for frames (1 = fastest … 9 = smallest).
    public var compressionLevel: Int32 = 1
    /// Written into each episode's provenance, e.g. `edgecell 0.1.0`.
    public var recorder = "edgecell 0.1.0"

    private var lockDescriptor: Int32 = -1

    /// Opens `directory` for appending, creating the dataset if it does not exist.
    /// - Throws: `TeachError` if another writer holds it, the folder is something else, the existing dataset is
    ///   invalid, or it was recorded with another robot, cameras or timing (`.mismatch`, naming the field).
    public init(directory: String, header: DatasetHeader) throws(TeachError) {
        guard (1...8).contains(header.robot.joints.count) else {
            throw TeachError(.usage, "the robot has \(header.robot.joints.count) joints; datasets support 1…8")
        }
        guard header.frameEvery >= 1, header.controlPeriod > 0, header.cameras.count <= 64 else {
            throw TeachError(.usage, "frame_every must be ≥ 1, the control period positive and cameras ≤ 64")
        }
        self.directory = directory
        try Posix.makeDirectory(directory)
        self.lockDescriptor = try Self.lock(directory)
        do throws(TeachError) {
            for name in try Posix.list(directory) where name.hasPrefix(".tmp-") || name == "dataset.json.tmp" {
                try Posix.removeTree(directory + "/" + name)
                self.removedLeftovers.append(name)
            }
            let indexPath = DatasetLayout.indexPath(directory)
            if Posix.exists(indexPath) {
                self.created = false
                self.index = try DatasetLayout.loadIndex(directory)
                try Self.checkCompatible(self.index, header, path: indexPath)
                try self.resume()
            } else {
                let foreign = try Posix.list(directory).filter { $0 != ".lock" && $0 != "episodes" }
                let episodes = try DatasetLayout.episodeFolders(directory)
                guard foreign.isEmpty, episodes.isEmpty else {
                    throw TeachError(
                        .usage,
                        "is not empty and holds no dataset.json: not a dataset (found "
                            + (foreign + episodes.sorted().map { "episodes/" + DatasetLayout.folderName($0) })
                            .prefix(3).joined(separator: ", ") + ")",
                        path: directory
                    )
                }
                self.created = true
                self.index = DatasetIndex(
                    name: header.name,
                    robot: header.robot,
                    cell: header.cell,
                    controlPeriod: header.controlPeriod,
                    frameEvery: header.frameEvery,
                    cameras: header.cameras,
                    created: Timestamp.now()
                )
                try Posix.makeDirectory(DatasetLayout.episodesPath(directory))
                try Posix.syncDirectory(directory)
                try Posix.writeAtomically(TeachJSON.encode(self.index), to: indexPath)
            }
        } catch {
            Foundation.close(self.lockDescriptor)
            throw error
        }
    }

    deinit { self.close() }

    /// Releases the lock (also done on deinit).
    public func close() {
        if self.lockDescriptor >= 0 {
            Foundation.close(self.lockDescriptor)
            self.lockDescriptor = -1
        }
    }

    private static func lock(_ directory: String) throws(TeachError) -> Int32 {
        let path = directory + "/.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Posix.error("cannot open", path) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Foundation.close(fd)
            if code == EWOULDBLOCK {
                throw TeachError(.busy, "another process is recording into this dataset", path: directory)
            }
            throw Posix.error("cannot lock", path, errno: code)
        }
        return fd
    }

    static func checkCompatible(_ index: DatasetIndex, _ header: DatasetHeader, path: String) throws(TeachError) {
        func refuse(_ field: String) -> TeachError {
            TeachError(.mismatch, "the cell does not match the dataset: \(field)", path: path)
        }
        if let difference = index.robot.difference(from: header.robot) {
            throw refuse(
                difference.replacingOccurrences(of: " here, ", with: " in the dataset, ")
                    .replacingOccurrences(of: " there", with: " on the cell")
            )
        }
        guard abs(index.controlPeriod - header.controlPeriod) <= 1e-9 else {
            throw refuse(
                "control_period: \(index.controlPeriod) s in the dataset, \(header.controlPeriod) s on the cell"
            )
        }
        guard index.cameras == header.cameras else {
            func list(_ cameras: [CameraInfo]) -> String {
                cameras.isEmpty ? "none" : cameras.map { "\($0.name) \($0.width)×\($0.height)" }.joined(separator: ", ")
            }
            throw refuse("cameras: \(list(index.cameras)) in the dataset, \(list(header.cameras)) on the cell")
        }
        guard index.frameEvery == header.frameEvery else {
            throw refuse(
                "frame_every: \(index.frameEvery) in the dataset, \(header.frameEvery) on the cell (camera rate "
                    + "\(Self.rate(index)) Hz vs \(String(format: "%g", 1 / (header.controlPeriod * Double(header.frameEvery)))) Hz)"
            )
        }
    }

    private static func rate(_ index: DatasetIndex) -> String {
        String(format: "%g", 1 / (index.controlPeriod * Double(index.frameEvery)))
    }

    /// Checks the episodes present against the index, adopts finished but unlisted ones, recomputes the counts.
    private func resume() throws(TeachError) {
        let present = try DatasetLayout.episodeFolders(self.directory)
        let validator = EpisodeValidator(directory: self.directory, index: self.index)
        var entries: [DatasetIndex.Entry] = []
        var highest: UInt64?
        var next = 0
        while present.contains(next) || next < self.index.episodes.count {
            guard present.contains(next) else {
                throw TeachError(
                    .invalidDataset,
                    "episode \(DatasetLayout.folderName(next)) is listed in dataset.json, but its folder is "
                        + "missing; refusing to append to a dataset with a gap",
                    path: self.directory
                )
            }
            let listed = next < self.index.episodes.count
            // Listed episodes were validated when written: check their metadata and sizes. An unlisted one is
            // checked byte by byte before it is adopted.
            let metadata = try validator.validate(next, verifyFiles: !listed)
            if listed && metadata.entry != self.index.episodes[next] {
                throw TeachError(
                    .invalidDataset,
                    "episode \(DatasetLayout.folderName(next)): dataset.json lists "
                        + "\(Dataset.describe(self.index.episodes[next])), its episode.json says "
                        + Dataset.describe(metadata.entry),
                    path: DatasetLayout.indexPath(self.directory)
                )
            }
            if !listed { self.adopted.append(next) }
            entries.append(metadata.entry)
            highest = max(highest ?? 0, metadata.seed)
            next += 1
        }
        if let stray = present.first(where: { $0 >= next }) {
            throw TeachError(
                .invalidDataset,
                "episodes/\(DatasetLayout.folderName(stray)) is not listed and does not follow the last episode "
                    + "(\(next - 1)); move it away to append",
                path: self.directory
            )
        }
        self.highestSeed = highest
        let counts = DatasetIndex.Counts(entries)
        if entries != self.index.episodes || counts != self.index.counts {
            self.index.episodes = entries
            self.index.counts = counts
            self.index.updated = Timestamp.now()
            try Posix.writeAtomically(TeachJSON.encode(self.index), to: DatasetLayout.indexPath(self.directory))
        }
    }

    /// Episodes in the dataset.
    public var episodeCount: Int { self.index.episodes.count }

    /// Writes an episode and lists it (atomically, §1); returns its entry.
    @discardableResult
    public func write(
        _ buffer: EpisodeBuffer,
        _ description: EpisodeDescription
    ) throws(TeachError)
        -> DatasetIndex.Entry
    {
        guard buffer.stepCount >= 1 else { throw TeachError(.usage, "an episode needs at least one step") }
        guard buffer.jointCount == self.index.robot.joints.count, buffer.cameras == self.index.cameras else {
            throw TeachError(.usage, "the episode buffer was made for another robot or other cameras")
        }
        let expectedFrames = DatasetLayout.frameCount(
            steps: buffer.stepCount,
            frameEvery: self.index.frameEvery,
            cameras: self.index.cameras.count
        )
        guard buffer.frameCount == expectedFrames else {
            throw TeachError(
                .cell,
                "the episode has \(buffer.frameCount) frames for \(buffer.stepCount) steps; a frame every "
                    + "\(self.index.frameEvery) steps makes \(expectedFrames)"
            )
        }
        let number = self.index.episodes.count
        let temporary = self.directory + "/.tmp-\(getpid())-\(number)"
        let final = DatasetLayout.episodePath(self.directory, number)
        guard !Posix.exists(final) else {
            throw TeachError(.invalidDataset, "exists already; refusing to overwrite an episode", path: final)
        }
        try? Posix.removeTree(temporary)
        try Posix.makeDirectory(temporary)
        let metadata: EpisodeMetadata
        do throws(TeachError) {
            var steps = try FileSink(creating: temporary + "/steps.bin")
            try steps.write(buffer.stepsFile)
            let stepsInfo = try steps.finish()
            var frames = try FileSink(creating: temporary + "/frames.bin")
            try buffer.writeFrames(to: &frames, level: self.compressionLevel)
            let framesInfo = try frames.finish()
            metadata = EpisodeMetadata(
                index: number,
                task: description.task,
                instruction: description.instruction,
                seed: description.seed,
                source: description.source,
                success: description.success,
                steps: buffer.stepCount,
                frames: buffer.frameCount,
                duration: Double(buffer.stepCount) * self.index.controlPeriod,
                phases: buffer.phases,
                provenance: .init(
                    cell: self.index.cell.kind,
                    cellName: self.index.cell.name,
                    cellVersion: self.index.cell.version,
                    recorder: self.recorder,
                    recordedAt: Timestamp.now(),
                    operator: description.operator,
                    program: description.program
                ),
                files: ["steps.bin": stepsInfo, "frames.bin": framesInfo],
                objects: description.objects
            )
            var json = try FileSink(creating: temporary + "/episode.json")
            let data = [UInt8](TeachJSON.encode(metadata))
            try data.withUnsafeBytes { raw in Result { () throws(TeachError) in try json.write(raw) } }.get()
            _ = try json.finish()
            try Posix.syncDirectory(temporary)
            guard rename(temporary, final) == 0 else { throw Posix.error("cannot rename \(temporary) to", final) }
        } catch {
            try? Posix.removeTree(temporary)
            throw error
        }
        try Posix.syncDirectory(DatasetLayout.episodesPath(self.directory))
        try Posix.syncDirectory(self.directory)
        var index = self.index
        index.episodes.append(metadata.entry)
        index.counts = DatasetIndex.Counts(index.episodes)
        index.updated = Timestamp.now()
        try Posix.writeAtomically(TeachJSON.encode(index), to: DatasetLayout.indexPath(self.directory))
        self.index = index
        self.highestSeed = max(self.highestSeed ?? 0, description.seed)
        return metadata.entry
    }
}
