import CellRuntime
import Foundation
import TwinProtocol

/// Teaching at the keyboard: the operator jogs the TCP in Cartesian space (through IK), opens and closes the
/// gripper, labels phases, and keeps, redoes or discards each episode. The twin is stepped at the control rate
/// in wall time (`clock_nanosleep` to absolute deadlines), so the arm moves as it would in a real cell, and
/// every step is recorded as by the other sources. Keys and screen: docs/TEACHING.md.
public final class KeyboardTeacher {
    /// Phase labels the number keys 1…7 choose.
    public static let phaseLabels = ["reach", "grasp", "lift", "move", "place", "release", "retreat"]
    /// Jog steps, m, chosen with + and −.
    public static let steps = [0.002, 0.005, 0.01, 0.02, 0.05]
    /// Yaw steps, rad, paired with the jog steps.
    public static let yawSteps = [1.0, 2.5, 5.0, 10.0, 15.0].map { $0 * .pi / 180 }

    /// The link (handshake done, lock-step).
    public let link: TwinLink
    /// The handshake.
    public let welcome: Welcome
    /// The dataset.
    public let writer: DatasetWriter
    /// Session settings (`episodes` is the number of episodes to keep per task).
    public let options: RecordingOptions
    /// Polled every step: true ends the session (a signal); the running episode is discarded.
    public var shouldStop: @Sendable () -> Bool = { false }
    /// Step in wall time at the control rate (false: as fast as the cell answers; tests).
    public var realTime = true
    /// What each attempt did.
    public private(set) var reports: [EpisodeReport] = []

    let buffer: EpisodeBuffer
    let kinematics: Kinematics
    let input: Int32
    let output: Int32
    var seeds: SeedSchedule
    var programPath: String?
    var program: TeachProgram?
    var lastSavedGripper: Bool?

    /// A session over a lock-step link; `programPath` (optional) is where `p` saves waypoints.
    public init(
        link: TwinLink,
        writer: DatasetWriter,
        options: RecordingOptions,
        programPath: String? = nil,
        program: TeachProgram? = nil,
        input: Int32 = STDIN_FILENO,
        output: Int32 = STDOUT_FILENO
    ) throws(TeachError) {
        guard let welcome = link.welcome else { throw TeachError(.usage, "the link has no handshake yet") }
        guard welcome.mode == .lockStep else {
            throw TeachError(.usage, "keyboard teaching needs a lock-step cell: start the twin with --mode lockstep")
        }
        self.link = link
        self.welcome = welcome
        self.writer = writer
        self.options = options
        self.input = input
        self.output = output
        self.programPath = programPath
        self.program = program
        self.seeds = SeedSchedule(base: options.seed, writer: writer)
        do { self.kinematics = try Kinematics(welcome: welcome) } catch { throw TeachError(.cell, error.message) }
        // Keyboard episodes are long; the buffer starts at a minute and grows if needed.
        let capacity = Int(min(options.timeLimit, 60) / welcome.controlPeriod) + 2
        self.buffer = EpisodeBuffer(
            jointCount: welcome.joints.count,
            cameras: writer.index.cameras,
            stepCapacity: capacity,
            frameEvery: writer.index.frameEvery
        )
    }

    /// How an episode ended at the keyboard.
    enum End: Equatable {
        case finish, timeLimit, redo, discard
        case stop(signal: Bool)
    }

