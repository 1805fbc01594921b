import Foundation
import StrategyModel
import Testing

/// The seed documents: `$EDGECELL_SEEDS_DIR`, else the verbatim copies in the repository's `docs/sources/seeds`
/// (docs/sources/README.md).
func seedsDirectory() -> String {
    if let dir = ProcessInfo.processInfo.environment["EDGECELL_SEEDS_DIR"], !dir.isEmpty { return dir }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/sources/seeds").path
}

/// The 1-based line `number` of a seed file.
func seedLine(_ file: String, _ number: Int) throws -> String {
    let path = (seedsDirectory() as NSString).appendingPathComponent(file)
    guard let data = FileManager.default.contents(atPath: path) else {
        throw SeedMissing(path: path)
    }
    let lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
    guard number >= 1, number <= lines.count else { throw SeedMissing(path: "\(path):\(number)") }
    return lines[number - 1]
}

struct SeedMissing: Error, CustomStringConvertible {
    var path: String
    var description: String { "seed text not found: \(path) (set EDGECELL_SEEDS_DIR)" }
}

@Suite struct SeedShareTests {
    /// Every share the model loads is the number printed on the cited seed line, next to the supplier's name and
    /// HQ country as the seed writes them.
    @Test(arguments: SeedShares.all.map { ($0.supplier, $0.category.rawValue, $0.seedLine) })
    func shareEqualsTheSeedLine(supplier: String, category: String, line: Int) throws {
        let row = SeedShares.all.first { $0.supplier == supplier && $0.category.rawValue == category }!
        let text = try seedLine(row.seedFile, row.seedLine)
        #expect(text.hasPrefix(row.seedName), "\(row.citation) reads '\(text)'")
        // The seed writes "Name（国）…<TAB>34.0%": the country in full-width parentheses, the figure after a tab.
        guard let open = text.firstIndex(of: "（"), let close = text.firstIndex(of: "）") else {
            Issue.record("\(row.citation): no （country） in '\(text)'")
            return
        }
        let country = String(text[text.index(after: open)..<close])
        #expect(Country.seedAbbreviations[country] == row.country, "\(row.citation): HQ '\(country)'")
        let figure = text.split(separator: "\t").last.map(String.init) ?? ""
        if let share = row.sharePercent {
            #expect(figure.hasSuffix("%"), "\(row.citation): '\(figure)'")
            let number = Double(figure.dropLast())
            #expect(number == share, "\(row.citation): seed says '\(figure)', model has \(share)")
        } else {
            #expect(!figure.contains("%") && Double(figure) == nil, "\(row.citation): the seed gives '\(figure)'")
        }
    }

    /// The table covers every supplier row of the seed's category slide (lines 59-207), none twice.
    @Test func everySupplierRowOfTheSlideIsLoaded() throws {
        var rows: [Int] = []
        for line in 59...207 {
            let text = try seedLine(SeedShares.metiFile, line)
            if text.contains("（"), text.contains("\t") { rows.append(line) }
        }
        #expect(rows == SeedShares.all.map(\.seedLine))
        #expect(Set(SeedShares.all.map(\.seedLine)).count == SeedShares.all.count)
    }

    /// Each row's category is the one whose heading precedes its line in the seed.
    @Test func eachRowSitsUnderItsCategoryHeading() throws {
        for row in SeedShares.all {
            var heading: String?
            var line = row.seedLine
            while line > 59, heading == nil {
                line -= 1
                let text = try seedLine(row.seedFile, line)
                if text.hasPrefix("## ") || text.hasPrefix("### ") {
                    heading = text.replacingOccurrences(of: "#", with: "").trimmingCharacters(in: .whitespaces)
                }
            }
            #expect(heading == row.category.seedHeading, "\(row.citation) is under '\(heading ?? "nothing")'")
        }
    }

    @Test func basisLineIsTheMETIHearingNote() throws {
        #expect(try seedLine(SeedShares.metiFile, 207).contains("各社ヒアリングデータを元に経済産業省作成"))
    }
}
