import ArgumentParser
import CellRuntime
import Foundation
import Teach

/// `edgecell teach`: record demonstrations into a dataset, write waypoint programs, train a policy.
struct TeachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teach",
        abstract: "Teach the cell: record demonstrations, write waypoint programs, train a policy.",
        discussion: "The operator guide is docs/TEACHING.md; the dataset format docs/DATASET.md.",
        subcommands: [TeachRecord.self, TeachProgramCommand.self, TeachInfo.self, TeachTrain.self, TeachExport.self]
    )
}

extension DemonstrationSource: ExpressibleByArgument {}

/// `edgecell teach record`.
struct TeachRecord: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract:
            "Record demonstrations (the cell's expert, a waypoint program, or you at the keyboard) into a dataset.",
        discussion: """
            Appends to --dataset (created if missing; its robot, cameras and camera rate must match the cell's). \
            Episode k of the dataset uses seed --seed + k (k counts the whole dataset, so resuming never repeats \
            a seed; an attempt that is not kept still uses up its seed). Seeds from 100000 up are held out for \
            evaluation and refused. Without --twin a local lock-step twin is started; it renders \
            scene,wrist at 96×96 with images every 10th step (10 Hz) unless --cameras, --image-size or \
            --camera-rate say otherwise. Exit status: 0 done, 1 an error, 130 stopped (Ctrl-C ends the session; the running episode is \
            discarded).
            """
    )

    @Option(help: "The dataset folder.")
    var dataset: String

    @Option(
        help: "Who demonstrates: expert (the cell's scripted expert), keyboard (you), program (a waypoint program)."
    )
    var source: DemonstrationSource

    @Option(parsing: .upToNextOption, help: "Task(s) to record, e.g. bin-red stack-blue-green.")
    var task: [String]

    @Option(help: "Episodes to attempt per task (default 1); keyboard: episodes to keep per task (default: until q).")
    var episodes: Int?

    @Option(help: "Base seed: dataset episode k uses seed --seed + k.")
    var seed: UInt64 = 0

    @Option(help: "The waypoint program file (source program; with keyboard, `p` saves waypoints into it).")
    var program: String?

    @Flag(help: "Keep episodes that did not succeed (source expert or program).")
    var keepFailures = false

    @Option(help: "Longest episode, s (default 30; keyboard 300).")
    var timeLimit: Double?

    @Option(help: "The dataset's name when it is created (default: the folder's name).")
    var name: String?

    @Option(help: "Who is demonstrating, recorded in each episode's provenance.")
    var `operator`: String?

    @Option(help: "zlib level of the frames, 1 (fastest) … 9 (smallest).")
    var compression: Int32 = 1

    @OptionGroup(title: "Cell") var cell: CellOptions

    func validate() throws {
        guard !self.task.isEmpty else { throw ValidationError("give at least one --task, e.g. --task bin-red") }
        if let episodes = self.episodes, episodes < 1 {
            throw ValidationError("--episodes must be at least 1, not \(episodes)")
        }
        if let limit = self.timeLimit, !(limit > 0 && limit <= 3600) {
            throw ValidationError("--time-limit must be in (0, 3600] s, not \(limit)")
        }
        if self.source == .program && self.program == nil {
            throw ValidationError("--source program needs --program FILE (a waypoint program, see `teach program`)")
        }
        if self.source == .expert && self.program != nil {
            throw ValidationError("--program goes with --source program or keyboard, not expert")
        }
        guard (1...9).contains(self.compression) else { throw ValidationError("--compression must be 1…9") }
        guard self.seed < SeedSchedule.evaluationSeeds else {
            throw ValidationError(
                "--seed \(self.seed) is in the held-out evaluation range (≥ \(SeedSchedule.evaluationSeeds))"
            )
        }
    }

    func run() throws {
        let console = Console()
        // Refuse a bad program before starting a twin.
        let program = try self.program.map { path in
            try Self.orExit(console) { () throws(TeachError) in
                self.source == .keyboard && !FileManager.default.fileExists(atPath: path)
                    ? TeachProgram(name: ((path as NSString).lastPathComponent as NSString).deletingPathExtension)
                    : try TeachProgram.load(path)
            }
        }
        let session = try CellSession(
            self.cell,
            console: console,
            cameras: "scene,wrist",
            imageSize: "96",
            cameraRate: 10,
            task: self.task.first
        )
        defer { session.close() }
        let welcome = session.welcome
        let name = self.name ?? URL(fileURLWithPath: self.dataset).standardizedFileURL.lastPathComponent
        let writer = try Self.orExit(console) { () throws(TeachError) in
            let header = try Recorder.header(welcome: welcome, name: name)
            let writer = try DatasetWriter(directory: self.dataset, header: header)
            writer.compressionLevel = self.compression
            return writer
        }
        defer { writer.close() }
        for leftover in writer.removedLeftovers { console.line("removed \(leftover) (an interrupted recording)") }
        for index in writer.adopted {
            console.line(String(format: "adopted episode %06d (written, not yet listed when a session stopped)", index))
        }
        let frames =
            writer.index.cameras.isEmpty
            ? "no cameras"
            : "frames every \(writer.index.frameEvery) steps ("
                + String(format: "%g Hz", 1 / (welcome.controlPeriod * Double(writer.index.frameEvery))) + ") from "
                + writer.index.cameras.map { "\($0.name) \($0.width)×\($0.height)" }.joined(separator: ", ")
        console.line(
            "dataset \(self.dataset): \(writer.created ? "created" : "resumed"), "
                + "\(writer.index.counts.episodes) episodes; \(frames)"
        )
        var options = RecordingOptions(
            tasks: self.task,
            episodes: self.episodes ?? (self.source == .keyboard ? Int.max / 4 : 1),
            seed: self.seed
        )
        options.keepFailures = self.keepFailures
        options.timeLimit = self.timeLimit ?? (self.source == .keyboard ? 300 : 30)
        options.operator = self.operator
        let stop = session.runner
        let summary: SessionSummary
        switch self.source {
        case .expert, .program:
            let recorder = try Self.orExit(console) { () throws(TeachError) in
                try Recorder(link: session.link, writer: writer, options: options)
            }
            recorder.shouldStop = { stop.stopRequested.load(ordering: .relaxed) }
            summary = try Self.orExit(console) { () throws(TeachError) in
                if self.source == .expert {
                    return try recorder.recordExpert { console.line($0.line) }
                }
                let converted = try program!.waypointProgram(
                    gripper: welcome.gripper.apertureMin...welcome.gripper.apertureMax
                )
                let path = URL(fileURLWithPath: self.program!).standardizedFileURL.path
                return try recorder.recordProgram(converted, path: path) { console.line($0.line) }
            }
        case .keyboard:
            summary = try Self.orExit(console) { () throws(TeachError) in
                let teacher = try KeyboardTeacher(
                    link: session.link,
                    writer: writer,
                    options: options,
                    programPath: self.program,
                    program: program
                )
                teacher.shouldStop = { stop.stopRequested.load(ordering: .relaxed) }
                return try teacher.run()
            }
            console.line("")
        }
        Self.report(summary, writer: writer, console: console)
        if session.estopped { throw ExitCode(4) }
        if summary.stopped { throw ExitCode(130) }
    }

    static func report(_ summary: SessionSummary, writer: DatasetWriter, console: Console) {
        let order: [RecordingOutcome] = [.success, .failed, .timeLimit, .discarded, .redo, .stopped]
        let outcomes = order.compactMap { outcome in
            summary.outcomes[outcome].map { "\($0) \(outcome.rawValue)" }
        }
        console.line("")
        console.line(
            String(
                format: "session: %ld attempts (%@), %ld kept, in %.1f s wall (%.1f s of it writing): %.1f kept "
                    + "episodes per minute",
                summary.attempts,
                outcomes.isEmpty ? "none" : outcomes.joined(separator: ", "),
                summary.kept,
                summary.wallTime,
                summary.writeTime,
                summary.episodesPerMinute
            )
        )
        let c = writer.index.counts
        console.line(
            "dataset \(writer.directory): \(c.episodes) episodes (\(c.successes) successes), \(c.steps) steps, "
                + "\(c.frames) frames; by task: "
                + (c.byTask.isEmpty
                    ? "none"
                    : c.byTask.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        )
    }

    /// Runs a teaching call; an error is printed and ends the command with status 1.
    static func orExit<T>(_ console: Console, _ body: () throws(TeachError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            console.error("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// `edgecell teach info DATASET`.
struct TeachInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Validate a dataset in full (every hash, record and frame) and summarise it.",
        discussion: "Exit status 0 when the dataset is valid, 1 with the file and the problem otherwise."
    )

    @Argument(help: "The dataset folder.")
    var dataset: String

    @Flag(help: "Check the index, metadata and file sizes only (no hashing, no decompression).")
    var quick = false

    func run() throws {
        let console = Console()
        let dataset = try TeachRecord.orExit(console) { () throws(TeachError) in
            try Dataset(directory: self.dataset, verifyFiles: !self.quick)
        }
        let index = dataset.index
        let c = index.counts
        console.line("dataset '\(index.name)' (\(self.dataset)): valid\(self.quick ? " (quick check)" : "")")
        console.line(
            "  robot:    \(index.robot.name), joints \(index.robot.joints.joined(separator: " ")), \(index.robot.gripper)"
        )
        console.line("  cell:     \(index.cell.name) \(index.cell.version) (\(index.cell.kind))")
        console.line(
            String(
                format: "  timing:   control %g Hz, a frame every %ld steps (%g Hz)",
                1 / index.controlPeriod,
                index.frameEvery,
                1 / (index.controlPeriod * Double(index.frameEvery))
            )
        )
        console.line(
            "  cameras:  "
                + (index.cameras.isEmpty
                    ? "none" : index.cameras.map { "\($0.name) \($0.width)×\($0.height)" }.joined(separator: ", "))
        )
        console.line(
            "  episodes: \(c.episodes) (\(c.successes) successes), \(c.steps) steps "
                + String(format: "(%.1f s)", Double(c.steps) * index.controlPeriod) + ", \(c.frames) frames"
        )
        console.line(
            "  by task:  " + c.byTask.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        )
        var bySource: [String: Int] = [:]
        for episode in dataset.episodes { bySource[episode.source.rawValue, default: 0] += 1 }
        console.line(
            "  sources:  " + bySource.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        )
        if let seeds = dataset.episodes.map(\.seed).min().flatMap({ low in
            dataset.episodes.map(\.seed).max().map { (low, $0) }
        }) {
            console.line("  seeds:    \(seeds.0)…\(seeds.1)")
        }
        console.line("  created \(index.created), updated \(index.updated)")
    }
}
