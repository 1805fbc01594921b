import ArgumentParser
import CellRuntime
import Dispatch
import Foundation
import Teach
import TwinProtocol
import ZeroMQ

/// `edgecell run`: runs episodes on a cell and reports success and loop timing.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the runtime on a cell: episodes of a task with a controller, then a success and timing summary.",
        discussion: """
            Without --twin, a local twin is started on a free loopback port and stopped at the end. Episode k of a \
            task uses seed --seed + k. Exit status: 0 when every task reached --min-success, 1 on an error (twin \
            unreachable, planning failure), 3 when a task's success rate fell below --min-success, 130 when \
            stopped by SIGINT or SIGTERM.
            """
    )

    @Option(
        help: """
            Controller: waypoint (scripted pick-and-place through IK and minimum-jerk trajectories) or policy \
            (a learned model through the C kernel; needs --model).
            """
    )
    var controller: ControllerOption = .waypoint

    @Option(parsing: .upToNextOption, help: "Task(s), e.g. bin-red stack-blue-green (default: the twin's task).")
    var task: [String] = []

    @Option(help: "Episodes per task.")
    var episodes = 1

    @Option(help: "Seed of the first episode.")
    var seed: UInt64 = 0

    @Option(help: "Longest episode, s.")
    var timeLimit: Double = 30

    @Option(help: "Success rate (0…1) each task must reach for exit status 0.")
    var minSuccess: Double = 0.9

    @Option(help: "Write a JSON summary to this file.")
    var summaryJson: String?

    @Option(help: "Play a taught waypoint program file (edgecell teach program) instead of the task planner's plan.")
    var program: String?

    @OptionGroup(title: "Policy") var policy: PolicyRunOptions

    @OptionGroup(title: "Cell") var cell: CellOptions

    @OptionGroup(title: "Demand metrics") var demand: DemandOptions

    func validate() throws {
        guard self.episodes >= 1 else { throw ValidationError("--episodes must be at least 1, not \(self.episodes)") }
        guard self.timeLimit > 0 else { throw ValidationError("--time-limit must be positive") }
        guard (0...1).contains(self.minSuccess) else { throw ValidationError("--min-success must be in 0…1") }
        if self.controller == .policy && self.policy.model == nil {
            throw ValidationError("--controller policy needs --model DIR (a model folder, e.g. Models/base)")
        }
        if self.controller == .policy && self.program != nil {
            throw ValidationError("--program plays a waypoint program; it does not go with --controller policy")
        }
        if self.demand.strategyEndpoint != nil && self.controller != .policy {
            throw ValidationError("--strategy-endpoint reports a policy's compute demand: it needs --controller policy")
        }
    }

    func run() throws {
        let console = Console()
        let loaded = self.controller == .policy ? try self.policy.load(console: console) : nil
        let taught = try self.program.map { path in
            try TeachRecord.orExit(console) { () throws(TeachError) in try TeachProgram.load(path) }
        }
        let session = try CellSession(
            self.cell,
            console: console,
            cameras: loaded?.cameras ?? "none",
            imageSize: loaded?.imageSize ?? "96",
            cameraRate: loaded == nil ? nil : 10,
            task: self.task.first
        )
        defer { session.close() }
        let pipeline = try loaded.map { loaded in
            try console.orExit { () throws(RuntimeError) in
                try PolicyPipeline(policy: loaded.policy, welcome: session.welcome)
            }
        }
        if let pipeline {
            console.line(self.policy.describe(pipeline))
        }
        let demand =
            self.demand.enabled
            ? try DemandSession(
                self.demand,
                session: session,
                cell: self.cell,
                pipeline: pipeline,
                policyOptions: self.policy,
                console: console
            ) : nil
        defer { demand?.close() }

        let gripper = session.welcome.gripper.apertureMin...session.welcome.gripper.apertureMax
        let playback = try taught.map { program in
            try TeachRecord.orExit(console) { () throws(TeachError) in try program.waypointProgram(gripper: gripper) }
        }
        let tasks = self.task.isEmpty ? [session.welcome.task] : self.task
        var summary = RunSummary(
            controller: playback.map { "program '\($0.name)'" } ?? self.controller.rawValue,
            welcome: session.welcome
        )
        var realtimeLogged = false
        var interrupted = false
        outer: for task in tasks {
            for k in 0..<self.episodes {
                let result = session.episode(
                    task: task,
                    seed: self.seed + UInt64(k),
                    timeLimit: self.timeLimit,
                    controlRate: self.cell.controlRate,
                    pipeline: pipeline,
                    policy: self.policy,
                    program: playback
                )
                if !realtimeLogged && !result.realtime.lines.isEmpty {
                    console.line("control thread: \(result.realtime)")
                    realtimeLogged = true
                }
                summary.add(result)
                demand?.add(result)
                console.line(RunSummary.line(result, index: k + 1, of: self.episodes))
                if result.outcome == .linkFailure, let error = result.error {
                    session.reportLinkFailure(error)
                    break outer
                }
                if result.outcome == .stopped {
                    interrupted = true
                    break outer
                }
            }
        }
        console.line("")
        for line in summary.report() { console.line(line) }
        if let path = self.summaryJson {
            try console.orExit { () throws(RuntimeError) in try summary.writeJSON(to: path) }
        }
        if summary.hadError { throw ExitCode(1) }
        if session.estopped { throw ExitCode(4) }
        if interrupted { throw ExitCode(130) }
        if summary.tasks.contains(where: { $0.value.successRate < self.minSuccess }) { throw ExitCode(3) }
    }
}

/// Controllers `run` offers.
enum ControllerOption: String, ExpressibleByArgument, CaseIterable {
    case waypoint, policy
}

/// Relays SIGINT and SIGTERM to a closure (the first stops the episode; the second exits at once), and SIGUSR1
/// (`edgecell estop`) to another.
final class SignalRelay: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    convenience init(_ handler: @escaping @Sendable () -> Void) {
        self.init(stop: handler, estop: handler)
    }

    init(stop handler: @escaping @Sendable () -> Void, estop: @escaping @Sendable () -> Void) {
        signal(SIGUSR1, SIG_IGN)
        let usr1 = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: .global())
        usr1.setEventHandler {
            FileHandle.standardError.write(Data("\ne-stop: braking the arm to standstill\n".utf8))
            estop()
        }
        usr1.resume()
        self.sources.append(usr1)
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            nonisolated(unsafe) var seen = false
            source.setEventHandler {
                if seen { exit(130) }
                seen = true
                FileHandle.standardError.write(
                    Data("\nstopping: the episode ends now (signal again to exit at once)\n".utf8)
                )
                handler()
            }
            source.resume()
            self.sources.append(source)
        }
    }

    func cancel() {
        for source in self.sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        signal(SIGUSR1, SIG_DFL)
    }
}

/// Prints lines; turns runtime errors into a message and exit status 1.
struct Console {
    func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    func orExit<T>(_ body: () throws(RuntimeError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            self.error("error: \(error)")
            throw ExitCode(1)
        }
    }
}
