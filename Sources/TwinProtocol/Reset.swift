/// `RESET` (3), client → twin: starts an episode; the twin answers with `EPISODE`.
public struct Reset: Hashable, Sendable {
    /// A task name from `WELCOME.tasks`; empty keeps the current task.
    public var task: String
    /// Seed of the episode's random initial poses.
    public var seed: UInt64

    /// Creates a `RESET`.
    public init(task: String, seed: UInt64) {
        self.task = task
        self.seed = seed
    }
}
