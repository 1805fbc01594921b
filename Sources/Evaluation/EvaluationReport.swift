import CellRuntime
import Foundation

/// The result of an evaluation: seeded episodes per task, success rates with confidence intervals, times to
/// success, inference latency; written as JSON, JUnit XML and a Markdown report with SVG plots and film strips.
public struct EvaluationReport: Sendable {
    /// One episode.
    public struct Episode: Sendable {
        public var task: String
        public var seed: UInt64
        public var outcome: String
        public var success: Bool
        public var episodeTime: Double
        public var wallTime: Double
        public var steps: Int
        public var error: String?

        public init(_ result: EpisodeResult) {
            self.task = result.task
            self.seed = result.seed
            self.outcome = result.outcome.rawValue
            self.success = result.succeeded
            self.episodeTime = result.episodeTime
            self.wallTime = result.wallTime
            self.steps = result.steps
            self.error = result.error?.description
        }
    }

    /// What was evaluated.
    public var controller: String
    public var model: String?
    public var modelName: String?
    public var variant: String?
    public var chunking: String?
    public var cell: String
    public var mode: String
    public var firstSeed: UInt64
    public var created: String
    public var episodes: [Episode] = []
    /// Inference latency over the whole evaluation, ns.
    public var inference = LatencyHistogram()
    /// Film strips written, by task: ("success" | "failure", file name).
    public var filmStrips: [String: [(kind: String, file: String, seed: UInt64)]] = [:]

    /// An empty report.
    public init(
        controller: String,
        model: String?,
        modelName: String?,
        variant: String?,
        chunking: String?,
        cell: String,
        mode: String,
        firstSeed: UInt64
    ) {
        self.controller = controller
        self.model = model
        self.modelName = modelName
        self.variant = variant
        self.chunking = chunking
        self.cell = cell
        self.mode = mode
        self.firstSeed = firstSeed
        self.created = ISO8601DateFormatter().string(from: Date())
    }

    /// Tasks in first-seen order.
    public var tasks: [String] {
        var seen: [String] = []
        for episode in self.episodes where !seen.contains(episode.task) { seen.append(episode.task) }
        return seen
    }

    /// Per-task figures.
    public struct TaskSummary: Sendable {
        public var task: String
        public var episodes: Int
        public var successes: Int
        public var rate: Double
        /// Wilson 95 % interval of the success rate.
        public var low: Double
        public var high: Double
        /// Mean episode time of the successes, s.
        public var meanTimeToSuccess: Double?
        public var outcomes: [String: Int]
    }

    /// Figures for one task.
    public func summary(_ task: String) -> TaskSummary {
        let episodes = self.episodes.filter { $0.task == task }
        let successes = episodes.filter(\.success)
        let (low, high) = Self.wilson(successes: successes.count, trials: episodes.count)
        var outcomes: [String: Int] = [:]
        for episode in episodes { outcomes[episode.outcome, default: 0] += 1 }
        return TaskSummary(
            task: task,
            episodes: episodes.count,
            successes: successes.count,
            rate: episodes.isEmpty ? 0 : Double(successes.count) / Double(episodes.count),
            low: low,
            high: high,
            meanTimeToSuccess: successes.isEmpty
                ? nil : successes.map(\.episodeTime).reduce(0, +) / Double(successes.count),
            outcomes: outcomes
        )
    }

    /// The Wilson score interval (95 %) of a binomial proportion.
    public static func wilson(successes: Int, trials: Int, z: Double = 1.96) -> (Double, Double) {
        guard trials > 0 else { return (0, 1) }
        let n = Double(trials)
        let p = Double(successes) / n
        let denominator = 1 + z * z / n
        let center = (p + z * z / (2 * n)) / denominator
        let half = z * ((p * (1 - p) / n + z * z / (4 * n * n)).squareRoot()) / denominator
        return (max(0, center - half), min(1, center + half))
    }

    // MARK: - Writing

