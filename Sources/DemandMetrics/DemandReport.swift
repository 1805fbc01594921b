import Foundation

/// What one cell consumed over a window: the versioned record a runtime sends to the strategy model.
///
/// The JSON form uses snake_case keys; `schema` and `version` come first and are checked before anything
/// else, so a report from a newer runtime is refused by its version, not by a field this build does not know.
/// Figures that can be obtained in more than one way carry how they were obtained (`Figure.how`).
public struct DemandReport: Codable, Sendable, Equatable {
    /// The value of `schema` in every report.
    public static let schemaName = "edgecell-demand-report"
    /// The value of `version` this build reads and writes.
    public static let currentVersion = 1

    public var schema: String
    public var version: Int
    /// Set on hand-written or synthetic reports: says what the report is and where its figures came from.
    public var sample: String?
    /// The cell that measured this (stable across restarts).
    public var cellId: String
    public var window: TimeWindow
    public var model: ModelProfile
    public var rates: Rates
    public var inference: InferenceFigures
    /// The compute the cell needs to keep its control rate.
    public var required: RequiredCompute
    public var hardware: HardwareProfile
    public var energy: EnergyFigures
    /// What the runtime itself used over the window (threads' CPU time, peak RSS, control-loop timing). Optional
    /// in version 1: hand-written reports and runtimes before it leave it out.
    public var run: RunFigures?

    public init(
        sample: String? = nil,
        cellId: String,
        window: TimeWindow,
        model: ModelProfile,
        rates: Rates,
        inference: InferenceFigures,
        required: RequiredCompute,
        hardware: HardwareProfile,
        energy: EnergyFigures,
        run: RunFigures? = nil
    ) {
        self.schema = Self.schemaName
        self.version = Self.currentVersion
        self.sample = sample
        self.cellId = cellId
        self.window = window
        self.model = model
        self.rates = rates
        self.inference = inference
        self.required = required
        self.hardware = hardware
        self.energy = energy
        self.run = run
    }

    enum CodingKeys: String, CodingKey {
        case schema, version, sample
        case cellId = "cell_id"
        case window, model, rates, inference, required, hardware, energy, run
    }

    /// How a figure was obtained.
    public enum How: String, Codable, Sendable, CaseIterable {
        /// Counted by the kernel, operation by operation, during the window.
        case counted
        /// Measured with a clock or a hardware counter during the window.
        case measured
        /// Computed from other figures of this report (the note gives the formula).
        case derived
        /// Taken from the model's configuration or the cell's declared setup.
        case declared
        /// A model-based estimate (the note gives the method).
        case estimate
    }

    /// A number with its provenance.
    public struct Figure: Codable, Sendable, Equatable {
        public var value: Double
        public var how: How
        /// The method, formula or source, where `how` alone does not say it.
        public var note: String?

        public init(_ value: Double, _ how: How, note: String? = nil) {
            self.value = value
            self.how = how
            self.note = note
        }
    }

    /// The measurement window (ISO 8601 in JSON).
    public struct TimeWindow: Codable, Sendable, Equatable {
        public var start: Date
        public var end: Date

        public init(start: Date, end: Date) {
            self.start = start
            self.end = end
        }

        enum CodingKeys: String, CodingKey {
            case start, end
        }

