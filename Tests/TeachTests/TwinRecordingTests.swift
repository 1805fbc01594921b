import CLITestSupport
import CellRuntime
import Foundation
import Teach
import Testing
import TwinProtocol
import ZeroMQ

/// Starts the real twin (`python -m edgecell_twin`) on a free loopback port.
func startTwin(_ arguments: [String]) throws -> TwinProcess {
    var options = TwinProcess.Options(python: TwinProcess.locatePython())
    options.arguments = arguments
    options.echoLog = false
    return try TwinProcess(options: options)
}

/// The TCP position for joint positions, from a dataset's robot description (DH chain, base and tool poses).
func tcpPosition(_ robot: RobotDescription, _ q: [Double]) -> SIMD3<Double> {
    typealias M = [[Double]]
    func multiply(_ a: M, _ b: M) -> M {
        (0..<4).map { i in (0..<4).map { j in (0..<4).reduce(0) { $0 + a[i][$1] * b[$1][j] } } }
    }
    func pose(_ p: [Double]) -> M {
        let (w, x, y, z) = (p[3], p[4], p[5], p[6])
        return [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y), p[0]],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x), p[1]],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y), p[2]],
            [0, 0, 0, 1],
        ]
    }
    var t = pose(robot.basePose)
    for (row, angle) in zip(robot.dh, q) {
        let (a, d, alpha, theta) = (row[0], row[1], row[2], angle + row[3])
        let (ct, st, ca, sa) = (cos(theta), sin(theta), cos(alpha), sin(alpha))
        t = multiply(
            t,
            [[ct, -st * ca, st * sa, a * ct], [st, ct * ca, -ct * sa, a * st], [0, sa, ca, d], [0, 0, 0, 1]]
        )
    }
    t = multiply(t, pose(robot.toolPose))
    return SIMD3(t[0][3], t[1][3], t[2][3])
}

/// Recording against the real twin: each test starts its own twin and stops it whatever happens.
@Suite(.serialized) struct TwinRecordingTests {
    @Test func expertEpisodesAndAProgramMakeValidDatasets() throws {
        let twin = try startTwin([
            "--cameras", "scene,wrist", "--image-size", "32", "--camera-rate", "10", "--task", "bin-red",
        ])
        defer { twin.terminate() }
        let dir = TemporaryDirectory("expert")
        defer { dir.cleanUp() }
        let context = try ZMQContext()
        let link = try TwinLink(context: context, options: TwinLink.Options(endpoint: twin.endpoint))
        let welcome = try link.handshake()
        #expect(welcome.hasExpert)
        let header = try Recorder.header(welcome: welcome, name: "expert-test")
        #expect(header.frameEvery == 10 && header.cameras.map(\.name) == ["scene", "wrist"])
        let writer = try DatasetWriter(directory: dir.path, header: header)
        let recorder = try Recorder(
            link: link,
            writer: writer,
            options: RecordingOptions(tasks: ["bin-red"], episodes: 2, seed: 40)
        )
        var reports: [EpisodeReport] = []
        let summary = try recorder.recordExpert { reports.append($0) }
        writer.close()
        #expect(summary.attempts == 2)
        #expect(reports.allSatisfy { $0.outcome == .success }, "\(reports.map(\.line))")

        let dataset = try Dataset(directory: dir.path)
        #expect(dataset.index.counts.episodes == 2 && dataset.index.counts.successes == 2)
        #expect(dataset.episodes.map(\.seed) == [40, 41])
        #expect(dataset.index.robot == RobotDescription(welcome: welcome))
        for (k, episode) in dataset.episodes.enumerated() {
            #expect(
                episode.source == .expert && episode.success && episode.instruction == "put the red cube in the bin"
            )
            #expect(episode.phases.first == "reach" && episode.phases.contains("grasp"))
            // The objects' initial poses, as the first observation reported them: cubes on the table.
            let objects = try #require(episode.objects)
            #expect(Set(objects.keys) == Set(welcome.objects.map(\.name)) && objects.keys.contains("red_cube"))
            #expect(objects.values.allSatisfy { $0.count == 7 } && abs(objects["red_cube"]![2] - 0.02) < 1e-3)
            let steps = try dataset.steps(of: k)
            #expect(steps.last!.success, "the last recorded observation shows the success")
            #expect(zip(steps, steps.dropFirst()).allSatisfy { abs($1.time - $0.time - 0.01) < 1e-9 })
            let frames = try dataset.frames(of: k)
            #expect(frames.count == (steps.count + 9) / 10)
            // Rendered images, not blank ones.
            #expect(frames.allSatisfy { $0.images.count == 2 && Set($0.images[0]).count > 8 })
            // The action at step t is what the arm is observed near one step later (position servos).
            let t = steps.count / 2
            let lag = zip(steps[t].actionJoints, steps[t + 1].jointPositions).map { abs($0 - $1) }.max()!
            #expect(lag < 0.05)
        }