    /// Runs the session until the episodes are recorded or the operator stops; the terminal is restored on
    /// every way out.
    public func run() throws(TeachError) -> SessionSummary {
        let terminal = try Terminal(input: self.input, output: self.output)
        var summary = SessionSummary()
        let start = MonotonicClock.seconds()
        do throws(TeachError) {
            defer { terminal.restore() }
            var redo: UInt64?
            var task = 0
            var keptForTask = 0
            session: while task < self.options.tasks.count {
                let seed = redo ?? self.seeds.next()
                try SeedSchedule.check(seed)
                redo = nil
                let began = MonotonicClock.seconds()
                let name = self.options.tasks[task]
                let (episode, end) = try self.episode(task: name, seed: seed, terminal: terminal, summary: summary)
                var outcome: RecordingOutcome
                var keep = false
                switch end {
                case .finish:
                    outcome = self.buffer.lastSuccess ? .success : .failed
                    keep = true
                case .timeLimit:
                    outcome = self.buffer.lastSuccess ? .success : .timeLimit
                    keep = outcome == .success || self.options.keepFailures
                case .redo:
                    outcome = .redo
                    redo = seed
                case .discard: outcome = .discarded
                case .stop: outcome = .stopped
                }
                if end != .redo { self.seeds.attempted(seed) }
                var kept: Int?
                if keep && self.buffer.stepCount > 0 {
                    kept = try self.writer.write(
                        self.buffer,
                        EpisodeDescription(
                            task: episode.task,
                            instruction: episode.instruction,
                            seed: seed,
                            source: .keyboard,
                            success: outcome == .success,
                            operator: self.options.operator
                        )
                    ).index
                    self.seeds.kept()
                    keptForTask += 1
                }
                let report = EpisodeReport(
                    attempt: summary.attempts + 1,
                    planned: self.options.episodes >= Int.max / 8
                        ? 0 : self.options.episodes * self.options.tasks.count,
                    task: episode.task,
                    seed: seed,
                    outcome: outcome,
                    kept: kept,
                    steps: self.buffer.stepCount,
                    frames: self.buffer.frameCount,
                    episodeTime: Double(self.buffer.stepCount) * self.welcome.controlPeriod,
                    wallTime: MonotonicClock.seconds() - began,
                    lastPhase: "",
                    datasetEpisodes: self.writer.index.counts.episodes,
                    datasetSuccesses: self.writer.index.counts.successes
                )
                summary.add(report)
                self.reports.append(report)
                if case .stop(let signal) = end {
                    summary.stopped = signal
                    break session
                }
                if keptForTask >= self.options.episodes {
                    task += 1
                    keptForTask = 0
                }
            }
        } catch {
            summary.wallTime = MonotonicClock.seconds() - start
            self.printReports()
            throw error
        }
        summary.wallTime = MonotonicClock.seconds() - start
        self.printReports()
        return summary
    }

    private func printReports() {
        let text = self.reports.map { $0.line + "\n" }.joined()
        FileHandle(fileDescriptor: self.output, closeOnDealloc: false).write(Data(text.utf8))
    }

    // MARK: - One episode

    /// The operator's state during an episode.
    struct Jog {
        var origin: Quaternion
        var position: SIMD3<Double>
        var yaw = 0.0
        var goal: SIMD3<Double>
        var goalYaw = 0.0
        var q: JointVector
        var gripperClosed = false
        var gripper: Double
        var stepIndex = 2
        var manualPhase: Int?
        var everClosed = false
        var changedAt = -10.0
        var carryPhase = "grasp"
        var moved = false
        var message = ""
        var confirm: (key: Character, until: Double)?

        var orientation: Quaternion { KeyboardTeacher.rotateZ(self.origin, by: self.yaw) }
    }

