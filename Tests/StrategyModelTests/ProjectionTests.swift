import DemandMetrics
import Foundation
import StrategyModel
import Testing

@Suite struct ConcentrationTests {
    @Test func hhiOfHandPickedShares() {
        #expect(herfindahlHirschman([50, 50]) == 5000)
        #expect(herfindahlHirschman([100]) == 10_000)
        #expect(herfindahlHirschman([10, 20, 30, 40]) == 3000)
        #expect(herfindahlHirschman([Double]()) == 0)
    }

    @Test func hbmMarketFromTheSeed() {
        let hbm = MarketConcentration(.hbm)
        #expect(hbm.firmHHI == 4538)  // 57² + 35² + 8²
        #expect(hbm.byCountry == ["KR": 65, "US": 35])
        #expect(hbm.countryHHI == 5450)  // 65² + 35²
        #expect(hbm.listedPercent == 100 && hbm.largestSupplier == "SK hynix" && hbm.japanPercent == 0)
    }

    @Test func foundryMarketFromTheSeedLeavesRapidusOut() {
        let foundry = MarketConcentration(.foundry)
        // 65.5² + 7.0² + 5.8² + 5.3², as seeds-extract.md §2.2 derives it.
        #expect(near(foundry.firmHHI, 4400.98))
        #expect(near(foundry.listedPercent, 83.6))
        #expect(near(foundry.byCountry["TW"]!, 70.8) && foundry.largestCountry == "TW")
        #expect(near(foundry.countryHHI, 5095.28))  // 70.8² + 7.0² + 5.8²
        #expect(foundry.japanPercent == 0 && foundry.byCountry["JP"] == 0)
        #expect(foundry.citations.first == "000_0233cc11c76292b9.txt:100")
    }

    @Test func powerJapanShareSumsTheThreeJapaneseFirms() {
        #expect(near(MarketConcentration(.power).japanPercent, 3.4 + 2.8 + 2.7))
    }
}