        // The same cell replays a taught program into a second dataset (a failure here: it grasps nothing).
        let programDir = TemporaryDirectory("program-recording")
        defer { programDir.cleanUp() }
        let program = TeachProgram(
            name: "dip",
            waypoints: [
                .init(name: "above", target: .pose(position: SIMD3(0.45, 0.0, 0.25), yaw: 0), gripper: .open),
                .init(name: "down", target: .pose(position: SIMD3(0.45, 0.0, 0.12), yaw: 0), motion: .linear),
                .init(name: "close", target: .pose(position: SIMD3(0.45, 0.0, 0.12), yaw: 0), gripper: .close),
            ]
        )
        let programWriter = try DatasetWriter(directory: programDir.path, header: header)
        var options = RecordingOptions(tasks: ["bin-red"], episodes: 1, seed: 3)
        options.keepFailures = true
        let player = try Recorder(link: link, writer: programWriter, options: options)
        let played = try player.recordProgram(
            try program.waypointProgram(gripper: welcome.gripper.apertureMin...welcome.gripper.apertureMax),
            path: "/programs/dip.json"
        ) { _ in }
        programWriter.close()
        #expect(played.kept == 1)
        let replayed = try Dataset(directory: programDir.path)
        let episode = replayed.episodes[0]
        #expect(episode.source == .program && episode.provenance.program == "/programs/dip.json" && !episode.success)
        #expect(episode.phases == ["above", "down", "close"])
        let last = try replayed.steps(of: 0).last!
        let tcp = tcpPosition(replayed.index.robot, last.actionJoints)
        #expect(abs(tcp.x - 0.45) < 1e-3 && abs(tcp.y) < 1e-3 && abs(tcp.z - 0.12) < 1e-3, "\(tcp)")
        #expect(last.actionGripper == welcome.gripper.apertureMin)
    }
}

/// A pseudo-terminal pair: the child gets the slave side as its terminal; the test types into the master.
final class PseudoTerminal {
    let master: Int32
    let slave: Int32
    private(set) var output = ""

    init() throws {
        // posix_openpt/grantpt/unlockpt, spelled out (Glibc's Swift module hides them): /dev/ptmx, unlock
        // (TIOCSPTLCK), number (TIOCGPTN); devpts needs no grantpt.
        self.master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard self.master >= 0, ioctl(self.master, 0x4004_5431, &unlock) == 0,
            ioctl(self.master, 0x8004_5430, &number) == 0
        else { throw TeachError(.system, "no pseudo-terminal: \(String(cString: strerror(errno)))") }
        self.slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
        guard self.slave >= 0 else { throw TeachError(.system, "cannot open /dev/pts/\(number)") }
        var size = winsize(ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(self.slave, UInt(TIOCSWINSZ), &size)
        let flags = fcntl(self.master, F_GETFL)
        _ = fcntl(self.master, F_SETFL, flags | O_NONBLOCK)
    }

    deinit {
        close(self.master)
        close(self.slave)
    }

    /// Reads what the child printed for `seconds`.
    func pump(_ seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while Date() < end {
            var fds = pollfd(fd: self.master, events: Int16(POLLIN), revents: 0)
            guard poll(&fds, 1, 20) > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { read(self.master, $0.baseAddress, $0.count) }
            if n > 0 { self.output += String(decoding: chunk[0..<n], as: UTF8.self) }
        }
    }

    /// Reads until the output holds `text` (true) or `seconds` pass (false).
    func wait(for text: String, seconds: Double) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if self.output.contains(text) { return true }
            self.pump(0.1)
        }
        return self.output.contains(text)
    }

    /// Types keys, `gap` seconds apart.
    func type(_ keys: String, gap: Double = 0.05) {
        for byte in keys.utf8 {
            var b = byte
            _ = write(self.master, &b, 1)
            self.pump(gap)
        }
    }
}

/// `edgecell teach record --source keyboard` on a pseudo-terminal, with a local twin (32×32 images at 10 Hz).
final class KeyboardSession {
    let terminal: PseudoTerminal
    let process = Process()
    let errors = Pipe()

