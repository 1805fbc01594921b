import CellRuntime
import Foundation
import TwinProtocol

/// How a recording session runs.
public struct RecordingOptions: Sendable {
    /// Tasks to record, in order.
    public var tasks: [String]
    /// Episodes to attempt per task.
    public var episodes: Int
    /// Base seed: dataset episode *k* uses seed `seed + k` (see `SeedSchedule`).
    public var seed: UInt64
    /// Keep episodes that did not succeed.
    public var keepFailures = false
    /// Longest episode, s of episode time.
    public var timeLimit = 30.0
    /// How long the task may take to succeed after the demonstrator finished, s.
    public var settleTime = 1.5
    /// Who is recording (keyboard), written into the provenance.
    public var `operator`: String?

    /// Options for tasks, episodes per task and a base seed.
    public init(tasks: [String], episodes: Int, seed: UInt64) {
        self.tasks = tasks
        self.episodes = episodes
        self.seed = seed
    }
}

/// How a recorded episode ended.
public enum RecordingOutcome: String, Sendable {
    /// The task succeeded once the demonstrator finished.
    case success
    /// The demonstrator finished, the task did not succeed within the settle time.
    case failed
    /// The episode ran out of time.
    case timeLimit = "time-limit"
    /// Discarded by the operator (keyboard `x`).
    case discarded
    /// Discarded to be recorded again on the same seed (keyboard `r`).
    case redo
    /// Stopped (signal, keyboard `q`): the episode is discarded and the session ends.
    case stopped
}

/// What one attempt did.
public struct EpisodeReport: Sendable {
    /// Attempt number in this session (from 1) and attempts planned.
    public var attempt: Int
    /// Attempts planned (episodes × tasks); 0 when open-ended (keyboard).
    public var planned: Int
    /// Task.
    public var task: String
    /// Seed.
    public var seed: UInt64
    /// How it ended.
    public var outcome: RecordingOutcome
    /// Its dataset index if it was kept.
    public var kept: Int?
    /// Steps recorded.
    public var steps: Int
    /// Frames recorded.
    public var frames: Int
    /// Episode time, s.
    public var episodeTime: Double
    /// Wall time, s, including writing it.
    public var wallTime: Double
    /// Wall time spent compressing, hashing and writing it, s.
    public var writeTime = 0.0
    /// The last phase label.
    public var lastPhase: String
    /// Episodes in the dataset after it.
    public var datasetEpisodes: Int
    /// Successful episodes in the dataset after it.
    public var datasetSuccesses: Int

    /// One line for the terminal.
    public var line: String {
        var text = String(
            format: "episode %@  %@ seed %llu: %@  %ld steps, %.2f s episode, %.2f s wall",
            self.planned > 0 ? "\(self.attempt)/\(self.planned)" : "\(self.attempt)",
            self.task,
            self.seed,
            self.outcome.rawValue.uppercased(),
            self.steps,
            self.episodeTime,
            self.wallTime
        )
        if let kept = self.kept {
            text += String(format: ", kept as %06d", kept)
        } else {
            text += ", discarded"
        }
        if self.outcome != .success && !self.lastPhase.isEmpty { text += " (ended in phase '\(self.lastPhase)')" }
        text += "  [dataset: \(self.datasetEpisodes) episodes, \(self.datasetSuccesses) successes]"
        return text
    }
}

/// What a session did.
public struct SessionSummary: Sendable {
    /// Attempts made.
    public var attempts = 0
    /// Episodes kept.
    public var kept = 0
    /// Attempts that succeeded.
    public var successes = 0
    /// Steps recorded in kept episodes.
    public var steps = 0
    /// Wall time of the session, s.
    public var wallTime = 0.0
    /// Episode time recorded (kept episodes), s.
    public var episodeTime = 0.0
    /// Wall time spent writing episodes, s.
    public var writeTime = 0.0
    /// The session was stopped before it was done.
    public var stopped = false
    /// Outcomes by kind.
    public var outcomes: [RecordingOutcome: Int] = [:]

    /// Kept episodes per minute of wall time.
    public var episodesPerMinute: Double { self.wallTime > 0 ? Double(self.kept) * 60 / self.wallTime : 0 }

    mutating func add(_ report: EpisodeReport) {
        self.attempts += 1
        self.outcomes[report.outcome, default: 0] += 1
        self.writeTime += report.writeTime
        if report.outcome == .success { self.successes += 1 }
        if report.kept != nil {
            self.kept += 1
            self.steps += report.steps
            self.episodeTime += report.episodeTime
        }
    }
}

/// What a demonstrator commands at one step.
struct Demonstration {
    var q: JointVector
    var gripper: Double
    var phase: UInt8
    var finished: Bool
}

