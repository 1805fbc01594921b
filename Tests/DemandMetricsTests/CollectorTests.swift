import DemandMetrics
import Foundation
import Testing

/// A collector for a model with known counts.
func makeCollector(policyHz: Double = 10, peak: Double? = 50e9, tdp: Double? = nil) -> DemandCollector {
    let model = DemandCollector.Model(
        name: "unit",
        sha256: String(repeating: "0f", count: 32),
        precision: "fp32",
        parameters: 77_431,
        operations: [
            .init(operation: "matmul", flops: 2_225_088, bytes: 444_868),
            .init(operation: "attention", flops: 168_423, bytes: 31_872),
            .init(operation: "norm", flops: 34_056, bytes: 35_712),
            .init(operation: "elementwise", flops: 59_267, bytes: 57_216),
        ],
        weightBytes: 309_724,
        arenaBytes: 105_664,
        isaPath: "avx2",
        kernelThreads: 1,
        peakFlopsPerSecondPerCore: peak
    )
    let cell = DemandCollector.Cell(
        cellId: "unit-cell",
        controlHz: 100,
        policyHz: policyHz,
        policyRateNote: "test",
        cameras: [.init(name: "scene", width: 48, height: 32)],
        joints: 7,
        cpuModel: "Test CPU",
        memoryBytes: 1 << 30,
        logicalCPUs: 2,
        tdpWatts: tdp
    )
    return DemandCollector(model: model, cell: cell, rapl: nil)
}

@Suite struct CollectorTests {
    @Test func exposition_parses_and_carries_the_model_counts() throws {
        let collector = makeCollector()
        for ns: Int64 in [80_000, 90_000, 100_000, 2_000_000] { collector.recordInference(nanoseconds: ns) }
        let metrics = try Exposition(collector.prometheus())
        let model = collector.model!
        #expect(metrics.value("edgecell_model_flops_per_inference") == 2_486_834)
        #expect(metrics.value("edgecell_model_bytes_per_inference") == 569_668)
        for work in model.operations {
            #expect(
                metrics.value("edgecell_model_operation_flops_per_inference", ["operation": work.operation])
                    == work.flops
            )
            #expect(
                metrics.value("edgecell_model_operation_bytes_per_inference", ["operation": work.operation])
                    == work.bytes
            )
        }
        #expect(metrics.value("edgecell_model_parameters") == 77_431)
        #expect(metrics.value("edgecell_model_weight_bytes") == 309_724)
        #expect(metrics.value("edgecell_model_arena_bytes") == 105_664)
        #expect(metrics.value("edgecell_required_flops_per_second") == Double(2_486_834) * 10)
        #expect(metrics.value("edgecell_required_memory_bandwidth_bytes_per_second") == Double(569_668) * 10)
        #expect(metrics.types["edgecell_inference_latency_seconds"] == "histogram")
        #expect(metrics.value("edgecell_inference_latency_seconds_count") == 4)
        #expect(abs(metrics.value("edgecell_inference_latency_seconds_sum")! - 0.00227) < 1e-12)
        // Cumulative buckets: 3 samples ≤ 100 µs, all 4 ≤ 2.5 ms and at +Inf.
        #expect(metrics.value("edgecell_inference_latency_seconds_bucket", ["le": "0.0001"]) == 3)
        #expect(metrics.value("edgecell_inference_latency_seconds_bucket", ["le": "0.001"]) == 3)
        #expect(metrics.value("edgecell_inference_latency_seconds_bucket", ["le": "0.0025"]) == 4)
        #expect(metrics.value("edgecell_inference_latency_seconds_bucket", ["le": "+Inf"]) == 4)
        // Achieved FLOP/s: 4 inferences' FLOPs over 2.27 ms.
        let achieved = metrics.value("edgecell_policy_flops_per_second")!
        #expect(abs(achieved - 4 * 2_486_834 / 0.00227) / achieved < 1e-9)
        #expect(metrics.value("edgecell_compute_headroom_ratio") == 50e9 / (2_486_834 * 10))
        #expect(metrics.value("edgecell_cell_info", ["cell_id": "unit-cell", "model": "unit"]) == 1)
        #expect(metrics.value("edgecell_camera_pixels", ["camera": "scene", "resolution": "48x32"]) == 1536)
        let energy = try #require(metrics.value("edgecell_energy_joules_per_inference", ["method": "estimate"]))
        #expect(abs(energy - 2_486_834 * 2.3e-12) < 1e-18)
    }

    @Test func report_is_valid_and_agrees_with_the_exposition() throws {
        let collector = makeCollector(tdp: 100)
        for k in 1...100 { collector.recordInference(nanoseconds: Int64(k) * 10_000) }
        let snapshot = collector.snapshot()
        let report = try #require(collector.report(snapshot))
        let decoded = try DemandReport.decode(from: report.encoded())
        #expect(decoded.encoded() == report.encoded())
        #expect(report.model.flopsPerInference == .init(2_486_834, .counted, note: report.model.flopsPerInference.note))
        #expect(report.model.operations?.count == 4)
        #expect(report.required.flopsPerSecond.value == 24_868_340)
        #expect(report.required.headroom?.value == 50e9 / 24_868_340)
        #expect(report.inference.count == 100)
        // p50 of 10…1000 µs is 500 µs, to the histogram's 3 %.
        #expect(abs(report.inference.latencyP50Seconds.value - 0.0005) / 0.0005 < 0.04)
        #expect(abs(report.inference.latencyP99Seconds.value - 0.00099) / 0.00099 < 0.04)
        #expect(report.energy.method == .estimate && report.energy.methodDetail.contains("CodeCarbon"))
        #expect(report.run?.peakRSSBytes.value ?? 0 > 0)
        let metrics = try Exposition(collector.prometheus())
        #expect(metrics.value("edgecell_required_flops_per_second") == report.required.flopsPerSecond.value)
        #expect(metrics.value("edgecell_model_flops_per_inference") == report.model.flopsPerInference.value)
    }

    @Test func no_report_before_the_first_inference() {
        let collector = makeCollector()
        #expect(collector.report(collector.snapshot()) == nil)
    }

    @Test func control_loop_timing_is_exposed_once_added() throws {
        let collector = makeCollector()
        collector.addControlLoop { loop in
            loop.ticks = 500
            loop.overruns = 2
            loop.lateness.record(nanoseconds: 20_000, count: 499)
            loop.lateness.record(nanoseconds: 3_000_000)
        }
        let metrics = try Exposition(collector.prometheus())
        #expect(metrics.value("edgecell_control_ticks_total") == 500)
        #expect(metrics.value("edgecell_control_loop_overruns_total") == 2)
        #expect(metrics.value("edgecell_control_loop_lateness_seconds_count") == 500)
        #expect(metrics.value("edgecell_control_loop_lateness_seconds_bucket", ["le": "0.0025"]) == 499)
    }

    @Test func histogram_percentiles_track_the_samples() {
        var histogram = DurationHistogram()
        for k in 1...1000 { histogram.record(nanoseconds: Int64(k) * 1000) }
        #expect(abs(histogram.percentileSeconds(50) - 500e-6) / 500e-6 < 0.04)
        #expect(abs(histogram.percentileSeconds(99) - 990e-6) / 990e-6 < 0.04)
        #expect(histogram.percentileSeconds(100) == 1e-3)
        #expect(histogram.cumulativeBucketCounts.last == 1000)
    }
}
