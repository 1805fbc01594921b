import DemandMetrics
import Foundation
import StrategyModel

/// A temporary folder, removed by `cleanUp()`.
struct TemporaryFolder {
    let path: String

    init() {
        self.path = NSTemporaryDirectory() + "strategy-tests-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: self.path) }

    func file(_ name: String) -> String { (self.path as NSString).appendingPathComponent(name) }
}

/// A demand report with round numbers, so that expected results can be worked out by hand.
func roundReport(
    cell: String = "cell-h",
    flopsPerSecond: Double = 1e9,
    bandwidth: Double = 1e8,
    weightBytes: Int = 100_000_000,
    controlHz: Double = 100,
    joints: Int = 6,
    cameras: Int = 2
) -> DemandReport {
    DemandReport(
        cellId: cell,
        window: .init(
            start: Date(timeIntervalSince1970: 1_800_000_000),
            end: Date(timeIntervalSince1970: 1_800_000_300)
        ),
        model: .init(
            name: "model-\(cell)",
            sha256: String(repeating: "1f", count: 32),
            precision: "fp32",
            parameters: weightBytes / 4,
            flopsPerInference: .init(flopsPerSecond / 5, .counted),
            bytesPerInference: .init(bandwidth / 5, .counted),
            weightBytes: weightBytes,
            arenaBytes: 0
        ),
        rates: .init(controlHz: controlHz, policyHz: 5),
        inference: .init(
            count: 100,
            latencyP50Seconds: .init(0.003, .measured),
            latencyP99Seconds: .init(0.004, .measured),
            achievedFlopsPerSecond: .init(1e11, .measured)
        ),
        required: .init(
            flopsPerSecond: .init(flopsPerSecond, .derived),
            memoryBandwidthBytesPerSecond: .init(bandwidth, .derived)
        ),
        hardware: .init(
            cpuModel: "test CPU",
            isaPath: "scalar",
            memoryBytes: 1 << 30,
            cameras: (0..<cameras).map { .init(name: "cam\($0)", width: 64, height: 48) },
            joints: joints
        ),
        energy: .init(joulesPerInference: 0.001, method: .estimate, methodDetail: "test", boundary: "package")
    )
}

/// The hand-computable scenario: 1,000 installs in 2023 growing 10 %/yr; AI share 0.1 → 0.3 over 2024-2026;
/// one cell type (6 joints, 2 cameras) split evenly between Orin Nano (Samsung) and Thor (TSMC); fixed content.
func handScenarioObject(reports: [String] = ["cell-h.json"]) -> [String: Any] {
    [
        "schema": "edgecell-strategy-scenario",
        "version": 1,
        "name": "hand",
        "years": ["start": 2024, "end": 2026],
        "installations": ["region": "JP", "base_year": 2023, "base": 1000, "source": "test"],
        "parameters": [
            "installs_growth": 0.1, "ai_share_start": 0.1, "ai_share_end": 0.3, "model_growth": 1,
            "mcus_per_joint": 1, "power_devices_per_joint": 6, "analog_ics_per_joint": 5,
            "image_sensors_per_camera": 1, "nand_gb_per_cell": 64, "dram_reserve_gb": 2,
            "usable_compute_fraction": 0.1, "usable_bandwidth_fraction": 0.5,
        ] as [String: Any],
        "cells": reports.map { ["report": $0, "share": 1.0 / Double(reports.count)] as [String: Any] },
        "modules": ["jetson-orin-nano-8gb": 0.5, "jetson-agx-thor-t5000": 0.5],
        "shocks": [
            ["name": "Samsung stops", "supplier": "Samsung", "loss": 1.0] as [String: Any],
            ["country": "TW", "loss": 0.5],
            ["country": "JP", "loss": 0.3],
        ],
        "monte_carlo": ["samples": 200, "seed": 7],
    ]
}

/// Writes `report` into `folder` and decodes `object` as a scenario there.
func makeScenario(
    _ object: [String: Any],
    in folder: TemporaryFolder,
    reports: [String: DemandReport]? = nil
) throws
    -> Scenario
{
    for (name, report) in reports ?? ["cell-h.json": roundReport()] {
        try report.encoded().write(to: URL(fileURLWithPath: folder.file(name)))
    }
    return try Scenario.decode(object: object, baseDirectory: folder.path)
}

/// Sets `value` at a dotted key path of a nested dictionary (nil removes it).
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

func near(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
    abs(a - b) <= tolerance * max(1, abs(a), abs(b))
}