    func episode(
        task: String,
        seed: UInt64,
        terminal: Terminal,
        summary: SessionSummary
    ) throws(TeachError) -> (Episode, End) {
        self.buffer.reset()
        let episode = try CellCall.run { () throws(RuntimeError) in try self.link.reset(task: task, seed: seed) }
        let frameEvery = self.writer.index.frameEvery
        let cameras = self.buffer.cameras.count
        if cameras > 0 {
            try self.buffer.stageImages(from: self.link, episode.observation.images, step: 0, frameEvery: frameEvery)
        }
        var sample = ObservationSample(episode.observation, seq: 0, receivedAt: 0)
        let t0 = sample.simTime
        let start: Pose
        do { start = try self.kinematics.forward(sample.q) } catch { throw TeachError(.cell, error.message) }
        let range = self.welcome.gripper.apertureMin...self.welcome.gripper.apertureMax
        var jog = Jog(
            origin: start.orientation,
            position: start.position,
            goal: start.position,
            q: sample.q,
            gripper: min(max(sample.gripperAperture, range.lowerBound), range.upperBound)
        )
        jog.gripperClosed = jog.gripper < (range.lowerBound + range.upperBound) / 2
        let period = self.welcome.controlPeriod
        let periodNs = Int64(period * 1e9)
        var deadline = MonotonicClock.nanoseconds()
        var lastDraw: Int64 = 0
        while true {
            if self.shouldStop() { return (episode, .stop(signal: true)) }
            let t = sample.simTime - t0
            for key in terminal.keys() {
                if let end = self.handle(key, &jog, time: t) { return (episode, end) }
            }
            self.advance(&jog)
            let label = jog.manualPhase.map { Self.phaseLabels[$0] } ?? self.automaticPhase(jog, time: t)
            let step = self.buffer.stepCount
            try self.buffer.append(
                time: t,
                observation: sample,
                action: jog.q,
                gripper: jog.gripper,
                phase: try self.buffer.phase(label),
                frame: cameras > 0 && step % frameEvery == 0
            )
            let next = try CellCall.run { () throws(RuntimeError) in
                try self.link.stepSample(targets: jog.q, gripper: jog.gripper)
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
            let now = MonotonicClock.nanoseconds()
            if now - lastDraw > 66_000_000 {
                self.draw(
                    terminal,
                    jog,
                    sample: sample,
                    episode: episode,
                    seed: seed,
                    time: t,
                    label: label,
                    summary: summary
                )
                lastDraw = now
            }
            if t + period > self.options.timeLimit + 1e-9 { return (episode, .timeLimit) }
            if self.realTime {
                deadline += periodNs
                if now > deadline + periodNs { deadline = now }  // fell behind: do not burst
                MonotonicClock.sleep(untilNanoseconds: deadline)
            }
        }
    }

    /// Applies one key; returns how the episode ends if the key ends it.
    func handle(_ key: Key, _ jog: inout Jog, time t: Double) -> End? {
        let step = Self.steps[jog.stepIndex]
        let yawStep = Self.yawSteps[jog.stepIndex]
        func move(_ delta: SIMD3<Double>, phase: String) {
            let goal = jog.goal + delta
            let lo = self.welcome.workspaceMin
            let hi = self.welcome.workspaceMax
            guard all(goal .>= lo), all(goal .<= hi) else {
                jog.message = String(
                    format: "stopped at the workspace edge (%.2f…%.2f, %.2f…%.2f, %.2f…%.2f m)",
                    lo.x,
                    hi.x,
                    lo.y,
                    hi.y,
                    lo.z,
                    hi.z
                )
                return
            }
            // The goal leads the arm by at most three steps, so releasing a key stops the arm soon.
            let lead = 3 * step + 1e-9
            jog.goal = goal.clamped(lowerBound: jog.position - lead, upperBound: jog.position + lead)
            jog.moved = true
            if jog.gripperClosed { jog.carryPhase = phase }
        }
        func turn(_ sign: Double) {
            let lead = 3 * yawStep + 1e-9
            jog.goalYaw = min(max(jog.goalYaw + sign * yawStep, jog.yaw - lead), jog.yaw + lead)
            jog.moved = true
            if jog.gripperClosed { jog.carryPhase = "move" }
        }
        func confirmed(_ c: Character, _ what: String) -> Bool {
            if !jog.moved { return true }
            if let pending = jog.confirm, pending.key == c, MonotonicClock.seconds() < pending.until { return true }
            jog.confirm = (c, MonotonicClock.seconds() + 2)
            jog.message = "press \(c == "\u{1B}" ? "Esc" : String(c)) again within 2 s to \(what)"
            return false
        }
        switch key {
        case .up, .character("w"), .character("W"): move(SIMD3(step, 0, 0), phase: "move")
        case .down, .character("s"), .character("S"): move(SIMD3(-step, 0, 0), phase: "move")
        case .left, .character("a"), .character("A"): move(SIMD3(0, step, 0), phase: "move")
        case .right, .character("d"), .character("D"): move(SIMD3(0, -step, 0), phase: "move")
        case .pageUp, .character("R"): move(SIMD3(0, 0, step), phase: "lift")
        case .pageDown, .character("F"), .character("f"): move(SIMD3(0, 0, -step), phase: "place")
        case .character("Q"): turn(1)
        case .character("E"), .character("e"): turn(-1)
        case .character("+"), .character("="):
            jog.stepIndex = min(jog.stepIndex + 1, Self.steps.count - 1)
        case .character("-"), .character("_"):
            jog.stepIndex = max(jog.stepIndex - 1, 0)
        case .character(" "), .character("g"), .character("G"):
            jog.gripperClosed.toggle()
            jog.gripper = jog.gripperClosed ? self.welcome.gripper.apertureMin : self.welcome.gripper.apertureMax
            jog.changedAt = t
            jog.moved = true
            if jog.gripperClosed {
                jog.everClosed = true
                jog.carryPhase = "grasp"
            }
        case .character(let c) where ("1"..."7").contains(c):
            jog.manualPhase = Int(String(c))! - 1
        case .character("0"):
            jog.manualPhase = nil
        case .character("p"), .character("P"):
            self.saveWaypoint(jog, message: &jog.message)
        case .enter:
            return .finish
        case .character("r"):
            if confirmed("r", "redo this episode (same seed)") { return .redo }
        case .character("x"), .character("X"):
            if confirmed("x", "discard this episode") { return .discard }
        case .character("q"), .escape:
            if confirmed(key == .escape ? "\u{1B}" : "q", "stop (this episode is discarded)") {
                return .stop(signal: false)
            }
        case .interrupt:
            return .stop(signal: false)
        default:
            break
        }
        return nil
    }

    /// Moves the commanded pose toward the goal within the jog speed, through IK.
    func advance(_ jog: inout Jog) {
        let period = self.welcome.controlPeriod
        let step = Self.steps[jog.stepIndex]
        let speed = min(max(step * 10, 0.02), 0.25)
        let yawRate = min(max(Self.yawSteps[jog.stepIndex] * 10, 0.2), 1.5)
        let delta = jog.goal - jog.position
        let distance = (delta * delta).sum().squareRoot()
        let yawDelta = jog.goalYaw - jog.yaw
        guard distance > 1e-6 || abs(yawDelta) > 1e-6 else { return }
        let position = distance <= speed * period ? jog.goal : jog.position + delta * (speed * period / distance)
        let yaw = abs(yawDelta) <= yawRate * period ? jog.goalYaw : jog.yaw + (yawDelta > 0 ? 1 : -1) * yawRate * period
        let orientation = Self.rotateZ(jog.origin, by: yaw)
        let solution = self.kinematics.inverse(Pose(position: position, orientation: orientation), seed: jog.q)
        var fastest = 0.0
        for j in 0..<self.kinematics.jointCount {
            let limit = self.kinematics.limits(j).velocity * period
            fastest = max(fastest, abs(solution.q[j] - jog.q[j]) / max(limit, 1e-12))
        }
        guard solution.converged, fastest <= 1 else {
            jog.goal = jog.position
            jog.goalYaw = jog.yaw
            jog.message =
                solution.converged
                ? "a joint would move too fast there (near a singularity): jog another way"
                : String(format: "out of reach (%.0f mm left): jog another way", solution.positionError * 1000)
            return
        }
        jog.q = solution.q
        jog.position = position
        jog.yaw = yaw
    }

    /// The phase label from the gripper: reach until the first close, grasp while closing, then lift, move or
    /// place by the last jog direction while holding, release while opening, retreat after it.
    func automaticPhase(_ jog: Jog, time t: Double) -> String {
        if jog.gripperClosed { return t - jog.changedAt < 0.6 ? "grasp" : jog.carryPhase }
        if !jog.everClosed { return "reach" }
        return t - jog.changedAt < 0.6 ? "release" : "retreat"
    }

    /// `p`: appends the commanded pose (and the gripper if it changed) to the program file.
    func saveWaypoint(_ jog: Jog, message: inout String) {
        guard let path = self.programPath, var program = self.program else {
            message = "start with --program FILE to save waypoints with p"
            return
        }
        var number = program.waypoints.count + 1
        while program.waypoints.contains(where: { $0.name == "wp\(number)" }) { number += 1 }
        let o = jog.orientation
        let down = 1 - 2 * (o.x * o.x + o.y * o.y)  // world z of the tool's z axis
        let target: TeachProgram.Target =
            down < -cos(1 * Double.pi / 180)
            ? .pose(position: jog.position, yaw: TeachProgram.yaw(ofDownwardTool: o))
            : .orientedPose(position: jog.position, orientation: o)
        let gripper: TeachProgram.GripperAction? =
            self.lastSavedGripper == jog.gripperClosed ? nil : (jog.gripperClosed ? .close : .open)
        do throws(TeachError) {
            try program.add(.init(name: "wp\(number)", target: target, gripper: gripper))
            try program.save(path)
            self.program = program
            self.lastSavedGripper = jog.gripperClosed
            message = "saved waypoint wp\(number) to \(path) (\(program.waypoints.count) waypoints)"
        } catch {
            message = "cannot save the waypoint: \(error)"
        }
    }

    static func rotateZ(_ q: Quaternion, by angle: Double) -> Quaternion {
        let w = cos(angle / 2)
        let z = sin(angle / 2)
        // (w, 0, 0, z) ⊗ q
        return Quaternion(
            w: w * q.w - z * q.z,
            x: w * q.x - z * q.y,
            y: w * q.y + z * q.x,
            z: w * q.z + z * q.w
        )
    }

    func draw(
        _ terminal: Terminal,
        _ jog: Jog,
        sample: ObservationSample,
        episode: Episode,
        seed: UInt64,
        time t: Double,
        label: String,
        summary: SessionSummary
    ) {
        let yaw = TeachProgram.yaw(ofDownwardTool: jog.orientation) * 180 / .pi
        let lines = [
            "EdgeCell keyboard teaching: dataset \(self.writer.directory) (\(self.writer.index.counts.episodes) episodes)",
            "task \(episode.task), seed \(seed): \(episode.instruction)",
            String(
                format: "episode %ld of this session (%ld kept)   time %.1f s / %.0f s",
                summary.attempts + 1,
                summary.kept,
                t,
                self.options.timeLimit
            ),
            String(
                format: "TCP      x %+.3f  y %+.3f  z %+.3f m  yaw %+.1f°   step %.1f cm / %.1f°",
                jog.position.x,
                jog.position.y,
                jog.position.z,
                yaw,
                Self.steps[jog.stepIndex] * 100,
                Self.yawSteps[jog.stepIndex] * 180 / .pi
            ),
            String(
                format: "gripper  %@ (target %.3f m, now %.3f m, force %.1f N)",
                jog.gripperClosed ? "closed" : "open",
                jog.gripper,
                sample.gripperAperture,
                sample.gripperForce
            ),
            "phase    \(label) (\(jog.manualPhase == nil ? "automatic" : "set by key"))   success: "
                + (sample.success ? "YES" : "no"),
            jog.message,
            "",
            "W/S or ↑/↓ x   A/D or ←/→ y   R/F or PgUp/PgDn z   Q/E yaw   +/- step   space/G gripper",
            "1-7 phase (reach grasp lift move place release retreat), 0 automatic   p save waypoint",
            "Enter finish (keep)   r redo (same seed)   x discard   q/Esc stop",
        ]
        terminal.write("\u{1B}[H" + lines.map { $0 + "\u{1B}[K\n" }.joined() + "\u{1B}[J")
    }
}
