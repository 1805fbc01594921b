import CellRuntime
import Foundation
import TwinProtocol

/// Success rates and loop timing over a run, for the terminal and as JSON.
struct RunSummary {
    struct TaskTally {
        var episodes = 0
        var successes = 0
        var outcomes: [String: Int] = [:]
        var successRate: Double { self.episodes == 0 ? 0 : Double(self.successes) / Double(self.episodes) }
    }

    let controller: String
    let welcome: Welcome
    var tasks: [String: TaskTally] = [:]
    var taskOrder: [String] = []
    let statistics = LoopStatistics()
    var hadError = false
    var episodeSeconds: [Double] = []
    var realtime = ""

    init(controller: String, welcome: Welcome) {
        self.controller = controller
        self.welcome = welcome
    }

    mutating func add(_ result: EpisodeResult) {
        if self.tasks[result.task] == nil { self.taskOrder.append(result.task) }
        self.tasks[result.task, default: TaskTally()].episodes += 1
        if result.succeeded {
            self.tasks[result.task, default: TaskTally()].successes += 1
            self.episodeSeconds.append(result.episodeTime)
        }
        self.tasks[result.task, default: TaskTally()].outcomes[result.outcome.rawValue, default: 0] += 1
        if [.linkFailure, .planningFailure].contains(result.outcome) { self.hadError = true }
        self.statistics.add(result.statistics)
        if self.realtime.isEmpty { self.realtime = result.realtime.description }
    }

    static func line(_ result: EpisodeResult, index: Int, of total: Int) -> String {
        var text = String(
            format: "episode %d/%d  %@ seed %llu: %@  %.2f s episode, %.2f s wall, %d steps",
            index,
            total,
            result.task,
            result.seed,
            result.outcome.rawValue.uppercased(),
            result.episodeTime,
            result.wallTime,
            result.steps
        )
        if !result.succeeded && !result.lastPhase.isEmpty { text += ", ended in phase '\(result.lastPhase)'" }
        if let error = result.error, result.outcome != .linkFailure { text += "\n  \(error)" }
        if result.safetyClamps > 0 {
            let clamped = result.safetyViolations.subtracting(.stopping).names.joined(separator: ", ")
            text += "\n  safety: \(result.safetyClamps) commands clamped (\(clamped))"
        }
        if result.link.retries > 0 || result.link.malformedReplies > 0 {
            text +=
                "\n  link: \(result.link.retries) retries, \(result.link.malformedReplies) malformed replies dropped"
        }
        return text
    }

    func report() -> [String] {
        var lines = [
            "summary (\(self.controller) controller, \(self.welcome.mode == .lockStep ? "lock-step" : "real-time")):"
        ]
        for task in self.taskOrder {
            let tally = self.tasks[task]!
            lines.append(
                String(
                    format: "  %-20@ %d/%d succeeded (%.0f %%)",
                    task,
                    tally.successes,
                    tally.episodes,
                    tally.successRate * 100
                )
            )
        }
        if !self.episodeSeconds.isEmpty {
            let mean = self.episodeSeconds.reduce(0, +) / Double(self.episodeSeconds.count)
            lines.append(String(format: "  time to success: mean %.2f s of episode time", mean))
        }
        return lines + self.timingLines()
    }

    /// Loop timing over every episode so far: lock-step speed or real-time wake-up lateness, period and
    /// overruns, control work, inference latency and late chunks (`run` and `eval` print these).
    func timingLines() -> [String] {
        let s = self.statistics
        var lines = ["loop timing (\(s.ticks) ticks):"]
        if self.welcome.mode == .lockStep {
            lines.append(
                "  lock-step on simulation time: " + String(format: "%.1f× real time", s.realTimeFactor)
                    + String(format: " (%.1f s simulated in %.1f s)", s.simulatedSeconds, s.wallSeconds)
            )
            lines.append("  wall time per control period: \(s.period.summaryMicros())")
            lines.append("  step round trip (I/O thread): \(s.roundTrip.summaryMicros())")
        } else {
            lines.append("  wake-up lateness: \(s.lateness.summaryMicros())")
            lines.append(
                "  period: \(s.period.summaryMicros()), overruns \(s.overruns), observation gaps "
                    + "\(s.observationGaps), stale observations dropped \(s.staleObservations)"
            )
        }
        lines.append("  control work per tick: \(s.compute.summaryMicros())")
        if s.inference.count > 0 {
            lines.append(
                "  inference (policy thread): \(s.inference.summaryMicros()); \(s.inference.count) chunks, "
                    + "\(s.lateChunks) arrived after the previous one ran out"
            )
            if s.framesSkipped > 0 {
                lines.append(
                    "  chunk scheduling: delay estimate "
                        + String(format: "%.2f", s.inferenceDelayEstimate * 1000)
                        + " ms (p90 after warm-up); \(s.framesSkipped) frames needed no inference"
                )
            }
        }
        if !self.realtime.isEmpty { lines.append("  control thread: \(self.realtime)") }
        return lines
    }

    func writeJSON(to path: String) throws(RuntimeError) {
        func hist(_ h: LatencyHistogram) -> [String: Any] {
            [
                "count": h.count, "p50_us": h.percentile(50) / 1000, "p99_us": h.percentile(99) / 1000,
                "p999_us": h.percentile(99.9) / 1000, "max_us": Double(h.count == 0 ? 0 : h.max) / 1000,
                "mean_us": h.mean / 1000,
            ]
        }
        let s = self.statistics
        let object: [String: Any] = [
            "version": 1,
            "controller": self.controller,
            "mode": self.welcome.mode == .lockStep ? "lockstep" : "realtime",
            "robot": self.welcome.robotName,
            "tasks": Dictionary(
                uniqueKeysWithValues: self.tasks.map { task, tally in
                    (
                        task,
                        [
                            "episodes": tally.episodes, "successes": tally.successes, "success_rate": tally.successRate,
                            "outcomes": tally.outcomes,
                        ] as [String: Any]
                    )
                }
            ),
            "loop": [
                "ticks": s.ticks, "overruns": s.overruns, "observation_gaps": s.observationGaps,
                "stale_observations": s.staleObservations,
                "simulated_s": s.simulatedSeconds, "wall_s": s.wallSeconds, "real_time_factor": s.realTimeFactor,
                "lateness": hist(s.lateness), "period": hist(s.period), "compute": hist(s.compute),
                "round_trip": hist(s.roundTrip), "inference": hist(s.inference), "late_chunks": s.lateChunks,
                "frames_skipped": s.framesSkipped, "inference_delay_estimate_s": s.inferenceDelayEstimate,
            ] as [String: Any],
            "control_thread": self.realtime,
        ]
        do {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(data, to: path)
        } catch {
            throw RuntimeError(.system, "cannot write the summary to \(path): \(error)")
        }
    }
}
