import Foundation

/// How the control thread turns a stream of action chunks into joint targets (docs/ARCHITECTURE.md, "Chunk
/// execution").
public enum ChunkExecution: Sendable, Equatable, CustomStringConvertible {
    /// Execute each chunk's first `rows` rows open loop, then switch to the newest chunk (openpi's default).
    case sequential(rows: Int)
    /// Temporal ensembling (ACT): every control step averages the predictions of all live chunks for that
    /// instant, weighting the i-th oldest by exp(−decay·i); a new chunk is adopted as soon as it exists.
    case ensemble(decay: Double)
    /// Real-time chunking: a new chunk is requested `rows` rows into the one being executed, early enough for
    /// the measured inference delay, and blended in over `blendRows` rows from the moment it arrives: the
    /// target goes from what the arm was following to the new chunk without a step. Rows of the new chunk
    /// that lie in the past when it arrives (the inference delay) are skipped, since rows are indexed by time.
    case realtime(rows: Int, blendRows: Int)

    public var description: String {
        switch self {
        case .sequential(let rows): "sequential, \(rows) rows per chunk"
        case .ensemble(let decay): "temporal ensembling, decay \(decay)"
        case .realtime(let rows, let blend): "real-time chunking, a new chunk every \(rows) rows, blended over \(blend)"
        }
    }
}

/// The chunk executor: the chunks a `PolicyController` follows, and the joint target they give at any instant.
///
/// Row *i* of a chunk computed from the observation at time *t₀* is the target for *t₀* + (*i*+1)·`actionPeriod`;
/// between *t₀* and row 0 the target moves linearly from the chunk's start (the last command when the chunk was
/// adopted, the observed posture for the first one), and between rows it is linear; past the last row it holds
/// the last row (it never extrapolates). Storage is made at init; `adopt` and `target` allocate nothing.
struct ChunkExecutor: @unchecked Sendable {  // one thread at a time; copies share storage
    /// One stored chunk.
    struct Slot {
        var sourceTime = 0.0
        var startQ = JointVector()
        var startGripper = 0.0
        /// When it was adopted (its blend starts then).
        var adoptedAt = 0.0
    }

    let execution: ChunkExecution
    let horizon: Int
    let actionDimension: Int
    let jointCount: Int
    let actionPeriod: Double
    let capacity: Int
    private let storage: UnsafeMutablePointer<Double>
    private let slots: UnsafeMutablePointer<Slot>
    private let owner: Owner
    private(set) var count = 0
    private(set) var newest = -1

    /// Frees the storage with the last copy of the executor.
    private final class Owner: @unchecked Sendable {
        let storage: UnsafeMutablePointer<Double>
        let slots: UnsafeMutablePointer<Slot>
        init(_ storage: UnsafeMutablePointer<Double>, _ slots: UnsafeMutablePointer<Slot>) {
            self.storage = storage
            self.slots = slots
        }
        deinit {
            self.storage.deallocate()
            self.slots.deallocate()
        }
    }

    init(execution: ChunkExecution, horizon: Int, actionDimension: Int, jointCount: Int, actionPeriod: Double) {
        self.execution = execution
        self.horizon = horizon
        self.actionDimension = actionDimension
        self.jointCount = jointCount
        self.actionPeriod = actionPeriod
        switch execution {
        case .sequential: self.capacity = 1
        case .ensemble: self.capacity = max(1, min(64, horizon))
        case .realtime: self.capacity = 2  // slot 0: what was being followed, resampled; slot 1: the new chunk
        }
        // One more chunk's worth of scratch after the slots (real-time chunking resamples into it).
        let values = (self.capacity + 1) * horizon * actionDimension
        self.storage = .allocate(capacity: values)
        self.storage.initialize(repeating: 0, count: values)
        self.slots = .allocate(capacity: self.capacity)
        self.slots.initialize(repeating: Slot(), count: self.capacity)
        self.owner = Owner(self.storage, self.slots)
    }

    private var rowValues: Int { self.horizon * self.actionDimension }

    /// Forgets every chunk (a new episode).
    mutating func reset() {
        self.count = 0
        self.newest = -1
    }

