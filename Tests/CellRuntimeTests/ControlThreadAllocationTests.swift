import CAllocationCounter
import CellRuntime
import Foundation
import Policy
import Testing
import TwinProtocol
import ZeroMQ

/// Where a counting controller leaves its result (read after the episode, whose threads have been joined).
final class AllocationBox: @unchecked Sendable {
    var count: UInt64? = nil
    var ticks = 0
}

/// Wraps a controller and counts the control thread's heap allocations from tick `from` to tick `to`: everything
/// the control thread does in between (waiting for observations, the controller, the safety supervisor, the
/// episode judge, the command ring, the timing histograms) is inside the window.
struct AllocationCounting<Inner: CellController>: CellController {
    var inner: Inner
    let box: AllocationBox
    let from: Int
    let to: Int
    var tick = 0

    var phaseLabels: [String] { self.inner.phaseLabels }
    var endsOnSuccess: Bool { self.inner.endsOnSuccess }

    mutating func update(time: Double, period: Double, observation: ObservationSample) -> ControllerCommand {
        if self.tick == self.from { ec_allocations_begin() }
        if self.tick == self.to {
            self.box.count = ec_allocations_end()
            self.box.ticks = self.to - self.from
        }
        self.tick += 1
        return self.inner.update(time: time, period: period, observation: observation)
    }
}

/// The control thread allocates nothing after warm-up, with the waypoint controller and with a policy, against
/// the real twin in lock-step.
@Suite(.serialized) struct ControlThreadAllocationTests {
    @Test func waypointEpisodeAllocatesNothingAfterWarmUp() throws {
        #expect(ec_allocations_interposed() != 0, "the allocation counter is not active in this test binary")
        let twin = try startTwin()
        defer { twin.terminate() }
        let context = try ZMQContext()
        let runner = try EpisodeRunner(link: try connect(twin, context: context))
        let box = AllocationBox()
        var options = EpisodeOptions(task: "bin-red", seed: 4)
        options.realtime = .none
        let result = runner.run(options) { episode throws(RuntimeError) in
            let first = ObservationSample(episode.observation, seq: 0, receivedAt: MonotonicClock.nanoseconds())
            let program = try runner.taskPlanner.program(
                task: episode.task,
                welcome: runner.welcome,
                observation: episode.observation
            )
            let plan = try runner.planner.plan(program, from: first.q, gripper: first.gripperAperture)
            return AllocationCounting(inner: WaypointController(plan: plan), box: box, from: 50, to: 750)
        }
        #expect(result.outcome == .success, "\(result.outcome) \(result.error?.description ?? "")")
        #expect(box.ticks == 700)
        #expect(box.count == 0, "\(box.count ?? 0) allocations on the control thread in 700 ticks")
    }

    @Test func policyEpisodeAllocatesNothingAfterWarmUp() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/models/tiny2cam").path
        let policy = try Policy(directory: directory)
        let twin = try startTwin(["--cameras", "scene,wrist", "--image-size", "48x32", "--camera-rate", "10"])
        defer { twin.terminate() }
        let context = try ZMQContext()
        let link = try connect(twin, context: context)
        let runner = try EpisodeRunner(link: link)
        let pipeline = try PolicyPipeline(policy: policy, welcome: runner.welcome)
        for execution in [ChunkExecution.sequential(rows: 2), .ensemble(decay: 0.1), .realtime(rows: 2, blendRows: 2)] {
            let box = AllocationBox()
            var options = EpisodeOptions(task: "bin-red", seed: 5)
            options.realtime = .none
            options.timeLimit = 3
            let result = runner.run(options, pipeline: pipeline) { episode throws(RuntimeError) in
                _ = pipeline.prepare(instruction: episode.instruction)
                let first = ObservationSample(episode.observation, seq: 0, receivedAt: MonotonicClock.nanoseconds())
                pipeline.publishFrame(from: link, images: episode.observation.images, sample: first)
                return AllocationCounting(
                    inner: PolicyController(pipeline: pipeline, execution: execution, lockStep: true),
                    box: box,
                    from: 30,
                    to: 280
                )
            }
            // A random-weight model: the episode runs to its time limit (or a safety stop), never a fault.
            #expect(
                [.timeLimit, .safetyStop].contains(result.outcome),
                "\(result.outcome) \(result.error?.description ?? "")"
            )
            if result.outcome == .timeLimit {
                #expect(box.ticks == 250)
                #expect(box.count == 0, "\(execution): \(box.count ?? 0) allocations on the control thread")
            }
        }
    }
}