@Suite struct ProjectionTests {
    @Test func aggregationMatchesTheHandComputation() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        let scenario = try makeScenario(handScenarioObject(), in: folder)
        let years = Projection.run(scenario, values: scenario.modeValues)
        #expect(years.map(\.year) == [2024, 2025, 2026])
        // 2024: 1000 × 1.1 installs, share 0.1.
        #expect(near(years[0].installs, 1100) && near(years[0].newCells, 110))
        #expect(near(years[1].aiShare, 0.2) && near(years[1].newCells, 1210 * 0.2))
        let last = years[2]
        let cells = 1331 * 0.3  // 399.3
        #expect(near(last.newCells, cells) && near(last.cumulativeCells, 110 + 242 + cells))
        #expect(last.unservableCells == 0)
        let d = last.demand
        #expect(near(d[.processor]!, cells) && near(d[.foundry]!, cells))
        #expect(near(d[.dram]!, cells / 2 * 8 + cells / 2 * 128))
        #expect(d[.hbm] == 0)
        #expect(near(d[.nand]!, cells * 64))
        #expect(near(d[.mcu]!, cells * 6) && near(d[.power]!, cells * 36) && near(d[.otherAnalog]!, cells * 30))
        #expect(near(d[.imageSensor]!, cells * 2))
        #expect(near(last.topsInstalled, cells / 2 * 40 + cells / 2 * 1035))
        #expect(near(last.topsRequired, cells * 1e9 / 1e12))
    }

    @Test func exposureFollowsModulesForLogicAndMarketSharesElsewhere() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        let scenario = try makeScenario(handScenarioObject(), in: folder)
        let last = Projection.run(scenario, values: scenario.modeValues).last!
        func amount(_ category: ChipCategory, _ supplier: String) -> Double {
            last.exposure.filter { $0.category == category && $0.supplier == supplier }.reduce(0) { $0 + $1.amount }
        }
        let cells = 399.3
        #expect(near(amount(.processor, "NVIDIA"), cells))
        #expect(near(amount(.foundry, "Samsung"), cells / 2) && near(amount(.foundry, "TSMC"), cells / 2))
        let dram = cells * 68
        #expect(near(amount(.dram, "Samsung"), dram * 0.393) && near(amount(.dram, "Micron"), dram * 0.216))
        #expect(near(amount(.dram, "unlisted"), dram * (1 - 0.945)))
        // Every category's exposure adds up to its demand.
        for category in ChipCategory.allCases {
            let total = last.exposure.filter { $0.category == category }.reduce(0) { $0 + $1.amount }
            #expect(near(total, last.demand[category]!), "\(category)")
        }
        let risks = Dictionary(
            uniqueKeysWithValues: Projection.risks(last, scenario: scenario).map { ($0.category, $0) }
        )
        #expect(risks[.foundry]!.fleetHHI == 5000)
        #expect(risks[.processor]!.fleetHHI == 10_000 && risks[.processor]!.fleetByCountry == ["US": 1])
        #expect(near(risks[.imageSensor]!.japanShare, 0.495))
        #expect(near(risks[.nand]!.japanShare, 0.149))
        #expect(risks[.foundry]!.chokepoint && risks[.processor]!.chokepoint && risks[.dram]!.chokepoint)
        #expect(!risks[.mcu]!.chokepoint && !risks[.power]!.chokepoint && !risks[.nand]!.chokepoint)
        #expect(!risks[.hbm]!.chokepoint && risks[.hbm]!.reason == "no demand from this fleet")
        // Image sensors: 49.5 % Japan, but firm HHI 2,833 ≥ 2,500.
        #expect(risks[.imageSensor]!.chokepoint && risks[.imageSensor]!.reason.hasPrefix("market firm HHI 2833"))
    }

    @Test func shockArithmeticMatchesTheHandComputation() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        let scenario = try makeScenario(handScenarioObject(), in: folder)
        let last = Projection.run(scenario, values: scenario.modeValues).last!
        let half = 399.3 / 2

        // Samsung stops: the Orin half loses its foundry; the Thor half is limited by DRAM (Samsung 39.3 %).
        let samsung = Projection.shock(scenario.shocks[0], on: last)
        #expect(near(samsung.cellsNotEquipped, half + half * 0.393))
        #expect(samsung.bindingCategory == .foundry)
        // Worst case, shortfalls on different cells: the Orin half is lost anyway; Thor loses 39.3 + 32.9 + 14.5 %.
        #expect(near(samsung.cellsNotEquippedWorst, half + half * (0.393 + 0.329 + 0.145)))
        #expect(near(samsung.shortfall[.foundry]!, half))
        #expect(near(samsung.shortfall[.dram]!, 399.3 * 68 * 0.393))
        #expect(near(samsung.shortfall[.nand]!, 399.3 * 64 * 0.329))
        #expect(near(samsung.shortfall[.imageSensor]!, 399.3 * 2 * 0.145))
        #expect((samsung.shortfall[.processor] ?? 0) == 0 && (samsung.shortfall[.mcu] ?? 0) == 0)

        // Taiwan −50 %: only the TSMC-made Thor half is hit, through its foundry (no TW firm in the other tables).
        let taiwan = Projection.shock(scenario.shocks[1], on: last)
        #expect(near(taiwan.cellsNotEquipped, half * 0.5) && taiwan.bindingCategory == .foundry)
        #expect(near(taiwan.shortfall[.foundry]!, half * 0.5))
        #expect((taiwan.shortfall[.dram] ?? 0) == 0)

        // Japan −30 %: Sony's 49.5 % of image sensors binds (14.85 %), ahead of Kioxia's NAND (4.47 %).
        let japan = Projection.shock(scenario.shocks[2], on: last)
        #expect(near(japan.cellsNotEquipped, 399.3 * 0.495 * 0.3) && japan.bindingCategory == .imageSensor)
        let japanLosses = (0.155 + 0.149 + 0.089 + 0.495 + 0.017) * 0.3  // MCU, NAND, power, image, analog
        #expect(near(japan.cellsNotEquippedWorst, 399.3 * japanLosses))
        #expect(near(japan.shortfall[.mcu]!, 399.3 * 6 * 0.155 * 0.3))
        #expect(near(japan.shortfall[.power]!, 399.3 * 36 * 0.089 * 0.3))
    }

    @Test func categoryLimitedShockTouchesOnlyThatCategory() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        let scenario = try makeScenario(handScenarioObject(), in: folder)
        let last = Projection.run(scenario, values: scenario.modeValues).last!
        let shock = Scenario.Shock(name: "Samsung NAND", supplier: "Samsung", category: .nand, loss: 1)
        let result = Projection.shock(shock, on: last)
        #expect(near(result.cellsNotEquipped, 399.3 * 0.329) && result.bindingCategory == .nand)
        #expect((result.shortfall[.foundry] ?? 0) == 0 && (result.shortfall[.dram] ?? 0) == 0)
    }

    @Test func controlRateAndModelGrowthMoveCellsToBiggerModulesOrOutOfTheCatalogue() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        // 3 TFLOP/s at 100 Hz fits an Orin Nano at 10 % of 40 TOPS (4 TFLOP/s); at 200 Hz it needs 6 TFLOP/s,
        // which the Orin Nano Super (6.7) serves.
        var object = handScenarioObject()
        object["modules"] = ["jetson-orin-nano-8gb": 1.0]
        object["cells"] = [["report": "cell-h.json", "share": 1.0, "control_hz": 200] as [String: Any]]
        let reports = ["cell-h.json": roundReport(flopsPerSecond: 3e12)]
        var scenario = try makeScenario(object, in: folder, reports: reports)
        var last = Projection.run(scenario, values: scenario.modeValues).last!
        #expect(last.groups.map(\.module) == ["jetson-orin-nano-super-8gb"])
        #expect(near(last.groups[0].requirement.flopsPerSecond, 6e12))
        #expect(near(last.demand[.dram]!, 399.3 * 8))

        // Model growth 2×/yr: in 2026 the 100 MB model is 400 MB, +2 GB reserve; at 3e12 × 2 × 4 = 24 TFLOP/s it
        // needs AGX Orin (27.5) — and the DRAM per cell jumps to 64 GB.
        object = setting(object, "parameters.model_growth", 2)
        scenario = try makeScenario(object, in: folder, reports: reports)
        last = Projection.run(scenario, values: scenario.modeValues).last!
        #expect(last.groups.map(\.module) == ["jetson-agx-orin-64gb"])
        #expect(near(last.groups[0].requirement.memoryGB, 0.4 + 2))
        #expect(near(last.demand[.dram]!, 399.3 * 64))

        // 200 GB of weights fit no module: the cells are unservable and demand nothing.
        scenario = try makeScenario(
            object,
            in: folder,
            reports: ["cell-h.json": roundReport(weightBytes: 50_000_000_000)]
        )
        last = Projection.run(scenario, values: scenario.modeValues).last!
        #expect(near(last.unservableCells, 399.3) && last.groups.isEmpty && last.demand[.processor] == 0)
    }
}

