import Foundation
import Synchronization
import TwinProtocol

/// How to run an episode.
public struct EpisodeOptions: Sendable {
    /// Task name (empty = the twin's current task).
    public var task: String
    /// Seed of the episode's initial poses.
    public var seed: UInt64
    /// Longest episode, s of episode time (simulated in lock-step, wall in real-time).
    public var timeLimit = 30.0
    /// How long to wait for the success predicate after the controller finished, s.
    public var settleTime = 1.5
    /// Real-time mode: control rate, Hz (nil = the twin's control rate).
    public var controlRate: Double?
    /// Real-time mode: control ticks without a new observation before a safe stop.
    public var watchdogPeriods = 20
    /// What the control thread asks of the OS.
    public var realtime = RealtimeRequest()

    /// Options for one task and seed.
    public init(task: String, seed: UInt64) {
        self.task = task
        self.seed = seed
    }
}

/// How an episode ended.
public enum EpisodeOutcome: String, Sendable {
    /// The task's success predicate held when the controller finished.
    case success
    /// The controller finished and the task was not done within the settle time.
    case failed
    /// The episode ran out of time.
    case timeLimit = "time-limit"
    /// The twin stopped answering or broke the protocol.
    case linkFailure = "link-failure"
    /// The watchdog stopped the arm (no observations).
    case watchdog
    /// Planning failed before the arm moved.
    case planningFailure = "planning-failure"
    /// Stopped from outside (signal, `edgecell estop`): the arm braked to standstill and holds.
    case stopped
    /// The controller failed (policy inference error or non-finite action): the arm was held still.
    case controllerFault = "controller-fault"
    /// The safety supervisor stopped the arm (a non-finite target, the workspace box, grip force): it braked to
    /// standstill and holds.
    case safetyStop = "safety-stop"
}

/// What an episode did.
public struct EpisodeResult: Sendable {
    /// Task run.
    public var task: String
    /// Its instruction.
    public var instruction = ""
    /// Seed used.
    public var seed: UInt64
    /// How it ended.
    public var outcome: EpisodeOutcome
    /// The error behind a failure outcome.
    public var error: RuntimeError?
    /// Control ticks.
    public var steps = 0
    /// Episode time covered, s.
    public var episodeTime = 0.0
    /// Wall time of the control phase, s.
    public var wallTime = 0.0
    /// The phase the controller was in at the end.
    public var lastPhase = ""
    /// Loop timing.
    public var statistics = LoopStatistics()
    /// What the OS granted the control thread.
    public var realtime = RealtimeReport()
    /// Link counters at the end.
    public var link = TwinLink.Counters()
    /// The last joint targets sent to the cell (where the arm holds after the episode).
    public var finalCommand = JointVector()
    /// Every safety violation the supervisor saw (clamped or stopping).
    public var safetyViolations: SafetyViolations = []
    /// Commands the supervisor clamped.
    public var safetyClamps = 0

    /// Whether the task succeeded.
    public var succeeded: Bool { self.outcome == .success }
}

/// Runs episodes on a cell with the waypoint controller: reset → plan → control thread + I/O thread →
/// result. The control thread advances on simulation time in lock-step mode (one tick per observation) and
/// on `CLOCK_MONOTONIC` absolute deadlines in real-time mode; it talks to the I/O thread only through SPSC
/// rings and eventfd signals, and never touches the socket.
public final class EpisodeRunner: @unchecked Sendable {
    /// The link; owned by this runner, lent to its I/O thread during an episode.
    public let link: TwinLink
    /// The handshake.
    public let welcome: Welcome
    /// Plans waypoint programs into trajectories.
    public let planner: TrajectoryPlanner
    /// Writes the program for a task.
    public var taskPlanner = TaskPlanner()
    /// Raised from another thread (a signal handler's relay, an operator) to stop the running episode. It stays
    /// raised (a request between two episodes stops the next one at its first tick) until the caller lowers it.
    public let stopRequested = Atomic<Bool>(false)
    /// What the safety supervisor enforces on every command (docs/SAFETY.md), from the handshake.
    public var safetyLimits: SafetyLimits
    private let kinematics: Kinematics

