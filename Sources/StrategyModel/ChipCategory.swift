/// The chip categories of the seed's supplier table (`000_0233cc11c76292b9.txt:59-207`), in its order.
public enum ChipCategory: String, Codable, CodingKeyRepresentable, Sendable, CaseIterable, Comparable {
    case processor
    case mcu
    case foundry
    case dram
    case hbm
    case nand
    case power
    case imageSensor = "image_sensor"
    case otherAnalog = "other_analog"

    /// The name in reports.
    public var title: String {
        switch self {
        case .processor: "Processor (logic)"
        case .mcu: "MCU"
        case .foundry: "Foundry"
        case .dram: "DRAM"
        case .hbm: "HBM"
        case .nand: "NAND"
        case .power: "Power semiconductors"
        case .imageSensor: "Image sensors"
        case .otherAnalog: "Other analog ICs"
        }
    }

    /// The unit a cell's demand in this category is counted in.
    public var unit: String {
        switch self {
        case .dram, .hbm, .nand: "GB"
        case .foundry: "dies"
        default: "units"
        }
    }

    /// The seed's own heading for the category, as written.
    public var seedHeading: String {
        switch self {
        case .processor: "プロセッサ"
        case .mcu: "マイコン"
        case .foundry: "ファウンドリー（受託製造）"
        case .dram: "DRAM"
        case .hbm: "HBM"
        case .nand: "NAND"
        case .power: "パワー"
        case .imageSensor: "イメージセンサ"
        case .otherAnalog: "その他アナログIC"
        }
    }

    public static func < (a: ChipCategory, b: ChipCategory) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// A headquarters country, ISO 3166-1 alpha-2. The seed classifies suppliers by HQ (`000_0233cc11c76292b9.txt:37`).
public struct Country: RawRepresentable, Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ code: String) { self.rawValue = code }

    public static let japan = Country("JP")
    /// Suppliers the seed does not list: their country is not known.
    public static let unknown = Country("??")

    public var description: String { self.rawValue }

    public static func < (a: Country, b: Country) -> Bool { a.rawValue < b.rawValue }

    /// The seed's abbreviations (米, 独, …) as ISO codes.
    public static let seedAbbreviations: [String: Country] = [
        "米": Country("US"), "米国": Country("US"), "独": Country("DE"), "蘭": Country("NL"), "日": Country("JP"),
        "スイス": Country("CH"), "台": Country("TW"), "韓": Country("KR"), "中": Country("CN"),
    ]
}
