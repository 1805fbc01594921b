import DemandMetrics
import Foundation

/// What one cell type needs in a given year: its measured requirement scaled by control rate and model growth.
public struct CellRequirement: Codable, Sendable, Equatable {
    public var flopsPerSecond: Double
    public var bandwidthBytesPerSecond: Double
    /// Model weights and arena, grown, plus the DRAM reserve.
    public var memoryGB: Double

    /// Whether `module` can serve it at the usable fractions of its peak compute and bandwidth.
    public func fits(_ module: ComputeModule, usableCompute: Double, usableBandwidth: Double) -> Bool {
        self.flopsPerSecond <= module.peakTOPS * 1e12 * usableCompute
            && self.bandwidthBytesPerSecond <= module.bandwidthGBs * 1e9 * usableBandwidth
            && self.memoryGB <= module.dramGB
    }
}

/// Cells of one measured type on one module, and what each of them contains.
public struct CellGroup: Codable, Sendable, Equatable {
    public var cellID: String
    public var preferredModule: String
    /// The module the cells actually get; nil when none in the catalogue can serve them.
    public var module: String?
    public var cells: Double
    public var requirement: CellRequirement
    /// Per-cell content by category, in the category's unit.
    public var content: [ChipCategory: Double]
}

/// The supply a fleet draws from one supplier in one category.
public struct ExposureRow: Codable, Sendable, Equatable {
    public var category: ChipCategory
    /// "unlisted" for the part of the market the seed does not name.
    public var supplier: String
    public var country: Country
    public var amount: Double
    /// "module" when the catalogue names the supplier for the cell's module; "market" for market shares.
    public var attribution: String
}

/// One year of the projection.
public struct YearResult: Codable, Sendable {
    public var year: Int
    public var installs: Double
    public var aiShare: Double
    /// Learned-policy cells installed this year (the cells that need equipping).
    public var newCells: Double
    public var cumulativeCells: Double
    /// New cells no module in the catalogue can serve (counted, given no content).
    public var unservableCells: Double
    public var groups: [CellGroup]
    /// Demand this year by category, in the category's unit.
    public var demand: [ChipCategory: Double]
    public var topsInstalled: Double
    public var topsRequired: Double
    public var exposure: [ExposureRow]
}

/// A shock's effect on one year's demand.
public struct ShockResult: Codable, Sendable {
    public var shock: Scenario.Shock
    public var year: Int
    /// Demand that cannot be supplied, by category, in the category's unit.
    public var shortfall: [ChipCategory: Double]
    /// Cells that cannot be equipped when the shortfalls of different categories fall on the same cells (the
    /// fewest possible): Σ over groups of cells × the largest lost fraction.
    public var cellsNotEquipped: Double
    /// The same when they fall on different cells (the most possible): Σ over groups of cells × min(1, Σ lost).
    public var cellsNotEquippedWorst: Double
    /// The category that limits the most cells.
    public var bindingCategory: ChipCategory?
}

/// The fleet's dependence in one category.
public struct CategoryRisk: Codable, Sendable {
    public var category: ChipCategory
    public var market: MarketConcentration
    public var demand: Double
    /// The fleet's supply by HQ country, as a fraction of its demand ("??" for unlisted suppliers).
    public var fleetByCountry: [String: Double]
    /// HHI of the fleet's own sourcing by supplier (unlisted remainder left out).
    public var fleetHHI: Double
    public var japanShare: Double
    public var chokepoint: Bool
    public var reason: String
}