/// Something that demonstrates a task step by step: the cell's expert, a waypoint program.
protocol Demonstrator {
    /// Prepares an episode from its first observation (planning may allocate here).
    mutating func begin(_ episode: Episode, buffer: EpisodeBuffer) throws(TeachError)
    /// The command for the step that starts with `observation`.
    mutating func command(
        _ observation: ObservationSample,
        time: Double,
        buffer: EpisodeBuffer
    ) throws(TeachError) -> Demonstration
    /// The last phase label used.
    var lastPhase: String { get }
}

/// Records demonstrations from a lock-step cell into a dataset.
///
/// The loop runs on the calling thread and is plain: ask the demonstrator, append the step to the preallocated
/// `EpisodeBuffer`, send the `STEP`, copy the next observation's images (if it has any) straight from the link's
/// receive buffers. Nothing in it allocates or touches the disk; the episode is compressed, hashed and written
/// once it is over.
public final class Recorder {
    /// The link (handshake done).
    public let link: TwinLink
    /// The handshake.
    public let welcome: Welcome
    /// The dataset.
    public let writer: DatasetWriter
    /// The episode being recorded.
    public let buffer: EpisodeBuffer
    /// Session settings.
    public let options: RecordingOptions
    /// Polled every step: true ends the session (the running episode is discarded).
    public var shouldStop: @Sendable () -> Bool = { false }
    /// Seeds of the coming attempts.
    public private(set) var seeds: SeedSchedule

    /// A recorder over a link whose handshake is done and a dataset opened for it (`Recorder.header`).
    public init(link: TwinLink, writer: DatasetWriter, options: RecordingOptions) throws(TeachError) {
        guard let welcome = link.welcome else {
            throw TeachError(.usage, "the link has no handshake yet: call handshake() first")
        }
        guard welcome.mode == .lockStep else {
            throw TeachError(
                .usage,
                "recording needs a lock-step cell (this one runs in real time): start the twin with --mode lockstep"
            )
        }
        guard options.episodes >= 1, !options.tasks.isEmpty, options.timeLimit > 0 else {
            throw TeachError(.usage, "record at least one episode of at least one task, with a positive time limit")
        }
        self.link = link
        self.welcome = welcome
        self.writer = writer
        self.options = options
        self.seeds = SeedSchedule(base: options.seed, writer: writer)
        let capacity = Int((options.timeLimit / welcome.controlPeriod).rounded(.up)) + 2
        self.buffer = EpisodeBuffer(
            jointCount: welcome.joints.count,
            cameras: writer.index.cameras,
            stepCapacity: capacity,
            frameEvery: writer.index.frameEvery
        )
    }

    /// The dataset header a cell's handshake implies: its robot, cameras and camera period.
    /// - Throws: when the camera period is not a whole number of control periods.
    public static func header(welcome: Welcome, name: String) throws(TeachError) -> DatasetHeader {
        let ratio = welcome.cameraPeriod / welcome.controlPeriod
        let frameEvery = Int(ratio.rounded())
        guard ratio.isFinite, frameEvery >= 1, abs(ratio - Double(frameEvery)) < 1e-6 else {
            throw TeachError(
                .cell,
                "the cell's camera period \(welcome.cameraPeriod) s is not a whole number of control periods "
                    + "(\(welcome.controlPeriod) s)"
            )
        }
        return DatasetHeader(
            name: name,
            robot: RobotDescription(welcome: welcome),
            cell: CellInfo(welcome: welcome),
            controlPeriod: welcome.controlPeriod,
            frameEvery: frameEvery,
            cameras: welcome.cameras.map { CameraInfo(name: $0.name, width: Int($0.width), height: Int($0.height)) }
        )
    }

    // MARK: - Sessions

    /// Records the cell's scripted expert (protocol §4.9) on every task.
    public func recordExpert(progress: (EpisodeReport) -> Void) throws(TeachError) -> SessionSummary {
        guard self.welcome.hasExpert else {
            throw TeachError(
                .usage,
                "the cell \(self.welcome.twinName) \(self.welcome.twinVersion) has no scripted expert (has_expert = 0)"
            )
        }
        var expert = ExpertDemonstrator(link: self.link)
        return try self.session(source: .expert, program: nil, demonstrator: &expert, progress: progress)
    }

