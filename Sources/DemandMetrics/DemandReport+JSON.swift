import Foundation

/// A demand report that could not be read: what is wrong, and with which field or version.
public struct DemandReportError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// Not JSON, or not a JSON object.
        case notJSON
        /// `schema` is missing or names another format.
        case wrongSchema
        /// `version` is missing, older than 1, or newer than this build reads.
        case unsupportedVersion
        /// A field is missing, has the wrong type, or holds an impossible value.
        case invalidField
    }

    public var code: Code
    /// The offending field as a dotted path (`model.flops_per_inference.value`), or nil for the whole report.
    public var field: String?
    public var message: String

    public init(_ code: Code, field: String? = nil, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String { "demand report: \(self.message)" }
}

extension DemandReport {
    /// Reads and validates a report. A future `version` is refused before any other field is looked at.
    public static func decode(from data: Data) throws(DemandReportError) -> DemandReport {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw DemandReportError(.notJSON, "not valid JSON (\(error.localizedDescription))")
        }
        guard let top = object as? [String: Any] else {
            throw DemandReportError(.notJSON, "the top level is not a JSON object")
        }
        guard let schema = top["schema"] as? String else {
            throw DemandReportError(.wrongSchema, field: "schema", "missing field 'schema' (expected '\(schemaName)')")
        }
        guard schema == schemaName else {
            throw DemandReportError(.wrongSchema, field: "schema", "schema is '\(schema)', expected '\(schemaName)'")
        }
        guard let number = top["version"] as? NSNumber, let version = Int(exactly: number.doubleValue) else {
            throw DemandReportError(.unsupportedVersion, field: "version", "missing or non-integer field 'version'")
        }
        guard version <= currentVersion else {
            throw DemandReportError(
                .unsupportedVersion,
                field: "version",
                "version \(version) is newer than this build reads (\(currentVersion)); upgrade the strategy model"
            )
        }
        guard version >= 1 else {
            throw DemandReportError(.unsupportedVersion, field: "version", "version \(version) does not exist")
        }
        let decoder = JSONDecoder()
        let report: DemandReport
        do { report = try decoder.decode(DemandReport.self, from: data) } catch let error as DecodingError {
            let (field, text) = Self.describe(error)
            throw DemandReportError(.invalidField, field: field, text)
        } catch {
            throw DemandReportError(.notJSON, "\(error)")
        }
        try report.validate()
        return report
    }

    /// Reads a report from a file; errors name the file.
    public static func load(path: String) throws(DemandReportError) -> DemandReport {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DemandReportError(.notJSON, "cannot read \(path)")
        }
        do { return try decode(from: data) } catch {
            var named = error
            named.message = "\(path): \(error.message)"
            throw named
        }
    }

    /// Pretty, key-sorted JSON with ISO 8601 dates, ending in a newline.
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // validate() admits only finite numbers, so encoding a validated report cannot fail.
        return ((try? encoder.encode(self)) ?? Data()) + Data("\n".utf8)
    }

    /// Checks what types cannot: finite non-negative figures, a real SHA-256, an ordered window, p50 ≤ p99.
    public func validate() throws(DemandReportError) {
        func fail(_ field: String, _ text: String) -> DemandReportError {
            DemandReportError(.invalidField, field: field, "field '\(field)' \(text)")
        }
        func nonNegative(_ value: Double, _ field: String) throws(DemandReportError) {
            guard value.isFinite, value >= 0 else { throw fail(field, "must be a finite number ≥ 0, got \(value)") }
        }
        func positive(_ value: Double, _ field: String) throws(DemandReportError) {
            guard value.isFinite, value > 0 else { throw fail(field, "must be a finite number > 0, got \(value)") }
        }
        guard !self.cellId.isEmpty else { throw fail("cell_id", "is empty") }
        guard self.window.end >= self.window.start else { throw fail("window.end", "is before window.start") }
        guard !self.model.name.isEmpty else { throw fail("model.name", "is empty") }
        let hex = Set("0123456789abcdef")
        guard self.model.sha256.count == 64, self.model.sha256.allSatisfy({ hex.contains($0) }) else {
            throw fail("model.sha256", "must be 64 lower-case hex digits, got '\(self.model.sha256)'")
        }
        try positive(Double(self.model.parameters), "model.parameters")
        try positive(self.model.flopsPerInference.value, "model.flops_per_inference.value")
        try positive(self.model.bytesPerInference.value, "model.bytes_per_inference.value")
        try positive(Double(self.model.weightBytes), "model.weight_bytes")
        try nonNegative(Double(self.model.arenaBytes), "model.arena_bytes")
        try positive(self.rates.controlHz, "rates.control_hz")
        try positive(self.rates.policyHz, "rates.policy_hz")
        try nonNegative(Double(self.inference.count), "inference.count")
        try positive(self.inference.latencyP50Seconds.value, "inference.latency_p50_s.value")
        try positive(self.inference.latencyP99Seconds.value, "inference.latency_p99_s.value")
        guard self.inference.latencyP50Seconds.value <= self.inference.latencyP99Seconds.value else {
            throw fail("inference.latency_p99_s.value", "is below latency_p50_s")
        }
        try nonNegative(self.inference.achievedFlopsPerSecond.value, "inference.achieved_flops_per_s.value")
        try positive(self.required.flopsPerSecond.value, "required.flops_per_s.value")
        try positive(self.required.memoryBandwidthBytesPerSecond.value, "required.memory_bandwidth_bytes_per_s.value")
        guard !self.hardware.cpuModel.isEmpty else { throw fail("hardware.cpu_model", "is empty") }
        guard !self.hardware.isaPath.isEmpty else { throw fail("hardware.isa_path", "is empty") }
        try positive(Double(self.hardware.memoryBytes), "hardware.memory_bytes")
        for (k, camera) in self.hardware.cameras.enumerated() {
            guard !camera.name.isEmpty else { throw fail("hardware.cameras[\(k)].name", "is empty") }
            try positive(Double(camera.width), "hardware.cameras[\(k)].width")
            try positive(Double(camera.height), "hardware.cameras[\(k)].height")
        }
        try nonNegative(Double(self.hardware.joints), "hardware.joints")
        try nonNegative(self.energy.joulesPerInference, "energy.joules_per_inference")
        guard !self.energy.methodDetail.isEmpty else {
            throw fail("energy.method_detail", "is empty: say which RAPL domains were read, or how it was estimated")
        }
        if let perHour = self.energy.joulesPerHour { try nonNegative(perHour, "energy.joules_per_hour") }
        for (k, work) in (self.model.operations ?? []).enumerated() {
            guard !work.operation.isEmpty else { throw fail("model.operations[\(k)].operation", "is empty") }
            try nonNegative(work.flops, "model.operations[\(k)].flops")
            try nonNegative(work.bytes, "model.operations[\(k)].bytes")
        }
        if let peak = self.required.peakFlopsPerSecond { try positive(peak.value, "required.peak_flops_per_s.value") }
        if let headroom = self.required.headroom { try nonNegative(headroom.value, "required.headroom.value") }
        if let run = self.run {
            try nonNegative(run.wallSeconds, "run.wall_s")
            try nonNegative(run.policyThreadCPUSeconds.value, "run.policy_thread_cpu_s.value")
            try nonNegative(run.controlThreadCPUSeconds.value, "run.control_thread_cpu_s.value")
            try nonNegative(run.peakRSSBytes.value, "run.peak_rss_bytes.value")
            try nonNegative(Double(run.controlTicks), "run.control_ticks")
            try nonNegative(Double(run.controlOverruns), "run.control_overruns")
            for (figure, name) in [
                (run.controlLatenessP50Seconds, "control_lateness_p50_s"),
                (run.controlLatenessP99Seconds, "control_lateness_p99_s"),
                (run.controlComputeP99Seconds, "control_compute_p99_s"),
            ] {
                if let figure { try nonNegative(figure.value, "run.\(name).value") }
            }
        }
        let boundaries: Set = ["package", "dram", "module", "board", "wall"]
        guard boundaries.contains(self.energy.boundary) else {
            throw fail("energy.boundary", "is '\(self.energy.boundary)', expected one of \(boundaries.sorted())")
        }
    }

    static func describe(_ error: DecodingError) -> (String?, String) {
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return (field, "missing field '\(field)'")
        case .valueNotFound(_, let context):
            let field = path(context.codingPath)
            return (field, "field '\(field)' is null")
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            return (field, "field '\(field)' has the wrong type (expected \(type))")
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.isEmpty { return (nil, "not valid JSON (\(context.debugDescription))") }
            return (field, "field '\(field)': \(context.debugDescription)")
        @unknown default:
            return (nil, "\(error)")
        }
    }
}
