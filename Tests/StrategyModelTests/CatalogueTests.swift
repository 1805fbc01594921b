import Foundation
import StrategyModel
import Testing

/// `docs/sources/anchors-strategy.md` (a copy of the team's reference note), the source the catalogue cites.
func anchorsLines() throws -> [String] {
    let path = (seedsDirectory() as NSString).deletingLastPathComponent + "/anchors-strategy.md"
    guard let data = FileManager.default.contents(atPath: path) else { throw SeedMissing(path: path) }
    return String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
}

func grouped(_ value: Double) -> String {
    let digits = String(Int(value))
    var out = ""
    for (k, ch) in digits.enumerated() {
        if k > 0, (digits.count - k) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return out
}

@Suite struct CatalogueTests {
    /// Processor and foundry exposure follow the module; a name the seed does not list would silently fall back
    /// to market shares.
    @Test func everyModuleNamesASeedDesignerAndFoundry() {
        for module in Catalogue.modules {
            #expect(SeedShares.rows(.processor).contains { $0.supplier == module.designer }, "\(module.id)")
            #expect(SeedShares.rows(.foundry).contains { $0.supplier == module.foundry }, "\(module.id)")
        }
        #expect(Set(Catalogue.modules.map(\.id)).count == Catalogue.modules.count)
    }

    @Test func modulesAreOrderedSmallestFirst() {
        let modules = Catalogue.modules
        for (a, b) in zip(modules, modules.dropFirst()) {
            #expect(a.dramGB <= b.dramGB && a.peakTOPS <= b.peakTOPS && a.bandwidthGBs <= b.bandwidthGBs)
        }
    }

    /// Each module's figures appear in its row of the anchors' compute-module table (§3.1).
    @Test func moduleFiguresMatchTheAnchorsTable() throws {
        let rows: [String: String] = [
            "jetson-orin-nano-8gb": "| Jetson Orin Nano 8 GB |",
            "jetson-orin-nano-super-8gb": "| Jetson Orin Nano 8 GB \"Super\"",
            "jetson-agx-orin-64gb": "| Jetson AGX Orin 64 GB |",
            "jetson-agx-thor-t5000": "| Jetson AGX Thor T5000 |",
        ]
        let lines = try anchorsLines()
        for module in Catalogue.modules {
            let prefix = try #require(rows[module.id])
            let row = try #require(lines.first { $0.hasPrefix(prefix) }, "\(module.id)")
            let peak = module.peakTOPS >= 1000 ? grouped(module.peakTOPS) : String(Int(module.peakTOPS))
            #expect(row.contains(peak), "\(module.id): \(peak) not in \(row)")
            let bandwidth =
                module.bandwidthGBs == module.bandwidthGBs.rounded()
                ? String(Int(module.bandwidthGBs)) : String(module.bandwidthGBs)
            #expect(row.contains("\(bandwidth) GB/s"), "\(module.id): \(bandwidth) GB/s not in \(row)")
            if module.id != "jetson-orin-nano-super-8gb" {  // its row says "same" memory as the Orin Nano
                #expect(row.contains("\(Int(module.dramGB)) GB"), "\(module.id)")
            }
        }
    }

    /// Each IFR figure appears, with its thousands separators, in the anchors' row for its year (§3.5).
    @Test func deploymentFiguresMatchTheAnchorsTable() throws {
        let lines = try anchorsLines()
        for figure in Deployments.figures {
            let row = try #require(lines.first { $0.hasPrefix("| \(figure.year) |") }, "\(figure.id)")
            #expect(row.contains(grouped(figure.value)), "\(figure.id): \(grouped(figure.value)) not in \(row)")
        }
        #expect(Deployments.figure("ifr-japan-installs-2023")?.value == 46_106)
    }

    @Test func everyDefaultParameterHasASourceAndAnOrderedRange() {
        #expect(Set(Catalogue.defaultParameters.keys) == Set(Parameter.all))
        for (name, range) in Catalogue.defaultParameters {
            #expect(range.low <= range.mode && range.mode <= range.high, "\(name)")
            #expect(!range.source.isEmpty && range.status != .sourced, "\(name)")
        }
    }
}
