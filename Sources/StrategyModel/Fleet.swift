import DemandMetrics
import Foundation

/// The live fleet `edgecell strategy serve` keeps: one entry per cell id, its latest report.
public struct Fleet: Sendable {
    /// A cell as last heard from.
    public struct Entry: Sendable {
        public var report: DemandReport
        /// Reports received from this cell (including ones superseded).
        public var received: Int
        /// When the last one arrived.
        public var lastSeen: Date
    }

    public private(set) var cells: [String: Entry] = [:]

    public init() {}

    /// Takes a report; an older one (by window end) than the cell's latest is counted but does not replace it,
    /// so a buffered report arriving late never hides a newer one. Returns whether it became the latest.
    @discardableResult
    public mutating func add(_ report: DemandReport, at time: Date = Date()) -> Bool {
        guard var entry = self.cells[report.cellId] else {
            self.cells[report.cellId] = Entry(report: report, received: 1, lastSeen: time)
            return true
        }
        entry.received += 1
        entry.lastSeen = time
        let newer = report.window.end >= entry.report.window.end
        if newer { entry.report = report }
        self.cells[report.cellId] = entry
        return newer
    }

    /// Cell ids in order.
    public var ids: [String] { self.cells.keys.sorted() }

    /// The fleet table: one row per cell with its model, rates, compute and energy.
    public func table() -> String {
        let header = [
            "cell", "model", "prec", "ctl Hz", "pol Hz", "MFLOP/inf", "req GFLOP/s", "req MB/s", "p99 ms", "headroom",
            "J/inf", "energy", "reports",
        ]
        let rows: [[String]] = self.ids.map { id in
            let entry = self.cells[id]!
            let r = entry.report
            return [
                id, r.model.name, r.model.precision, fmt(r.rates.controlHz), fmt(r.rates.policyHz),
                String(format: "%.1f", r.model.flopsPerInference.value / 1e6),
                String(format: "%.3f", r.required.flopsPerSecond.value / 1e9),
                String(format: "%.1f", r.required.memoryBandwidthBytesPerSecond.value / 1e6),
                String(format: "%.2f", r.inference.latencyP99Seconds.value * 1e3),
                r.required.headroom.map { String(format: "%.0f×", $0.value) } ?? "-",
                String(format: "%.3g", r.energy.joulesPerInference), r.energy.method.rawValue, String(entry.received),
            ]
        }
        return textTable(header, rows, leftAligned: [0, 1, 2, 11])
    }
}

extension Scenario {
    /// The scenario with its measured cells replaced by a live fleet: every cell an equal share, at its own
    /// control rate. `paths` names where each cell's report was written (shown in the report).
    public func replacingCells(with fleet: Fleet, paths: [String: String]) -> Scenario {
        var scenario = self
        let ids = fleet.ids
        scenario.cells = ids.map { id in
            let report = fleet.cells[id]!.report
            return CellProfile(
                reportPath: paths[id] ?? "live:\(id)",
                report: report,
                share: 1 / Double(ids.count),
                controlHz: report.rates.controlHz
            )
        }
        return scenario
    }
}
