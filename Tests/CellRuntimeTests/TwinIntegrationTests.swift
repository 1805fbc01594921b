import CellRuntime
import Foundation
import Synchronization
import Testing
import TwinProtocol
import ZeroMQ

/// Starts the real twin process (`python -m edgecell_twin`) on a free loopback port.
func startTwin(_ arguments: [String] = []) throws -> TwinProcess {
    var options = TwinProcess.Options(python: TwinProcess.locatePython())
    options.arguments = arguments
    options.echoLog = false
    return try TwinProcess(options: options)
}

func connect(_ twin: TwinProcess, context: ZMQContext, timeout: Double = 1.0, attempts: Int = 3) throws -> TwinLink {
    var options = TwinLink.Options(endpoint: twin.endpoint)
    options.timeout = timeout
    options.attempts = attempts
    let link = try TwinLink(context: context, options: options)
    try link.handshake()
    return link
}

/// Integration tests against the real twin: each starts its own twin process and stops it whatever happens.
@Suite(.serialized) struct TwinIntegrationTests {
    @Test func handshakeDescribesTheUR5eCell() throws {
        let twin = try startTwin()
        defer { twin.terminate() }
        let context = try ZMQContext()
        let link = try connect(twin, context: context)
        let welcome = try #require(link.welcome)
        #expect(welcome.robotName.contains("UR5e"))
        #expect(welcome.joints.count == 6)
        #expect(welcome.dh.count == 6)
        #expect(welcome.mode == .lockStep)
        #expect(welcome.tasks.contains("bin-red") && welcome.tasks.contains("stack-blue-green"))
        #expect(try link.heartbeat() < 1)
    }

    @Test func lockStepIsDeterministicForASeed() throws {
        let twin = try startTwin()
        defer { twin.terminate() }
        let context = try ZMQContext()
        let link = try connect(twin, context: context)
        func rollout() throws -> [Observation] {
            let episode = try link.reset(task: "bin-red", seed: 7)
            var q = JointVector()
            for (index, value) in episode.observation.jointPositions.enumerated() { q[index] = value }
            var observations = [episode.observation]
            for k in 0..<30 {
                q[0] += 0.002 * Double(k % 5)
                observations.append(try link.step(targets: q, gripper: 0.05))
            }
            return observations
        }
        let first = try rollout()
        let second = try rollout()
        #expect(first.count == 31)
        // Bit-identical physics; only the episode counter differs between the two resets.
        for (a, b) in zip(first, second) {
            #expect(a.jointPositions == b.jointPositions)
            #expect(a.objectPoses == b.objectPoses)
            #expect(a.simTime == b.simTime)
        }
        #expect(first.last!.simTime > 0.29 && first.last!.simTime < 0.31)
    }