    /// Writes `report.json`, `junit.xml`, `report.md`, `success.svg` and `time.svg` into `directory`
    /// (film strips are written separately as episodes end).
    public func write(to directory: String) throws(RuntimeError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RuntimeError(.system, "cannot create the report folder \(directory): \(error.localizedDescription)")
        }
        try AtomicFile.write(self.json(), to: directory + "/report.json")
        try AtomicFile.write(Data(self.junit().utf8), to: directory + "/junit.xml")
        try AtomicFile.write(Data(self.successSVG().utf8), to: directory + "/success.svg")
        try AtomicFile.write(Data(self.timeSVG().utf8), to: directory + "/time.svg")
        try AtomicFile.write(Data(self.markdown().utf8), to: directory + "/report.md")
    }

    /// The report as JSON (format `edgecell-eval`, version 1).
    public func json() throws(RuntimeError) -> Data {
        let tasks: [[String: Any]] = self.tasks.map { task in
            let s = self.summary(task)
            var entry: [String: Any] = [
                "task": task, "episodes": s.episodes, "successes": s.successes, "success_rate": s.rate,
                "ci95": [s.low, s.high], "outcomes": s.outcomes,
            ]
            if let mean = s.meanTimeToSuccess { entry["mean_time_to_success_s"] = mean }
            return entry
        }
        let episodes: [[String: Any]] = self.episodes.map { e in
            var entry: [String: Any] = [
                "task": e.task, "seed": e.seed, "outcome": e.outcome, "success": e.success,
                "episode_time_s": e.episodeTime, "wall_time_s": e.wallTime, "steps": e.steps,
            ]
            if let error = e.error { entry["error"] = error }
            return entry
        }
        var object: [String: Any] = [
            "format": "edgecell-eval", "format_version": 1, "created": self.created, "controller": self.controller,
            "cell": self.cell, "mode": self.mode, "first_seed": self.firstSeed, "tasks": tasks, "episodes": episodes,
        ]
        if let model = self.model { object["model"] = model }
        if let name = self.modelName { object["model_name"] = name }
        if let variant = self.variant { object["variant"] = variant }
        if let chunking = self.chunking { object["chunking"] = chunking }
        if self.inference.count > 0 {
            object["inference_latency_us"] = [
                "count": self.inference.count, "p50": self.inference.percentile(50) / 1000,
                "p99": self.inference.percentile(99) / 1000, "max": Double(self.inference.max) / 1000,
            ]
        }
        do {
            return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        } catch {
            throw RuntimeError(.system, "cannot encode the report: \(error)")
        }
    }

    /// JUnit XML: one test suite per task, one test case per episode (failed episodes carry a failure).
    public func junit() -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        let failures = self.episodes.filter { !$0.success }.count
        let time = self.episodes.map(\.wallTime).reduce(0, +)
        xml +=
            "<testsuites name=\"edgecell eval\" tests=\"\(self.episodes.count)\" failures=\"\(failures)\" "
            + String(format: "time=\"%.3f\">\n", time)
        for task in self.tasks {
            let episodes = self.episodes.filter { $0.task == task }
            let s = self.summary(task)
            xml +=
                "  <testsuite name=\"\(escape(task))\" tests=\"\(episodes.count)\" failures=\"\(s.episodes - s.successes)\" "
                + String(format: "time=\"%.3f\">\n", episodes.map(\.wallTime).reduce(0, +))
            for e in episodes {
                xml +=
                    "    <testcase classname=\"eval.\(escape(task))\" name=\"seed \(e.seed)\" "
                    + String(format: "time=\"%.3f\"", e.wallTime)
                if e.success {
                    xml += "/>\n"
                } else {
                    let message =
                        "\(e.outcome) after \(String(format: "%.2f", e.episodeTime)) s"
                        + (e.error.map { ": \($0)" } ?? "")
                    xml +=
                        ">\n      <failure type=\"\(escape(e.outcome))\" message=\"\(escape(message))\"/>\n    </testcase>\n"
                }
            }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>\n"
    }

    /// The Markdown report.
    public func markdown() -> String {
        var md = "# Evaluation: \(self.modelName ?? self.controller)\n\n"
        md +=
            "- controller: \(self.controller)" + (self.model.map { ", model `\($0)`" } ?? "")
            + (self.variant.map { " (\($0) weights)" } ?? "") + "\n"
        if let chunking = self.chunking { md += "- chunk execution: \(chunking)\n" }
        md += "- cell: \(self.cell), \(self.mode)\n"
        md += "- seeds: from \(self.firstSeed) (held out from training)\n- created: \(self.created)\n\n"
        md += "| task | success | 95 % interval | mean time to success | outcomes |\n|---|---|---|---|---|\n"
        for task in self.tasks {
            let s = self.summary(task)
            md +=
                "| \(task) | \(s.successes)/\(s.episodes) (\(String(format: "%.0f", s.rate * 100)) %) | "
                + String(format: "%.0f–%.0f %%", s.low * 100, s.high * 100) + " | "
                + (s.meanTimeToSuccess.map { String(format: "%.2f s", $0) } ?? "—") + " | "
                + s.outcomes.sorted(by: { $0.key < $1.key }).map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + " |\n"
        }
        if self.inference.count > 0 {
            md += "\nInference (C kernel, per chunk): " + self.inference.summaryMicros() + "\n"
        }
        md += "\n![success rates](success.svg)\n\n![time to success](time.svg)\n"
        for task in self.tasks {
            guard let strips = self.filmStrips[task], !strips.isEmpty else { continue }
            md += "\n## \(task)\n\n"
            for strip in strips {
                md += "\(strip.kind) (seed \(strip.seed)), one column per second, one row per camera:\n\n"
                md += "![\(task) \(strip.kind)](\(strip.file))\n\n"
            }
        }
        return md
    }

    /// Bars of the success rates with their 95 % intervals.
    public func successSVG() -> String {
        let tasks = self.tasks
        let barWidth = 60.0
        let gap = 30.0
        let height = 200.0
        let width = 60 + Double(tasks.count) * (barWidth + gap)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height + 60))\" "
            + "font-family=\"sans-serif\" font-size=\"11\">\n"
        svg += "<text x=\"10\" y=\"14\">success rate (95 % interval)</text>\n"
        for fraction in [0.0, 0.5, 0.8, 1.0] {
            let y = 30 + height * (1 - fraction)
            svg +=
                "<line x1=\"40\" x2=\"\(Int(width))\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"#ccc\"/>"
                + "<text x=\"8\" y=\"\(y + 4)\">\(Int(fraction * 100))%</text>\n"
        }
        for (index, task) in tasks.enumerated() {
            let s = self.summary(task)
            let x = 50 + Double(index) * (barWidth + gap)
            let top = 30 + height * (1 - s.rate)
            svg +=
                "<rect x=\"\(x)\" y=\"\(top)\" width=\"\(barWidth)\" height=\"\(height * s.rate)\" fill=\"#4a7ebb\"/>\n"
            let lowY = 30 + height * (1 - s.low)
            let highY = 30 + height * (1 - s.high)
            svg +=
                "<line x1=\"\(x + barWidth / 2)\" x2=\"\(x + barWidth / 2)\" y1=\"\(lowY)\" y2=\"\(highY)\" stroke=\"#222\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(x)\" y=\"\(height + 45)\">\(task)</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// A histogram of the times to success.
    public func timeSVG() -> String {
        let times = self.episodes.filter(\.success).map(\.episodeTime)
        let bins = 15
        let maxTime = max(times.max() ?? 1, 1)
        var counts = [Int](repeating: 0, count: bins)
        for time in times { counts[min(bins - 1, Int(time / maxTime * Double(bins)))] += 1 }
        let width = 420.0
        let height = 160.0
        let top = Double(counts.max() ?? 1)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width + 40))\" height=\"\(Int(height + 50))\" "
            + "font-family=\"sans-serif\" font-size=\"11\">\n"
        svg += "<text x=\"10\" y=\"14\">time to success (s), all tasks, \(times.count) successes</text>\n"
        for (index, count) in counts.enumerated() {
            let barHeight = top > 0 ? height * Double(count) / top : 0
            let x = 30 + Double(index) * width / Double(bins)
            svg +=
                "<rect x=\"\(x)\" y=\"\(20 + height - barHeight)\" width=\"\(width / Double(bins) - 2)\" "
                + "height=\"\(barHeight)\" fill=\"#6aa84f\"/>\n"
        }
        svg +=
            "<text x=\"30\" y=\"\(height + 38)\">0</text><text x=\"\(width)\" y=\"\(height + 38)\">"
            + String(format: "%.1f", maxTime) + "</text>\n"
        return svg + "</svg>\n"
    }
}