    init(dataset: String) throws {
        self.terminal = try PseudoTerminal()
        self.process.executableURL = URL(fileURLWithPath: try edgecellBinary())
        self.process.arguments = [
            "teach", "record", "--dataset", dataset, "--source", "keyboard", "--task", "bin-red", "--seed", "7",
            "--image-size", "32", "--camera-rate", "10", "--operator", "tester",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["TERM"] = "xterm"
        environment["EDGECELL_PYTHON"] = TwinProcess.locatePython()
        self.process.environment = environment
        let handle = FileHandle(fileDescriptor: self.terminal.slave, closeOnDealloc: false)
        self.process.standardInput = handle
        self.process.standardOutput = handle
        self.process.standardError = self.errors
        try self.process.run()
    }

    /// Stops the child whatever happened (SIGTERM: the session ends and stops its twin; SIGKILL if it hangs).
    func stop() {
        guard self.process.isRunning else { return }
        self.process.terminate()
        self.waitForExit(seconds: 10)
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
    }

    func waitForExit(seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while self.process.isRunning && Date() < deadline { self.terminal.pump(0.1) }
    }

    var stderr: String { String(decoding: self.errors.fileHandleForReading.availableData, as: UTF8.self) }

    /// Whether the terminal is back in its normal (canonical, echoing) mode and off the alternate screen.
    var terminalRestored: Bool {
        var mode = termios()
        tcgetattr(self.terminal.slave, &mode)
        return mode.c_lflag & tcflag_t(ICANON | ECHO) == tcflag_t(ICANON | ECHO)
            && self.terminal.output.contains("\u{1B}[?1049l")
    }
}

@Suite(.serialized) struct KeyboardTeachingTests {
    @Test(.timeLimit(.minutes(3))) func keysInEpisodeOut() throws {
        let dir = TemporaryDirectory("keyboard")
        defer { dir.cleanUp() }
        let session = try KeyboardSession(dataset: dir.path)
        defer { session.stop() }
        let terminal = session.terminal
        let process = session.process
        try #require(
            terminal.wait(for: "Enter finish", seconds: 90),
            "no teaching screen: \(terminal.output.suffix(500))"
        )

        // Episode 1 (seed 7): move, then discard (x twice: the first only asks).
        terminal.type("w")
        terminal.pump(0.3)
        terminal.type("x")
        #expect(terminal.wait(for: "press x again", seconds: 5))
        terminal.type("x")
        #expect(terminal.wait(for: "seed 8", seconds: 10), "the next attempt takes the next seed")

        // Episode 2 (seed 8): +5 cm x, +3 cm z, close the gripper, finish.
        terminal.type("wwwww")
        terminal.pump(1.0)
        terminal.type("RRR")
        terminal.pump(1.0)
        terminal.type(" ")
        terminal.pump(1.2)
        terminal.type("\r")
        #expect(terminal.wait(for: "(1 kept)", seconds: 20))
        terminal.type("q")  // nothing moved in the new episode: stops at once
        session.waitForExit(seconds: 30)
        try #require(!process.isRunning, "edgecell did not stop after q")
        #expect(process.terminationStatus == 0, "exit \(process.terminationStatus): \(session.stderr)")
        #expect(session.terminalRestored)
        #expect(
            terminal.output.contains("episode 2  bin-red seed 8: FAILED") && terminal.output.contains("kept as 000000")
        )

        let dataset = try Dataset(directory: dir.path)
        try #require(dataset.episodes.count == 1)
        let episode = dataset.episodes[0]
        #expect(episode.source == .keyboard && episode.seed == 8 && episode.provenance.operator == "tester")
        #expect(episode.phases.first == "reach" && episode.phases.contains("grasp"))
        let steps = try dataset.steps(of: 0)
        let first = tcpPosition(dataset.index.robot, steps.first!.actionJoints)
        let last = tcpPosition(dataset.index.robot, steps.last!.actionJoints)
        let moved = last - first
        #expect(abs(moved.x - 0.05) < 0.003 && abs(moved.y) < 0.003 && abs(moved.z - 0.03) < 0.003, "moved \(moved)")
        #expect(steps.first!.actionGripper > 0.08 && steps.last!.actionGripper < 0.001)
        // The arm followed: the observed posture at the end is near the commanded one.
        let observed = tcpPosition(dataset.index.robot, steps.last!.jointPositions)
        #expect(((observed - last) * (observed - last)).sum().squareRoot() < 0.01)
        #expect(try dataset.frames(of: 0).count == (steps.count + 9) / 10)
    }
}

extension KeyboardTeachingTests {
    @Test(.timeLimit(.minutes(3))) func aSignalEndsTheSessionAndRestoresTheTerminal() throws {
        let dir = TemporaryDirectory("keyboard-signal")
        defer { dir.cleanUp() }
        let session = try KeyboardSession(dataset: dir.path)
        defer { session.stop() }
        try #require(session.terminal.wait(for: "Enter finish", seconds: 90))
        session.terminal.type("www")
        session.terminal.pump(0.5)
        kill(session.process.processIdentifier, SIGTERM)
        session.waitForExit(seconds: 20)
        try #require(!session.process.isRunning)
        #expect(session.process.terminationStatus == 130)
        #expect(session.terminalRestored)
        // The episode in progress was discarded; the dataset exists and is valid, with nothing in it.
        #expect(try Dataset(directory: dir.path).episodes.isEmpty)
    }
}
