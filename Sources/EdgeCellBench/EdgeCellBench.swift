import ArgumentParser
import CellRuntime
import Foundation
import TwinProtocol
import ZeroMQ

/// `edgecell-bench`: benchmarks that compare EdgeCell against its peers in the same run (Tools/bench-*).
@main
struct EdgeCellBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgecell-bench",
        abstract: "EdgeCell benchmarks (run them through Tools/bench-*; results go to BENCHMARKS.md).",
        subcommands: [LinkBench.self, LoopBench.self]
    )
}

/// The link benchmark: libzmq's own round trip, a raw cross-process round trip, the protocol's round trip,
/// the lock-step physics step, and the runtime's real-time factor with and without cameras.
struct LinkBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link",
        abstract: "Round trips and lock-step speed of the runtime ↔ twin link, against raw libzmq, plaintext and CURVE."
    )

    @Option(help: "Timed round trips per latency measurement.")
    var roundTrips = 20_000

    @Option(help: "Episodes per task for the real-time-factor runs without images.")
    var episodes = 5

    @Option(help: "Episodes per task with two cameras.")
    var cameraEpisodes = 1

    @Option(help: "The compiled Tools/bench/zmq_pingpong.c.")
    var pingpong: String

    @Option(help: "Directory holding echo_router.py and frozen_cell.py.")
    var benchDirectory: String

    @Option(help: "Write the results as JSON here.")
    var json: String?

    func run() throws {
        let python = TwinProcess.locatePython()
        let context = try ZMQContext()
        var results: [String: Any] = [:]
        var rows: [(String, LatencyHistogram)] = []

        // Message sizes of a 6-joint STEP and a state-only OBSERVATION from the real twin.
        let normal = try Self.twin(python, [])
        defer { normal.terminate() }
        let link = try Self.link(normal.endpoint, context)
        let welcome = try link.handshake()
        let episode = try link.reset(task: "bin-red", seed: 0)
        var home = JointVector()
        for (index, value) in episode.observation.jointPositions.enumerated() { home[index] = value }
        let stepBytes = try TwinCodec.encode(
            .step(Step(jointTargets: Array(episode.observation.jointPositions), gripperTarget: 0.08)),
            seq: 1
        )
        let observationBytes = try TwinCodec.encode(.observation(episode.observation), seq: 1)
        print("messages: STEP \(stepBytes.count) B, OBSERVATION (state only) \(observationBytes.count) B")

        // 0. The Swift side's share of the protocol: encode a STEP, decode and check an OBSERVATION.
        let codec = try Self.codecCost(welcome: welcome, observation: observationBytes, targets: home)
        results["swift_codec_per_step_us"] = codec
        print(String(format: "Swift codec per step (encode STEP + decode/check OBSERVATION): %.2f µs", codec))

        // 1. libzmq's own floor: DEALER ↔ ROUTER in one C process.
        for transport in ["inproc", "tcp"] {
            let output = try Self.capture(
                self.pingpong,
                [
                    transport, String(stepBytes.count),
                    String(observationBytes.count), String(self.roundTrips),
                ]
            )
            let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] ?? [:]
            results["libzmq_\(transport)"] = object
            print(
                String(
                    format: "libzmq %@ (C, one process):      p50 %6.1f µs  p99 %6.1f µs",
                    transport,
                    object["p50_us"] as? Double ?? 0,
                    object["p99_us"] as? Double ?? 0
                )
            )
        }

        // 2. Raw cross-process: Swift DEALER ↔ Python ROUTER answering canned bytes (no protocol).
        let echo = try Self.echoServer(python, self.benchDirectory, bytes: observationBytes.count)
        defer { echo.process.terminate() }
        let raw = try Self.rawRoundTrips(
            context,
            endpoint: echo.endpoint,
            request: stepBytes,
            replyCapacity: observationBytes.count + 64,
            count: self.roundTrips
        )
        rows.append(("raw libzmq, Swift ↔ Python (tcp)", raw))

        // The same rows over CURVE (encrypted, the client's key checked by the server's ZAP handler), in the same
        // run: the twin's key files in a private folder, this process's key pair allowed.
        let curve = try CurveSetup()
        defer { curve.remove() }
        let echoCurve = try Self.echoServer(
            python,
            self.benchDirectory,
            bytes: observationBytes.count,
            curve: [curve.secretPath, curve.allowPath]
        )
        defer { echoCurve.process.terminate() }
        let rawCurve = try Self.rawRoundTrips(
            context,
            endpoint: echoCurve.endpoint,
            request: stepBytes,
            replyCapacity: observationBytes.count + 64,
            count: self.roundTrips,
            curve: curve.client
        )
        rows.append(("raw libzmq, Swift ↔ Python (tcp, CURVE)", rawCurve))

        // 3. The protocol: TwinLink.step against a twin whose physics is frozen.
        let frozen = try Self.twin(python, ["--cell", "frozen_cell:FrozenCell"], pythonPath: self.benchDirectory)
        defer { frozen.terminate() }
        let frozenLink = try Self.link(frozen.endpoint, context)
        try frozenLink.handshake()
        _ = try frozenLink.reset(task: "bin-red", seed: 0)
        let protocolRTT = try Self.stepRoundTrips(frozenLink, targets: home, count: self.roundTrips)
        rows.append(("protocol STEP, frozen physics (tcp)", protocolRTT))
        let frozenCurve = try Self.twin(
            python,
            ["--cell", "frozen_cell:FrozenCell"] + curve.twinArguments,
            pythonPath: self.benchDirectory
        )
        defer { frozenCurve.terminate() }
        let frozenCurveLink = try Self.link(frozenCurve.endpoint, context, curve: curve.client)
        try frozenCurveLink.handshake()
        _ = try frozenCurveLink.reset(task: "bin-red", seed: 0)
        let protocolCurve = try Self.stepRoundTrips(frozenCurveLink, targets: home, count: self.roundTrips)
        rows.append(("protocol STEP, frozen physics (tcp, CURVE)", protocolCurve))

        // 4. The full lock-step step with physics, state only.
        let started = MonotonicClock.seconds()
        let physics = try Self.stepRoundTrips(link, targets: home, count: self.roundTrips)
        let wall = MonotonicClock.seconds() - started
        rows.append(("lock-step STEP with physics (tcp)", physics))
        let stepRTF = Double(self.roundTrips) * welcome.controlPeriod / wall
        let curveTwin = try Self.twin(python, curve.twinArguments)
        defer { curveTwin.terminate() }
        let curveLink = try Self.link(curveTwin.endpoint, context, curve: curve.client)
        try curveLink.handshake()
        _ = try curveLink.reset(task: "bin-red", seed: 0)
        let physicsCurve = try Self.stepRoundTrips(curveLink, targets: home, count: self.roundTrips)
        rows.append(("lock-step STEP with physics (tcp, CURVE)", physicsCurve))

        for (name, histogram) in rows {
            print(
                String(
                    format: "%-40@ p50 %6.1f µs  p99 %6.1f µs  p99.9 %7.1f µs  max %7.1f µs",
                    name,
                    histogram.percentile(50) / 1000,
                    histogram.percentile(99) / 1000,
                    histogram.percentile(99.9) / 1000,
                    Double(histogram.max) / 1000
                )
            )
            results[name] = Self.json(histogram)
        }
        let ratio50 = protocolRTT.percentile(50) / raw.percentile(50)
        let ratio99 = protocolRTT.percentile(99) / raw.percentile(99)
        results["protocol_over_raw_p50"] = ratio50
        results["protocol_over_raw_p99"] = ratio99
        print(String(format: "protocol / raw round trip: %.2f× at p50, %.2f× at p99 (target ≤ 2×)", ratio50, ratio99))
        for (name, plain, secured) in [
            ("raw", raw, rawCurve), ("protocol STEP, frozen physics", protocolRTT, protocolCurve),
            ("lock-step STEP with physics", physics, physicsCurve),
        ] {
            let p50 = secured.percentile(50) / plain.percentile(50)
            let p99 = secured.percentile(99) / plain.percentile(99)
            let added = (secured.percentile(50) - plain.percentile(50)) / 1000
            results["curve_over_plain_\(name)"] = ["p50": p50, "p99": p99, "added_p50_us": added]
            print(
                String(
                    format: "CURVE / plaintext, %@: %.2f× at p50 (+%.1f µs), %.2f× at p99",
                    name,
                    p50,
                    added,
                    p99
                )
            )
        }
        print(
            String(
                format: "lock-step STEP loop alone: %.1f× real time (%d steps of %.0f ms in %.2f s)",
                stepRTF,
                self.roundTrips,
                welcome.controlPeriod * 1000,
                wall
            )
        )
        results["step_loop_real_time_factor"] = stepRTF

        // 5. The runtime: waypoint episodes through the control and I/O threads, with and without cameras.
        let runtime = try Self.episodes(link, count: self.episodes)
        results["runtime_state_only"] = runtime.json
        print(runtime.line("runtime episodes, state only"))
        let cameraTwin = try Self.twin(python, ["--cameras", "scene,wrist", "--image-size", "96"])
        defer { cameraTwin.terminate() }
        let cameraLink = try Self.link(cameraTwin.endpoint, context)
        try cameraLink.handshake()
        let cameras = try Self.episodes(cameraLink, count: self.cameraEpisodes)
        results["runtime_two_cameras_96"] = cameras.json
        print(cameras.line("runtime episodes, 2 cameras 96×96"))

        if let path = self.json {
            let data = try JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(data, to: path)
        }
    }

    // MARK: - Pieces

    static func twin(_ python: String, _ arguments: [String], pythonPath: String? = nil) throws -> TwinProcess {
        var options = TwinProcess.Options(python: python)
        options.arguments = ["--cameras", "none", "--log-level", "WARNING"] + arguments
        options.echoLog = false
        if let pythonPath {
            let inherited = ProcessInfo.processInfo.environment["PYTHONPATH"].map { ":" + $0 } ?? ""
            options.environment["PYTHONPATH"] = pythonPath + inherited
        }
        return try TwinProcess(options: options)
    }

    static func link(_ endpoint: String, _ context: ZMQContext, curve: CurveClientKeys? = nil) throws -> TwinLink {
        var options = TwinLink.Options(endpoint: endpoint)
        options.timeout = 5
        options.curve = curve
        return try TwinLink(context: context, options: options)
    }

    static func codecCost(welcome: Welcome, observation: [UInt8], targets: JointVector) throws -> Double {
        var decoded = Observation(jointCapacity: 8, objectCapacity: 16, imageCapacity: 4)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 16)
        defer { out.deallocate() }
        var q = targets
        let count = 200_000
        let start = MonotonicClock.nanoseconds()
        try observation.withUnsafeBytes { frame in
            try withUnsafeBytes(of: &q) { raw in
                let joints = UnsafeBufferPointer(
                    start: raw.baseAddress!.assumingMemoryBound(to: Double.self),
                    count: welcome.joints.count
                )
                for seq in 0..<UInt64(count) {
                    _ = try TwinCodec.encodeStep(seq: seq, jointTargets: joints, gripperTarget: 0.05, into: out)
                    let header = try TwinCodec.decodeObservation(frame0: frame, extraFrameSizes: [], into: &decoded)
                    try welcome.validate(decoded, type: .observation, frameSizes: [], seq: header.seq)
                }
            }
        }
        return Double(MonotonicClock.nanoseconds() - start) / Double(count) / 1000
    }

    static func stepRoundTrips(_ link: TwinLink, targets: JointVector, count: Int) throws -> LatencyHistogram {
        let histogram = LatencyHistogram()
        for index in 0..<(count + count / 10) {
            let start = MonotonicClock.nanoseconds()
            _ = try link.step(targets: targets, gripper: 0.08)
            if index >= count / 10 { histogram.record(MonotonicClock.nanoseconds() - start) }
        }
        return histogram
    }

    static func rawRoundTrips(
        _ context: ZMQContext,
        endpoint: String,
        request: [UInt8],
        replyCapacity: Int,
        count: Int,
        curve: CurveClientKeys? = nil
    ) throws -> LatencyHistogram {
        let socket = try ZMQSocket(context, kind: .dealer)
        try socket.setReceiveTimeout(milliseconds: 5000)
        if let curve { try socket.makeCurveClient(curve) }
        try socket.connect(endpoint)
        let histogram = LatencyHistogram()
        var buffer = [UInt8](repeating: 0, count: replyCapacity)
        for index in 0..<(count + count / 10) {
            let start = MonotonicClock.nanoseconds()
            try socket.send(request)
            let frame = try buffer.withUnsafeMutableBytes { try socket.receive(into: $0) }
            guard frame != nil else { throw ValidationError("the echo server did not answer") }
            if index >= count / 10 { histogram.record(MonotonicClock.nanoseconds() - start) }
        }
        return histogram
    }

    struct EpisodeRun {
        var successes = 0
        var total = 0
        var statistics = LoopStatistics()
        var json: [String: Any] {
            [
                "episodes": self.total, "successes": self.successes, "real_time_factor": self.statistics.realTimeFactor,
                "simulated_s": self.statistics.simulatedSeconds, "wall_s": self.statistics.wallSeconds,
                "round_trip": LinkBench.json(self.statistics.roundTrip),
                "wall_per_period": LinkBench.json(self.statistics.period),
            ]
        }
        func line(_ name: String) -> String {
            String(
                format: "%@: %d/%d succeeded, %.1f× real time (%.1f s simulated in %.1f s), step round trip "
                    + "p50 %.1f µs p99 %.1f µs",
                name,
                self.successes,
                self.total,
                self.statistics.realTimeFactor,
                self.statistics.simulatedSeconds,
                self.statistics.wallSeconds,
                self.statistics.roundTrip.percentile(50) / 1000,
                self.statistics.roundTrip.percentile(99) / 1000
            )
        }
    }

    static func episodes(_ link: TwinLink, count: Int) throws -> EpisodeRun {
        let runner = try EpisodeRunner(link: link)
        var run = EpisodeRun()
        for task in ["bin-red", "stack-blue-green"] {
            for seed in 0..<count {
                var options = EpisodeOptions(task: task, seed: UInt64(seed))
                options.realtime = .none
                let result = runner.run(options)
                run.total += 1
                if result.succeeded { run.successes += 1 }
                run.statistics.add(result.statistics)
            }
        }
        return run
    }

    static func json(_ histogram: LatencyHistogram) -> [String: Any] {
        [
            "count": histogram.count, "p50_us": histogram.percentile(50) / 1000,
            "p99_us": histogram.percentile(99) / 1000,
            "p999_us": histogram.percentile(99.9) / 1000, "max_us": Double(histogram.max) / 1000,
            "mean_us": histogram.mean / 1000,
        ]
    }

    static func capture(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("\(executable) failed") }
        return String(decoding: data, as: UTF8.self)
    }

    static func echoServer(
        _ python: String,
        _ directory: String,
        bytes: Int,
        curve: [String] = []
    ) throws
        -> (process: Process, endpoint: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["\(directory)/echo_router.py", String(bytes)] + curve
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var line = ""
        let handle = pipe.fileHandleForReading
        while !line.contains("\n") {
            let data = handle.availableData
            if data.isEmpty { throw ValidationError("the echo server exited") }
            line += String(decoding: data, as: UTF8.self)
        }
        let endpoint = line.components(separatedBy: "echo ready: ").last?.trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        return (process, endpoint ?? "")
    }
}

