import ArgumentParser
import CellRuntime
import DemandMetrics
import Foundation
import LinkSecurity
import Policy
import ZeroMQ

/// `run`'s demand measurement: the Prometheus endpoint and the demand-report publisher (docs/STRATEGY.md §6).
struct DemandOptions: ParsableArguments {
    @Option(help: "Serve Prometheus metrics at http://127.0.0.1:PORT/metrics (0: a free port, printed at start).")
    var metricsPort: Int?

    @Option(help: "Push demand reports to this strategy endpoint, e.g. tcp://127.0.0.1:6000 (needs a policy).")
    var strategyEndpoint: String?

    // `.unconditional`: Z85 keys may begin with `-`, which would otherwise read as an option.
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "The strategy server's CURVE public key (Z85, key line or file): encrypts and authenticates the reports.",
            discussion: "Needed for an endpoint on another machine; the server prints it at start.",
            valueName: "key"
        )
    )
    var strategyKey: String?

    @Option(help: "Seconds between two demand reports.")
    var reportEvery: Double = 10

    @Option(help: "Demand reports kept while the strategy endpoint is down (the oldest is dropped beyond).")
    var reportBuffer = 64

    @Option(help: "This cell's id in demand reports and metrics (default: the host name).")
    var cellId: String?

    @Option(help: "The CPU's TDP, W: energy by CodeCarbon's fallback when RAPL is unreadable (default: FLOP model).")
    var cpuTdpWatts: Double?

    func validate() throws {
        if let port = self.metricsPort, !(0...65535).contains(port) {
            throw ValidationError("--metrics-port must be in 0…65535, not \(port)")
        }
        if let endpoint = self.strategyEndpoint, !(endpoint.hasPrefix("tcp://") || endpoint.hasPrefix("ipc://")) {
            throw ValidationError("--strategy-endpoint must be a ZeroMQ endpoint such as tcp://127.0.0.1:6000")
        }
        if let endpoint = self.strategyEndpoint, self.strategyKey == nil, LinkPolicy.reach(of: endpoint) == .network {
            throw ValidationError(LinkPolicy.clientWithoutServerKey(endpoint: endpoint, option: "--strategy-key"))
        }
        if self.strategyKey != nil && self.strategyEndpoint == nil {
            throw ValidationError("--strategy-key goes with --strategy-endpoint")
        }
        guard self.reportEvery > 0, self.reportEvery.isFinite else {
            throw ValidationError("--report-every must be a positive number of seconds")
        }
        guard self.reportBuffer >= 1 else { throw ValidationError("--report-buffer must be at least 1") }
        if let tdp = self.cpuTdpWatts, !(tdp > 0 && tdp.isFinite) {
            throw ValidationError("--cpu-tdp-watts must be positive")
        }
        if let id = self.cellId, id.isEmpty { throw ValidationError("--cell-id must not be empty") }
    }

    var enabled: Bool { self.metricsPort != nil || self.strategyEndpoint != nil }

    /// Inferences per second of cell time the policy runs at: every image-bearing frame in lock-step and with
    /// temporal ensembling; otherwise a chunk every `rows` rows, at most one per frame.
    static func policyRate(
        execution: ChunkExecution,
        actionPeriod: Double,
        cameraRate: Double,
        lockStep: Bool
    ) -> (hz: Double, note: String) {
        let frames = (cameraRate, "one inference per image-bearing observation, \(cameraRate) per second")
        if lockStep { return (frames.0, frames.1 + " (lock-step waits for each)") }
        switch execution {
        case .ensemble: return (frames.0, frames.1 + " (temporal ensembling)")
        case .sequential(let rows), .realtime(let rows, _):
            let chunk = 1 / (Double(rows) * actionPeriod)
            if chunk >= cameraRate { return frames }
            return (chunk, "one inference per \(rows) rows of \(actionPeriod) s (\(execution))")
        }
    }
}