        // Dates are decoded by hand so that a bad one is reported with its key.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            func date(_ key: CodingKeys) throws -> Date {
                let text = try container.decode(String.self, forKey: key)
                guard let date = Self.parse(text) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: key,
                        in: container,
                        debugDescription: "'\(text)' is not an ISO 8601 date and time (2026-11-22T10:00:00Z)"
                    )
                }
                return date
            }
            self.start = try date(.start)
            self.end = try date(.end)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            try container.encode(formatter.string(from: self.start), forKey: .start)
            try container.encode(formatter.string(from: self.end), forKey: .end)
        }

        static func parse(_ text: String) -> Date? {
            let formatter = ISO8601DateFormatter()
            if let date = formatter.date(from: text) { return date }
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.date(from: text)
        }
    }

    /// The policy model the cell ran.
    public struct ModelProfile: Codable, Sendable, Equatable {
        public var name: String
        /// SHA-256 of the weights file, 64 lower-case hex digits.
        public var sha256: String
        /// Weight precision: "fp32", "bf16", "int8".
        public var precision: String
        public var parameters: Int
        public var flopsPerInference: Figure
        /// Bytes read and written to memory per inference (weights and activations).
        public var bytesPerInference: Figure
        public var weightBytes: Int
        /// The activation arena the kernel allocates at load.
        public var arenaBytes: Int
        /// FLOPs and bytes per inference for each operation class, as the kernel counts them (optional).
        public var operations: [OperationWork]?

        public init(
            name: String,
            sha256: String,
            precision: String,
            parameters: Int,
            flopsPerInference: Figure,
            bytesPerInference: Figure,
            weightBytes: Int,
            arenaBytes: Int,
            operations: [OperationWork]? = nil
        ) {
            self.name = name
            self.sha256 = sha256
            self.precision = precision
            self.parameters = parameters
            self.flopsPerInference = flopsPerInference
            self.bytesPerInference = bytesPerInference
            self.weightBytes = weightBytes
            self.arenaBytes = arenaBytes
            self.operations = operations
        }

        enum CodingKeys: String, CodingKey {
            case name, sha256, precision, parameters, operations
            case flopsPerInference = "flops_per_inference"
            case bytesPerInference = "bytes_per_inference"
            case weightBytes = "weight_bytes"
            case arenaBytes = "arena_bytes"
        }
    }

    /// One operation class's work per inference (`matmul`, `attention`, `norm`, `elementwise`).
    public struct OperationWork: Codable, Sendable, Equatable {
        public var operation: String
        public var flops: Double
        public var bytes: Double

        public init(operation: String, flops: Double, bytes: Double) {
            self.operation = operation
            self.flops = flops
            self.bytes = bytes
        }
    }

    /// The control loop's rate and the policy's inference rate (one inference per action chunk).
    public struct Rates: Codable, Sendable, Equatable {
        public var controlHz: Double
        public var policyHz: Double

        public init(controlHz: Double, policyHz: Double) {
            self.controlHz = controlHz
            self.policyHz = policyHz
        }

        enum CodingKeys: String, CodingKey {
            case controlHz = "control_hz"
            case policyHz = "policy_hz"
        }
    }

    /// Inference timing over the window.
    public struct InferenceFigures: Codable, Sendable, Equatable {
        public var count: Int
        public var latencyP50Seconds: Figure
        public var latencyP99Seconds: Figure
        /// FLOPs executed per second of inference time.
        public var achievedFlopsPerSecond: Figure

        public init(
            count: Int,
            latencyP50Seconds: Figure,
            latencyP99Seconds: Figure,
            achievedFlopsPerSecond: Figure
        ) {
            self.count = count
            self.latencyP50Seconds = latencyP50Seconds
            self.latencyP99Seconds = latencyP99Seconds
            self.achievedFlopsPerSecond = achievedFlopsPerSecond
        }

        enum CodingKeys: String, CodingKey {
            case count
            case latencyP50Seconds = "latency_p50_s"
            case latencyP99Seconds = "latency_p99_s"
            case achievedFlopsPerSecond = "achieved_flops_per_s"
        }
    }

    /// What the cell needs at its rates: FLOP/s = FLOPs per inference × policy rate; bandwidth likewise in bytes.
    public struct RequiredCompute: Codable, Sendable, Equatable {
        public var flopsPerSecond: Figure
        public var memoryBandwidthBytesPerSecond: Figure
        /// This CPU's peak FLOP/s on the path that ran (optional).
        public var peakFlopsPerSecond: Figure?
        /// Peak FLOP/s over required FLOP/s: how many times over the CPU could carry the cell's load (optional).
        public var headroom: Figure?

        public init(
            flopsPerSecond: Figure,
            memoryBandwidthBytesPerSecond: Figure,
            peakFlopsPerSecond: Figure? = nil,
            headroom: Figure? = nil
        ) {
            self.flopsPerSecond = flopsPerSecond
            self.memoryBandwidthBytesPerSecond = memoryBandwidthBytesPerSecond
            self.peakFlopsPerSecond = peakFlopsPerSecond
            self.headroom = headroom
        }

        enum CodingKeys: String, CodingKey {
            case flopsPerSecond = "flops_per_s"
            case memoryBandwidthBytesPerSecond = "memory_bandwidth_bytes_per_s"
            case peakFlopsPerSecond = "peak_flops_per_s"
            case headroom
        }
    }

    /// A camera the policy reads.
    public struct Camera: Codable, Sendable, Equatable {
        public var name: String
        public var width: Int
        public var height: Int

        public init(name: String, width: Int, height: Int) {
            self.name = name
            self.width = width
            self.height = height
        }
    }

    /// The machine and the cell it drives.
    public struct HardwareProfile: Codable, Sendable, Equatable {
        public var cpuModel: String
        /// The kernel path that ran: "avx512", "avx2", "scalar", ….
        public var isaPath: String
        public var memoryBytes: Int
        public var cameras: [Camera]
        /// Actuated joints (the gripper counts as one).
        public var joints: Int

        public init(cpuModel: String, isaPath: String, memoryBytes: Int, cameras: [Camera], joints: Int) {
            self.cpuModel = cpuModel
            self.isaPath = isaPath
            self.memoryBytes = memoryBytes
            self.cameras = cameras
            self.joints = joints
        }

        enum CodingKeys: String, CodingKey {
            case cpuModel = "cpu_model"
            case isaPath = "isa_path"
            case memoryBytes = "memory_bytes"
            case cameras, joints
        }
    }

    /// How energy was obtained: a RAPL counter, or an estimate whose method is stated.
    public enum EnergyMethod: String, Codable, Sendable, CaseIterable {
        case rapl
        case estimate
    }

    /// Energy per inference.
    public struct EnergyFigures: Codable, Sendable, Equatable {
        public var joulesPerInference: Double
        public var method: EnergyMethod
        /// For RAPL the domains read; for an estimate the formula and its sources.
        public var methodDetail: String
        /// What the figure covers: "package", "dram", "module", "board", "wall".
        public var boundary: String
        /// Energy per hour of operation at the cell's rates (optional).
        public var joulesPerHour: Double?

        public init(
            joulesPerInference: Double,
            method: EnergyMethod,
            methodDetail: String,
            boundary: String,
            joulesPerHour: Double? = nil
        ) {
            self.joulesPerInference = joulesPerInference
            self.method = method
            self.methodDetail = methodDetail
            self.boundary = boundary
            self.joulesPerHour = joulesPerHour
        }

        enum CodingKeys: String, CodingKey {
            case joulesPerInference = "joules_per_inference"
            case method
            case methodDetail = "method_detail"
            case boundary
            case joulesPerHour = "joules_per_hour"
        }
    }

    /// What the runtime process used over the window.
    public struct RunFigures: Codable, Sendable, Equatable {
        /// Wall time the runtime has been measuring, s.
        public var wallSeconds: Double
        /// CPU time of the policy threads (`edgecell-policy`), s.
        public var policyThreadCPUSeconds: Figure
        /// CPU time of the control threads (`edgecell-ctl`), s.
        public var controlThreadCPUSeconds: Figure
        /// The process's peak resident set, bytes.
        public var peakRSSBytes: Figure
        /// Control ticks over the window.
        public var controlTicks: Int
        /// Wake-up lateness p50 and p99, s (real-time mode; nil in lock-step, where the loop runs on sim time).
        public var controlLatenessP50Seconds: Figure?
        public var controlLatenessP99Seconds: Figure?
        /// Control work per tick p99, s.
        public var controlComputeP99Seconds: Figure?
        /// Ticks that started after their deadline.
        public var controlOverruns: Int

        public init(
            wallSeconds: Double,
            policyThreadCPUSeconds: Figure,
            controlThreadCPUSeconds: Figure,
            peakRSSBytes: Figure,
            controlTicks: Int,
            controlLatenessP50Seconds: Figure?,
            controlLatenessP99Seconds: Figure?,
            controlComputeP99Seconds: Figure?,
            controlOverruns: Int
        ) {
            self.wallSeconds = wallSeconds
            self.policyThreadCPUSeconds = policyThreadCPUSeconds
            self.controlThreadCPUSeconds = controlThreadCPUSeconds
            self.peakRSSBytes = peakRSSBytes
            self.controlTicks = controlTicks
            self.controlLatenessP50Seconds = controlLatenessP50Seconds
            self.controlLatenessP99Seconds = controlLatenessP99Seconds
            self.controlComputeP99Seconds = controlComputeP99Seconds
            self.controlOverruns = controlOverruns
        }

        enum CodingKeys: String, CodingKey {
            case wallSeconds = "wall_s"
            case policyThreadCPUSeconds = "policy_thread_cpu_s"
            case controlThreadCPUSeconds = "control_thread_cpu_s"
            case peakRSSBytes = "peak_rss_bytes"
            case controlTicks = "control_ticks"
            case controlLatenessP50Seconds = "control_lateness_p50_s"
            case controlLatenessP99Seconds = "control_lateness_p99_s"
            case controlComputeP99Seconds = "control_compute_p99_s"
            case controlOverruns = "control_overruns"
        }
    }
}