    /// Replays a waypoint program through the trajectory planner on every task.
    public func recordProgram(
        _ program: WaypointProgram,
        path: String,
        progress: (EpisodeReport) -> Void
    ) throws(TeachError) -> SessionSummary {
        let planner: TrajectoryPlanner
        do { planner = try TrajectoryPlanner(welcome: self.welcome) } catch { throw TeachError(.cell, "\(error)") }
        var player = ProgramDemonstrator(program: program, planner: planner, period: self.welcome.controlPeriod)
        return try self.session(source: .program, program: path, demonstrator: &player, progress: progress)
    }

    private func session<D: Demonstrator>(
        source: DemonstrationSource,
        program: String?,
        demonstrator: inout D,
        progress: (EpisodeReport) -> Void
    ) throws(TeachError) -> SessionSummary {
        var summary = SessionSummary()
        let start = MonotonicClock.seconds()
        let planned = self.options.episodes * self.options.tasks.count
        outer: for task in self.options.tasks {
            for _ in 0..<self.options.episodes {
                let seed = self.seeds.next()
                try SeedSchedule.check(seed)
                let began = MonotonicClock.seconds()
                let (episode, outcome) = try self.runEpisode(task: task, seed: seed, demonstrator: &demonstrator)
                self.seeds.attempted(seed)
                var kept: Int?
                let writing = MonotonicClock.seconds()
                if outcome == .success || (self.options.keepFailures && [.failed, .timeLimit].contains(outcome)) {
                    let entry = try self.writer.write(
                        self.buffer,
                        EpisodeDescription(
                            task: episode.task,
                            instruction: episode.instruction,
                            seed: seed,
                            source: source,
                            success: outcome == .success,
                            operator: self.options.operator,
                            program: program,
                            objects: self.initialObjects(episode)
                        )
                    )
                    kept = entry.index
                    self.seeds.kept()
                }
                let report = EpisodeReport(
                    attempt: summary.attempts + 1,
                    planned: planned,
                    task: episode.task,
                    seed: seed,
                    outcome: outcome,
                    kept: kept,
                    steps: self.buffer.stepCount,
                    frames: self.buffer.frameCount,
                    episodeTime: Double(self.buffer.stepCount) * self.welcome.controlPeriod,
                    wallTime: MonotonicClock.seconds() - began,
                    writeTime: MonotonicClock.seconds() - writing,
                    lastPhase: demonstrator.lastPhase,
                    datasetEpisodes: self.writer.index.counts.episodes,
                    datasetSuccesses: self.writer.index.counts.successes
                )
                summary.add(report)
                progress(report)
                if outcome == .stopped {
                    summary.stopped = true
                    break outer
                }
            }
        }
        summary.wallTime = MonotonicClock.seconds() - start
        return summary
    }

    /// The objects' poses in the episode's first observation, by the handshake's names (nil without objects).
    func initialObjects(_ episode: Episode) -> [String: [Double]]? {
        let names = self.welcome.objects.map(\.name)
        let poses = episode.observation.objectPoses
        guard !names.isEmpty, names.count == poses.count else { return nil }
        var objects: [String: [Double]] = [:]
        for (name, pose) in zip(names, poses) {
            let p = pose.position
            let q = pose.orientation
            objects[name] = [p.x, p.y, p.z, q.w, q.x, q.y, q.z]
        }
        return objects
    }

    /// Runs one episode into the buffer.
    func runEpisode<D: Demonstrator>(
        task: String,
        seed: UInt64,
        demonstrator: inout D
    ) throws(TeachError) -> (Episode, RecordingOutcome) {
        self.buffer.reset()
        let episode = try CellCall.run { () throws(RuntimeError) in try self.link.reset(task: task, seed: seed) }
        let frameEvery = self.writer.index.frameEvery
        let cameras = self.buffer.cameras.count
        if cameras > 0 {
            try self.buffer.stageImages(from: self.link, episode.observation.images, step: 0, frameEvery: frameEvery)
        }
        var sample = ObservationSample(episode.observation, seq: 0, receivedAt: 0)
        let t0 = sample.simTime
        try demonstrator.begin(episode, buffer: self.buffer)
        var finishedAt = -1.0
        while true {
            if self.shouldStop() { return (episode, .stopped) }
            let t = sample.simTime - t0
            let step = self.buffer.stepCount
            guard sample.step == UInt64(step) else {
                throw TeachError(.cell, "the cell's observation is step \(sample.step), expected step \(step)")
            }
            let command = try demonstrator.command(sample, time: t, buffer: self.buffer)
            try self.buffer.append(
                time: t,
                observation: sample,
                action: command.q,
                gripper: command.gripper,
                phase: command.phase,
                frame: cameras > 0 && step % frameEvery == 0
            )
            let next = try CellCall.run { () throws(RuntimeError) in
                try self.link.stepSample(targets: command.q, gripper: command.gripper)
            }
            // The end is judged on the observation just recorded (its command was sent, so the last record's
            // action really was commanded).
            if command.finished {
                if sample.success { return (episode, .success) }
                if finishedAt < 0 { finishedAt = t }
                if t - finishedAt >= self.options.settleTime { return (episode, .failed) }
            }
            if t + self.welcome.controlPeriod > self.options.timeLimit + 1e-9 {
                // The episode's success is the last step's flag, whether or not the demonstrator finished.
                return (episode, sample.success ? .success : .timeLimit)
            }
            sample = next
            if cameras > 0 && (step + 1) % frameEvery == 0 {
                try self.buffer.stageImages(
                    from: self.link,
                    self.link.lastObservation.images,
                    step: step + 1,
                    frameEvery: frameEvery
                )
            }
        }
    }
}

