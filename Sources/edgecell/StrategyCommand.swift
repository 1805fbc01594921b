import ArgumentParser
import Foundation
import StrategyModel
import Yams

/// `edgecell strategy`: turns fleets of measured cells into chip demand and supply risk.
struct StrategyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strategy",
        abstract: "Project chip demand and supply risk for a fleet of cells (docs/STRATEGY.md).",
        subcommands: [StrategyReportCommand.self, StrategyServeCommand.self]
    )
}

/// `edgecell strategy report --scenario FILE --out DIR`.
struct StrategyReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Run a scenario; write report.html, report.json and report.csv; print a summary.",
        discussion: """
            The scenario (YAML or JSON) names the measured cells (demand reports), the fleet driver, the module \
            mix, the parameter ranges and the shocks; see docs/scenarios/japan-2030.yaml and docs/STRATEGY.md.
            """
    )

    @Option(help: "The scenario file (.yaml, .yml or .json).")
    var scenario: String

    @Option(help: "The folder to write the report into (created if needed).")
    var out: String

    func run() throws {
        let scenario: Scenario
        do {
            scenario = try Self.load(self.scenario)
        } catch {
            FileHandle.standardError.write(Data("error: \(self.scenario): \(error)\n".utf8))
            throw ExitCode(2)
        }
        let report = StrategyReport(scenario)
        let files: [String]
        do { files = try report.write(to: self.out) } catch {
            FileHandle.standardError.write(Data("error: cannot write the report to \(self.out): \(error)\n".utf8))
            throw ExitCode(1)
        }
        print(report.summary())
        print("Wrote " + files.joined(separator: ", "))
    }

    /// Reads a YAML or JSON scenario; report paths in it are relative to the scenario's folder.
    static func load(_ path: String) throws -> Scenario {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ScenarioError(key: nil, "cannot read the file")
        }
        let base = (path as NSString).deletingLastPathComponent
        if path.hasSuffix(".json") { return try Scenario.decode(json: data, baseDirectory: base) }
        let object: Any?
        do { object = try Yams.load(yaml: String(decoding: data, as: UTF8.self)) } catch {
            throw ScenarioError(key: nil, "not valid YAML (\(error))")
        }
        return try Scenario.decode(object: object ?? [String: Any](), baseDirectory: base)
    }
}
