import DemandMetrics
import Foundation

/// Everything a scenario produces: the point projection, risks, shocks, Monte Carlo and sensitivity, with the
/// measured cells and every input's source. Written as JSON, CSV and HTML and summarised in the terminal.
public struct StrategyReport: Encodable, Sendable {
    public static let formatName = "edgecell-strategy-report"
    public static let formatVersion = 1

    /// A measured cell the fleet is built from.
    public struct MeasuredCell: Encodable, Sendable {
        public var cellID: String
        public var reportPath: String
        public var model: String
        public var modelSHA256: String
        public var precision: String
        public var parameters: Int
        public var measuredControlHz: Double
        public var fleetControlHz: Double
        public var share: Double
        public var flopsPerInference: Double
        public var bytesPerInference: Double
        public var policyHz: Double
        public var requiredFlopsPerSecond: Double
        public var requiredBandwidthBytesPerSecond: Double
        public var latencyP99Seconds: Double
        public var cpuModel: String
        public var isaPath: String
        public var joints: Int
        public var cameras: [String]
        public var energyJoulesPerInference: Double
        public var energyMethod: String
        /// The report's `sample` note, when it is not a real measurement.
        public var sample: String?
    }

    /// One input with the value range used and where it comes from.
    public struct Input: Encodable, Sendable {
        public var name: String
        public var range: Uncertain
    }

    public var format = Self.formatName
    public var formatVersion = Self.formatVersion
    public var scenario: String
    public var title: String
    public var startYear: Int
    public var endYear: Int
    public var installations: String
    public var cells: [MeasuredCell]
    public var inputs: [Input]
    public var modules: [ComputeModule]
    public var seedShares: [SupplierShare]
    public var chokepointRule: String
    public var projection: [YearResult]
    public var risks: [CategoryRisk]
    public var shocks: [ShockResult]
    public var monteCarloSamples: Int
    public var monteCarloSeed: UInt64
    public var monteCarlo: [String: Percentiles]
    public var sensitivityOutput: String
    public var tornado: [Swing]

    /// Runs every analysis of the scenario.
    public init(_ scenario: Scenario) {
        self.scenario = scenario.name
        self.title = scenario.title
        self.startYear = scenario.startYear
        self.endYear = scenario.endYear
        self.installations =
            "\(Int(scenario.installsBase)) industrial-robot installations in \(scenario.installsRegion), "
            + "\(scenario.installsBaseYear) (\(scenario.installsSource))"
        self.cells = scenario.cells.map { profile in
            let r = profile.report
            return MeasuredCell(
                cellID: r.cellId,
                reportPath: profile.reportPath,
                model: r.model.name,
                modelSHA256: r.model.sha256,
                precision: r.model.precision,
                parameters: r.model.parameters,
                measuredControlHz: r.rates.controlHz,
                fleetControlHz: profile.controlHz,
                share: profile.share,
                flopsPerInference: r.model.flopsPerInference.value,
                bytesPerInference: r.model.bytesPerInference.value,
                policyHz: r.rates.policyHz,
                requiredFlopsPerSecond: r.required.flopsPerSecond.value,
                requiredBandwidthBytesPerSecond: r.required.memoryBandwidthBytesPerSecond.value,
                latencyP99Seconds: r.inference.latencyP99Seconds.value,
                cpuModel: r.hardware.cpuModel,
                isaPath: r.hardware.isaPath,
                joints: r.hardware.joints,
                cameras: r.hardware.cameras.map { "\($0.name) \($0.width)×\($0.height)" },
                energyJoulesPerInference: r.energy.joulesPerInference,
                energyMethod: r.energy.method.rawValue,
                sample: r.sample
            )
        }
        self.inputs = Parameter.all.compactMap { name in scenario.parameters[name].map { Input(name: name, range: $0) }
        }
        self.modules = Catalogue.modules
        self.seedShares = SeedShares.all
        self.chokepointRule =
            "a category is a chokepoint when this fleet needs it and either the seed's market firm-level HHI "
            + "is ≥ \(Int(scenario.chokepointHHI)) or one HQ country supplies ≥ "
            + "\(Int((scenario.chokepointCountryShare * 100).rounded())) % of the fleet's demand"
        self.projection = Projection.run(scenario, values: scenario.modeValues)
        let last = self.projection.last!
        self.risks = Projection.risks(last, scenario: scenario)
        self.shocks = scenario.shocks.map { Projection.shock($0, on: last) }
        self.monteCarloSamples = scenario.monteCarloSamples
        self.monteCarloSeed = scenario.monteCarloSeed
        self.monteCarlo = MonteCarlo.run(scenario)
        self.sensitivityOutput = Output.demand(scenario.sensitivityOutput)
        self.tornado = Sensitivity.tornado(scenario, output: self.sensitivityOutput)
    }

