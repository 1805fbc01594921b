import Foundation
import Synchronization

/// Builds a `DemandReport` and the Prometheus exposition from a running cell.
///
/// Fed by three kinds of thread: the policy thread records each inference's latency (`recordInference`); the
/// thread that runs episodes adds each finished episode's control-loop timing (`addControlLoop`), read from
/// the control thread's histograms after it stopped; the metrics and publisher threads read snapshots. The
/// control thread never calls it. Everything sits behind one lock, held for a few microseconds.
public final class DemandCollector: Sendable {
    /// The model as the kernel counts it (set once, at load).
    public struct Model: Sendable {
        public var name: String
        public var sha256: String
        public var precision: String
        public var parameters: Int
        /// Per operation class, FLOPs and bytes one inference executes (`pk_model_op_stats`).
        public var operations: [DemandReport.OperationWork]
        /// Weight memory held after load, bytes.
        public var weightBytes: Int
        public var arenaBytes: Int
        /// "avx512", "avx2", "scalar".
        public var isaPath: String
        /// Threads one inference uses.
        public var kernelThreads: Int
        /// This core's measured fp32 FMA peak on `isaPath`, FLOP/s (`pk_measure_fma_peak`), or nil.
        public var peakFlopsPerSecondPerCore: Double?

        public init(
            name: String,
            sha256: String,
            precision: String,
            parameters: Int,
            operations: [DemandReport.OperationWork],
            weightBytes: Int,
            arenaBytes: Int,
            isaPath: String,
            kernelThreads: Int,
            peakFlopsPerSecondPerCore: Double?
        ) {
            self.name = name
            self.sha256 = sha256
            self.precision = precision
            self.parameters = parameters
            self.operations = operations
            self.weightBytes = weightBytes
            self.arenaBytes = arenaBytes
            self.isaPath = isaPath
            self.kernelThreads = kernelThreads
            self.peakFlopsPerSecondPerCore = peakFlopsPerSecondPerCore
        }

        /// FLOPs per inference, all classes.
        public var flops: Double { self.operations.map(\.flops).reduce(0, +) }
        /// Bytes moved per inference, all classes.
        public var bytes: Double { self.operations.map(\.bytes).reduce(0, +) }
    }

    /// The cell: who it is, its rates, what it sees and moves.
    public struct Cell: Sendable {
        public var cellId: String
        public var controlHz: Double
        /// Inferences per second of cell time the chunk execution asks for.
        public var policyHz: Double
        /// How `policyHz` follows from the chunk execution (for the report's note).
        public var policyRateNote: String
        public var cameras: [DemandReport.Camera]
        public var joints: Int
        public var cpuModel: String
        public var memoryBytes: Int
        public var logicalCPUs: Int
        /// A declared TDP for CodeCarbon's fallback when RAPL is unreadable.
        public var tdpWatts: Double?

        public init(
            cellId: String,
            controlHz: Double,
            policyHz: Double,
            policyRateNote: String,
            cameras: [DemandReport.Camera],
            joints: Int,
            cpuModel: String = SystemProbe.cpuModel(),
            memoryBytes: Int = SystemProbe.memoryBytes(),
            logicalCPUs: Int = ProcessInfo.processInfo.processorCount,
            tdpWatts: Double? = nil
        ) {
            self.cellId = cellId
            self.controlHz = controlHz
            self.policyHz = policyHz
            self.policyRateNote = policyRateNote
            self.cameras = cameras
            self.joints = joints
            self.cpuModel = cpuModel
            self.memoryBytes = memoryBytes
            self.logicalCPUs = logicalCPUs
            self.tdpWatts = tdpWatts
        }
    }

    /// Counters of the demand-report publisher, shown in `/metrics`.
    public struct PublisherCounters: Sendable, Equatable {
        public var sent = 0
        public var dropped = 0
        public var rejected = 0
        public var buffered = 0
        public init() {}
    }

    /// Control-loop timing of finished episodes.
    public struct ControlLoop: Sendable {
        public var ticks = 0
        public var overruns = 0
        /// Wake-up lateness (real-time mode only).
        public var lateness = DurationHistogram()
        /// Control work per tick.
        public var compute = DurationHistogram()
        public var episodes = 0
        public init() {}
    }

    struct State {
        var inference = DurationHistogram()
        var control = ControlLoop()
        var publisher = PublisherCounters()
    }

