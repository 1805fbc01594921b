import ArgumentParser
import CellRuntime
import Foundation
import LinkSecurity
import Synchronization
import TwinProtocol
import ZeroMQ

/// How `run`, `eval` and the teaching commands reach a cell: a running one (`--twin`) or a local twin.
struct CellOptions: ParsableArguments {
    @Option(help: "Endpoint of a running twin or cell bridge, e.g. tcp://127.0.0.1:5555 (default: start one).")
    var twin: String?

    // `.unconditional`: Z85 keys may begin with `-`, which would otherwise read as an option.
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "The twin's (or cell bridge's) CURVE public key (Z85, key line or file): encrypts and authenticates the "
                + "link to --twin.",
            discussion: """
                Needed when --twin is on another machine; the twin prints its key at start. This cell's own key pair \
                (`edgecell keys generate`) must be in the twin's --curve-allow file.
                """,
            valueName: "key"
        )
    )
    var twinKey: String?

    @Flag(
        help: ArgumentHelp(
            "Development only: let --twin and --strategy-endpoint on loopback or ipc:// run without CURVE.",
            discussion: "Plaintext, no authentication: any local user can connect. Links off the machine never do."
        )
    )
    var devPlaintext = false

    @Option(help: "Mode of the local twin: lockstep or realtime.")
    var mode: TwinModeOption = .lockstep

    @Option(help: "Cameras of the local twin: scene,wrist or none (default: none, or the model's cameras).")
    var cameras: String?

    @Option(help: "Image size of the local twin, N or WxH (default: 96, or the model's).")
    var imageSize: String?

    @Option(help: "Observations carrying images per second (default: every step, or 10 Hz with a policy).")
    var cameraRate: Double?

    @Option(help: "Control rate, Hz (the local twin's, and the control loop's in real-time mode).")
    var controlRate: Double = 100

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

    @Option(help: "Python interpreter for the local twin (default: the project's .venv).")
    var python: String?

    @Flag(help: "Show the twin's log lines.")
    var verbose = false

    func validate() throws {
        guard self.controlRate > 0, self.controlRate <= 2000 else {
            throw ValidationError("--control-rate must be in (0, 2000] Hz, not \(self.controlRate)")
        }
        if let rate = self.cameraRate, !(rate > 0 && rate <= self.controlRate) {
            throw ValidationError("--camera-rate must be in (0, --control-rate], not \(rate)")
        }
        guard self.linkTimeout > 0, self.linkAttempts >= 1 else {
            throw ValidationError("--link-timeout must be positive and --link-attempts at least 1")
        }
        guard self.pin == "auto" || self.pin == "none" || Int(self.pin).map({ $0 >= 0 }) == true else {
            throw ValidationError("--pin must be auto, none or a CPU number, not '\(self.pin)'")
        }
        if let twin = self.twin, !(twin.hasPrefix("tcp://") || twin.hasPrefix("ipc://")) {
            throw ValidationError("--twin must be a ZeroMQ endpoint such as tcp://127.0.0.1:5555, not '\(twin)'")
        }
        if let twin = self.twin, self.twinKey == nil, LinkPolicy.reach(of: twin) == .network {
            throw ValidationError(LinkPolicy.clientWithoutServerKey(endpoint: twin, option: "--twin-key"))
        }
        if self.twinKey != nil && self.twin == nil {
            throw ValidationError("--twin-key goes with --twin (a local twin started by this command needs no key)")
        }
    }
}

/// Set by the SIGUSR1 relay when `edgecell estop` stops the session.
final class EstopFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// A connected cell: the local twin (if this process started it), the link, the handshake, the episode runner,
/// the real-time request for the control thread, and a signal relay that stops the running episode.
final class CellSession {
    let console: Console
    let twinProcess: TwinProcess?
    let link: TwinLink
    let welcome: Welcome
    let runner: EpisodeRunner
    let request: RealtimeRequest
    private let context: ZMQContext
    private var signals: SignalRelay?
    private let estop = EstopFlag()
    /// `edgecell estop` stopped this session (SIGUSR1): the command exits with status 4.
    var estopped: Bool { self.estop.value.load(ordering: .relaxed) }

