/// One arm joint as described in `WELCOME` (SI units: rad, rad/s, rad/s², N·m).
public struct JointDescription: Hashable, Sendable {
    /// Joint name.
    public var name: String
    /// Lowest allowed position, rad.
    public var positionMin: Double
    /// Highest allowed position, rad.
    public var positionMax: Double
    /// Velocity limit, rad/s.
    public var velocityMax: Double
    /// Acceleration limit, rad/s².
    public var accelerationMax: Double
    /// Effort limit, N·m.
    public var effortMax: Double

    /// Creates a joint description.
    public init(
        name: String,
        positionMin: Double,
        positionMax: Double,
        velocityMax: Double,
        accelerationMax: Double,
        effortMax: Double
    ) {
        self.name = name
        self.positionMin = positionMin
        self.positionMax = positionMax
        self.velocityMax = velocityMax
        self.accelerationMax = accelerationMax
        self.effortMax = effortMax
    }
}
