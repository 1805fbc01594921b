extension StrategyReport {
    /// The summary table for a terminal: demand with its range, concentration, chokepoints, shocks, cells used.
    public func summary() -> String {
        var out = "\(self.title) — scenario \(self.scenario), \(self.startYear)–\(self.endYear)\n"
        let last = self.projection.last!
        out += "Fleet \(self.endYear): \(fmt(last.newCells)) new cells (cumulative \(fmt(last.cumulativeCells)))"
        if let p = self.monteCarlo[Output.newCells] {
            out += ", P10–P90 \(fmt(p.p10))–\(fmt(p.p90))"
        }
        out += "; unservable \(fmt(last.unservableCells)); compute required \(fmt(last.topsRequired)) TOPS\n\n"
        let header = ["category", "unit", "demand", "P10", "P50", "P90", "mkt HHI", "fleet HHI", "JP share", "choke"]
        var rows: [[String]] = []
        for risk in self.risks {
            let p = self.monteCarlo[Output.demand(risk.category)]
            rows.append([
                risk.category.title, risk.category.unit, fmt(risk.demand), p.map { fmt($0.p10) } ?? "",
                p.map { fmt($0.p50) } ?? "", p.map { fmt($0.p90) } ?? "", fmt(risk.market.firmHHI), fmt(risk.fleetHHI),
                String(format: "%.1f%%", risk.japanShare * 100), risk.chokepoint ? "YES" : "no",
            ])
        }
        out += textTable(header, rows)
        if !self.shocks.isEmpty {
            out += "\nShocks (\(self.endYear) demand): cells that cannot be equipped\n"
            var shockRows: [[String]] = []
            for (k, shock) in self.shocks.enumerated() {
                let p = self.monteCarlo[Output.notEquipped(k)]
                shockRows.append([
                    shock.shock.name, fmt(shock.cellsNotEquipped), p.map { fmt($0.p10) } ?? "",
                    p.map { fmt($0.p90) } ?? "", fmt(shock.cellsNotEquippedWorst), shock.bindingCategory?.title ?? "-",
                ])
            }
            out += textTable(
                ["shock", "cells", "P10", "P90", "worst case", "binding"],
                shockRows,
                leftAligned: [0, 5]
            )
        }
        if let top = self.tornado.first {
            let ranking = self.tornado.prefix(3).map(\.parameter).joined(separator: " > ")
            out += "\nMost influential inputs on \(self.sensitivityOutput): \(ranking) (swing \(fmt(top.swing)))\n"
        }
        out += "\nMeasured cells used:\n"
        for cell in self.cells {
            out += "  \(cell.cellID): model \(cell.model) (\(cell.precision), \(fmt(Double(cell.parameters))) params, "
            out += "sha256 \(cell.modelSHA256.prefix(12))…), \(fmt(cell.fleetControlHz)) Hz, "
            out += "share \(String(format: "%.0f%%", cell.share * 100)), from \(cell.reportPath)"
            out += cell.sample != nil ? " [SAMPLE]\n" : "\n"
        }
        return out
    }
}

/// Text columns (`leftAligned`) flush left, number columns flush right.
func textTable(_ header: [String], _ rows: [[String]], leftAligned: Set<Int> = [0, 1]) -> String {
    var widths = header.map(\.count)
    for row in rows {
        for (k, cell) in row.enumerated() { widths[k] = max(widths[k], cell.count) }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { k, cell in
            let pad = String(repeating: " ", count: widths[k] - cell.count)
            return leftAligned.contains(k) ? cell + pad : pad + cell
        }.joined(separator: "  ").trimmingTrailingBlanks() + "\n"
    }
    var out = line(header)
    out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
    for row in rows { out += line(row) }
    return out
}

extension String {
    fileprivate func trimmingTrailingBlanks() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