    /// A runner over a link whose handshake is done.
    public init(link: TwinLink) throws(RuntimeError) {
        guard let welcome = link.welcome else {
            throw RuntimeError(.configuration, "the link has no handshake yet: call handshake() first")
        }
        self.link = link
        self.welcome = welcome
        self.planner = try TrajectoryPlanner(welcome: welcome)
        self.kinematics = try Kinematics(welcome: welcome)
        self.safetyLimits = SafetyLimits(welcome: welcome)
    }

    /// Runs one episode with the waypoint controller for the task. Never throws: failures are in the result.
    public func run(_ options: EpisodeOptions) -> EpisodeResult {
        self.run(options) { episode throws(RuntimeError) in
            let first = ObservationSample(episode.observation, seq: 0, receivedAt: MonotonicClock.nanoseconds())
            let program = try self.taskPlanner.program(
                task: episode.task,
                welcome: self.welcome,
                observation: episode.observation
            )
            let plan = try self.planner.plan(program, from: first.q, gripper: first.gripperAperture)
            return WaypointController(plan: plan)
        }
    }

    /// Plays a waypoint program (a taught one: fixed poses, whatever the scene) after resetting the task.
    public func run(program: WaypointProgram, options: EpisodeOptions) -> EpisodeResult {
        self.run(options) { episode throws(RuntimeError) in
            let first = ObservationSample(episode.observation, seq: 0, receivedAt: MonotonicClock.nanoseconds())
            return WaypointController(
                plan: try self.planner.plan(program, from: first.q, gripper: first.gripperAperture)
            )
        }
    }

    /// Runs a learned policy: the policy thread infers on every frame through the C kernel, the control thread
    /// executes the chunks (`execution`). `instruction` overrides the task's own.
    public func run(
        policy pipeline: PolicyPipeline,
        execution: ChunkExecution,
        instruction: String? = nil,
        options: EpisodeOptions
    ) -> EpisodeResult {
        let lockStep = self.welcome.mode == .lockStep
        let link = self.link
        return self.run(options, pipeline: pipeline) { episode throws(RuntimeError) in
            _ = pipeline.prepare(instruction: instruction ?? episode.instruction)
            let first = ObservationSample(episode.observation, seq: 0, receivedAt: MonotonicClock.nanoseconds())
            guard pipeline.publishFrame(from: link, images: episode.observation.images, sample: first) else {
                throw RuntimeError(
                    .configuration,
                    "the first observation lacks an image the policy needs (is the twin rendering its cameras?)"
                )
            }
            return PolicyController(pipeline: pipeline, execution: execution, lockStep: lockStep)
        }
    }

    /// Resets the task, builds a controller from the first observation (planning happens here, before the
    /// control thread starts), then runs it. Never throws: failures are in the result.
    public func run<Controller: CellController>(
        _ options: EpisodeOptions,
        pipeline: PolicyPipeline? = nil,
        controller makeController: (Episode) throws(RuntimeError) -> Controller
    ) -> EpisodeResult {
        var result = EpisodeResult(task: options.task, seed: options.seed, outcome: .planningFailure)
        let episode: Episode
        do {
            episode = try self.link.reset(task: options.task, seed: options.seed)
        } catch {
            result.outcome = .linkFailure
            result.error = error
            result.link = self.link.counters
            return result
        }
        result.task = episode.task
        result.instruction = episode.instruction
        do {
            let controller = try makeController(episode)
            let first = ObservationSample(episode.observation, seq: 0, receivedAt: MonotonicClock.nanoseconds())
            return self.run(controller: controller, first: first, options: options, result: result, pipeline: pipeline)
        } catch {
            result.error = error
            return result
        }
    }

