import Foundation

/// Writes the Prometheus text exposition format, version 0.0.4: a `# HELP` and a `# TYPE` line per metric
/// family, then its samples; label values escaped; numbers in Go's float syntax (`+Inf`, `NaN`).
public struct PrometheusText {
    /// The `Content-Type` of the format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public enum Kind: String { case counter, gauge, histogram, summary }

    public private(set) var text = ""

    public init() {}

    /// Starts a family.
    public mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        let escaped = help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
        self.text += "# HELP \(name) \(escaped)\n# TYPE \(name) \(kind.rawValue)\n"
    }

    /// One sample line.
    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        var line = name
        if !labels.isEmpty {
            line += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        self.text += line + " " + Self.format(value) + "\n"
    }

    /// A family with a single unlabelled sample.
    public mutating func single(_ name: String, _ kind: Kind, _ help: String, _ value: Double) {
        self.family(name, kind, help)
        self.sample(name, [], value)
    }

    /// A histogram family from a `DurationHistogram` (seconds).
    public mutating func histogram(_ name: String, _ help: String, _ histogram: DurationHistogram) {
        self.family(name, .histogram, help)
        for (bound, count) in zip(DurationHistogram.prometheusBounds, histogram.cumulativeBucketCounts) {
            self.sample(name + "_bucket", [("le", Self.format(bound))], Double(count))
        }
        self.sample(name + "_bucket", [("le", "+Inf")], Double(histogram.count))
        self.sample(name + "_sum", [], histogram.sumSeconds)
        self.sample(name + "_count", [], Double(histogram.count))
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Integers without a fraction or exponent (so counts and byte sizes read exactly), else shortest round-trip.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

extension DemandCollector {
    /// The `/metrics` page.
    public func prometheus() -> String {
        let s = self.snapshot()
        var out = PrometheusText()
        let cell = self.cell
        out.family("edgecell_cell_info", .gauge, "The cell, its model and the machine (value 1).")
        out.sample(
            "edgecell_cell_info",
            [
                ("cell_id", cell.cellId), ("model", self.model?.name ?? ""), ("precision", self.model?.precision ?? ""),
                ("isa_path", self.model?.isaPath ?? ""), ("cpu_model", cell.cpuModel),
            ],
            1
        )
        out.single("edgecell_control_rate_hertz", .gauge, "Control loop rate.", cell.controlHz)
        out.single("edgecell_joints", .gauge, "Actuated joints (the gripper counts as one).", Double(cell.joints))
        out.single(
            "edgecell_memory_bytes",
            .gauge,
            "Installed memory (/proc/meminfo MemTotal).",
            Double(cell.memoryBytes)
        )
        out.family("edgecell_camera_pixels", .gauge, "Pixels per frame of each camera the policy reads.")
        for camera in cell.cameras {
            out.sample(
                "edgecell_camera_pixels",
                [("camera", camera.name), ("resolution", "\(camera.width)x\(camera.height)")],
                Double(camera.width * camera.height)
            )
        }
        if let model = self.model {
            out.single(
                "edgecell_policy_rate_hertz",
                .gauge,
                "Inferences per second of cell time the chunk execution asks for.",
                cell.policyHz
            )
            out.single(
                "edgecell_model_parameters",
                .gauge,
                "Parameters of the policy network.",
                Double(model.parameters)
            )
            out.single(
                "edgecell_model_flops_per_inference",
                .gauge,
                "FLOPs one inference executes, counted by the kernel per operation (pk_model_op_stats).",
                model.flops
            )
            out.family(
                "edgecell_model_operation_flops_per_inference",
                .gauge,
                "FLOPs per inference by operation class."
            )
            for work in model.operations {
                out.sample("edgecell_model_operation_flops_per_inference", [("operation", work.operation)], work.flops)
            }
            out.single(
                "edgecell_model_bytes_per_inference",
                .gauge,
                "Bytes one inference moves to and from memory, by the kernel's per-operation model.",
                model.bytes
            )
            out.family(
                "edgecell_model_operation_bytes_per_inference",
                .gauge,
                "Bytes per inference by operation class."
            )
            for work in model.operations {
                out.sample("edgecell_model_operation_bytes_per_inference", [("operation", work.operation)], work.bytes)
            }
            out.single(
                "edgecell_model_weight_bytes",
                .gauge,
                "Weight memory held after load.",
                Double(model.weightBytes)
            )
            out.single(
                "edgecell_model_arena_bytes",
                .gauge,
                "Activation arena of one inference stream.",
                Double(model.arenaBytes)
            )
            out.histogram("edgecell_inference_latency_seconds", "Policy inference latency.", s.inference)
            out.family(
                "edgecell_inference_latency_quantile_seconds",
                .gauge,
                "Inference latency percentiles (log-linear histogram, 3 %)."
            )
            for q in [0.5, 0.9, 0.99] {
                out.sample(
                    "edgecell_inference_latency_quantile_seconds",
                    [("quantile", PrometheusText.format(q))],
                    s.inference.percentileSeconds(q * 100)
                )
            }
            out.single(
                "edgecell_policy_flops_per_second",
                .gauge,
                "Achieved: counted FLOPs × inferences / measured inference time.",
                self.achievedFlopsPerSecond(s)
            )
            out.single(
                "edgecell_required_flops_per_second",
                .gauge,
                "FLOP/s the cell needs at its policy rate (FLOPs per inference × policy rate).",
                self.requiredFlopsPerSecond
            )
            out.single(
                "edgecell_required_memory_bandwidth_bytes_per_second",
                .gauge,
                "Memory bandwidth the cell needs at its policy rate (bytes per inference × policy rate).",
                self.requiredBandwidth
            )
            if let peak = self.peakFlopsPerSecond {
                out.single(
                    "edgecell_cpu_peak_flops_per_second",
                    .gauge,
                    "Measured fp32 FMA peak of the kernel's cores.",
                    peak
                )
                out.single(
                    "edgecell_compute_headroom_ratio",
                    .gauge,
                    "Peak FLOP/s over required FLOP/s.",
                    self.requiredFlopsPerSecond > 0 ? peak / self.requiredFlopsPerSecond : 0
                )
            }
            if let energy = self.energy(s) {
                out.family(
                    "edgecell_energy_joules_per_inference",
                    .gauge,
                    "Energy per inference; method says how it was obtained."
                )
                out.sample(
                    "edgecell_energy_joules_per_inference",
                    [("method", energy.method.rawValue), ("boundary", energy.boundary)],
                    energy.joulesPerInference
                )
                out.family("edgecell_energy_joules_per_hour", .gauge, "Inference energy per hour at the policy rate.")
                out.sample(
                    "edgecell_energy_joules_per_hour",
                    [("method", energy.method.rawValue), ("boundary", energy.boundary)],
                    energy.joulesPerHour ?? 0
                )
            }
        }
        out.family("edgecell_thread_cpu_seconds_total", .counter, "CPU time of the runtime's threads, by thread name.")
        for name in s.threadCPU.keys.sorted() where name.hasPrefix("edgecell-") {
            out.sample("edgecell_thread_cpu_seconds_total", [("thread", name)], s.threadCPU[name]!)
        }
        out.single(
            "edgecell_peak_resident_memory_bytes",
            .gauge,
            "Peak resident set (\(s.peakRSS.source)).",
            Double(s.peakRSS.bytes)
        )
        out.single(
            "edgecell_control_ticks_total",
            .counter,
            "Control ticks of finished episodes.",
            Double(s.control.ticks)
        )
        out.single(
            "edgecell_control_loop_overruns_total",
            .counter,
            "Ticks that started after their deadline (finished episodes).",
            Double(s.control.overruns)
        )
        out.histogram(
            "edgecell_control_loop_lateness_seconds",
            "Wake-up lateness after the absolute deadline (real-time mode, finished episodes).",
            s.control.lateness
        )
        out.histogram(
            "edgecell_control_tick_compute_seconds",
            "Control work per tick (finished episodes).",
            s.control.compute
        )
        out.single(
            "edgecell_demand_reports_sent_total",
            .counter,
            "Demand reports the strategy endpoint acknowledged.",
            Double(s.publisher.sent)
        )
        out.single(
            "edgecell_demand_reports_dropped_total",
            .counter,
            "Demand reports dropped because the buffer was full.",
            Double(s.publisher.dropped)
        )
        out.single(
            "edgecell_demand_reports_rejected_total",
            .counter,
            "Demand reports the strategy endpoint refused.",
            Double(s.publisher.rejected)
        )
        out.single(
            "edgecell_demand_reports_buffered",
            .gauge,
            "Demand reports waiting for the strategy endpoint.",
            Double(s.publisher.buffered)
        )
        return out.text
    }
}
