import DemandMetrics
import Foundation
import Testing

/// A valid report as a JSON object, to be broken one field at a time.
func validReportObject() -> [String: Any] {
    [
        "schema": "edgecell-demand-report",
        "version": 1,
        "cell_id": "cell-7",
        "window": ["start": "2026-11-22T10:00:00Z", "end": "2026-11-22T10:05:00Z"],
        "model": [
            "name": "base",
            "sha256": String(repeating: "ab", count: 32),
            "precision": "fp32",
            "parameters": 3_400_000,
            "flops_per_inference": ["value": 642.7e6, "how": "counted"],
            "bytes_per_inference": ["value": 15.6e6, "how": "estimate", "note": "weights + arena"],
            "weight_bytes": 13_600_000,
            "arena_bytes": 2_000_000,
        ] as [String: Any],
        "rates": ["control_hz": 100, "policy_hz": 5],
        "inference": [
            "count": 300,
            "latency_p50_s": ["value": 0.003367, "how": "measured"],
            "latency_p99_s": ["value": 0.003608, "how": "measured"],
            "achieved_flops_per_s": ["value": 190.9e9, "how": "measured"],
        ] as [String: Any],
        "required": [
            "flops_per_s": ["value": 3.2135e9, "how": "derived"],
            "memory_bandwidth_bytes_per_s": ["value": 78e6, "how": "derived"],
        ],
        "hardware": [
            "cpu_model": "AMD EPYC",
            "isa_path": "avx512",
            "memory_bytes": 25_276_510_208,
            "cameras": [["name": "scene", "width": 96, "height": 96], ["name": "wrist", "width": 96, "height": 96]],
            "joints": 7,
        ] as [String: Any],
        "energy": [
            "joules_per_inference": 0.0015,
            "method": "rapl",
            "method_detail": "intel-rapl:0 package counter, active minus idle",
            "boundary": "package",
        ],
    ]
}

func data(_ object: [String: Any]) -> Data {
    try! JSONSerialization.data(withJSONObject: object)
}

/// Sets `value` at a dotted path (nil removes the key).
func setting(_ object: [String: Any], _ path: String, _ value: Any?) -> [String: Any] {
    var object = object
    let keys = path.split(separator: ".").map(String.init)
    if keys.count == 1 {
        object[keys[0]] = value
    } else {
        let inner = object[keys[0]] as! [String: Any]
        object[keys[0]] = setting(inner, keys.dropFirst().joined(separator: "."), value)
    }
    return object
}

func decodeError(_ object: [String: Any]) -> DemandReportError? {
    do {
        _ = try DemandReport.decode(from: data(object))
        return nil
    } catch {
        return error
    }
}