    /// The sim time at which the executor wants its next chunk: the end of the rows it executes from the current
    /// one (−∞ before the first chunk; ensembling wants one at every frame, so always −∞).
    var nextChunkDue: Double {
        guard self.count > 0 else { return -.infinity }
        let current = self.slots[self.newest]
        switch self.execution {
        case .sequential(let rows), .realtime(let rows, _):
            return current.sourceTime + Double(rows) * self.actionPeriod
        case .ensemble:
            return -.infinity
        }
    }

    /// The time the current chunk runs out (its last row), or −∞ without one.
    var currentChunkEnd: Double {
        guard self.count > 0 else { return -.infinity }
        return self.slots[self.newest].sourceTime + Double(self.horizon) * self.actionPeriod
    }

    /// Takes a chunk computed from the observation at `sourceTime`, at time `now`, starting from `start` (the
    /// last command, or the observed posture before the first). Sequential execution ignores a chunk that
    /// arrives before the current one's executed rows are done.
    /// - Returns: whether it was adopted.
    @discardableResult
    mutating func adopt(
        sourceTime: Double,
        actions: UnsafePointer<Double>,
        start: (q: JointVector, gripper: Double),
        now: Double
    ) -> Bool {
        let slot = Slot(sourceTime: sourceTime, startQ: start.q, startGripper: start.gripper, adoptedAt: now)
        switch self.execution {
        case .sequential(let rows):
            if self.count > 0 {
                let current = self.slots[self.newest]
                if now < current.sourceTime + Double(rows) * self.actionPeriod - 1e-9 { return false }
            }
            self.store(slot, actions, at: 0)
            self.count = 1
        case .ensemble:
            let index = (self.newest + 1) % self.capacity
            self.store(slot, actions, at: index)
            self.count = min(self.count + 1, self.capacity)
        case .realtime:
            if self.count > 0 {
                // What the arm is following now, sampled every action period from this instant on, becomes slot 0
                // (row 0 at `now`): blending from it continues the present trajectory without a step, whatever
                // blend was under way.
                let old = self.storage
                let scratch = self.storage + self.capacity * self.rowValues
                for i in 0..<self.horizon {
                    let t = now + Double(i) * self.actionPeriod
                    let (q, g) = self.target(at: t)!
                    for j in 0..<self.jointCount { scratch[i * self.actionDimension + j] = q[j] }
                    scratch[i * self.actionDimension + self.jointCount] = g
                }
                old.update(from: scratch, count: self.rowValues)
                self.slots[0] = Slot(
                    sourceTime: now - self.actionPeriod,
                    startQ: start.q,
                    startGripper: start.gripper,
                    adoptedAt: -.infinity
                )
                self.store(slot, actions, at: 1)
                self.count = 2
            } else {
                self.store(slot, actions, at: 1)
                self.count = 1
            }
        }
        return true
    }

    private mutating func store(_ slot: Slot, _ actions: UnsafePointer<Double>, at index: Int) {
        (self.storage + index * self.rowValues).update(from: actions, count: self.rowValues)
        self.slots[index] = slot
        self.newest = index
    }

    /// Chunk `index`'s target at time `t`.
    private func row(_ index: Int, at t: Double) -> (JointVector, Double) {
        let slot = self.slots[index]
        let values = self.storage + index * self.rowValues
        let n = self.jointCount
        let a = self.actionDimension
        let r = min((t - slot.sourceTime) / self.actionPeriod - 1, Double(self.horizon - 1))
        var q = JointVector()
        if r < 0 {
            let w = max(r + 1, 0)  // 0 at the observation, 1 at row 0
            for j in 0..<n { q[j] = slot.startQ[j] + (values[j] - slot.startQ[j]) * w }
            return (q, slot.startGripper + (values[n] - slot.startGripper) * w)
        }
        let i0 = Int(r)
        let i1 = min(i0 + 1, self.horizon - 1)
        let f = r - Double(i0)
        for j in 0..<n { q[j] = values[i0 * a + j] * (1 - f) + values[i1 * a + j] * f }
        return (q, values[i0 * a + n] * (1 - f) + values[i1 * a + n] * f)
    }