    public let model: Model?
    public let cell: Cell
    public let started: Date
    private let startedMonotonic: UInt64
    private let rapl: RAPLMeter?
    private let state = Mutex(State())

    /// Starts measuring now. `model` is nil for a cell without a learned policy (no demand report then).
    public init(model: Model?, cell: Cell, rapl: RAPLMeter? = RAPLMeter(), started: Date = Date()) {
        self.model = model
        self.cell = cell
        self.rapl = rapl
        self.started = started
        self.startedMonotonic = DispatchTime.now().uptimeNanoseconds
    }

    /// One inference took `nanoseconds` (policy thread).
    public func recordInference(nanoseconds: Int64) {
        self.state.withLock { $0.inference.record(nanoseconds: nanoseconds) }
    }

    /// Adds a finished episode's control-loop timing.
    public func addControlLoop(_ update: (inout ControlLoop) -> Void) {
        self.state.withLock { state in
            update(&state.control)
            state.control.episodes += 1
        }
    }

    /// Sets the publisher's counters.
    public func setPublisher(_ counters: PublisherCounters) {
        self.state.withLock { $0.publisher = counters }
    }

    /// Everything the exposition and the report are computed from, taken at one instant.
    public struct Snapshot: Sendable {
        public var inference: DurationHistogram
        public var control: ControlLoop
        public var publisher: PublisherCounters
        public var wallSeconds: Double
        public var threadCPU: [String: Double]
        public var peakRSS: (bytes: Int, source: String)
        public var raplJoules: Double?
    }

    public func snapshot() -> Snapshot {
        let state = self.state.withLock { $0 }
        return Snapshot(
            inference: state.inference,
            control: state.control,
            publisher: state.publisher,
            wallSeconds: Double(DispatchTime.now().uptimeNanoseconds - self.startedMonotonic) * 1e-9,
            threadCPU: ThreadCPUTime.seconds(),
            peakRSS: SystemProbe.peakRSS(),
            raplJoules: self.rapl?.joulesSinceStart()
        )
    }

    // MARK: - Derived figures (one formula each, shared by the report and /metrics)

    /// Counted FLOPs over measured inference time: total FLOPs executed / total seconds spent inferring.
    public func achievedFlopsPerSecond(_ s: Snapshot) -> Double {
        guard let model = self.model, s.inference.sumSeconds > 0 else { return 0 }
        return model.flops * Double(s.inference.count) / s.inference.sumSeconds
    }

    /// FLOPs per inference × policy rate.
    public var requiredFlopsPerSecond: Double { (self.model?.flops ?? 0) * self.cell.policyHz }
    /// Bytes per inference × policy rate.
    public var requiredBandwidth: Double { (self.model?.bytes ?? 0) * self.cell.policyHz }
    /// Peak of the cores one inference uses.
    public var peakFlopsPerSecond: Double? {
        guard let model = self.model, let core = model.peakFlopsPerSecondPerCore, core > 0 else { return nil }
        return core * Double(model.kernelThreads)
    }

    /// Energy per inference and how it was obtained; nil before the first inference.
    public func energy(_ s: Snapshot) -> DemandReport.EnergyFigures? {
        guard let model = self.model, s.inference.count > 0 else { return nil }
        let count = Double(s.inference.count)
        let perHour = self.cell.policyHz * 3600
        if let rapl = self.rapl, let joules = s.raplJoules {
            let perInference = joules / count
            return .init(
                joulesPerInference: perInference,
                method: .rapl,
                methodDetail: rapl.description,
                boundary: "package",
                joulesPerHour: perInference * perHour
            )
        }
        if let tdp = self.cell.tdpWatts {
            let cpu = s.threadCPU["edgecell-policy"] ?? 0
            let perInference =
                EnergyEstimate.codeCarbonJoules(cpuSeconds: cpu, tdpWatts: tdp, logicalCPUs: self.cell.logicalCPUs)
                / count
            return .init(
                joulesPerInference: perInference,
                method: .estimate,
                methodDetail: EnergyEstimate.codeCarbonDetail(tdpWatts: tdp, logicalCPUs: self.cell.logicalCPUs),
                boundary: "package",
                joulesPerHour: perInference * perHour
            )
        }
        let perInference = model.flops * EnergyEstimate.picojoulesPerFlop * 1e-12
        return .init(
            joulesPerInference: perInference,
            method: .estimate,
            methodDetail: EnergyEstimate.operationCountDetail,
            boundary: "package",
            joulesPerHour: perInference * perHour
        )
    }

