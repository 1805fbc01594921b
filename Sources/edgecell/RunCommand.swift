import ArgumentParser
import CellRuntime
import Dispatch
import Foundation
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

    @Option(help: "Controller: waypoint (scripted pick-and-place through IK and minimum-jerk trajectories).")
    var controller: ControllerOption = .waypoint

    @Option(parsing: .upToNextOption, help: "Task(s), e.g. bin-red stack-blue-green (default: the twin's task).")
    var task: [String] = []

    @Option(help: "Episodes per task.")
    var episodes = 1

    @Option(help: "Seed of the first episode.")
    var seed: UInt64 = 0

    @Option(help: "Endpoint of a running twin or cell bridge, e.g. tcp://127.0.0.1:5555 (default: start one).")
    var twin: String?

    @Option(help: "Mode of the local twin: lockstep or realtime.")
    var mode: TwinModeOption = .lockstep

    @Option(help: "Cameras of the local twin: scene,wrist or none.")
    var cameras = "none"

    @Option(help: "Image size of the local twin, N or WxH.")
    var imageSize = "96"

    @Option(help: "Control rate, Hz (the local twin's, and the control loop's in real-time mode).")
    var controlRate: Double = 100

    @Option(help: "Longest episode, s.")
    var timeLimit: Double = 30

    @Option(help: "Seconds one link attempt waits for the twin.")
    var linkTimeout: Double = 1.0

    @Option(help: "Attempts per request before the twin counts as gone.")
    var linkAttempts = 3

    @Flag(help: "Do not ask for SCHED_FIFO, CPU pinning and locked memory.")
    var noRealtime = false

    @Option(
        help: ArgumentHelp(
            "CPU placement: auto, none, or a CPU number.",
            discussion: """
                auto: in lock-step without cameras the runtime and the local twin share the last CPU (the step is \
                a sequential pipeline, and a wake-up across cores costs tens of microseconds on a VM); otherwise \
                only the control thread is pinned there. A number pins like auto but to that CPU. none: no pinning.
                """
        )
    )
    var pin = "auto"

    @Option(help: "Success rate (0…1) each task must reach for exit status 0.")
    var minSuccess: Double = 0.9

    @Option(help: "Write a JSON summary to this file.")
    var summaryJson: String?

    @Option(help: "Python interpreter for the local twin (default: the project's .venv).")
    var python: String?

    @Flag(help: "Show the twin's log lines.")
    var verbose = false

    func validate() throws {
        guard self.episodes >= 1 else { throw ValidationError("--episodes must be at least 1, not \(self.episodes)") }
        guard self.controlRate > 0, self.controlRate <= 2000 else {
            throw ValidationError("--control-rate must be in (0, 2000] Hz, not \(self.controlRate)")
        }
        guard self.timeLimit > 0 else { throw ValidationError("--time-limit must be positive") }
        guard self.linkTimeout > 0, self.linkAttempts >= 1 else {
            throw ValidationError("--link-timeout must be positive and --link-attempts at least 1")
        }
        guard (0...1).contains(self.minSuccess) else { throw ValidationError("--min-success must be in 0…1") }
        guard self.pin == "auto" || self.pin == "none" || Int(self.pin).map({ $0 >= 0 }) == true else {
            throw ValidationError("--pin must be auto, none or a CPU number, not '\(self.pin)'")
        }
        if let twin = self.twin, !(twin.hasPrefix("tcp://") || twin.hasPrefix("ipc://")) {
            throw ValidationError("--twin must be a ZeroMQ endpoint such as tcp://127.0.0.1:5555, not '\(twin)'")
        }
    }

    func run() throws {
        let console = Console()
        // CPU placement, decided before any thread exists so that later threads inherit it.
        let cpu: Int? =
            self.pin == "none" || self.noRealtime && self.pin == "auto"
            ? nil
            : (Int(self.pin) ?? RealtimeThread.lastCPU)
        // Rendering (Mesa's llvmpipe) uses threads of its own, so a run with cameras keeps both CPUs.
        let shareOneCPU = cpu != nil && self.mode == .lockstep && self.cameras == "none" && self.twin == nil
        if let cpu, shareOneCPU {
            console.line(
                "lock-step: runtime and local twin on CPU \(cpu): "
                    + RealtimeThread.pinCallingThread(to: cpu)
            )
        }
        var twinProcess: TwinProcess?
        let endpoint: String
        if let twin = self.twin {
            endpoint = twin
        } else {
            var options = TwinProcess.Options(python: self.python ?? TwinProcess.locatePython())
            options.arguments = [
                "--mode", self.mode.rawValue, "--cameras", self.cameras,
                "--image-size", self.imageSize, "--control-rate", String(self.controlRate),
            ]
            if let first = self.task.first { options.arguments += ["--task", first] }
            if let cpu, shareOneCPU { options.arguments += ["--cpu", String(cpu)] }
            options.echoLog = self.verbose
            console.line(
                "starting the twin: \(options.python) -m edgecell_twin \(options.arguments.joined(separator: " "))"
            )
            let process = try console.orExit { () throws(RuntimeError) in try TwinProcess(options: options) }
            twinProcess = process
            endpoint = process.endpoint
            console.line(process.readyLine)
        }
        defer { twinProcess?.terminate() }

        let context = try ZMQContext()
        var linkOptions = TwinLink.Options(endpoint: endpoint)
        linkOptions.timeout = self.linkTimeout
        linkOptions.attempts = self.linkAttempts
        let link = try console.orExit { () throws(RuntimeError) in try TwinLink(context: context, options: linkOptions)
        }
        let welcome = try console.orExit { () throws(RuntimeError) in try link.handshake() }
        console.line(
            "cell: \(welcome.twinName) \(welcome.twinVersion), \(welcome.robotName) with \(welcome.joints.count) "
                + "joints and \(welcome.gripper.name), \(welcome.mode == .lockStep ? "lock-step" : "real-time"), "
                + "control \(Int((1 / welcome.controlPeriod).rounded())) Hz, cameras "
                + (welcome.cameras.isEmpty
                    ? "none"
                    : welcome.cameras.map { "\($0.name) \($0.width)×\($0.height)" }
                        .joined(separator: ", "))
        )
        let runner = try console.orExit { () throws(RuntimeError) in try EpisodeRunner(link: link) }

        var request = RealtimeRequest()
        request.cpu = cpu ?? -1
        if self.noRealtime {
            request = .none
        } else {
            console.line("control thread: " + RealtimeThread.lockProcessMemory())
        }
        let signals = SignalRelay { runner.stopRequested.store(true, ordering: .relaxed) }
        defer { signals.cancel() }

        let tasks = self.task.isEmpty ? [welcome.task] : self.task
        var summary = RunSummary(controller: self.controller.rawValue, welcome: welcome)
        var realtimeLogged = false
        var interrupted = false
        outer: for task in tasks {
            for k in 0..<self.episodes {
                var options = EpisodeOptions(task: task, seed: self.seed + UInt64(k))
                options.timeLimit = self.timeLimit
                options.controlRate = self.controlRate
                options.realtime = request
                let result = runner.run(options)
                if !realtimeLogged && !result.realtime.lines.isEmpty {
                    console.line("control thread: \(result.realtime)")
                    realtimeLogged = true
                }
                summary.add(result)
                console.line(RunSummary.line(result, index: k + 1, of: self.episodes))
                if result.outcome == .linkFailure, let error = result.error {
                    var text = "error: \(error)"
                    if let process = twinProcess, let exit = process.exitDescription {
                        text +=
                            "\nthe local twin (pid \(process.pid)) \(exit); its last output:\n"
                            + process.lastLogLines.suffix(10).joined(separator: "\n")
                    }
                    console.error(text)
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
        if interrupted { throw ExitCode(130) }
        if summary.tasks.contains(where: { $0.value.successRate < self.minSuccess }) { throw ExitCode(3) }
    }
}

/// Controllers `run` offers.
enum ControllerOption: String, ExpressibleByArgument, CaseIterable {
    case waypoint
}

/// Relays SIGINT and SIGTERM to a closure (the first stops the episode; the second exits at once).
final class SignalRelay: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    init(_ handler: @escaping @Sendable () -> Void) {
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