/// Key files for the CURVE rows: the server's secret key (0600) and an allow-list holding this process's key, in
/// a private temporary folder, in the formats of `edgecell keys` (docs/SECURITY.md).
struct CurveSetup {
    let folder: String
    let client: CurveClientKeys

    init() throws {
        self.folder = NSTemporaryDirectory() + "edgecell-bench-keys-\(getpid())"
        try FileManager.default.createDirectory(
            atPath: self.folder,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let server = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        FileManager.default.createFile(
            atPath: self.folder + "/cell.key",
            contents: Data("edgecell-curve-secret-v1 \(server.publicKey.z85) \(server.secretZ85)\n".utf8),
            attributes: [.posixPermissions: 0o600]
        )
        try "edgecell-curve-key-v1 \(client.publicKey.z85) bench\n".write(
            toFile: self.folder + "/allowed-clients",
            atomically: true,
            encoding: .utf8
        )
        self.client = CurveClientKeys(keyPair: client, serverKey: server.publicKey)
    }

    var secretPath: String { self.folder + "/cell.key" }
    var allowPath: String { self.folder + "/allowed-clients" }
    var twinArguments: [String] { ["--curve-secret-key", self.secretPath, "--curve-allow", self.allowPath] }

    func remove() { try? FileManager.default.removeItem(atPath: self.folder) }
}

/// The control loop's wake-up lateness in real-time mode, against the real-time twin, next to a bare C
/// `clock_nanosleep` loop (Tools/bench/bare_loop.c) at the same rate, priority and CPU, alternating in rounds.
struct LoopBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loop",
        abstract: "Control-loop wake-up lateness of the runtime against a bare C loop, same rate and priority."
    )

    @Option(help: "The compiled Tools/bench/bare_loop.c.")
    var bareLoop: String

    @Option(help: "Control rate, Hz.")
    var rate = 500.0

    @Option(help: "Seconds of each loop per round.")
    var seconds = 10.0

    @Option(help: "Rounds (bare, runtime, bare, runtime, ...).")
    var rounds = 3

    @Option(help: "SCHED_FIFO priority of both loops.")
    var priority: Int32 = 80

    func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    func run() throws {
        let cpu = RealtimeThread.lastCPU
        say(
            "rate \(self.rate) Hz, SCHED_FIFO \(self.priority), CPU \(cpu), \(self.rounds) rounds of \(self.seconds) s each"
        )
        let twin = try LinkBench.twin(TwinProcess.locatePython(), ["--mode", "realtime"])
        defer { twin.terminate() }
        let context = try ZMQContext()
        let link = try LinkBench.link(twin.endpoint, context)
        _ = try link.handshake()
        let runner = try EpisodeRunner(link: link)
        say("memory: " + RealtimeThread.lockProcessMemory())
        var request = RealtimeRequest()
        request.fifoPriority = self.priority
        request.cpu = cpu
        let runtime = LatencyHistogram()
        var bare: [[String: Any]] = []
        var granted = ""
        var episodes = 0
        var overruns = 0
        for round in 1...self.rounds {
            let out = try LinkBench.capture(
                self.bareLoop,
                [String(self.rate), String(self.seconds), String(cpu), String(self.priority)]
            )
            guard let data = out.data(using: .utf8),
                let line = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { throw ValidationError("bare_loop printed: \(out)") }
            bare.append(line)
            let start = MonotonicClock.nanoseconds()
            var seed: UInt64 = 0
            while Double(MonotonicClock.nanoseconds() - start) * 1e-9 < self.seconds {
                var options = EpisodeOptions(task: "bin-red", seed: seed)
                options.controlRate = self.rate
                options.realtime = request
                options.timeLimit = max(1, self.seconds - Double(MonotonicClock.nanoseconds() - start) * 1e-9)
                let result = runner.run(options)
                runtime.add(result.statistics.lateness)
                overruns += result.statistics.overruns
                granted = result.realtime.description
                episodes += 1
                seed += 1
            }
            say("round \(round): bare p99 \(line["p99_us"] ?? "?") µs; runtime so far \(runtime.summaryMicros())")
        }
        func pct(_ key: String) -> Double {
            // The bare loop's percentile over all rounds: the worst round's (conservative for the comparison).
            bare.compactMap { $0[key] as? Double }.max() ?? 0
        }
        say("")
        say(
            "bare C loop (\(bare.first?["fifo"] ?? "?") FIFO): p50 \(pct("p50_us")) µs, p99 \(pct("p99_us")) µs, "
                + "p99.9 \(pct("p999_us")) µs, max \(pct("max_us")) µs (worst round)"
        )
        say(
            "runtime control loop (\(episodes) waypoint episodes, \(runtime.count) ticks, \(overruns) overruns): "
                + runtime.summaryMicros()
        )
        say("control thread: \(granted)")
        let median = bare.compactMap { $0["p99_us"] as? Double }.sorted()
        let bareP99 = median.isEmpty ? 0 : median[median.count / 2]
        say(
            String(
                format: "p99 added by the runtime over the bare loop (median round): %.1f µs",
                runtime.percentile(99) / 1000 - bareP99
            )
        )
        // The link's socket is still open (the runner holds it): skip the context's teardown wait.
        twin.terminate()
        Foundation.exit(0)
    }
}