    /// Starts (or reaches) the cell and says what it is.
    /// - Parameters:
    ///   - cameras, imageSize, cameraRate: what a local twin should render unless the options say otherwise.
    ///   - task: the local twin's first task.
    init(
        _ options: CellOptions,
        console: Console,
        cameras: String = "none",
        imageSize: String = "96",
        cameraRate: Double? = nil,
        task: String? = nil
    ) throws {
        self.console = console
        if let latch = EstopLatch.engaged() {
            console.error("the e-stop is engaged (\(latch)); release it with `edgecell estop --reset`")
            throw ExitCode(4)
        }
        try console.orExit { () throws(RuntimeError) in try EstopLatch.register() }
        let cameras = options.cameras ?? cameras
        let cpu: Int? =
            options.pin == "none" || options.noRealtime && options.pin == "auto"
            ? nil : (Int(options.pin) ?? RealtimeThread.lastCPU)
        // Rendering (Mesa's llvmpipe) uses threads of its own, so a run with cameras keeps both CPUs; decided
        // before any thread exists so that later threads inherit it.
        let shareOneCPU = cpu != nil && options.mode == .lockstep && cameras == "none" && options.twin == nil
        if let cpu, shareOneCPU {
            console.line("lock-step: runtime and local twin on CPU \(cpu): " + RealtimeThread.pinCallingThread(to: cpu))
        }
        let endpoint: String
        var curve: CurveClientKeys?
        if let twin = options.twin {
            endpoint = twin
            curve = try LinkSetup.client(
                endpoint: twin,
                serverKey: options.twinKey,
                option: "--twin-key",
                plaintext: options.devPlaintext
            )
            self.twinProcess = nil
        } else {
            var twinOptions = TwinProcess.Options(python: options.python ?? TwinProcess.locatePython())
            twinOptions.arguments = [
                "--mode", options.mode.rawValue, "--cameras", cameras,
                "--image-size", options.imageSize ?? imageSize, "--control-rate", String(options.controlRate),
            ]
            if let rate = options.cameraRate ?? cameraRate, cameras != "none" {
                twinOptions.arguments += ["--camera-rate", String(rate)]
            }
            if let task { twinOptions.arguments += ["--task", task] }
            if let cpu, shareOneCPU { twinOptions.arguments += ["--cpu", String(cpu)] }
            // The twin started here is secured with key pairs made for this run: its secret goes through a pipe,
            // this runtime's public key is the only one it admits, and nothing is written to disk.
            let keys = try Self.runKeys(console)
            twinOptions.arguments += ["--curve-secret-key", "-", "--curve-allow-key=" + keys.runtime.publicKey.z85]
            twinOptions.standardInput = "edgecell-curve-secret-v1 \(keys.twin.publicKey.z85) \(keys.twin.secretZ85)\n"
            curve = CurveClientKeys(keyPair: keys.runtime, serverKey: keys.twin.publicKey)
            twinOptions.echoLog = options.verbose
            console.line(
                "starting the twin: \(twinOptions.python) -m edgecell_twin \(twinOptions.arguments.joined(separator: " ")) "
                    + "(CURVE, keys made for this run)"
            )
            let process = try console.orExit { () throws(RuntimeError) in try TwinProcess(options: twinOptions) }
            self.twinProcess = process
            endpoint = process.endpoint
            console.line(process.readyLine)
        }
        self.context = try ZMQContext()
        var linkOptions = TwinLink.Options(endpoint: endpoint)
        linkOptions.timeout = options.linkTimeout
        linkOptions.attempts = options.linkAttempts
        linkOptions.curve = curve
        let context = self.context
        let link = try console.orExit { () throws(RuntimeError) in try TwinLink(context: context, options: linkOptions)
        }
        self.link = link
        let welcome = try console.orExit { () throws(RuntimeError) in try link.handshake() }
        self.welcome = welcome
        console.line(
            "cell: \(welcome.twinName) \(welcome.twinVersion), \(welcome.robotName) with \(welcome.joints.count) "
                + "joints and \(welcome.gripper.name), \(welcome.mode == .lockStep ? "lock-step" : "real-time"), "
                + "control \(Int((1 / welcome.controlPeriod).rounded())) Hz, cameras "
                + (welcome.cameras.isEmpty
                    ? "none" : welcome.cameras.map { "\($0.name) \($0.width)×\($0.height)" }.joined(separator: ", "))
        )
        self.runner = try console.orExit { () throws(RuntimeError) in try EpisodeRunner(link: link) }
        var request = RealtimeRequest()
        request.cpu = cpu ?? -1
        if options.noRealtime {
            request = .none
        } else {
            console.line("control thread: " + RealtimeThread.lockProcessMemory())
        }
        self.request = request
        let runner = self.runner
        let estop = self.estop
        self.signals = SignalRelay(
            stop: { runner.stopRequested.store(true, ordering: .relaxed) },
            estop: {
                estop.value.store(true, ordering: .relaxed)
                runner.stopRequested.store(true, ordering: .relaxed)
            }
        )
    }