/// The deterministic model: parameter values in, demand, exposure and shocks out.
public enum Projection {
    /// Runs the scenario with one value per parameter (`scenario.modeValues` for the point projection).
    public static func run(_ scenario: Scenario, values: [String: Double]) -> [YearResult] {
        func value(_ key: String) -> Double { values[key] ?? scenario.parameters[key]!.mode }
        let growth = value(Parameter.installsGrowth)
        let shareStart = value(Parameter.aiShareStart)
        let shareEnd = value(Parameter.aiShareEnd)
        let modelGrowth = value(Parameter.modelGrowth)
        let usableCompute = value(Parameter.usableComputeFraction)
        let usableBandwidth = value(Parameter.usableBandwidthFraction)
        var cumulative = 0.0
        var results: [YearResult] = []
        for year in scenario.years {
            let installs = scenario.installsBase * pow(1 + growth, Double(year - scenario.installsBaseYear))
            let span = Double(scenario.endYear - scenario.startYear)
            let progress = span > 0 ? Double(year - scenario.startYear) / span : 0
            let aiShare = shareStart + (shareEnd - shareStart) * progress
            let newCells = installs * aiShare
            cumulative += newCells
            let scale = pow(modelGrowth, Double(year - scenario.startYear))
            var groups: [CellGroup] = []
            var unservable = 0.0
            for profile in scenario.cells {
                let report = profile.report
                let rate = profile.controlHz / report.rates.controlHz
                let requirement = CellRequirement(
                    flopsPerSecond: report.required.flopsPerSecond.value * rate * scale,
                    bandwidthBytesPerSecond: report.required.memoryBandwidthBytesPerSecond.value * rate * scale,
                    memoryGB: Double(report.model.weightBytes + report.model.arenaBytes) * scale / 1e9
                        + value(Parameter.dramReserveGB)
                )
                for (preferred, share) in scenario.modules {
                    let cells = newCells * profile.share * share
                    let start = Catalogue.modules.firstIndex { $0.id == preferred }!
                    let chosen = Catalogue.modules[start...].first {
                        requirement.fits($0, usableCompute: usableCompute, usableBandwidth: usableBandwidth)
                    }
                    guard let chosen else {
                        unservable += cells
                        continue
                    }
                    let joints = Double(report.hardware.joints)
                    let content: [ChipCategory: Double] = [
                        .processor: 1,
                        .foundry: 1,
                        .dram: chosen.dramGB,
                        .hbm: 0,
                        .nand: value(Parameter.nandGBPerCell),
                        .mcu: joints * value(Parameter.mcusPerJoint),
                        .power: joints * value(Parameter.powerDevicesPerJoint),
                        .imageSensor: Double(report.hardware.cameras.count) * value(Parameter.imageSensorsPerCamera),
                        .otherAnalog: joints * value(Parameter.analogICsPerJoint),
                    ]
                    groups.append(
                        CellGroup(
                            cellID: report.cellId,
                            preferredModule: preferred,
                            module: chosen.id,
                            cells: cells,
                            requirement: requirement,
                            content: content
                        )
                    )
                }
            }
            var demand: [ChipCategory: Double] = [:]
            for category in ChipCategory.allCases {
                demand[category] = groups.reduce(0) { $0 + $1.cells * ($1.content[category] ?? 0) }
            }
            results.append(
                YearResult(
                    year: year,
                    installs: installs,
                    aiShare: aiShare,
                    newCells: newCells,
                    cumulativeCells: cumulative,
                    unservableCells: unservable,
                    groups: groups,
                    demand: demand,
                    topsInstalled: groups.reduce(0) { $0 + $1.cells * Catalogue.module($1.module!)!.peakTOPS },
                    topsRequired: groups.reduce(0) { $0 + $1.cells * $1.requirement.flopsPerSecond / 1e12 },
                    exposure: Self.exposure(groups)
                )
            )
        }
        return results
    }

    /// Who supplies a group's content in `category`: the module's own designer or foundry where the catalogue
    /// names it, otherwise the market's listed shares plus an unlisted remainder.
    static func sourcing(_ group: CellGroup, _ category: ChipCategory) -> [(SupplierShare?, Double, String)] {
        if let moduleID = group.module, let module = Catalogue.module(moduleID) {
            let named: String? =
                switch category {
                case .processor: module.designer
                case .foundry: module.foundry
                default: nil
                }
            if let named, let row = SeedShares.rows(category).first(where: { $0.supplier == named }) {
                return [(row, 1, "module")]
            }
        }
        var parts: [(SupplierShare?, Double, String)] = []
        var listed = 0.0
        for row in SeedShares.rows(category) {
            guard let share = row.sharePercent else { continue }
            parts.append((row, share / 100, "market"))
            listed += share / 100
        }
        if listed < 1 { parts.append((nil, 1 - listed, "market")) }
        return parts
    }