extension EpisodeBuffer {
    /// Copies the images of the last message the link received into the next frame (one per camera).
    func stageImages(from link: TwinLink, _ images: [ImageHeader], step: Int, frameEvery: Int) throws(TeachError) {
        guard images.count == self.cameras.count else {
            throw TeachError(
                .cell,
                "the observation of step \(step) carries \(images.count) images; with \(self.cameras.count) "
                    + "cameras and a frame every \(frameEvery) steps it should carry one per camera (does the cell "
                    + "attach images every \(frameEvery) steps?)"
            )
        }
        for (j, header) in images.enumerated() {
            guard let bytes = link.imageBytes(j) else {
                throw TeachError(.cell, "image \(j) of step \(step) did not arrive")
            }
            try self.stageImage(camera: Int(header.camera), bytes)
        }
    }
}

/// Turns the runtime's errors into teaching errors at the boundary.
enum CellCall {
    static func run<T>(_ body: () throws(RuntimeError) -> T) throws(TeachError) -> T {
        do {
            return try body()
        } catch {
            throw TeachError(.cell, error.description)
        }
    }
}

/// The cell's scripted expert: each step `EXPERT` → `ADVICE`, whose targets are then commanded.
struct ExpertDemonstrator: Demonstrator {
    let link: TwinLink
    var lastPhase = ""

    mutating func begin(_ episode: Episode, buffer: EpisodeBuffer) throws(TeachError) { self.lastPhase = "" }

    mutating func command(
        _ observation: ObservationSample,
        time: Double,
        buffer: EpisodeBuffer
    ) throws(TeachError) -> Demonstration {
        let advice = try CellCall.run { () throws(RuntimeError) in try self.link.advice() }
        if advice.phase != self.lastPhase { self.lastPhase = advice.phase }
        return Demonstration(
            q: advice.targets,
            gripper: advice.gripper,
            phase: try buffer.phase(advice.phase),
            finished: advice.done
        )
    }
}

/// A waypoint program resolved by the trajectory planner from each episode's first posture.
struct ProgramDemonstrator: Demonstrator {
    let program: WaypointProgram
    let planner: TrajectoryPlanner
    let period: Double
    var controller: WaypointController?
    /// Buffer phase index per plan label (−1 until first used), so `phases` lists labels in first-use order.
    var phaseOf: [Int] = []
    var lastLabel = -1

    init(program: WaypointProgram, planner: TrajectoryPlanner, period: Double) {
        self.program = program
        self.planner = planner
        self.period = period
    }

    var lastPhase: String {
        guard let controller = self.controller, controller.phaseLabels.indices.contains(self.lastLabel) else {
            return ""
        }
        return controller.phaseLabels[self.lastLabel]
    }

    mutating func begin(_ episode: Episode, buffer: EpisodeBuffer) throws(TeachError) {
        let first = ObservationSample(episode.observation, seq: 0, receivedAt: 0)
        do {
            let plan = try self.planner.plan(self.program, from: first.q, gripper: first.gripperAperture)
            self.controller = WaypointController(plan: plan)
            self.phaseOf = Array(repeating: -1, count: plan.labels.count)
        } catch {
            throw TeachError(.invalidProgram, error.message)
        }
        self.lastLabel = -1
    }

    mutating func command(
        _ observation: ObservationSample,
        time: Double,
        buffer: EpisodeBuffer
    ) throws(TeachError) -> Demonstration {
        let c = self.controller!.update(time: time, period: self.period, observation: observation)
        if self.phaseOf[c.phase] < 0 {
            self.phaseOf[c.phase] = Int(try buffer.phase(self.controller!.phaseLabels[c.phase]))
        }
        self.lastLabel = c.phase
        return Demonstration(q: c.q, gripper: c.gripper, phase: UInt8(self.phaseOf[c.phase]), finished: c.finished)
    }
}