    /// The demand report for the run so far (the window starts when the collector did); nil without a model or
    /// before the first inference.
    public func report(_ s: Snapshot, now: Date = Date()) -> DemandReport? {
        guard let model = self.model, s.inference.count > 0, let energy = self.energy(s) else { return nil }
        let opsNote =
            "executed per inference, summed over the kernel's operation plan per class (pk_model_op_stats), for an "
            + "instruction filling every token slot"
        let required = self.requiredFlopsPerSecond
        let peak = self.peakFlopsPerSecond
        let p50 = max(s.inference.percentileSeconds(50), 1e-9)
        let p99 = max(s.inference.percentileSeconds(99), p50)
        let lockStep = s.control.lateness.count == 0
        func measured(_ value: Double, _ note: String? = nil) -> DemandReport.Figure {
            .init(value, .measured, note: note)
        }
        return DemandReport(
            cellId: self.cell.cellId,
            window: .init(start: self.started, end: max(now, self.started)),
            model: .init(
                name: model.name,
                sha256: model.sha256,
                precision: model.precision,
                parameters: model.parameters,
                flopsPerInference: .init(model.flops, .counted, note: opsNote),
                bytesPerInference: .init(
                    model.bytes,
                    .counted,
                    note: "modelled per operation by the kernel: every operand read once, every result written once, "
                        + "packed weights at their stored size, caches ignored (pk_model_op_stats)"
                ),
                weightBytes: model.weightBytes,
                arenaBytes: model.arenaBytes,
                operations: model.operations
            ),
            rates: .init(controlHz: self.cell.controlHz, policyHz: self.cell.policyHz),
            inference: .init(
                count: Int(s.inference.count),
                latencyP50Seconds: measured(p50, "CLOCK_MONOTONIC around each inference, log-linear histogram (3 %)"),
                latencyP99Seconds: measured(p99),
                achievedFlopsPerSecond: .init(
                    self.achievedFlopsPerSecond(s),
                    .derived,
                    note: "counted FLOPs × inferences / measured inference time"
                )
            ),
            required: .init(
                flopsPerSecond: .init(
                    required,
                    .derived,
                    note: "flops_per_inference × policy_hz; \(self.cell.policyRateNote)"
                ),
                memoryBandwidthBytesPerSecond: .init(
                    self.requiredBandwidth,
                    .derived,
                    note: "bytes_per_inference × policy_hz"
                ),
                peakFlopsPerSecond: peak.map {
                    .init(
                        $0,
                        .measured,
                        note: "fp32 FMA throughput on the \(model.isaPath) path (pk_measure_fma_peak) × "
                            + "\(model.kernelThreads) kernel thread(s)"
                    )
                },
                headroom: peak.map {
                    .init(required > 0 ? $0 / required : 0, .derived, note: "peak_flops_per_s / flops_per_s")
                }
            ),
            hardware: .init(
                cpuModel: self.cell.cpuModel,
                isaPath: model.isaPath,
                memoryBytes: max(self.cell.memoryBytes, 1),
                cameras: self.cell.cameras,
                joints: self.cell.joints
            ),
            energy: energy,
            run: .init(
                wallSeconds: s.wallSeconds,
                policyThreadCPUSeconds: measured(s.threadCPU["edgecell-policy"] ?? 0, Self.cpuNote),
                controlThreadCPUSeconds: measured(s.threadCPU["edgecell-ctl"] ?? 0, Self.cpuNote),
                peakRSSBytes: measured(Double(s.peakRSS.bytes), s.peakRSS.source),
                controlTicks: s.control.ticks,
                controlLatenessP50Seconds: lockStep ? nil : measured(s.control.lateness.percentileSeconds(50)),
                controlLatenessP99Seconds: lockStep ? nil : measured(s.control.lateness.percentileSeconds(99)),
                controlComputeP99Seconds: s.control.compute.count == 0
                    ? nil : measured(s.control.compute.percentileSeconds(99)),
                controlOverruns: s.control.overruns
            )
        )
    }

    static let cpuNote =
        "CLOCK_THREAD_CPUTIME_ID of finished threads plus utime+stime of running ones (/proc/self/task/<tid>/stat)"
}
