/// Which seed the next recorded episode uses.
///
/// Episode *k* of a dataset (its dataset-wide index) uses seed `base + k`, so a resumed session never repeats a
/// seed. An attempt that is not kept (a failed expert episode without `--keep-failures`, an operator's discard)
/// still used its seed: the next attempt takes the seed after it, so a deterministic failure is not retried
/// forever. On resume the schedule also starts after the highest seed already in the dataset.
/// Seeds from 100000 up are held out for evaluation and never recorded.
public struct SeedSchedule: Sendable {
    /// First seed of the held-out evaluation range.
    public static let evaluationSeeds: UInt64 = 100_000

    /// `--seed`.
    public let base: UInt64
    /// Episodes in the dataset.
    public private(set) var episodes: Int
    /// Highest seed used so far (in the dataset or by an attempt this session).
    public private(set) var highestUsed: UInt64?

    /// A schedule for a dataset holding `episodes` episodes whose highest seed is `highestSeed`.
    public init(base: UInt64, episodes: Int, highestSeed: UInt64?) {
        self.base = base
        self.episodes = episodes
        self.highestUsed = highestSeed
    }

    /// A schedule continuing what a writer holds.
    public init(base: UInt64, writer: DatasetWriter) {
        self.init(base: base, episodes: writer.episodeCount, highestSeed: writer.highestSeed)
    }

    /// The seed of the next attempt.
    public func next() -> UInt64 {
        let byIndex = self.base &+ UInt64(self.episodes)
        guard let highest = self.highestUsed else { return byIndex }
        return max(byIndex, highest &+ 1)
    }

    /// An attempt used `seed` (kept or not).
    public mutating func attempted(_ seed: UInt64) {
        self.highestUsed = max(self.highestUsed ?? seed, seed)
    }

    /// The last attempt was kept: the dataset grew by one.
    public mutating func kept() { self.episodes += 1 }

    /// Refuses seeds of the evaluation range.
    public static func check(_ seed: UInt64) throws(TeachError) {
        guard seed < Self.evaluationSeeds else {
            throw TeachError(
                .usage,
                "seed \(seed) is in the held-out evaluation range (≥ \(Self.evaluationSeeds)); demonstrations use "
                    + "lower seeds (choose a smaller --seed)"
            )
        }
    }
}
