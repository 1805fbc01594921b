import DemandMetrics
import Foundation

/// A scenario file that cannot be used: the key at fault and what is wrong with it.
public struct ScenarioError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The dotted key path (`parameters.model_growth.low`), or nil for the file as a whole.
    public var key: String?
    public var message: String

    public init(key: String?, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String {
        self.key.map { "scenario: '\($0)': \(self.message)" } ?? "scenario: \(self.message)"
    }
}

/// A fleet scenario: how many cells, which measured cells they resemble, on which modules, under which shocks.
public struct Scenario: Sendable {
    public static let schemaName = "edgecell-strategy-scenario"
    public static let currentVersion = 1

    /// A measured cell type: a demand report and the fraction of the fleet that looks like it.
    public struct CellProfile: Sendable {
        public var reportPath: String
        public var report: DemandReport
        public var share: Double
        /// The control rate this cell type runs at in the fleet; required compute scales with it.
        public var controlHz: Double
    }

    /// A loss of output: a supplier or a whole HQ country loses `loss` (0-1) of its output.
    public struct Shock: Sendable, Codable, Equatable {
        public var name: String
        public var supplier: String?
        public var country: Country?
        /// Limits the shock to one category; nil: every category the supplier or country serves.
        public var category: ChipCategory?
        public var loss: Double

        public init(
            name: String,
            supplier: String? = nil,
            country: Country? = nil,
            category: ChipCategory? = nil,
            loss: Double
        ) {
            self.name = name
            self.supplier = supplier
            self.country = country
            self.category = category
            self.loss = loss
        }

        /// The fraction of `share`'s output this shock removes.
        public func loss(of share: (supplier: String, country: Country, category: ChipCategory)) -> Double {
            if let category = self.category, category != share.category { return 0 }
            if let supplier = self.supplier, supplier != share.supplier { return 0 }
            if let country = self.country, country != share.country { return 0 }
            return self.loss
        }
    }

    public var name: String
    public var title: String
    public var startYear: Int
    public var endYear: Int
    public var installsRegion: String
    public var installsBaseYear: Int
    public var installsBase: Double
    public var installsSource: String
    public var parameters: [String: Uncertain]
    public var cells: [CellProfile]
    /// Preferred module id → fraction of cells.
    public var modules: [(id: String, share: Double)]
    public var shocks: [Shock]
    /// A category is a chokepoint when the market's firm HHI reaches this …
    public var chokepointHHI: Double
    /// … or one HQ country holds at least this fraction of the fleet's supply.
    public var chokepointCountryShare: Double
    public var monteCarloSamples: Int
    public var monteCarloSeed: UInt64
    /// The category the tornado chart ranks inputs for.
    public var sensitivityOutput: ChipCategory

    public var years: [Int] { Array(self.startYear...self.endYear) }

    /// The mode of each parameter: the point scenario.
    public var modeValues: [String: Double] { self.parameters.mapValues(\.mode) }
}