@Suite struct UncertaintyTests {
    @Test func percentileInterpolatesBetweenOrderStatistics() {
        let values: [Double] = [5, 1, 4, 2, 3]
        #expect(near(percentile(values, 10), 1.4) && percentile(values, 50) == 3 && near(percentile(values, 90), 4.6))
        #expect(percentile([7], 90) == 7)
    }

    @Test func triangularQuantiles() {
        #expect(Uncertain(0, 1, 2, .assumption, "").quantile(0.5) == 1)
        #expect(near(Uncertain(0, 0, 1, .assumption, "").quantile(0.25), 1 - 0.75.squareRoot()))
        #expect(Uncertain(0, 1, 2, .assumption, "").quantile(0) == 0)
        #expect(Uncertain(0, 1, 2, .assumption, "").quantile(1) == 2)
        #expect(Uncertain(exactly: 3, .sourced, "").quantile(0.7) == 3)
    }

    @Test func generatorIsDeterministicAndUniform() {
        var a = SplitMix64(seed: 42)
        var b = SplitMix64(seed: 42)
        let first = (0..<1000).map { _ in a.unit() }
        #expect(first == (0..<1000).map { _ in b.unit() })
        #expect(first.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = first.reduce(0, +) / 1000
        #expect(abs(mean - 0.5) < 0.05)
    }

    func rangedScenario(seed: Int, folder: TemporaryFolder) throws -> Scenario {
        var object = handScenarioObject()
        object = setting(object, "parameters.ai_share_end", ["low": 0.2, "mode": 0.3, "high": 0.5])
        object = setting(object, "parameters.nand_gb_per_cell", ["low": 32, "mode": 64, "high": 256])
        object = setting(object, "parameters.installs_growth", ["low": 0.0, "mode": 0.1, "high": 0.12])
        object["monte_carlo"] = ["samples": 300, "seed": seed]
        return try makeScenario(object, in: folder)
    }

    @Test func monteCarloIsDeterministicPerSeedAndOrdered() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        let scenario = try rangedScenario(seed: 11, folder: folder)
        let first = MonteCarlo.run(scenario)
        let second = MonteCarlo.run(scenario)
        #expect(first == second)
        let other = MonteCarlo.run(try rangedScenario(seed: 12, folder: folder))
        #expect(other[Output.demand(.nand)] != first[Output.demand(.nand)])
        for (name, p) in first {
            #expect(p.p10 <= p.p50 && p.p50 <= p.p90, "\(name)")
        }
        let nand = first[Output.demand(.nand)]!
        #expect(nand.p10 < nand.p90)
        // Every draw lies inside the ranges, so the percentiles lie inside the outputs' extremes.
        let low = 1000 * 1.0 * 0.2 * 32
        let high = 1000 * pow(1.12, 3) * 0.5 * 256
        #expect(nand.p10 >= low && nand.p90 <= high)
        // A fixed input stays fixed: the MCU count per cell never varies.
        let mcu = first[Output.demand(.mcu)]!
        let cells = first[Output.newCells]!
        #expect(near(mcu.p50 / cells.p50, 6))
    }

    @Test func tornadoRanksTheWidestInputFirst() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        let scenario = try rangedScenario(seed: 1, folder: folder)
        let swings = Sensitivity.tornado(scenario, output: Output.demand(.nand))
        #expect(swings.map(\.parameter) == ["nand_gb_per_cell", "ai_share_end", "installs_growth"])
        let nand = swings[0]
        let base = 399.3 * 64
        #expect(near(nand.outputAtMode, base))
        #expect(near(nand.outputAtLow, 399.3 * 32) && near(nand.outputAtHigh, 399.3 * 256))
        #expect(near(swings[1].outputAtLow, base * 0.2 / 0.3) && near(swings[1].outputAtHigh, base * 0.5 / 0.3))
        #expect(swings[0].swing >= swings[1].swing && swings[1].swing >= swings[2].swing)
    }
}
