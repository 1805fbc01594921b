/// A supplier's share of one chip category, exactly as a seed document gives it, with where it says so.
public struct SupplierShare: Codable, Sendable, Equatable {
    public var category: ChipCategory
    /// The supplier's name in English.
    public var supplier: String
    /// The supplier's name exactly as the seed line writes it (Japanese where the seed uses Japanese).
    public var seedName: String
    /// The HQ country, as the seed classifies it.
    public var country: Country
    /// The share in per cent; nil where the seed lists the supplier without a figure (Rapidus "—", Denso "⇒ 内販向け中心").
    public var sharePercent: Double?
    /// The seed file (in `docs/sources/seeds/`, a verbatim copy) and the 1-based line that holds the figure.
    public var seedFile: String
    public var seedLine: Int
    /// What the share is a share of, and when.
    public var basis: String
    public var date: String

    public init(
        _ category: ChipCategory,
        _ supplier: String,
        seedName: String,
        _ country: String,
        _ sharePercent: Double?,
        line: Int,
        file: String = SeedShares.metiFile,
        basis: String = SeedShares.metiBasis,
        date: String = SeedShares.metiDate
    ) {
        self.category = category
        self.supplier = supplier
        self.seedName = seedName
        self.country = Country(country)
        self.sharePercent = sharePercent
        self.seedFile = file
        self.seedLine = line
        self.basis = basis
        self.date = date
    }

    /// "000_0233cc11c76292b9.txt:77".
    public var citation: String { "\(self.seedFile):\(self.seedLine)" }
}

/// The supplier table of METI's *Future direction of the Semiconductor & Digital Industry Strategy* (2025-12-23),
/// `000_0233cc11c76292b9.txt:59-207`, transcribed line by line. Shares are not rounded or completed: the listed
/// suppliers of a category do not sum to 100 %, and the rest is kept as an unlisted remainder.
public enum SeedShares {
    public static let metiFile = "000_0233cc11c76292b9.txt"
    /// `000_0233cc11c76292b9.txt:207`: "※各社ヒアリングデータを元に経済産業省作成".
    public static let metiBasis =
        "market share compiled by METI from company hearings (000_0233cc11c76292b9.txt:207); "
        + "the metric (revenue, units) is not printed"
    /// The category slide prints no year; the preceding slide's footnote gives "2024年市場規模" (`…:51`).
    public static let metiDate =
        "probably 2024 (not printed on the slide; 000_0233cc11c76292b9.txt:51); published 2025-12-23"

    public static let all: [SupplierShare] = [
        SupplierShare(.processor, "NVIDIA", seedName: "NVIDIA", "US", 34.0, line: 77),
        SupplierShare(.processor, "Intel", seedName: "Intel", "US", 20.4, line: 78),
        SupplierShare(.processor, "AMD", seedName: "AMD", "US", 9.9, line: 79),
        SupplierShare(.processor, "Apple", seedName: "Apple", "US", 9.0, line: 80),
        SupplierShare(.processor, "Qualcomm", seedName: "Qualcomm", "US", 6.3, line: 81),
        SupplierShare(.mcu, "Infineon", seedName: "Infineon Technologies", "DE", 20.2, line: 93),
        SupplierShare(.mcu, "NXP", seedName: "NXP Semiconductors", "NL", 19.2, line: 94),
        SupplierShare(.mcu, "Renesas", seedName: "ルネサス", "JP", 15.5, line: 95),
        SupplierShare(.mcu, "STMicroelectronics", seedName: "ST Microelectronics", "CH", 13.2, line: 96),
        SupplierShare(.foundry, "TSMC", seedName: "TSMC", "TW", 65.5, line: 100),
        SupplierShare(.foundry, "Samsung", seedName: "Samsung", "KR", 7.0, line: 101),
        SupplierShare(.foundry, "SMIC", seedName: "SMIC", "CN", 5.8, line: 102),
        SupplierShare(.foundry, "UMC", seedName: "UMC", "TW", 5.3, line: 103),
        SupplierShare(.foundry, "Rapidus", seedName: "ラピダス", "JP", nil, line: 104),
        SupplierShare(.dram, "Samsung", seedName: "Samsung", "KR", 39.3, line: 120),
        SupplierShare(.dram, "SK hynix", seedName: "SK hynix", "KR", 33.6, line: 121),
        SupplierShare(.dram, "Micron", seedName: "Micron", "US", 21.6, line: 122),
        SupplierShare(.hbm, "SK hynix", seedName: "SK hynix", "KR", 57.0, line: 134),
        SupplierShare(.hbm, "Micron", seedName: "Micron", "US", 35.0, line: 135),
        SupplierShare(.hbm, "Samsung", seedName: "Samsung", "KR", 8.0, line: 136),
        SupplierShare(.nand, "Samsung", seedName: "Samsung", "KR", 32.9, line: 146),
        SupplierShare(.nand, "SK hynix", seedName: "SK hynix", "KR", 19.7, line: 147),
        SupplierShare(.nand, "Kioxia", seedName: "キオクシア", "JP", 14.9, line: 148),
        SupplierShare(.nand, "Micron", seedName: "Micron", "US", 11.9, line: 149),
        SupplierShare(.nand, "Sandisk", seedName: "Sandisk", "US", 10.1, line: 150),
        SupplierShare(.nand, "YMTC", seedName: "YMTC", "CN", 8.9, line: 151),
        SupplierShare(.power, "Infineon", seedName: "Infineon Technologies", "DE", 17.8, line: 169),
        SupplierShare(.power, "onsemi", seedName: "Onsemi", "US", 10.2, line: 170),
        SupplierShare(.power, "STMicroelectronics", seedName: "ST Microelectronics", "CH", 7.5, line: 171),
        SupplierShare(.power, "Fuji Electric", seedName: "富士電機", "JP", 3.4, line: 172),
        SupplierShare(.power, "Mitsubishi Electric", seedName: "三菱電機", "JP", 2.8, line: 173),
        SupplierShare(.power, "Toshiba", seedName: "東芝", "JP", 2.7, line: 174),
        SupplierShare(.power, "Denso", seedName: "デンソー", "JP", nil, line: 175),
        SupplierShare(.imageSensor, "Sony", seedName: "Sony", "JP", 49.5, line: 187),
        SupplierShare(.imageSensor, "Samsung", seedName: "Samsung", "KR", 14.5, line: 188),
        SupplierShare(.imageSensor, "OMNIVISION", seedName: "OMNIVISION", "CN", 12, line: 189),
        SupplierShare(.imageSensor, "onsemi", seedName: "Onsemi", "US", 5.3, line: 190),
        SupplierShare(.otherAnalog, "Texas Instruments", seedName: "Texas Instruments", "US", 26.4, line: 203),
        SupplierShare(.otherAnalog, "Analog Devices", seedName: "Analog Devices", "US", 21.0, line: 204),
        SupplierShare(.otherAnalog, "Renesas", seedName: "ルネサス", "JP", 1.7, line: 205),
    ]

    /// The seed's rows for one category, in the seed's order.
    public static func rows(_ category: ChipCategory) -> [SupplierShare] {
        all.filter { $0.category == category }
    }
}