    deinit { self.close() }

    /// Key pairs for a local twin and this runtime, made for one run.
    static func runKeys(_ console: Console) throws -> (twin: CurveKeyPair, runtime: CurveKeyPair) {
        do { return (try CurveKeyPair.generate(), try CurveKeyPair.generate()) } catch {
            console.error("error: cannot make CURVE keys for the local twin: \(error)")
            throw ExitCode(1)
        }
    }

    /// Runs one episode of `task` with seed `seed`: the policy in `pipeline` if given (chunks executed as
    /// `policy` says), else the taught `program`, else the task planner's waypoint plan.
    func episode(
        task: String,
        seed: UInt64,
        timeLimit: Double,
        controlRate: Double,
        pipeline: PolicyPipeline? = nil,
        policy: PolicyRunOptions? = nil,
        program: WaypointProgram? = nil
    ) -> EpisodeResult {
        var options = EpisodeOptions(task: task, seed: seed)
        options.timeLimit = timeLimit
        options.controlRate = controlRate
        options.realtime = self.request
        let result: EpisodeResult
        if let pipeline, let policy {
            result = self.runner.run(
                policy: pipeline,
                execution: policy.execution(pipeline),
                instruction: policy.instruction,
                options: options
            )
        } else if let program {
            result = self.runner.run(program: program, options: options)
        } else {
            result = self.runner.run(options)
        }
        Self.auditSafety(result)
        return result
    }

    /// Limit violations go to the audit log once per episode, after it ended (never from the control thread):
    /// `safety.stop` when the supervisor stopped the arm, `safety.clamped` when it only clamped commands.
    static func auditSafety(_ result: EpisodeResult) {
        guard result.outcome == .safetyStop || result.safetyClamps > 0 else { return }
        var fields = [
            "task": result.task, "seed": String(result.seed), "outcome": result.outcome.rawValue,
            "clamped_commands": String(result.safetyClamps),
            "limits": result.safetyViolations.names.joined(separator: ","),
        ]
        if result.outcome == .safetyStop, let error = result.error { fields["reason"] = "\(error)" }
        AuditTrail.record(result.outcome == .safetyStop ? "safety.stop" : "safety.clamped", fields)
    }

    /// Stops the signal relay and the local twin.
    func close() {
        EstopLatch.unregister()
        self.signals?.cancel()
        self.signals = nil
        self.twinProcess?.terminate()
    }

    /// Prints a link failure, with the local twin's last words if it died.
    func reportLinkFailure(_ error: RuntimeError) {
        var text = "error: \(error)"
        if let process = self.twinProcess, let exit = process.exitDescription {
            text +=
                "\nthe local twin (pid \(process.pid)) \(exit); its last output:\n"
                + process.lastLogLines.suffix(10).joined(separator: "\n")
        }
        self.console.error(text)
    }
}