    /// Shared between the control and I/O threads of one episode.
    private final class Episode_: @unchecked Sendable {
        let observations = SPSCRing<ObservationSample>(minimumCapacity: 256)
        let commands = SPSCRing<CommandSample>(minimumCapacity: 256)
        let observationReady: EventSignal
        let commandReady: EventSignal
        let statistics = LoopStatistics()
        /// Written by the I/O thread before it exits; read after join.
        var linkError: RuntimeError?
        /// Written by the control thread before it exits; read after join.
        var outcome = EpisodeOutcome.failed
        var lastPhase = 0
        var episodeTime = 0.0
        /// The last joint targets sent (written by the control thread before it exits).
        var finalCommand = JointVector()
        /// The supervisor at the end (written by the control thread before it exits).
        var safety: SafetySupervisor
        init(safety: SafetySupervisor) throws(RuntimeError) {
            self.safety = safety
            self.observationReady = try EventSignal()
            self.commandReady = try EventSignal()
        }
    }

    /// Runs a controller from the first observation until it finishes, fails or runs out of time.
    public func run<Controller: CellController>(
        controller: Controller,
        first: ObservationSample,
        options: EpisodeOptions,
        result: EpisodeResult,
        pipeline: PolicyPipeline? = nil
    ) -> EpisodeResult {
        var result = result
        let shared: Episode_
        var supervisor = SafetySupervisor(limits: self.safetyLimits, kinematics: self.kinematics)
        supervisor.reset(q: first.q, gripper: first.gripperAperture)
        do { shared = try Episode_(safety: supervisor) } catch {
            result.error = error
            return result
        }
        let lockStep = self.welcome.mode == .lockStep
        let labels = controller.phaseLabels
        let period = lockStep ? self.welcome.controlPeriod : 1 / (options.controlRate ?? 1 / self.welcome.controlPeriod)
        let linkBound = self.link.options.timeout * Double(self.link.options.attempts) + 1
        let wallStart = MonotonicClock.nanoseconds()

        let io: RealtimeThread
        let control: RealtimeThread
        var policyThread: RealtimeThread?
        do {
            let link = self.link
            if let pipeline {
                policyThread = try RealtimeThread(name: "edgecell-policy", request: .none) { pipeline.run() }
            }
            io = try RealtimeThread(name: "edgecell-io", request: .none) {
                if lockStep {
                    Self.lockStepIO(link: link, shared: shared, pipeline: pipeline)
                } else {
                    Self.realTimeIO(link: link, shared: shared, pipeline: pipeline)
                }
            }
            let stop = UnsafeSendable(self)
            control = try RealtimeThread(name: "edgecell-ctl", request: options.realtime) {
                var controller = controller
                if lockStep {
                    Self.lockStepControl(
                        &controller,
                        first: first,
                        period: period,
                        options: options,
                        waitBound: linkBound,
                        shared: shared,
                        stop: stop.value
                    )
                } else {
                    Self.realTimeControl(
                        &controller,
                        first: first,
                        period: period,
                        options: options,
                        shared: shared,
                        stop: stop.value
                    )
                }
            }
        } catch {
            result.error = error
            return result
        }
        result.realtime = control.join()
        io.join()
        if let pipeline {
            pipeline.stop()
            policyThread?.join()
            shared.statistics.inference.add(pipeline.inferenceLatency)
            shared.statistics.lateChunks = pipeline.lateChunks
            shared.statistics.framesSkipped = pipeline.framesSkipped
            shared.statistics.inferenceDelayEstimate = pipeline.inferenceDelayEstimate
        }
        result.wallTime = Double(MonotonicClock.nanoseconds() - wallStart) * 1e-9
        result.outcome = shared.outcome
        result.error = shared.linkError
        if result.outcome == .linkFailure && result.error == nil {
            result.error = RuntimeError(.twinUnreachable, "no observation from the twin for \(linkBound) s")
        }
        if result.outcome == .controllerFault {
            result.error = RuntimeError(
                .safetyStop,
                pipeline?.failure.map { "the policy failed: \($0); the arm was held still" }
                    ?? "the controller produced a non-finite or missing target; the arm was held still"
            )
        }
        if result.outcome == .safetyStop {
            result.error = RuntimeError(
                .safetyStop,
                "the safety supervisor stopped the arm: \(shared.safety.stopCause.names.joined(separator: ", ")) "
                    + "(braked to standstill, holding)"
                    + SafetySupervisor.describe(shared.safety.workspaceExit, limits: shared.safety.limits)
            )
        }
        result.finalCommand = shared.finalCommand
        result.safetyViolations = shared.safety.seen
        result.safetyClamps = shared.safety.clampedCommands
        if result.outcome == .watchdog {
            result.error = RuntimeError(
                .safetyStop,
                "no observation for \(options.watchdogPeriods) control periods: "
                    + "the arm braked to standstill and holds"
            )
        }
        result.steps = shared.statistics.ticks
        result.episodeTime = shared.episodeTime
        result.lastPhase = labels.indices.contains(shared.lastPhase) ? labels[shared.lastPhase] : ""
        shared.statistics.simulatedSeconds = shared.episodeTime
        shared.statistics.wallSeconds = result.wallTime
        result.statistics = shared.statistics
        result.link = self.link.counters
        return result
    }

