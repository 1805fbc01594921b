import Foundation

extension StrategyReport {
    /// A self-contained HTML page: inline CSS and SVG, no scripts, no external requests.
    public func html() -> String {
        var body = ""
        body += "<h1>\(esc(self.title))</h1>\n"
        body += "<p class=meta>Scenario <code>\(esc(self.scenario))</code>, \(self.startYear)–\(self.endYear). "
        body +=
            "Fleet driver: \(esc(self.installations)). Report format \(Self.formatName) v\(Self.formatVersion).</p>\n"
        if self.cells.contains(where: { $0.sample != nil }) {
            body += "<p class=warn><b>Sample data.</b> Some measured cells below are hand-written samples, "
            body += "not runtime measurements; see each cell's note.</p>\n"
        }

        body += "<h2>Measured cells and models used</h2>\n"
        body += table(
            [
                "cell", "report", "model", "sha256", "params", "control Hz (measured → fleet)", "required GFLOP/s",
                "required GB/s", "p99 latency", "CPU / ISA", "joints", "cameras", "J per inference", "fleet share",
            ],
            self.cells.map { c in
                [
                    c.cellID, c.reportPath, "\(c.model) (\(c.precision))", String(c.modelSHA256.prefix(12)) + "…",
                    fmt(Double(c.parameters)), "\(fmt(c.measuredControlHz)) → \(fmt(c.fleetControlHz))",
                    fmt(c.requiredFlopsPerSecond / 1e9), fmt(c.requiredBandwidthBytesPerSecond / 1e9),
                    "\(fmt(c.latencyP99Seconds * 1e3)) ms", "\(c.cpuModel) / \(c.isaPath)", "\(c.joints)",
                    c.cameras.joined(separator: ", "), "\(fmt(c.energyJoulesPerInference)) (\(c.energyMethod))",
                    pct(c.share),
                ]
            }
        )
        for c in self.cells {
            if let sample = c.sample { body += "<p class=note><code>\(esc(c.cellID))</code>: \(esc(sample))</p>\n" }
        }

        body += "<h2>Fleet</h2>\n"
        body += barChart(
            title: "New learned-policy cells per year (bars) and cumulative (line)",
            labels: self.projection.map { String($0.year) },
            values: self.projection.map(\.newCells),
            line: self.projection.map(\.cumulativeCells)
        )
        body += table(
            [
                "year", "installs", "AI share", "new cells", "cumulative", "unservable", "TOPS required",
                "TOPS installed",
            ] + ChipCategory.allCases.map { "\($0.title) (\($0.unit))" },
            self.projection.map { y in
                [
                    String(y.year), fmt(y.installs), pct(y.aiShare), fmt(y.newCells), fmt(y.cumulativeCells),
                    fmt(y.unservableCells), fmt(y.topsRequired), fmt(y.topsInstalled),
                ] + ChipCategory.allCases.map { fmt(y.demand[$0] ?? 0) }
            }
        )
        let last = self.projection.last!
        var mix: [String: Double] = [:]
        for group in last.groups { mix[group.module ?? "none", default: 0] += group.cells }
        body += "<p>Modules in \(last.year): "
        body += mix.keys.sorted().map { "\(esc($0)) \(fmt(mix[$0]!))" }.joined(separator: ", ")
        body += ". A cell whose requirement exceeds its preferred module moves to the next module in the catalogue "
        body += "that fits; if none fits it is unservable.</p>\n"

        body += "<h2>Demand in \(self.endYear): point value and Monte Carlo range</h2>\n"
        body += "<p>\(self.monteCarloSamples) samples, seed \(self.monteCarloSeed); every input drawn from its "
        body += "triangular range (low, mode, high), independently.</p>\n"
        var rows: [[String]] = []
        let outputs =
            [(Output.newCells, "new cells", "cells"), (Output.cumulativeCells, "cumulative cells", "cells")]
            + ChipCategory.allCases.map { (Output.demand($0), $0.title, $0.unit) }
            + [
                (Output.topsRequired, "compute required", "TOPS"),
                (Output.unservableCells, "unservable cells", "cells"),
            ]
        for (key, name, unit) in outputs {
            guard let p = self.monteCarlo[key] else { continue }
            let point = pointValue(key, last)
            rows.append([name, unit, fmt(point), fmt(p.p10), fmt(p.p50), fmt(p.p90)])
        }
        body += table(["output", "unit", "mode inputs", "P10", "P50", "P90"], rows)

        body += "<h2>Supply concentration and chokepoints (\(self.endYear))</h2>\n"
        body += "<p>Chokepoint rule: \(esc(self.chokepointRule)).</p>\n"
        body += hhiChart(self.risks)
        body += countryChart(self.risks)
        body += table(
            [
                "category", "demand", "market HHI (firm, listed)", "market HHI (country)", "listed %",
                "largest supplier", "fleet HHI", "Japan share of fleet supply", "Japan share of market", "chokepoint",
                "why",
            ],
            self.risks.map { r in
                [
                    r.category.title, "\(fmt(r.demand)) \(r.category.unit)", fmt(r.market.firmHHI),
                    fmt(r.market.countryHHI), fmt(r.market.listedPercent),
                    "\(r.market.largestSupplier) \(fmt(r.market.largestSupplierPercent)) %", fmt(r.fleetHHI),
                    pct(r.japanShare), "\(fmt(r.market.japanPercent)) %", r.chokepoint ? "YES" : "no", r.reason,
                ]
            }
        )

        body += "<h3>Exposure per supplier (\(self.endYear))</h3>\n"
        body += "<p>Processor and foundry follow each cell's module (catalogue); the other categories follow the "
        body += "seed's market shares, the rest of the market being unlisted.</p>\n"
        body += table(
            ["category", "supplier", "HQ", "amount", "share of the fleet's demand", "attribution"],
            last.exposure.map { e in
                let demand = last.demand[e.category] ?? 0
                return [
                    e.category.title, e.supplier, e.country.rawValue, "\(fmt(e.amount)) \(e.category.unit)",
                    demand > 0 ? pct(e.amount / demand) : "-", e.attribution,
                ]
            }
        )

        body += "<h2>Supply shocks (\(self.endYear) demand)</h2>\n"
        body += "<p>A shocked supplier loses that fraction of its output; nothing is re-allocated, stockpiled or "
        body += "substituted. A cell is equipped only if every category it needs is. \"Cells not equipped\" "
        body += "assumes the shortfalls of different categories fall on the same cells (the fewest, limited by the "
        body += "category with the largest loss); \"worst case\" assumes they fall on different cells.</p>\n"
        if !self.shocks.isEmpty {
            body += barChart(
                title: "Cells that cannot be equipped, \(self.endYear)",
                labels: self.shocks.map(\.shock.name),
                values: self.shocks.map(\.cellsNotEquipped),
                line: nil,
                horizontal: true
            )
            body += table(
                ["shock", "cells not equipped", "P10", "P50", "P90", "worst case", "binding category"]
                    + ChipCategory.allCases.map { "shortfall \($0.title) (\($0.unit))" },
                self.shocks.enumerated().map { k, s in
                    let p = self.monteCarlo[Output.notEquipped(k)]
                    return [
                        s.shock.name, fmt(s.cellsNotEquipped), p.map { fmt($0.p10) } ?? "", p.map { fmt($0.p50) } ?? "",
                        p.map { fmt($0.p90) } ?? "", fmt(s.cellsNotEquippedWorst), s.bindingCategory?.title ?? "-",
                    ] + ChipCategory.allCases.map { fmt(s.shortfall[$0] ?? 0) }
                }
            )
        }

        body += "<h2>Sensitivity: \(esc(self.sensitivityOutput)) in \(self.endYear)</h2>\n"
        body += "<p>One input at a time moves from its low to its high value, every other input at its mode.</p>\n"
        body += tornadoChart(self.tornado)
        body += table(
            ["rank", "input", "low", "high", "output at low", "output at high", "swing"],
            self.tornado.enumerated().map { k, s in
                [
                    String(k + 1), s.parameter, fmt(s.low), fmt(s.high), fmt(s.outputAtLow), fmt(s.outputAtHigh),
                    fmt(s.swing),
                ]
            }
        )

        body += "<h2>Inputs and their sources</h2>\n"
        body += table(
            ["input", "low", "mode", "high", "status", "source"],
            self.inputs.map { i in
                [
                    i.name, fmt(i.range.low), fmt(i.range.mode), fmt(i.range.high), i.range.status.rawValue,
                    i.range.source,
                ]
            }
        )
        body += "<h3>Edge compute modules</h3>\n"
        body += table(
            ["id", "module", "peak", "DRAM GB", "GB/s", "W", "designer / foundry", "source", "foundry source"],
            self.modules.map { m in
                [
                    m.id, m.name, "\(fmt(m.peakTOPS)) \(m.peakBasis)", fmt(m.dramGB), fmt(m.bandwidthGBs), m.powerWatts,
                    "\(m.designer) / \(m.foundry) \(m.node)", m.source, m.foundrySource,
                ]
            }
        )
        body += "<h3>Supplier shares (seed, exactly as written)</h3>\n"
        body += table(
            ["category", "supplier", "as written", "HQ", "share %", "seed line", "basis", "date"],
            self.seedShares.map { s in
                [
                    s.category.title, s.supplier, s.seedName, s.country.rawValue, s.sharePercent.map { fmt($0) } ?? "—",
                    s.citation, s.basis, s.date,
                ]
            }
        )
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(esc(self.title))</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
            table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:12px}
            th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
            th{background:#f2f2f2}
            .meta,.note{color:#555}.warn{background:#fff4d6;padding:.5em;border:1px solid #e0c060}
            svg{display:block;margin:.5em 0}
            </style></head><body>
            \(body)
            </body></html>

            """
    }

    func pointValue(_ key: String, _ year: YearResult) -> Double {
        switch key {
        case Output.newCells: return year.newCells
        case Output.cumulativeCells: return year.cumulativeCells
        case Output.topsRequired: return year.topsRequired
        case Output.unservableCells: return year.unservableCells
        default:
            for category in ChipCategory.allCases where Output.demand(category) == key {
                return year.demand[category] ?? 0
            }
            return 0
        }
    }
}

private let palette = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
]

private func esc(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

/// A number for people: thousands separated, three significant figures for small values.
func fmt(_ value: Double) -> String {
    if !value.isFinite { return "\(value)" }
    let magnitude = abs(value)
    if magnitude >= 1000 || (magnitude == magnitude.rounded() && magnitude < 1e15) {
        let rounded = Int64(value.rounded())
        let digits = String(abs(rounded))
        var grouped = ""
        for (k, ch) in digits.enumerated() {
            if k > 0, (digits.count - k) % 3 == 0 { grouped.append(",") }
            grouped.append(ch)
        }
        return (rounded < 0 ? "-" : "") + grouped
    }
    if magnitude == 0 { return "0" }
    return String(format: "%.3g", value)
}

private func pct(_ fraction: Double) -> String { String(format: "%.1f %%", fraction * 100) }

private func table(_ header: [String], _ rows: [[String]]) -> String {
    var html = "<table><tr>" + header.map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"
    for row in rows { html += "<tr>" + row.map { "<td>\(esc($0))</td>" }.joined() + "</tr>\n" }
    return html + "</table>\n"
}

private func svgText(_ x: Double, _ y: Double, _ text: String, anchor: String = "start", size: Int = 11) -> String {
    "<text x=\"\(Int(x))\" y=\"\(Int(y))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\">\(esc(text))</text>"
}

private func barChart(
    title: String,
    labels: [String],
    values: [Double],
    line: [Double]?,
    horizontal: Bool = false
)
    -> String
{
    let maximum = max((values + (line ?? [])).max() ?? 1, 1e-12)
    var svg = ""
    if horizontal {
        let rowHeight = 22.0
        let left = 260.0
        let width = 820.0
        let height = Double(labels.count) * rowHeight + 40
        svg += "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\">"
        svg += svgText(0, 14, title, size: 13)
        for (k, label) in labels.enumerated() {
            let y = 26 + Double(k) * rowHeight
            let w = values[k] / maximum * (width - left - 90)
            let short = label.count > 40 ? String(label.prefix(39)) + "…" : label
            svg += "<g><title>\(esc(label))</title>" + svgText(left - 6, y + 14, short, anchor: "end") + "</g>"
            svg +=
                "<rect x=\"\(Int(left))\" y=\"\(Int(y))\" width=\"\(max(Int(w), 0))\" height=\"16\" fill=\"#e15759\"/>"
            svg += svgText(left + w + 4, y + 13, fmt(values[k]))
        }
        return svg + "</svg>\n"
    }
    let width = 760.0
    let height = 260.0
    let left = 70.0
    let bottom = 230.0
    let plotHeight = 190.0
    let step = (width - left - 20) / Double(max(labels.count, 1))
    svg += "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\">"
    svg += svgText(0, 14, title, size: 13)
    svg +=
        "<line x1=\"\(Int(left))\" y1=\"\(Int(bottom))\" x2=\"\(Int(width - 10))\" y2=\"\(Int(bottom))\" stroke=\"#888\"/>"
    svg += svgText(left - 4, bottom - plotHeight + 4, fmt(maximum), anchor: "end")
    svg += svgText(left - 4, bottom, "0", anchor: "end")
    for (k, label) in labels.enumerated() {
        let h = values[k] / maximum * plotHeight
        let x = left + Double(k) * step + step * 0.15
        svg += "<rect x=\"\(Int(x))\" y=\"\(Int(bottom - h))\" width=\"\(Int(step * 0.7))\" height=\"\(Int(h))\" "
        svg += "fill=\"#4e79a7\"><title>\(esc(label)): \(fmt(values[k]))</title></rect>"
        svg += svgText(x + step * 0.35, bottom + 16, label, anchor: "middle")
    }
    if let line {
        let points = line.enumerated().map { k, v in
            "\(Int(left + Double(k) * step + step * 0.5)),\(Int(bottom - v / maximum * plotHeight))"
        }
        svg +=
            "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"#f28e2b\" stroke-width=\"2\"/>"
    }
    return svg + "</svg>\n"
}

private func hhiChart(_ risks: [CategoryRisk]) -> String {
    let left = 170.0
    let width = 820.0
    let rowHeight = 30.0
    let height = Double(risks.count) * rowHeight + 60
    let scale = (width - left - 70) / 10_000
    var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\">"
    svg += svgText(
        0,
        14,
        "HHI by category: market (seed shares, listed firms; blue) and this fleet's sourcing (orange)",
        size: 13
    )
    for (k, risk) in risks.enumerated() {
        let y = 28 + Double(k) * rowHeight
        svg += svgText(left - 6, y + 16, risk.category.title + (risk.chokepoint ? " ◆" : ""), anchor: "end")
        svg +=
            "<rect x=\"\(Int(left))\" y=\"\(Int(y))\" width=\"\(Int(risk.market.firmHHI * scale))\" height=\"11\" fill=\"#4e79a7\"/>"
        svg +=
            "<rect x=\"\(Int(left))\" y=\"\(Int(y + 12))\" width=\"\(Int(risk.fleetHHI * scale))\" height=\"11\" fill=\"#f28e2b\"/>"
        svg += svgText(left + risk.market.firmHHI * scale + 4, y + 10, fmt(risk.market.firmHHI), size: 10)
        svg += svgText(left + risk.fleetHHI * scale + 4, y + 22, fmt(risk.fleetHHI), size: 10)
    }
    for (threshold, label) in [(1800.0, "1,800 (2023 guidelines)"), (2500.0, "2,500 (2010 guidelines)")] {
        let x = left + threshold * scale
        svg +=
            "<line x1=\"\(Int(x))\" y1=\"24\" x2=\"\(Int(x))\" y2=\"\(Int(height - 24))\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>"
        svg += svgText(x, height - 10 - (threshold == 1800 ? 12 : 0), label, anchor: "middle", size: 10)
    }
    return svg + "</svg>\n<p class=note>◆ chokepoint. HHI over listed suppliers only (a lower bound).</p>\n"
}

private func countryChart(_ risks: [CategoryRisk]) -> String {
    let shown = risks.filter { $0.demand > 0 }
    let countries = Array(Set(shown.flatMap { $0.fleetByCountry.keys })).sorted {
        ($0 == Country.unknown.rawValue ? 1 : 0, $0) < ($1 == Country.unknown.rawValue ? 1 : 0, $1)
    }
    let left = 170.0
    let width = 820.0
    let rowHeight = 24.0
    let height = Double(shown.count) * rowHeight + 70
    let plot = width - left - 30
    var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\">"
    svg += svgText(
        0,
        14,
        "Where this fleet's supply comes from, by supplier HQ country (?? = suppliers the seed does not list)",
        size: 13
    )
    for (k, risk) in shown.enumerated() {
        let y = 28 + Double(k) * rowHeight
        svg += svgText(left - 6, y + 14, risk.category.title, anchor: "end")
        var x = left
        for (c, country) in countries.enumerated() {
            let share = risk.fleetByCountry[country] ?? 0
            guard share > 0 else { continue }
            let w = share * plot
            let color = country == Country.unknown.rawValue ? "#cccccc" : palette[c % palette.count]
            svg +=
                "<rect x=\"\(Int(x))\" y=\"\(Int(y))\" width=\"\(max(Int(w.rounded()), 1))\" height=\"18\" fill=\"\(color)\">"
            svg += "<title>\(esc(country)) \(pct(share))</title></rect>"
            if w > 28 { svg += svgText(x + w / 2, y + 13, country, anchor: "middle", size: 10) }
            x += w
        }
    }
    var legendX = left
    let legendY = height - 22
    for (c, country) in countries.enumerated() {
        let color = country == Country.unknown.rawValue ? "#cccccc" : palette[c % palette.count]
        svg += "<rect x=\"\(Int(legendX))\" y=\"\(Int(legendY))\" width=\"12\" height=\"12\" fill=\"\(color)\"/>"
        svg += svgText(legendX + 16, legendY + 11, country, size: 10)
        legendX += 50
    }
    return svg + "</svg>\n"
}

private func tornadoChart(_ swings: [Swing]) -> String {
    guard !swings.isEmpty else { return "<p>No input has a range.</p>\n" }
    let base = swings[0].outputAtMode
    let values = swings.flatMap { [$0.outputAtLow, $0.outputAtHigh] }
    let lower = min(values.min()!, base)
    let upper = max(values.max()!, base)
    let span = max(upper - lower, 1e-12)
    let left = 200.0
    let width = 820.0
    let plot = width - left - 80
    let rowHeight = 22.0
    let height = Double(swings.count) * rowHeight + 40
    func x(_ v: Double) -> Double { left + (v - lower) / span * plot }
    var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\">"
    svg += svgText(0, 14, "Swing of the output, input at low (blue) and high (orange)", size: 13)
    for (k, s) in swings.enumerated() {
        let y = 24 + Double(k) * rowHeight
        svg += svgText(left - 6, y + 13, s.parameter, anchor: "end")
        for (value, color) in [(s.outputAtLow, "#4e79a7"), (s.outputAtHigh, "#f28e2b")] {
            let mid = x(base)
            let end = x(value)
            svg +=
                "<rect x=\"\(Int(min(mid, end)))\" y=\"\(Int(y))\" width=\"\(max(Int(abs(end - mid)), 1))\" height=\"16\" "
            svg += "fill=\"\(color)\"><title>\(esc(s.parameter)) → \(fmt(value))</title></rect>"
        }
        svg += svgText(x(max(s.outputAtLow, s.outputAtHigh)) + 4, y + 13, fmt(s.swing), size: 10)
    }
    svg += "<line x1=\"\(Int(x(base)))\" y1=\"20\" x2=\"\(Int(x(base)))\" y2=\"\(Int(height - 16))\" stroke=\"#333\"/>"
    svg += svgText(x(base), height - 4, "all at mode: " + fmt(base), anchor: "middle", size: 10)
    svg += svgText(left, height - 4, fmt(lower), size: 10)
    svg += svgText(left + plot, height - 4, fmt(upper), anchor: "end", size: 10)
    return svg + "</svg>\n"
}
