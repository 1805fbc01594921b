import Foundation

/// SplitMix64: small, fast, and the same sequence on every platform for a given seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) from the top 53 bits.
    public mutating func unit() -> Double { Double(self.next() >> 11) * 0x1.0p-53 }
}

extension Uncertain {
    /// The triangular distribution's quantile at `u` ∈ [0, 1].
    public func quantile(_ u: Double) -> Double {
        guard self.high > self.low else { return self.mode }
        let width = self.high - self.low
        let cut = (self.mode - self.low) / width
        if u < cut { return self.low + (u * width * (self.mode - self.low)).squareRoot() }
        return self.high - ((1 - u) * width * (self.high - self.mode)).squareRoot()
    }
}

/// The p-th percentile (0-100) of `values`, interpolating linearly between order statistics.
public func percentile(_ values: [Double], _ p: Double) -> Double {
    precondition(!values.isEmpty, "percentile of no values")
    let sorted = values.sorted()
    let rank = p / 100 * Double(sorted.count - 1)
    let lower = Int(rank.rounded(.down))
    let upper = min(lower + 1, sorted.count - 1)
    return sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - Double(lower))
}

/// P10, P50 and P90 of one output.
public struct Percentiles: Codable, Sendable, Equatable {
    public var p10: Double
    public var p50: Double
    public var p90: Double

    public init(_ values: [Double]) {
        self.p10 = percentile(values, 10)
        self.p50 = percentile(values, 50)
        self.p90 = percentile(values, 90)
    }
}

/// The outputs the Monte Carlo and the sensitivity analysis track, in the last year of the scenario.
public enum Output {
    public static let newCells = "new_cells"
    public static let cumulativeCells = "cumulative_cells"
    public static let unservableCells = "unservable_cells"
    public static let topsRequired = "tops_required"
    public static let topsInstalled = "tops_installed"

    public static func demand(_ category: ChipCategory) -> String { "demand.\(category.rawValue)" }
    public static func notEquipped(_ shock: Int) -> String { "shock[\(shock)].cells_not_equipped" }

    /// The outputs of one projection.
    static func measure(_ scenario: Scenario, _ years: [YearResult]) -> [String: Double] {
        let last = years.last!
        var outputs: [String: Double] = [
            newCells: last.newCells,
            cumulativeCells: last.cumulativeCells,
            unservableCells: last.unservableCells,
            topsRequired: last.topsRequired,
            topsInstalled: last.topsInstalled,
        ]
        for category in ChipCategory.allCases { outputs[demand(category)] = last.demand[category] ?? 0 }
        for (k, shock) in scenario.shocks.enumerated() {
            outputs[notEquipped(k)] = Projection.shock(shock, on: last).cellsNotEquipped
        }
        return outputs
    }
}

/// Monte Carlo over the parameters' triangular ranges, all drawn independently.
public enum MonteCarlo {
    /// Runs `scenario.monteCarloSamples` projections from `scenario.monteCarloSeed`; the same seed gives the same
    /// result on every run and platform.
    public static func run(_ scenario: Scenario) -> [String: Percentiles] {
        var generator = SplitMix64(seed: scenario.monteCarloSeed)
        var samples: [String: [Double]] = [:]
        let names = scenario.parameters.keys.sorted()
        for _ in 0..<scenario.monteCarloSamples {
            var values: [String: Double] = [:]
            for name in names { values[name] = scenario.parameters[name]!.quantile(generator.unit()) }
            for (output, value) in Output.measure(scenario, Projection.run(scenario, values: values)) {
                samples[output, default: []].append(value)
            }
        }
        return samples.mapValues(Percentiles.init)
    }
}

/// One input's effect on an output when it alone moves from its low to its high value.
public struct Swing: Codable, Sendable, Equatable {
    public var parameter: String
    public var low: Double
    public var high: Double
    /// The output with every input at its mode.
    public var outputAtMode: Double
    /// The output with the input at its low and at its high value, every other input at its mode.
    public var outputAtLow: Double
    public var outputAtHigh: Double
    public var swing: Double { abs(self.outputAtHigh - self.outputAtLow) }
}

/// One-at-a-time sensitivity (a tornado): inputs ranked by how far each alone moves the output.
public enum Sensitivity {
    public static func tornado(_ scenario: Scenario, output: String) -> [Swing] {
        let base = scenario.modeValues
        let atMode = Output.measure(scenario, Projection.run(scenario, values: base))[output] ?? 0
        var swings: [Swing] = []
        for name in scenario.parameters.keys.sorted() {
            let range = scenario.parameters[name]!
            guard range.high > range.low else { continue }
            var values = base
            values[name] = range.low
            let atLow = Output.measure(scenario, Projection.run(scenario, values: values))[output] ?? 0
            values[name] = range.high
            let atHigh = Output.measure(scenario, Projection.run(scenario, values: values))[output] ?? 0
            swings.append(
                Swing(
                    parameter: name,
                    low: range.low,
                    high: range.high,
                    outputAtMode: atMode,
                    outputAtLow: atLow,
                    outputAtHigh: atHigh
                )
            )
        }
        return swings.sorted { $0.swing > $1.swing || ($0.swing == $1.swing && $0.parameter < $1.parameter) }
    }
}
