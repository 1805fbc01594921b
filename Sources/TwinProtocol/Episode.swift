/// `EPISODE` (4), twin → client: the answer to `RESET`, with the episode's first observation.
public struct Episode: Hashable, Sendable {
    /// The task now running.
    public var task: String
    /// Its natural-language instruction.
    public var instruction: String
    /// The seed used.
    public var seed: UInt64
    /// The first observation (step 0).
    public var observation: Observation

    /// Creates an `EPISODE`.
    public init(task: String, instruction: String, seed: UInt64, observation: Observation) {
        self.task = task
        self.instruction = instruction
        self.seed = seed
        self.observation = observation
    }
}