    /// The report as pretty, key-sorted JSON.
    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf",
            negativeInfinity: "-inf",
            nan: "nan"
        )
        return ((try? encoder.encode(self)) ?? Data()) + Data("\n".utf8)
    }

    /// Long-format CSV (one value per row, IAMC-style variable names).
    public func csv() -> String {
        var lines = ["scenario,variable,unit,year,statistic,value"]
        func row(_ variable: String, _ unit: String, _ year: Int, _ statistic: String, _ value: Double) {
            let quoted =
                variable.contains(",") ? "\"\(variable.replacingOccurrences(of: "\"", with: "\"\""))\"" : variable
            lines.append("\(self.scenario),\(quoted),\(unit),\(year),\(statistic),\(Self.number(value))")
        }
        for year in self.projection {
            row("Robots|Installations", "robots", year.year, "mode", year.installs)
            row("Cells|New", "cells", year.year, "mode", year.newCells)
            row("Cells|Cumulative", "cells", year.year, "mode", year.cumulativeCells)
            row("Cells|Unservable", "cells", year.year, "mode", year.unservableCells)
            row("Compute|Required", "TOPS", year.year, "mode", year.topsRequired)
            row("Compute|Installed", "TOPS", year.year, "mode", year.topsInstalled)
            for category in ChipCategory.allCases {
                row(
                    "Semiconductor Demand|\(category.rawValue)",
                    category.unit,
                    year.year,
                    "mode",
                    year.demand[category] ?? 0
                )
            }
            for exposure in year.exposure {
                row(
                    "Exposure|\(exposure.category.rawValue)|\(exposure.supplier)|\(exposure.country)",
                    exposure.category.unit,
                    year.year,
                    "mode",
                    exposure.amount
                )
            }
        }
        for risk in self.risks {
            row("HHI|Market|\(risk.category.rawValue)", "index", self.endYear, "seed", risk.market.firmHHI)
            row("HHI|Fleet|\(risk.category.rawValue)", "index", self.endYear, "mode", risk.fleetHHI)
            row("Domestic Share|JP|\(risk.category.rawValue)", "fraction", self.endYear, "mode", risk.japanShare)
        }
        for (k, shock) in self.shocks.enumerated() {
            row("Shock|\(k)|Cells Not Equipped", "cells", shock.year, "mode", shock.cellsNotEquipped)
            row("Shock|\(k)|Cells Not Equipped|Worst Case", "cells", shock.year, "mode", shock.cellsNotEquippedWorst)
            for category in ChipCategory.allCases where (shock.shortfall[category] ?? 0) > 0 {
                row(
                    "Shock|\(k)|Shortfall|\(category.rawValue)",
                    category.unit,
                    shock.year,
                    "mode",
                    shock.shortfall[category]!
                )
            }
        }
        for name in self.monteCarlo.keys.sorted() {
            let p = self.monteCarlo[name]!
            row("MonteCarlo|\(name)", "", self.endYear, "p10", p.p10)
            row("MonteCarlo|\(name)", "", self.endYear, "p50", p.p50)
            row("MonteCarlo|\(name)", "", self.endYear, "p90", p.p90)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.6g", value)
    }

    /// Writes `report.json`, `report.csv` and `report.html` into `directory` (created if needed), each atomically.
    public func write(to directory: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let files: [(String, Data)] = [
            ("report.json", self.json()),
            ("report.csv", Data(self.csv().utf8)),
            ("report.html", Data(self.html().utf8)),
        ]
        var written: [String] = []
        for (name, data) in files {
            let path = (directory as NSString).appendingPathComponent(name)
            try Self.atomicWrite(data, to: path)
            written.append(path)
        }
        return written
    }

    /// Temp file, fsync, rename: a reader never sees half a report.
    static func atomicWrite(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary]) }
        var ok = true
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 {
                    ok = false
                    break
                }
                offset += n
            }
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