/// The running measurement of one `edgecell run`: collector, metrics server, publisher.
final class DemandSession {
    let collector: DemandCollector
    private let server: MetricsServer?
    private let publisher: DemandPublisher?
    private let context: ZMQContext?

    init(
        _ options: DemandOptions,
        session: CellSession,
        cell: CellOptions,
        pipeline: PolicyPipeline?,
        policyOptions: PolicyRunOptions,
        console: Console
    ) throws {
        let welcome = session.welcome
        let lockStep = welcome.mode == .lockStep
        var model: DemandCollector.Model?
        var rate = (hz: 0.0, note: "no policy")
        if let pipeline {
            model = DemandCollector.Model(policy: pipeline.policy, kernelThreads: policyOptions.kernelThreads)
            rate = DemandOptions.policyRate(
                execution: policyOptions.execution(pipeline),
                actionPeriod: pipeline.actionPeriod,
                cameraRate: cell.cameraRate ?? 10,
                lockStep: lockStep
            )
        }
        let controlHz = lockStep ? 1 / welcome.controlPeriod : cell.controlRate
        let collector = DemandCollector(
            model: model,
            cell: .init(
                cellId: options.cellId ?? ProcessInfo.processInfo.hostName,
                controlHz: controlHz,
                policyHz: rate.hz,
                policyRateNote: rate.note,
                cameras: DemandCollector.cameras(policy: pipeline?.policy, welcome: welcome),
                joints: welcome.joints.count + 1,
                tdpWatts: options.cpuTdpWatts
            )
        )
        self.collector = collector
        pipeline?.inferenceObserver = { collector.recordInference(nanoseconds: $0) }
        if let port = options.metricsPort {
            do {
                let server = try MetricsServer(port: port) { collector.prometheus() }
                self.server = server
                console.line("metrics: http://127.0.0.1:\(server.port)/metrics")
            } catch {
                console.error("error: --metrics-port \(port): \(error)")
                throw ExitCode(1)
            }
        } else {
            self.server = nil
        }
        if let endpoint = options.strategyEndpoint {
            let context = try ZMQContext()
            var publisherOptions = DemandPublisher.Options(endpoint: endpoint, interval: options.reportEvery)
            publisherOptions.capacity = options.reportBuffer
            publisherOptions.curve = try LinkSetup.client(
                endpoint: endpoint,
                serverKey: options.strategyKey,
                option: "--strategy-key",
                plaintext: cell.devPlaintext
            )
            self.context = context
            self.publisher = DemandPublisher(
                context: context,
                options: publisherOptions,
                makeReport: { collector.report(collector.snapshot())?.encoded() },
                onCounters: { collector.setPublisher($0) },
                log: { console.error($0) }
            )
            console.line(
                "demand reports: cell '\(collector.cell.cellId)' to \(endpoint) every \(options.reportEvery) s "
                    + "(buffer \(options.reportBuffer)"
                    + (publisherOptions.curve == nil ? ", plaintext)" : ", CURVE)")
            )
        } else {
            self.context = nil
            self.publisher = nil
        }
        if let energy = model.map({ _ in RAPLMeter() == nil }) {
            console.line(
                energy
                    ? "energy: RAPL is not readable here; "
                        + (options.cpuTdpWatts == nil ? "FLOP-count estimate" : "CodeCarbon TDP estimate")
                    : "energy: RAPL package counters"
            )
        }
    }

    /// Adds a finished episode's loop timing.
    func add(_ result: EpisodeResult) { self.collector.add(result.statistics) }

    /// Sends a last report (waiting briefly for the endpoint), then stops the server.
    func close() {
        self.publisher?.stop()
        self.server?.stop()
        if let counters = self.publisher?.current {
            FileHandle.standardOutput.write(
                Data(
                    ("demand reports: \(counters.sent) sent, \(counters.dropped) dropped, \(counters.rejected) refused, "
                        + "\(counters.buffered) undelivered\n").utf8
                )
            )
        }
    }
}