    @Test func waypointControllerSolvesBothTaskKinds() throws {
        let twin = try startTwin()
        defer { twin.terminate() }
        let context = try ZMQContext()
        let runner = try EpisodeRunner(link: try connect(twin, context: context))
        for task in ["bin-red", "stack-blue-green"] {
            var options = EpisodeOptions(task: task, seed: 3)
            options.realtime = .none
            let result = runner.run(options)
            #expect(
                result.outcome == .success,
                "\(task): \(result.outcome) \(result.error?.description ?? "") in phase \(result.lastPhase)"
            )
            #expect(result.steps > 100)
            #expect(result.statistics.roundTrip.count == UInt64(result.steps))
        }
    }

    /// Lock-step with both cameras at 32×32 and images at 10 Hz of the 100 Hz control rate.
    static let cameraRateArguments = ["--cameras", "scene,wrist", "--image-size", "32", "--camera-rate", "10"]

    @Test func expertAdviceDrivesAnEpisodeToSuccess() throws {
        let twin = try startTwin(Self.cameraRateArguments)
        defer { twin.terminate() }
        let context = try ZMQContext()
        let link = try connect(twin, context: context)
        #expect(try #require(link.welcome).hasExpert)
        _ = try link.reset(task: "bin-red", seed: 3)
        // How a demonstration is recorded: ask the expert, step with its targets, until the task succeeds.
        var phases: [String] = []
        var steps = 0
        var succeeded = false
        while steps < 1500 && !succeeded {
            let advice = try link.advice()
            if phases.last != advice.phase { phases.append(advice.phase) }
            #expect(!advice.done || advice.phase == "done")
            succeeded = try link.step(targets: advice.targets, gripper: advice.gripper).success
            steps += 1
        }
        #expect(succeeded, "no success after \(steps) steps; phases \(phases)")
        #expect(Array(phases.prefix(7)) == ["reach", "descend", "grasp", "lift", "move", "place", "release"])
        #expect(steps > 100)
        #expect(link.counters.retries == 0 && link.counters.malformedReplies == 0)
    }

    @Test func lockStepCameraRateAttachesImagesEveryTenthStep() throws {
        let twin = try startTwin(Self.cameraRateArguments)
        defer { twin.terminate() }
        let context = try ZMQContext()
        let link = try connect(twin, context: context)
        let welcome = try #require(link.welcome)
        #expect(abs(welcome.cameraPeriod - 10 * welcome.controlPeriod) < 1e-12)
        #expect(welcome.imageStepInterval == 10)
        // EXPERT before the first RESET is refused, and the link keeps working.
        let early = #expect(throws: RuntimeError.self) { try link.advice() }
        #expect(early?.code == .twinError && early?.message.contains("BAD_STATE") == true)
        let episode = try link.reset(task: "bin-red", seed: 0)
        #expect(episode.observation.images.count == 2)
        var q = JointVector()
        for (index, value) in episode.observation.jointPositions.enumerated() { q[index] = value }
        for k in 1...25 {
            let observation = try link.step(targets: q, gripper: 0.05)
            #expect(observation.step == UInt64(k))
            let expected = k % welcome.imageStepInterval == 0 ? 2 : 0
            #expect(observation.images.count == expected, "step \(k): \(observation.images.count) images")
            if expected > 0 {
                #expect(link.imageBytes(0)?.count == 32 * 32 * 3 && link.imageBytes(1)?.count == 32 * 32 * 3)
            }
        }
    }

    @Test func aTwinKilledMidEpisodeIsReportedWithinTheLinkBound() throws {
        let twin = try startTwin()
        defer { twin.terminate() }
        let context = try ZMQContext()
        let runner = try EpisodeRunner(link: try connect(twin, context: context, timeout: 0.3, attempts: 2))
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { twin.kill9() }
        var options = EpisodeOptions(task: "bin-red", seed: 1)
        options.realtime = .none
        let started = Date()
        let result = runner.run(options)
        let elapsed = Date().timeIntervalSince(started)
        #expect(result.outcome == .linkFailure)
        #expect(result.error?.code == .twinUnreachable)
        #expect(result.error?.message.contains("did not answer STEP") == true, "\(result.error?.description ?? "")")
        // Bound: 2 attempts × 0.3 s after the kill, plus the 0.5 s before it; generous for a loaded machine.
        #expect(elapsed < 10, "took \(elapsed) s")
        #expect(result.steps > 0, "the episode was running when the twin died")
    }

    @Test func malformedFramesAreRejectedAndTheTwinKeepsServing() throws {
        let twin = try startTwin()
        defer { twin.terminate() }
        let context = try ZMQContext()
        let raw = try ZMQSocket(context, kind: .dealer)
        try raw.setReceiveTimeout(milliseconds: 5000)
        try raw.connect(twin.endpoint)
        var hello = try TwinCodec.encode(.hello(Hello(clientName: "t", clientVersion: "0")), seq: 9)
        let cases: [(String, [[UInt8]], String)] = [
            ("garbage", [[1, 2, 3]], "TRUNCATED"),
            ("bad magic", [[UInt8](repeating: 0x41, count: 24)], "BAD_MAGIC"),
            ("truncated payload", [Array(hello.dropLast(2))], "TRUNCATED"),
            ("trailing bytes", [hello + [0]], "TOO_LONG"),
            ("unexpected frame", [hello, [0]], "INCONSISTENT"),
        ]
        for (name, frames, expected) in cases {
            try raw.send(frames: frames)
            let reply = try #require(try raw.receiveMessage(), "\(name): no reply")
            let (_, message) = try TwinCodec.decode(frames: reply)
            guard case .error(let report) = message else {
                Issue.record("\(name): expected ERROR, got \(message)")
                continue
            }
            #expect(report.code.name == expected, "\(name): \(report.code.name) \(report.message)")
        }
        hello[4] = 2  // version 2
        try raw.send(hello)
        if case .error(let report) = try TwinCodec.decode(frames: try #require(try raw.receiveMessage())).1 {
            #expect(report.code == .unsupportedVersion)
        } else {
            Issue.record("version 2 was not rejected")
        }
        // A STEP for a 5-joint arm is inconsistent with the handshake.
        try raw.send(try TwinCodec.encode(.step(Step(jointTargets: [0, 0, 0, 0, 0], gripperTarget: 0)), seq: 11))
        if case .error(let report) = try TwinCodec.decode(frames: try #require(try raw.receiveMessage())).1 {
            #expect(report.code == .inconsistent)
            #expect(report.offendingSeq == 11)
        } else {
            Issue.record("5-joint STEP was not rejected")
        }
        // The twin still serves a well-behaved client.
        let link = try connect(twin, context: context)
        _ = try link.reset(task: "bin-red", seed: 0)
        #expect(twin.isRunning)
    }

    @Test func aTwinErrorReachesTheCallerWithItsCode() throws {
        let twin = try startTwin()
        defer { twin.terminate() }
        let context = try ZMQContext()
        let link = try connect(twin, context: context)
        let error = #expect(throws: RuntimeError.self) { try link.reset(task: "juggle-cubes", seed: 0) }
        #expect(error?.code == .twinError)
        #expect(error?.message.contains("UNKNOWN_TASK") == true)
        // Out-of-limit targets are refused by the twin, not clamped.
        _ = try link.reset(task: "bin-red", seed: 0)
        var q = JointVector()
        q[0] = 100
        let limit = #expect(throws: RuntimeError.self) { try link.step(targets: q, gripper: 0.01) }
        #expect(limit?.message.contains("BAD_VALUE") == true)
    }

    @Test func realTimeModeStreamsAndTheLoopKeepsItsPeriod() throws {
        let twin = try startTwin(["--mode", "realtime"])
        defer { twin.terminate() }
        let context = try ZMQContext()
        let runner = try EpisodeRunner(link: try connect(twin, context: context))
        var options = EpisodeOptions(task: "bin-red", seed: 2)
        options.realtime = .none
        let result = runner.run(options)
        // Success depends on the machine keeping up; the loop itself must run without link faults.
        #expect([.success, .failed].contains(result.outcome), "\(result.outcome) \(result.error?.description ?? "")")
        #expect(result.statistics.lateness.count > 100)
        #expect(result.statistics.ticks > 100)
    }
}