@Suite struct DemandReportTests {
    @Test func validReportDecodesWithEveryFigureAndProvenance() throws {
        let report = try DemandReport.decode(from: data(validReportObject()))
        #expect(report.schema == DemandReport.schemaName && report.version == 1)
        #expect(report.cellId == "cell-7" && report.sample == nil)
        #expect(report.model.flopsPerInference == .init(642.7e6, .counted))
        #expect(
            report.model.bytesPerInference.how == .estimate && report.model.bytesPerInference.note == "weights + arena"
        )
        #expect(report.rates.policyHz == 5 && report.rates.controlHz == 100)
        #expect(report.inference.latencyP99Seconds.value == 0.003608)
        #expect(report.hardware.cameras.map(\.name) == ["scene", "wrist"] && report.hardware.joints == 7)
        #expect(report.energy.method == .rapl && report.energy.boundary == "package")
        #expect(report.window.end.timeIntervalSince(report.window.start) == 300)
    }

    @Test func encodeThenDecodeIsIdentity() throws {
        let report = try DemandReport.decode(from: data(validReportObject()))
        let again = try DemandReport.decode(from: report.encoded())
        #expect(again == report)
        let text = String(decoding: report.encoded(), as: UTF8.self)
        #expect(text.contains("\"flops_per_inference\"") && text.contains("\"cell_id\""))
    }

    @Test func futureVersionIsRefusedByVersionEvenWithUnknownFields() {
        var object = validReportObject()
        object["version"] = 2
        object["model"] = ["a field version 2 might add": true]
        let error = decodeError(object)
        #expect(error?.code == .unsupportedVersion && error?.field == "version")
        #expect(error?.message.contains("version 2 is newer than this build reads (1)") == true)
    }

    @Test func wrongSchemaMissingVersionAndNonJSONAreRefused() {
        #expect(decodeError(setting(validReportObject(), "schema", "edgecell-eval"))?.code == .wrongSchema)
        #expect(decodeError(setting(validReportObject(), "schema", nil))?.field == "schema")
        #expect(decodeError(setting(validReportObject(), "version", nil))?.code == .unsupportedVersion)
        #expect(decodeError(setting(validReportObject(), "version", 0))?.message.contains("does not exist") == true)
        #expect(throws: DemandReportError.self) { try DemandReport.decode(from: Data("{not json".utf8)) }
        #expect(throws: DemandReportError.self) { try DemandReport.decode(from: Data("[1, 2]".utf8)) }
    }

    @Test(
        arguments: [
            ("model.flops_per_inference", nil, "missing field 'model.flops_per_inference'"),
            ("rates.policy_hz", "fast", "field 'rates.policy_hz' has the wrong type"),
            ("energy.method", "tdp", "field 'energy.method'"),
            ("window.start", "yesterday", "field 'window.start'"),
            ("model.sha256", "abc", "field 'model.sha256' must be 64 lower-case hex digits"),
            ("rates.control_hz", -1, "field 'rates.control_hz' must be a finite number > 0"),
            ("inference.latency_p99_s.value", 0.001, "field 'inference.latency_p99_s.value' is below latency_p50_s"),
            ("energy.boundary", "socket", "field 'energy.boundary' is 'socket'"),
            ("energy.method_detail", "", "field 'energy.method_detail' is empty"),
            ("model.flops_per_inference.how", "guessed", "field 'model.flops_per_inference.how'"),
            ("hardware.joints", -3, "field 'hardware.joints' must be a finite number ≥ 0"),
        ] as [(String, (any Sendable)?, String)]
    )
    func malformedFieldIsNamed(path: String, value: (any Sendable)?, expected: String) {
        let error = decodeError(setting(validReportObject(), path, value))
        #expect(error?.code == .invalidField)
        #expect(error?.message.contains(expected) == true, "got: \(String(describing: error?.message))")
        #expect(error?.field?.hasPrefix(path.split(separator: ".").first.map(String.init) ?? "") == true)
    }

    @Test func cameraErrorsNameTheIndex() {
        var object = validReportObject()
        var hardware = object["hardware"] as! [String: Any]
        hardware["cameras"] = [
            ["name": "scene", "width": 96, "height": 96], ["name": "wrist", "width": 0, "height": 96],
        ]
        object["hardware"] = hardware
        #expect(decodeError(object)?.field == "hardware.cameras[1].width")
    }

    @Test func committedSampleReportsDecodeAndAreLabelledAsSamples() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/scenarios/samples")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        #expect(names.count == 3)
        for name in names {
            let report = try DemandReport.load(path: dir.appendingPathComponent(name).path)
            #expect(report.sample?.contains("HAND-WRITTEN SAMPLE") == true)
            // The derived figures must follow from the others, as their notes say.
            let flops = report.model.flopsPerInference.value * report.rates.policyHz
            #expect(abs(report.required.flopsPerSecond.value - flops) <= 1e-9 * flops)
            let bytes = report.model.bytesPerInference.value * report.rates.policyHz
            #expect(abs(report.required.memoryBandwidthBytesPerSecond.value - bytes) <= 1e-9 * bytes)
        }
    }
}
