import DemandMetrics
import Foundation
import StrategyModel
import Testing

@Suite struct ScenarioTests {
    func error(_ object: [String: Any]) -> ScenarioError? {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        do {
            _ = try makeScenario(object, in: folder)
            return nil
        } catch let error as ScenarioError {
            return error
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test func handScenarioDecodes() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        let scenario = try makeScenario(handScenarioObject(), in: folder)
        #expect(scenario.years == [2024, 2025, 2026] && scenario.installsBase == 1000)
        #expect(scenario.cells.count == 1 && scenario.cells[0].controlHz == 100)
        #expect(scenario.modules.map(\.id) == ["jetson-agx-thor-t5000", "jetson-orin-nano-8gb"])
        #expect(scenario.shocks.map(\.name) == ["Samsung stops", "TW loses 50 %", "JP loses 30 %"])
        #expect(scenario.parameters[Parameter.modelGrowth]?.status == .assumption)
        #expect(scenario.chokepointHHI == 2500 && scenario.chokepointCountryShare == 0.65)
    }

    @Test func omittedParametersKeepTheCatalogueRangesAndSources() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        let object = setting(handScenarioObject(), "parameters", ["model_growth": 1.5])
        let scenario = try makeScenario(object, in: folder)
        #expect(scenario.parameters[Parameter.mcusPerJoint] == Catalogue.defaultParameters[Parameter.mcusPerJoint])
        #expect(scenario.parameters[Parameter.powerDevicesPerJoint]?.status == .estimate)
        #expect(scenario.parameters[Parameter.modelGrowth]?.mode == 1.5)
    }

    @Test func installationFigureComesFromTheIFRTable() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        let object = setting(handScenarioObject(), "installations", ["figure": "ifr-japan-installs-2023"])
        let scenario = try makeScenario(object, in: folder)
        #expect(scenario.installsBase == 46_106 && scenario.installsBaseYear == 2023 && scenario.installsRegion == "JP")
        #expect(scenario.installsSource.contains("IFR"))
    }

    @Test(
        arguments: [
            ("colour", "blue", "colour", "unknown key"),
            ("years.finish", 2030, "years.finish", "unknown key"),
            ("parameters.model_grwth", 2, "parameters.model_grwth", "unknown parameter"),
            (
                "parameters.ai_share_end", ["low": 0.5, "mode": 0.3, "high": 0.6], "parameters.ai_share_end",
                "low ≤ mode ≤ high"
            ),
            ("parameters.ai_share_end", 1.5, "parameters.ai_share_end", "outside [0.0, 1.0]"),
            (
                "parameters.ai_share_end", ["low": -0.1, "mode": 0.3, "high": 0.6], "parameters.ai_share_end.low",
                "outside"
            ),
            ("parameters.model_growth", true, "parameters.model_growth", "must be a mapping"),
            ("parameters.nand_gb_per_cell", ["low": 1, "mode": 2], "parameters.nand_gb_per_cell.high", "is missing"),
            (
                "parameters.nand_gb_per_cell", ["low": 1, "mode": 2, "high": 3, "hgih": 4],
                "parameters.nand_gb_per_cell.hgih", "unknown key"
            ),
            ("modules.jetson-nano-classic", 0.0, "modules.jetson-nano-classic", "unknown module"),
            ("modules.jetson-orin-nano-8gb", 0.7, "modules", "sum to 1.2"),
            ("years.end", 2020, "years.end", "between years.start"),
            ("years.start", "2024", "years.start", "must be an integer"),
            ("version", 2, "version", "2 is not supported"),
            ("schema", "edgecell-eval", "schema", "expected 'edgecell-strategy-scenario'"),
            ("installations.base", -5, "installations.base", "must be ≥ 0"),
            ("installations.source", nil, "installations.source", "is missing"),
            ("monte_carlo.samples", 3, "monte_carlo.samples", "between 10 and"),
            ("sensitivity", ["output": "gpu"], "sensitivity.output", "unknown category 'gpu'"),
            ("chokepoint", ["hhi": 20000], "chokepoint.hhi", "above 10000"),
        ] as [(String, (any Sendable)?, String, String)]
    )
    func badKeyIsNamed(path: String, value: (any Sendable)?, key: String, message: String) {
        let failure = error(setting(handScenarioObject(), path, value))
        #expect(failure?.key == key, "got \(String(describing: failure))")
        #expect(failure?.message.contains(message) == true, "got \(String(describing: failure))")
    }

    @Test func badShocksAreNamedByIndex() {
        var object = handScenarioObject()
        object["shocks"] = [["supplier": "Samsung", "loss": 0.5], ["supplier": "Samsnug", "loss": 0.5]]
        #expect(error(object)?.key == "shocks[1].supplier")
        object["shocks"] = [["country": "XX", "loss": 0.5]]
        #expect(error(object)?.key == "shocks[0].country")
        object["shocks"] = [["country": "TW", "loss": 1.5]]
        #expect(error(object)?.key == "shocks[0].loss")
        object["shocks"] = [["loss": 0.5]]
        #expect(error(object)?.message.contains("needs a 'supplier' or a 'country'") == true)
        object["shocks"] = [["country": "TW", "loss": 0.5, "category": "gpu"]]
        #expect(error(object)?.key == "shocks[0].category")
        object["shocks"] = [["country": "TW", "loss": 0.5, "severity": "high"]]
        #expect(error(object)?.key == "shocks[0].severity")
    }

    @Test func cellErrorsNameTheCellAndTheReportField() {
        var object = handScenarioObject()
        object["cells"] = [["report": "missing.json", "share": 1.0]]
        let missing = error(object)
        #expect(missing?.key == "cells[0].report" && missing?.message.contains("cannot read") == true)
        object["cells"] = [["report": "cell-h.json", "share": 0.5]]
        #expect(error(object)?.message.contains("shares sum to 0.5") == true)
        object["cells"] = [["report": "cell-h.json", "share": 1.0, "control_hz": 0]]
        #expect(error(object)?.key == "cells[0].control_hz")
        object["cells"] = []
        #expect(error(object)?.key == "cells")
    }

    @Test func futureVersionReportInACellIsRefusedWithItsVersion() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        var json = try JSONSerialization.jsonObject(with: roundReport().encoded()) as! [String: Any]
        json["version"] = 3
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: folder.file("cell-h.json")))
        do {
            _ = try Scenario.decode(object: handScenarioObject(), baseDirectory: folder.path)
            Issue.record("a version-3 report was accepted")
        } catch {
            #expect(error.key == "cells[0].report")
            #expect(error.message.contains("version 3 is newer than this build reads (1)"))
        }
    }

    @Test func booleansAreNotNumbersInJSONText() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        try roundReport().encoded().write(to: URL(fileURLWithPath: folder.file("cell-h.json")))
        let object = setting(handScenarioObject(), "monte_carlo.samples", true)
        let data = try JSONSerialization.data(withJSONObject: object)
        do {
            _ = try Scenario.decode(json: data, baseDirectory: folder.path)
            Issue.record("samples: true was accepted")
        } catch {
            #expect(error.key == "monte_carlo.samples" && error.message.contains("must be an integer"))
        }
    }

    @Test func jsonTextDecodesAndBadJSONIsReported() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        try roundReport().encoded().write(to: URL(fileURLWithPath: folder.file("cell-h.json")))
        let data = try JSONSerialization.data(withJSONObject: handScenarioObject())
        #expect(try Scenario.decode(json: data, baseDirectory: folder.path).name == "hand")
        #expect(throws: ScenarioError.self) { try Scenario.decode(json: Data("{".utf8), baseDirectory: folder.path) }
        #expect(throws: ScenarioError.self) { try Scenario.decode(object: [1, 2], baseDirectory: folder.path) }
    }
}

