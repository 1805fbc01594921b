/// The gripper as described in `WELCOME`.
public struct GripperDescription: Hashable, Sendable {
    /// Gripper name.
    public var name: String
    /// Smallest distance between the finger pads, m.
    public var apertureMin: Double
    /// Largest distance between the finger pads, m.
    public var apertureMax: Double
    /// Largest grip force, N.
    public var forceMax: Double
    /// Largest finger speed, m/s.
    public var speedMax: Double

    /// Creates a gripper description.
    public init(name: String, apertureMin: Double, apertureMax: Double, forceMax: Double, speedMax: Double) {
        self.name = name
        self.apertureMin = apertureMin
        self.apertureMax = apertureMax
        self.forceMax = forceMax
        self.speedMax = speedMax
    }
}
