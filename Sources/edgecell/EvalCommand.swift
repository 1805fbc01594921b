import ArgumentParser
import CellRuntime
import Evaluation
import Foundation

/// `edgecell eval`: seeded episodes per task on held-out seeds, success rates with confidence intervals, a
/// report; built for CI (exit status from --min-success, JSON and JUnit XML).
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a policy (or the waypoint controller) on held-out seeds and write a report.",
        discussion: """
            Episode k of each task uses seed --seed + k (default from 100000: demonstrations are recorded with \\
            seeds below that). Writes report.md (with plots and film strips of one success and one failure per \\
            task), report.json and junit.xml into --report. Exit status: 0 when every task reached --min-success, \\
            1 on an error, 3 when a task fell below it.
            """
    )

    @Option(parsing: .upToNextOption, help: "Tasks (default: the tasks the model was trained on, else the twin's).")
    var task: [String] = []

    @Option(help: "Episodes per task.")
    var episodes = 50

    @Option(help: "Seed of the first episode of each task.")
    var seed: UInt64 = 100_000

    @Option(help: "Longest episode, s.")
    var timeLimit: Double = 20

    @Option(help: "Success rate (0…1) each task must reach for exit status 0.")
    var minSuccess: Double = 0

    @Option(help: "Folder for report.md, report.json, junit.xml, plots and film strips.")
    var report: String?

    @Option(help: "Also write the JSON report here.")
    var json: String?

    @Option(help: "Also write the JUnit XML here.")
    var junit: String?

    @Flag(help: "Evaluate the scripted waypoint controller instead of a policy (the baseline).")
    var waypoint = false

    @OptionGroup(title: "Policy") var policy: PolicyRunOptions

    @OptionGroup(title: "Cell") var cell: CellOptions

    @OptionGroup(title: "Demand metrics") var demand: DemandOptions

    func validate() throws {
        guard self.episodes >= 1 else { throw ValidationError("--episodes must be at least 1") }
        guard self.timeLimit > 0 else { throw ValidationError("--time-limit must be positive") }
        guard (0...1).contains(self.minSuccess) else { throw ValidationError("--min-success must be in 0…1") }
        if !self.waypoint && self.policy.model == nil {
            throw ValidationError("eval needs --model DIR (or --waypoint for the scripted baseline)")
        }
        if self.demand.strategyEndpoint != nil && self.waypoint {
            throw ValidationError(
                "--strategy-endpoint reports a policy's compute demand: it does not go with --waypoint"
            )
        }
    }

    func run() throws {
        let console = Console()
        let loaded = self.waypoint ? nil : try self.policy.load(console: console)
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
        if let pipeline { console.line(self.policy.describe(pipeline)) }
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
        let trained = loaded?.policy.config.trainedTasks ?? []
        let tasks = !self.task.isEmpty ? self.task : (!trained.isEmpty ? trained : [session.welcome.task])
        var report = EvaluationReport(
            controller: self.waypoint ? "waypoint" : "policy",
            model: self.policy.model,
            modelName: loaded?.policy.config.name,
            variant: loaded.map { _ in self.policy.variant.rawValue },
            chunking: pipeline.map { self.policy.execution($0).description },
            cell: "\(session.welcome.twinName) \(session.welcome.twinVersion) (\(session.welcome.robotName))",
            mode: session.welcome.mode == .lockStep ? "lock-step" : "real-time",
            firstSeed: self.seed
        )
        if let directory = self.report {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var hadError = false
        var interrupted = false
        var timing = RunSummary(controller: report.controller, welcome: session.welcome)
        outer: for task in tasks {
            var stripsWritten: Set<Bool> = []
            for k in 0..<self.episodes {
                let result = session.episode(
                    task: task,
                    seed: self.seed + UInt64(k),
                    timeLimit: self.timeLimit,
                    controlRate: self.cell.controlRate,
                    pipeline: pipeline,
                    policy: self.policy
                )
                report.episodes.append(EvaluationReport.Episode(result))
                demand?.add(result)
                report.inference.add(result.statistics.inference)
                timing.add(result)
                console.line(RunSummary.line(result, index: k + 1, of: self.episodes))
                if let directory = self.report, let pipeline, !stripsWritten.contains(result.succeeded),
                    [.success, .failed, .timeLimit, .controllerFault, .safetyStop, .watchdog].contains(result.outcome),
                    let strip = PNG.filmStrip(pipeline.filmStripFrames())
                {
                    let kind = result.succeeded ? "success" : "failure"
                    let file = "\(task)-\(kind).png"
                    try console.orExit { () throws(RuntimeError) in
                        try AtomicFile.write(
                            PNG.encode(width: strip.width, height: strip.height, rgb: strip.rgb),
                            to: directory + "/" + file
                        )
                    }
                    report.filmStrips[task, default: []].append((kind, file, result.seed))
                    stripsWritten.insert(result.succeeded)
                }
                if result.outcome == .linkFailure, let error = result.error {
                    session.reportLinkFailure(error)
                    hadError = true
                    break outer
                }
                if result.outcome == .stopped {
                    interrupted = true
                    break outer
                }
            }
        }
        console.line("")
        console.line("evaluation (\(report.controller), seeds from \(self.seed)):")
        var belowBar = false
        for task in report.tasks {
            let s = report.summary(task)
            console.line(
                String(
                    format: "  %-20@ %3d/%-3d succeeded (%5.1f %%, 95 %% interval %.0f–%.0f %%)%@",
                    task,
                    s.successes,
                    s.episodes,
                    s.rate * 100,
                    s.low * 100,
                    s.high * 100,
                    s.meanTimeToSuccess.map { String(format: ", mean time to success %.2f s", $0) } ?? ""
                )
            )
            if s.rate < self.minSuccess { belowBar = true }
        }
        if report.inference.count > 0 { console.line("  inference per chunk: " + report.inference.summaryMicros()) }
        for line in timing.timingLines() { console.line(line) }
        if let directory = self.report {
            try console.orExit { () throws(RuntimeError) in try report.write(to: directory) }
            console.line("report: \(directory)/report.md")
        }
        if let path = self.json {
            try console.orExit { () throws(RuntimeError) in try AtomicFile.write(try report.json(), to: path) }
        }
        if let path = self.junit {
            try console.orExit { () throws(RuntimeError) in try AtomicFile.write(Data(report.junit().utf8), to: path) }
        }
        if hadError { throw ExitCode(1) }
        if session.estopped { throw ExitCode(4) }
        if interrupted { throw ExitCode(130) }
        if belowBar {
            console.error("a task is below --min-success \(self.minSuccess)")
            throw ExitCode(3)
        }
    }
}