@Suite struct ReportTests {
    @Test func reportFilesAreWrittenAndNameTheMeasuredCells() throws {
        let folder = TemporaryFolder()
        defer { folder.cleanUp() }
        var object = handScenarioObject(reports: ["cell-h.json", "cell-k.json"])
        object = setting(object, "parameters.ai_share_end", ["low": 0.2, "mode": 0.3, "high": 0.5])
        let reports = [
            "cell-h.json": roundReport(cell: "cell-h"), "cell-k.json": roundReport(cell: "cell-k", controlHz: 500),
        ]
        let scenario = try makeScenario(object, in: folder, reports: reports)
        let report = StrategyReport(scenario)
        let out = folder.file("out/nested")
        let files = try report.write(to: out)
        #expect(files.map { ($0 as NSString).lastPathComponent } == ["report.json", "report.csv", "report.html"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains(".tmp") }
        #expect(leftovers.isEmpty)

        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("</html>"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 5)
        #expect(html.contains("cell-h") && html.contains("cell-k") && html.contains("model-cell-k"))
        #expect(html.contains("000_0233cc11c76292b9.txt:134"))
        #expect(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"))

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json")))
        let top = try #require(json as? [String: Any])
        #expect(top["format"] as? String == "edgecell-strategy-report" && top["format_version"] as? Int == 1)
        let cells = try #require(top["cells"] as? [[String: Any]])
        #expect(cells.compactMap { $0["cell_id"] as? String } == ["cell-h", "cell-k"])
        #expect(cells.compactMap { $0["model"] as? String } == ["model-cell-h", "model-cell-k"])

        let csv = try String(contentsOfFile: out + "/report.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.first == "scenario,variable,unit,year,statistic,value")
        #expect(csv.contains("hand,Cells|New,cells,2024,mode,110"))
        #expect(csv.contains { $0.hasPrefix("hand,MonteCarlo|demand.dram,,2026,p90,") })
        #expect(csv.dropFirst().allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 6 })

        let summary = report.summary()
        #expect(summary.contains("cell-h: model model-cell-h") && summary.contains("Foundry"))
        #expect(summary.contains("Samsung stops"))
    }

    @Test func exampleScenarioRunsOnTheCommittedSamples() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/scenarios")
        let text = try String(contentsOf: docs.appendingPathComponent("japan-2030.yaml"), encoding: .utf8)
        // No YAML parser in this target: check the file names the committed samples and the IFR figure.
        #expect(text.contains("figure: ifr-japan-installs-2023"))
        for name in ["sample-cell-a.json", "sample-cell-b.json", "sample-cell-c.json"] {
            #expect(text.contains("samples/\(name)"))
            #expect(FileManager.default.fileExists(atPath: docs.appendingPathComponent("samples/\(name)").path))
        }
    }
}