    // MARK: - Lock-step: one control tick per observation, on simulation time

    private static func lockStepControl<Controller: CellController>(
        _ controller: inout Controller,
        first: ObservationSample,
        period: Double,
        options: EpisodeOptions,
        waitBound: Double,
        shared: Episode_,
        stop: EpisodeRunner
    ) {
        let statistics = shared.statistics
        var last = first
        let t0 = first.simTime
        var previousTick: Int64 = 0
        var judge = EpisodeJudge(options: options, stop: stop)
        var ended = false
        var outcome = EpisodeOutcome.failed
        var lastCommand = CommandSample(q: first.q, gripper: first.gripperAperture, issuedAt: 0)
        while true {
            let tick = MonotonicClock.nanoseconds()
            if previousTick != 0 { statistics.period.record(tick - previousTick) }
            previousTick = tick
            switch Self.tick(&controller, &judge, time: last.simTime - t0, period: period, last: last, shared: shared) {
            case .end(let end):
                outcome = end
                ended = true
            case .command(let command): lastCommand = command
            }
            if ended { break }
            statistics.compute.record(lastCommand.issuedAt - max(last.receivedAt, tick))
            // Wait for the observation that answers this command.
            var next: ObservationSample? = nil
            let deadline = MonotonicClock.nanoseconds() + Int64(waitBound * 1e9)
            while next == nil {
                next = shared.observations.pop()
                if next != nil { break }
                let left = deadline - MonotonicClock.nanoseconds()
                if left <= 0 { break }
                _ = shared.observationReady.wait(timeoutNanoseconds: left)
            }
            guard let observation = next, !observation.linkFailed else {
                outcome = .linkFailure
                break
            }
            last = observation
        }
        shared.outcome = outcome
        shared.finalCommand = lastCommand.q
        lastCommand.stop = true
        shared.commands.push(lastCommand)
        shared.commandReady.signal()
    }

    /// What one control tick produced.
    private enum Tick {
        case command(CommandSample)
        case end(EpisodeOutcome)
    }