extension Scenario {
    /// Reads a scenario from JSON. Report paths are resolved against `baseDirectory` (the scenario file's folder).
    public static func decode(json data: Data, baseDirectory: String) throws(ScenarioError) -> Scenario {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ScenarioError(key: nil, "not valid JSON (\(error.localizedDescription))")
        }
        return try Self.decode(object: object, baseDirectory: baseDirectory)
    }

    /// Reads a scenario from parsed JSON or YAML (dictionaries, arrays, strings, numbers, booleans).
    public static func decode(object: Any, baseDirectory: String) throws(ScenarioError) -> Scenario {
        let top = try Fields(object, path: "")
        let schema: String = try top.string("schema")
        guard schema == schemaName else {
            throw ScenarioError(key: "schema", "is '\(schema)', expected '\(schemaName)'")
        }
        let version = try top.integer("version")
        guard version == currentVersion else {
            throw ScenarioError(key: "version", "\(version) is not supported (this build reads \(currentVersion))")
        }
        let name = try top.string("name")
        let title = try top.optionalString("title") ?? name

        let years = try top.object("years")
        let start = try years.integer("start")
        let end = try years.integer("end")
        guard (1990...2100).contains(start) else { throw ScenarioError(key: "years.start", "\(start) is out of range") }
        guard end >= start, end - start <= 50 else {
            throw ScenarioError(key: "years.end", "must be between years.start and years.start + 50, got \(end)")
        }
        try years.finish()

        let installs = try top.object("installations")
        var region = "world"
        var baseYear = 0
        var base = 0.0
        var source = ""
        if let figureID = try installs.optionalString("figure") {
            guard let figure = Deployments.figure(figureID) else {
                let known = Deployments.figures.map(\.id).joined(separator: ", ")
                throw ScenarioError(key: "installations.figure", "unknown figure '\(figureID)' (known: \(known))")
            }
            guard figure.measure == "installations" else {
                throw ScenarioError(
                    key: "installations.figure",
                    "'\(figureID)' is a \(figure.measure), not installations"
                )
            }
            (region, baseYear, base, source) = (figure.region, figure.year, figure.value, figure.source)
        } else {
            region = try installs.string("region")
            baseYear = try installs.integer("base_year")
            base = try installs.number("base", atLeast: 0)
            source = try installs.string("source")
        }
        try installs.finish()
        guard baseYear <= start else {
            throw ScenarioError(key: "installations", "base year \(baseYear) is after years.start \(start)")
        }

        var parameters = Catalogue.defaultParameters
        if let given = try top.optionalObject("parameters") {
            for key in given.keys {
                guard parameters[key] != nil else {
                    throw ScenarioError(
                        key: "parameters.\(key)",
                        "unknown parameter (known: \(Parameter.all.joined(separator: ", ")))"
                    )
                }
                parameters[key] = try given.uncertain(key)
            }
            try given.finish()
        }
        for (key, value) in parameters {
            for (field, number) in [("low", value.low), ("mode", value.mode), ("high", value.high)] {
                let (lower, upper) = Self.bounds(key)
                guard number >= lower, number <= upper else {
                    let path = value.low == value.high ? "parameters.\(key)" : "parameters.\(key).\(field)"
                    throw ScenarioError(key: path, "\(number) is outside [\(lower), \(upper)]")
                }
            }
        }

        let cellList = try top.array("cells")
        guard !cellList.isEmpty else { throw ScenarioError(key: "cells", "needs at least one measured cell") }
        var cells: [CellProfile] = []
        for (k, item) in cellList.enumerated() {
            let cell = try Fields(item, path: "cells[\(k)]")
            let relative = try cell.string("report")
            let path = relative.hasPrefix("/") ? relative : (baseDirectory as NSString).appendingPathComponent(relative)
            let report: DemandReport
            do { report = try DemandReport.load(path: path) } catch {
                throw ScenarioError(key: "cells[\(k)].report", error.description)
            }
            let share = try cell.number("share", atLeast: 0)
            let controlHz = try cell.optionalNumber("control_hz", atLeast: 1e-9) ?? report.rates.controlHz
            try cell.finish()
            cells.append(CellProfile(reportPath: relative, report: report, share: share, controlHz: controlHz))
        }
        let cellShares = cells.map(\.share).reduce(0, +)
        guard abs(cellShares - 1) < 1e-6 else {
            throw ScenarioError(key: "cells", "the shares sum to \(cellShares), expected 1")
        }

        let moduleFields = try top.object("modules")
        var modules: [(String, Double)] = []
        for id in moduleFields.keys.sorted() {
            guard Catalogue.module(id) != nil else {
                let known = Catalogue.modules.map(\.id).joined(separator: ", ")
                throw ScenarioError(key: "modules.\(id)", "unknown module (known: \(known))")
            }
            modules.append((id, try moduleFields.number(id, atLeast: 0)))
        }
        try moduleFields.finish()
        let moduleShares = modules.map(\.1).reduce(0, +)
        guard !modules.isEmpty, abs(moduleShares - 1) < 1e-6 else {
            throw ScenarioError(key: "modules", "the shares sum to \(moduleShares), expected 1")
        }

        var shocks: [Shock] = []
        for (k, item) in (try top.optionalArray("shocks") ?? []).enumerated() {
            let fields = try Fields(item, path: "shocks[\(k)]")
            let supplier = try fields.optionalString("supplier")
            let country = try fields.optionalString("country").map { Country($0) }
            var category: ChipCategory?
            if let text = try fields.optionalString("category") {
                guard let value = ChipCategory(rawValue: text) else {
                    let known = ChipCategory.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ScenarioError(key: "shocks[\(k)].category", "unknown category '\(text)' (known: \(known))")
                }
                category = value
            }
            guard supplier != nil || country != nil else {
                throw ScenarioError(key: "shocks[\(k)]", "needs a 'supplier' or a 'country'")
            }
            if let supplier, !SeedShares.all.contains(where: { $0.supplier == supplier }) {
                let known = Set(SeedShares.all.map(\.supplier)).sorted().joined(separator: ", ")
                throw ScenarioError(key: "shocks[\(k)].supplier", "unknown supplier '\(supplier)' (known: \(known))")
            }
            if let country, !SeedShares.all.contains(where: { $0.country == country }) {
                let known = Set(SeedShares.all.map(\.country.rawValue)).sorted().joined(separator: ", ")
                throw ScenarioError(key: "shocks[\(k)].country", "no supplier has HQ '\(country)' (known: \(known))")
            }
            let loss = try fields.number("loss", atLeast: 0)
            guard loss <= 1 else { throw ScenarioError(key: "shocks[\(k)].loss", "\(loss) is above 1") }
            let name =
                try fields.optionalString("name")
                ?? "\(supplier ?? country!.rawValue) loses \(Int((loss * 100).rounded())) %"
            try fields.finish()
            shocks.append(Shock(name: name, supplier: supplier, country: country, category: category, loss: loss))
        }

        var chokepointHHI = 2500.0
        var chokepointCountry = 0.65
        if let rule = try top.optionalObject("chokepoint") {
            chokepointHHI = try rule.optionalNumber("hhi", atLeast: 0) ?? chokepointHHI
            chokepointCountry = try rule.optionalNumber("country_share", atLeast: 0) ?? chokepointCountry
            guard chokepointHHI <= 10_000 else { throw ScenarioError(key: "chokepoint.hhi", "is above 10000") }
            guard chokepointCountry <= 1 else { throw ScenarioError(key: "chokepoint.country_share", "is above 1") }
            try rule.finish()
        }
        var samples = 2000
        var seed: UInt64 = 1
        if let mc = try top.optionalObject("monte_carlo") {
            samples = try mc.optionalInteger("samples") ?? samples
            guard (10...1_000_000).contains(samples) else {
                throw ScenarioError(key: "monte_carlo.samples", "must be between 10 and 1000000, got \(samples)")
            }
            let seedValue = try mc.optionalInteger("seed") ?? 1
            guard seedValue >= 0 else { throw ScenarioError(key: "monte_carlo.seed", "must be ≥ 0") }
            seed = UInt64(seedValue)
            try mc.finish()
        }
        var output = ChipCategory.dram
        if let sensitivity = try top.optionalObject("sensitivity") {
            if let text = try sensitivity.optionalString("output") {
                guard let value = ChipCategory(rawValue: text) else {
                    let known = ChipCategory.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ScenarioError(key: "sensitivity.output", "unknown category '\(text)' (known: \(known))")
                }
                output = value
            }
            try sensitivity.finish()
        }
        try top.finish()
        return Scenario(
            name: name,
            title: title,
            startYear: start,
            endYear: end,
            installsRegion: region,
            installsBaseYear: baseYear,
            installsBase: base,
            installsSource: source,
            parameters: parameters,
            cells: cells,
            modules: modules,
            shocks: shocks,
            chokepointHHI: chokepointHHI,
            chokepointCountryShare: chokepointCountry,
            monteCarloSamples: samples,
            monteCarloSeed: seed,
            sensitivityOutput: output
        )
    }

    /// The values a parameter may take.
    static func bounds(_ key: String) -> (Double, Double) {
        switch key {
        case Parameter.installsGrowth: (-0.9, 5)
        case Parameter.aiShareStart, Parameter.aiShareEnd: (0, 1)
        case Parameter.usableComputeFraction, Parameter.usableBandwidthFraction: (1e-6, 1)
        case Parameter.modelGrowth: (0.1, 100)
        default: (0, 1e6)
        }
    }
}

