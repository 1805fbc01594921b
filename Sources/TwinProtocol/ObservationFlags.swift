/// Status bits of an observation (`flags`); bits other than those defined here must be 0 on the wire.
public struct ObservationFlags: OptionSet, Hashable, Sendable {
    /// The flags' wire value.
    public var rawValue: UInt8

    /// Creates flags from their wire value.
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// The twin is holding the arm because commands stopped (real-time mode).
    public static let holding = ObservationFlags(rawValue: 1 << 0)
    /// The arm is in collision with the table or itself.
    public static let collision = ObservationFlags(rawValue: 1 << 1)

    /// Every bit protocol version 1 defines.
    public static let allDefined: ObservationFlags = [.holding, .collision]
}
