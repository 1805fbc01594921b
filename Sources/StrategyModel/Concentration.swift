/// Herfindahl–Hirschman index: Σ (share in %)², 0-10,000. Shares not listed are left out, so over a partial
/// table this is a lower bound.
public func herfindahlHirschman(_ sharesPercent: some Sequence<Double>) -> Double {
    sharesPercent.reduce(0) { $0 + $1 * $1 }
}

/// How concentrated a category's world market is, from the seed's shares.
public struct MarketConcentration: Codable, Sendable, Equatable {
    public var category: ChipCategory
    /// Σ of the listed shares (%); 100 − this is held by suppliers the seed does not name.
    public var listedPercent: Double
    /// Firm-level HHI over the listed suppliers (lower bound).
    public var firmHHI: Double
    /// Country-level HHI over the listed suppliers' HQ countries (lower bound).
    public var countryHHI: Double
    /// Listed share (%) by HQ country.
    public var byCountry: [String: Double]
    public var largestSupplier: String
    public var largestSupplierPercent: Double
    public var largestCountry: String
    public var largestCountryPercent: Double
    /// Listed share (%) of suppliers with HQ in Japan.
    public var japanPercent: Double
    /// The seed lines the figures come from.
    public var citations: [String]

    /// Computes the category's figures from its seed rows (rows without a share count as 0).
    public init(_ category: ChipCategory, rows: [SupplierShare] = SeedShares.all) {
        let rows = rows.filter { $0.category == category }
        self.category = category
        let shares = rows.map { ($0, $0.sharePercent ?? 0) }
        self.listedPercent = shares.reduce(0) { $0 + $1.1 }
        self.firmHHI = herfindahlHirschman(shares.map(\.1))
        var byCountry: [String: Double] = [:]
        for (row, share) in shares { byCountry[row.country.rawValue, default: 0] += share }
        self.byCountry = byCountry
        self.countryHHI = herfindahlHirschman(byCountry.values)
        let top = shares.max { $0.1 < $1.1 }
        self.largestSupplier = top?.0.supplier ?? "-"
        self.largestSupplierPercent = top?.1 ?? 0
        let topCountry = byCountry.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }
        self.largestCountry = topCountry?.key ?? "-"
        self.largestCountryPercent = topCountry?.value ?? 0
        self.japanPercent = byCountry[Country.japan.rawValue] ?? 0
        self.citations = rows.map(\.citation)
    }
}