    /// One control tick, the same in both modes: ask the controller, judge the episode, hand the command to
    /// the I/O thread.
    @inline(__always)
    private static func tick<Controller: CellController>(
        _ controller: inout Controller,
        _ judge: inout EpisodeJudge,
        time t: Double,
        period: Double,
        last: ObservationSample,
        shared: Episode_,
        watchdog: Bool = false
    ) -> Tick {
        shared.episodeTime = t
        let command = controller.update(time: t, period: period, observation: last)
        shared.lastPhase = command.phase
        // Every command passes the supervisor; once it has stopped the arm, its braking commands replace the
        // controller's until standstill, and the episode ends there.
        // An operator's stop (signal, e-stop) and the watchdog brake through the supervisor too.
        var safe: (q: JointVector, gripper: Double, violations: SafetyViolations)
        var request: SafetyViolations = []
        if judge.stop.stopRequested.load(ordering: .relaxed) { request = .operatorStop }
        if watchdog { request = .watchdog }
        if !request.isEmpty && !shared.safety.stopped {
            let braking = shared.safety.requestStop(request, period: period)
            safe = (braking.q, braking.gripper, request)
        } else {
            safe = shared.safety.filter(
                q: command.q,
                gripper: command.gripper,
                period: period,
                gripperForce: last.gripperForce
            )
        }
        if shared.safety.stopped {
            if shared.safety.atStandstill && safe.violations.isEmpty {
                switch shared.safety.stopCause {
                case .operatorStop: return .end(.stopped)
                case .watchdog: return .end(.watchdog)
                default: return .end(.safetyStop)
                }
            }
        } else if let end = judge.verdict(
            command,
            success: last.success,
            time: t,
            endsOnSuccess: controller.endsOnSuccess
        ) {
            return .end(end)
        }
        let sample = CommandSample(q: safe.q, gripper: safe.gripper, issuedAt: MonotonicClock.nanoseconds())
        shared.commands.push(sample)
        shared.commandReady.signal()
        shared.statistics.ticks += 1
        return .command(sample)
    }

    private static func lockStepIO(link: TwinLink, shared: Episode_, pipeline: PolicyPipeline?) {
        while true {
            guard let command = shared.commands.pop() else {
                _ = shared.commandReady.wait(timeoutNanoseconds: 100_000_000)
                continue
            }
            if command.stop { return }
            let sent = MonotonicClock.nanoseconds()
            do {
                let sample = try link.stepSample(targets: command.q, gripper: command.gripper)
                shared.statistics.roundTrip.record(sample.receivedAt - sent)
                if let pipeline, sample.imageCount > 0 {
                    pipeline.publishFrame(from: link, images: link.lastImages, sample: sample)
                }
                shared.observations.push(sample)
            } catch {
                shared.linkError = error
                var failed = ObservationSample()
                failed.linkFailed = true
                shared.observations.push(failed)
                shared.observationReady.signal()
                // Wait for the control thread's stop so no command is left unread.
                while !(shared.commands.pop()?.stop ?? false) {
                    _ = shared.commandReady.wait(timeoutNanoseconds: 100_000_000)
                }
                return
            }
            shared.observationReady.signal()
        }
    }

    // MARK: - Real time: absolute deadlines on CLOCK_MONOTONIC, latest observation wins