    static func exposure(_ groups: [CellGroup]) -> [ExposureRow] {
        var totals: [String: ExposureRow] = [:]
        var order: [String] = []
        for category in ChipCategory.allCases {
            for group in groups {
                let amount = group.cells * (group.content[category] ?? 0)
                guard amount > 0 else { continue }
                for (row, fraction, attribution) in Self.sourcing(group, category) {
                    let supplier = row?.supplier ?? "unlisted"
                    let key = "\(category.rawValue)|\(supplier)|\(attribution)"
                    if totals[key] == nil {
                        order.append(key)
                        totals[key] = ExposureRow(
                            category: category,
                            supplier: supplier,
                            country: row?.country ?? .unknown,
                            amount: 0,
                            attribution: attribution
                        )
                    }
                    totals[key]!.amount += amount * fraction
                }
            }
        }
        return order.map { totals[$0]! }
    }

    /// Applies a shock to one year: each supplier loses its share of output; nothing is re-allocated.
    public static func shock(_ shock: Scenario.Shock, on year: YearResult) -> ShockResult {
        var shortfall: [ChipCategory: Double] = [:]
        var notEquipped = 0.0
        var notEquippedWorst = 0.0
        var binding: [ChipCategory: Double] = [:]
        for group in year.groups {
            var worst = 1.0
            var worstCategory: ChipCategory?
            var lostSum = 0.0
            for category in ChipCategory.allCases {
                let content = group.content[category] ?? 0
                guard content > 0 else { continue }
                var lost = 0.0
                for (row, fraction, _) in Self.sourcing(group, category) {
                    guard let row else { continue }
                    lost += fraction * shock.loss(of: (row.supplier, row.country, category))
                }
                shortfall[category, default: 0] += group.cells * content * lost
                lostSum += lost
                if 1 - lost < worst {
                    worst = 1 - lost
                    worstCategory = category
                }
            }
            notEquipped += group.cells * (1 - worst)
            notEquippedWorst += group.cells * min(1, lostSum)
            if let worstCategory { binding[worstCategory, default: 0] += group.cells * (1 - worst) }
        }
        return ShockResult(
            shock: shock,
            year: year.year,
            shortfall: shortfall,
            cellsNotEquipped: notEquipped,
            cellsNotEquippedWorst: notEquippedWorst,
            bindingCategory: binding.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
        )
    }

    /// The fleet's dependence per category in one year, and which categories are chokepoints:
    /// demand > 0 and (market firm HHI ≥ `scenario.chokepointHHI` or one HQ country supplies
    /// ≥ `scenario.chokepointCountryShare` of the fleet's demand).
    public static func risks(_ year: YearResult, scenario: Scenario) -> [CategoryRisk] {
        ChipCategory.allCases.map { category in
            let market = MarketConcentration(category)
            let demand = year.demand[category] ?? 0
            let rows = year.exposure.filter { $0.category == category }
            var byCountry: [String: Double] = [:]
            var bySupplier: [String: Double] = [:]
            for row in rows where demand > 0 {
                byCountry[row.country.rawValue, default: 0] += row.amount / demand
                if row.supplier != "unlisted" { bySupplier[row.supplier, default: 0] += row.amount / demand }
            }
            let fleetHHI = herfindahlHirschman(bySupplier.values.map { $0 * 100 })
            let top = byCountry.filter { $0.key != Country.unknown.rawValue }.max {
                $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key)
            }
            var reasons: [String] = []
            if market.firmHHI >= scenario.chokepointHHI {
                reasons.append("market firm HHI \(Int(market.firmHHI.rounded())) ≥ \(Int(scenario.chokepointHHI))")
            }
            if let top, top.value >= scenario.chokepointCountryShare {
                reasons.append(
                    "\(top.key) supplies \(Int((top.value * 100).rounded())) % of the fleet's demand "
                        + "(≥ \(Int((scenario.chokepointCountryShare * 100).rounded())) %)"
                )
            }
            let chokepoint = demand > 0 && !reasons.isEmpty
            return CategoryRisk(
                category: category,
                market: market,
                demand: demand,
                fleetByCountry: byCountry,
                fleetHHI: fleetHHI,
                japanShare: byCountry[Country.japan.rawValue] ?? 0,
                chokepoint: chokepoint,
                reason: demand > 0
                    ? (reasons.isEmpty ? "below both thresholds" : reasons.joined(separator: "; "))
                    : "no demand from this fleet"
            )
        }
    }
}