/// The client side against a fake twin that answers with broken messages.
@Suite struct MalformedReplyTests {
    @Test func malformedRepliesAreDroppedAndReported() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, kind: .router)
        try router.bind("tcp://127.0.0.1:0")
        var options = TwinLink.Options(endpoint: router.lastEndpoint)
        options.timeout = 1.0
        options.attempts = 2
        options.resetTimeout = 1.0
        let done = DispatchSemaphore(value: 0)
        let stop = UncheckedBox(Mutex(false))
        let routerBox = UncheckedBox(router)
        DispatchQueue.global().async {
            // Answer every request with garbage, a stale seq and a bad version, until the test is over.
            while !stop.value.withLock({ $0 }) {
                guard (try? routerBox.value.poll(.readable, timeout: 50))?.contains(.readable) == true,
                    let frames = try? routerBox.value.receiveMessage(), frames.count >= 2
                else { continue }
                let identity = frames[0]
                _ = try? routerBox.value.send(frames: [identity, [0xDE, 0xAD]])
                var stale = (try? TwinCodec.encode(.heartbeat(Heartbeat(time: 0)), seq: 999)) ?? []
                _ = try? routerBox.value.send(frames: [identity, stale])
                stale[4] = 7
                _ = try? routerBox.value.send(frames: [identity, stale])
            }
            done.signal()
        }
        defer {
            stop.value.withLock { $0 = true }
            done.wait()
        }
        let link = try TwinLink(context: context, options: options)
        let error = #expect(throws: RuntimeError.self) { try link.handshake() }
        #expect(error?.code == .twinUnreachable)
        #expect(error?.message.contains("malformed") == true, "\(error?.description ?? "")")
        #expect(link.counters.malformedReplies >= 2)
        #expect(link.counters.staleReplies >= 1)
    }
}

final class UncheckedBox<T: ~Copyable>: @unchecked Sendable {
    let value: T
    init(_ value: consuming T) { self.value = value }
}