    private static func realTimeControl<Controller: CellController>(
        _ controller: inout Controller,
        first: ObservationSample,
        period: Double,
        options: EpisodeOptions,
        shared: Episode_,
        stop: EpisodeRunner
    ) {
        let statistics = shared.statistics
        let periodNs = Int64(period * 1e9)
        let start = MonotonicClock.nanoseconds()
        var deadline = start + periodNs
        var previousWake: Int64 = 0
        var last = first
        var lastObservationAt = start
        var judge = EpisodeJudge(options: options, stop: stop)
        var ended = false
        var outcome = EpisodeOutcome.failed
        var lastCommand = CommandSample(q: first.q, gripper: first.gripperAperture, issuedAt: 0)
        let watchdogNs = periodNs * Int64(options.watchdogPeriods)
        while true {
            MonotonicClock.sleep(untilNanoseconds: deadline)
            let wake = MonotonicClock.nanoseconds()
            statistics.lateness.record(wake - deadline)
            if previousWake != 0 { statistics.period.record(wake - previousWake) }
            previousWake = wake
            var skipped = 0
            if let observation = shared.observations.popLatest(skipped: &skipped) {
                if observation.linkFailed {
                    outcome = .linkFailure
                    break
                }
                if last.seq != 0 && observation.seq != last.seq &+ 1 &+ UInt64(skipped) {
                    statistics.observationGaps += 1
                }
                if observation.seq > last.seq || last.seq == 0 {
                    last = observation
                } else {
                    statistics.staleObservations += 1
                }
                lastObservationAt = wake
            }
            // No observation for the watchdog's periods: brake to standstill on the supervisor (commands still
            // go out; a twin or bridge that hears nothing holds by itself), then end as `watchdog`.
            let starved = wake - lastObservationAt > watchdogNs
            switch Self.tick(
                &controller,
                &judge,
                time: Double(wake - start) * 1e-9,
                period: period,
                last: last,
                shared: shared,
                watchdog: starved
            ) {
            case .end(let end):
                outcome = end
                ended = true
            case .command(let command): lastCommand = command
            }
            if ended { break }
            statistics.compute.record(lastCommand.issuedAt - wake)
            deadline += periodNs
            let now = MonotonicClock.nanoseconds()
            if now > deadline {
                // Skip the missed slots instead of bursting to catch up.
                statistics.overruns += 1
                deadline += ((now - deadline) / periodNs + 1) * periodNs
            }
        }
        shared.outcome = outcome
        shared.finalCommand = lastCommand.q
        // Hold where the arm is told to be; the twin also holds by itself when commands stop.
        lastCommand.stop = true
        shared.commands.push(lastCommand)
        shared.commandReady.signal()
    }

    private static func realTimeIO(link: TwinLink, shared: Episode_, pipeline: PolicyPipeline?) {
        var failed = false
        while true {
            do {
                let traffic = try link.waitForTraffic(orSignal: shared.commandReady, timeout: 0.05)
                if traffic.signalled {
                    shared.commandReady.consume()
                    var skipped = 0
                    if let command = shared.commands.popLatest(skipped: &skipped) {
                        if !failed { try link.command(targets: command.q, gripper: command.gripper) }
                        if command.stop { return }
                    }
                }
                if traffic.readable && !failed {
                    while let sample = try link.nextObservation(timeout: 0) {
                        if let pipeline, sample.imageCount > 0 {
                            pipeline.publishFrame(from: link, images: link.lastImages, sample: sample)
                        }
                        shared.observations.push(sample)
                    }
                }
            } catch {
                if !failed {
                    shared.linkError = error
                    var sample = ObservationSample()
                    sample.linkFailed = true
                    shared.observations.push(sample)
                    failed = true
                }
            }
        }
    }
}

/// Decides on every tick whether the episode is over: success once the controller finished and the task's
/// predicate holds; failure when it still does not hold `settleTime` after that; the time limit; a stop
/// request. Plain values only: it runs on the control thread.
struct EpisodeJudge {
    let options: EpisodeOptions
    let stop: EpisodeRunner
    var finishedAt = -1.0

    init(options: EpisodeOptions, stop: EpisodeRunner) {
        self.options = options
        self.stop = stop
    }

    mutating func verdict(
        _ command: ControllerCommand,
        success: Bool,
        time t: Double,
        endsOnSuccess: Bool
    ) -> EpisodeOutcome? {
        if command.finished && self.finishedAt < 0 { self.finishedAt = t }
        var outcome: EpisodeOutcome? = nil
        if command.fault {
            outcome = .controllerFault
        } else if (command.finished || endsOnSuccess) && success {
            outcome = .success
        } else if self.finishedAt >= 0 && t - self.finishedAt >= self.options.settleTime {
            outcome = .failed
        } else if t >= self.options.timeLimit {
            outcome = .timeLimit
        }
        return outcome
    }
}

/// Carries a reference into a thread whose lifetime the caller bounds (it joins before returning).
struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