/// A JSON or YAML object read key by key; `finish()` rejects any key nobody asked for.
struct Fields {
    let values: [String: Any]
    let path: String
    private let seen: Seen

    private final class Seen { var keys: Set<String> = [] }

    init(_ object: Any, path: String) throws(ScenarioError) {
        guard let values = object as? [String: Any] else {
            throw ScenarioError(key: path.isEmpty ? nil : path, "must be a mapping of keys to values")
        }
        self.values = values
        self.path = path
        self.seen = Seen()
    }

    var keys: [String] { self.values.keys.sorted() }

    func key(_ name: String) -> String { self.path.isEmpty ? name : "\(self.path).\(name)" }

    private func value(_ name: String) -> Any? {
        self.seen.keys.insert(name)
        guard let value = self.values[name], !(value is NSNull) else { return nil }
        return value
    }

    private func required(_ name: String) throws(ScenarioError) -> Any {
        guard let value = self.value(name) else { throw ScenarioError(key: self.key(name), "is missing") }
        return value
    }

    func optionalString(_ name: String) throws(ScenarioError) -> String? {
        guard let value = self.value(name) else { return nil }
        guard let text = value as? String, !text.isEmpty else {
            throw ScenarioError(key: self.key(name), "must be a non-empty string")
        }
        return text
    }