    /// The target for time `t`, or nil before the first chunk.
    func target(at t: Double) -> (q: JointVector, gripper: Double)? {
        guard self.count > 0 else { return nil }
        switch self.execution {
        case .sequential:
            return self.row(self.newest, at: t)
        case .realtime(_, let blendRows):
            let (newQ, newG) = self.row(1, at: t)
            guard self.count == 2 else { return (newQ, newG) }
            let blend = max(Double(blendRows) * self.actionPeriod, 1e-9)
            let alpha = min(max((t - self.slots[1].adoptedAt) / blend, 0), 1)
            if alpha >= 1 { return (newQ, newG) }
            let (oldQ, oldG) = self.row(0, at: t)
            return (oldQ + (newQ - oldQ) * alpha, oldG + (newG - oldG) * alpha)
        case .ensemble(let decay):
            var q = JointVector()
            var gripper = 0.0
            var weightSum = 0.0
            var weight = 1.0
            let factor = exp(-decay)
            // Oldest first, so the i-th oldest gets exp(−decay·i); expired chunks drop out, the newest never.
            for k in 0..<self.count {
                let index = (self.newest - self.count + 1 + k + self.capacity) % self.capacity
                let live = (t - self.slots[index].sourceTime) / self.actionPeriod - 1 <= Double(self.horizon - 1)
                guard live || k == self.count - 1 else { continue }
                let (rowQ, rowG) = self.row(index, at: t)
                q += rowQ * weight
                gripper += rowG * weight
                weightSum += weight
                weight *= factor
            }
            return (q / weightSum, gripper / weightSum)
        }
    }
}

/// A robust estimate of the inference delay, for scheduling the next chunk: the 90th percentile of the last
/// `window` latencies, leaving out the first `warmUp` (first inferences pay for cold caches and page faults) and
/// so unmoved by a few outliers. Before it has samples it answers `initial`. Allocation-free after init.
struct DelayEstimator: @unchecked Sendable {  // one thread at a time; copies share storage
    let window: Int
    let warmUp: Int
    let initial: Int64
    private let samples: UnsafeMutablePointer<Int64>
    private let sorted: UnsafeMutablePointer<Int64>
    private let owner: Owner
    private(set) var seen = 0
    private var kept = 0
    private var next = 0

    private final class Owner: @unchecked Sendable {
        let a: UnsafeMutablePointer<Int64>
        let b: UnsafeMutablePointer<Int64>
        init(_ a: UnsafeMutablePointer<Int64>, _ b: UnsafeMutablePointer<Int64>) {
            self.a = a
            self.b = b
        }
        deinit {
            self.a.deallocate()
            self.b.deallocate()
        }
    }

    init(window: Int = 32, warmUp: Int = 2, initialNanoseconds: Int64) {
        self.window = max(1, window)
        self.warmUp = max(0, warmUp)
        self.initial = initialNanoseconds
        self.samples = .allocate(capacity: self.window)
        self.samples.initialize(repeating: 0, count: self.window)
        self.sorted = .allocate(capacity: self.window)
        self.sorted.initialize(repeating: 0, count: self.window)
        self.owner = Owner(self.samples, self.sorted)
    }

    mutating func reset() {
        self.seen = 0
        self.kept = 0
        self.next = 0
    }

    mutating func record(_ nanoseconds: Int64) {
        self.seen += 1
        guard self.seen > self.warmUp else { return }
        self.samples[self.next] = nanoseconds
        self.next = (self.next + 1) % self.window
        self.kept = min(self.kept + 1, self.window)
    }

    /// The estimate, ns.
    var nanoseconds: Int64 {
        guard self.kept > 0 else { return self.initial }
        // Insertion sort of at most `window` values: cheap, and no allocation.
        for i in 0..<self.kept {
            let v = self.samples[i]
            var k = i
            while k > 0 && self.sorted[k - 1] > v {
                self.sorted[k] = self.sorted[k - 1]
                k -= 1
            }
            self.sorted[k] = v
        }
        let index = min(self.kept - 1, Int((Double(self.kept) * 0.9).rounded(.up)) - 1)
        return self.sorted[max(index, 0)]
    }
}