    func string(_ name: String) throws(ScenarioError) -> String {
        _ = try self.required(name)
        return try self.optionalString(name)!
    }

    static func number(_ value: Any) -> Double? {
        if type(of: value) == Bool.self { return nil }
        if let number = value as? NSNumber {
            // JSONSerialization hands back true/false as NSNumbers of type char ("c") or Bool ("B").
            let type = String(cString: number.objCType)
            return type == "c" || type == "B" ? nil : number.doubleValue
        }
        if let number = value as? Int { return Double(number) }
        if let number = value as? Double { return number }
        return nil
    }

    func optionalNumber(_ name: String, atLeast lower: Double) throws(ScenarioError) -> Double? {
        guard let value = self.value(name) else { return nil }
        guard let number = Self.number(value), number.isFinite else {
            throw ScenarioError(key: self.key(name), "must be a number, got \(value)")
        }
        guard number >= lower else { throw ScenarioError(key: self.key(name), "must be ≥ \(lower), got \(number)") }
        return number
    }

    func number(_ name: String, atLeast lower: Double) throws(ScenarioError) -> Double {
        _ = try self.required(name)
        return try self.optionalNumber(name, atLeast: lower)!
    }

    func optionalInteger(_ name: String) throws(ScenarioError) -> Int? {
        guard let value = self.value(name) else { return nil }
        guard let number = Self.number(value), let integer = Int(exactly: number) else {
            throw ScenarioError(key: self.key(name), "must be an integer, got \(value)")
        }
        return integer
    }

    func integer(_ name: String) throws(ScenarioError) -> Int {
        _ = try self.required(name)
        return try self.optionalInteger(name)!
    }

    func optionalObject(_ name: String) throws(ScenarioError) -> Fields? {
        guard let value = self.value(name) else { return nil }
        return try Fields(value, path: self.key(name))
    }

    func object(_ name: String) throws(ScenarioError) -> Fields {
        try Fields(try self.required(name), path: self.key(name))
    }

    func optionalArray(_ name: String) throws(ScenarioError) -> [Any]? {
        guard let value = self.value(name) else { return nil }
        guard let array = value as? [Any] else { throw ScenarioError(key: self.key(name), "must be a list") }
        return array
    }

    func array(_ name: String) throws(ScenarioError) -> [Any] {
        _ = try self.required(name)
        return try self.optionalArray(name)!
    }

    /// A number (a fixed value) or `{low, mode, high}`; `low ≤ mode ≤ high`.
    func uncertain(_ name: String) throws(ScenarioError) -> Uncertain {
        let raw = try self.required(name)
        let source = "scenario file"
        if let number = Self.number(raw) {
            guard number.isFinite else { throw ScenarioError(key: self.key(name), "must be finite") }
            return Uncertain(exactly: number, .assumption, source)
        }
        let range = try Fields(raw, path: self.key(name))
        let low = try range.number("low", atLeast: -.greatestFiniteMagnitude)
        let mode = try range.number("mode", atLeast: -.greatestFiniteMagnitude)
        let high = try range.number("high", atLeast: -.greatestFiniteMagnitude)
        let note = try range.optionalString("source")
        try range.finish()
        guard low <= mode, mode <= high else {
            throw ScenarioError(key: self.key(name), "needs low ≤ mode ≤ high, got \(low), \(mode), \(high)")
        }
        return Uncertain(low, mode, high, .assumption, note.map { "scenario file: \($0)" } ?? source)
    }

    /// Rejects keys that were never read: a misspelt key must not be silently ignored.
    func finish() throws(ScenarioError) {
        let unknown = Set(self.values.keys).subtracting(self.seen.keys).sorted()
        if let first = unknown.first {
            throw ScenarioError(key: self.key(first), "unknown key")
        }
    }
}
