/// `ADVICE` (10), twin → client: the answer to `EXPERT`, what the cell's scripted expert would command now for
/// the state of the last observation (`Sim/PROTOCOL.md` §4.9).
///
/// Only the joint count is checked against the handshake (§6); the targets are meant to be sent back in a
/// `STEP`, whose own checks then apply.
public struct Advice: Hashable, Sendable {
    /// Joint position targets, rad, one per joint.
    public var jointTargets: [Double]
    /// Finger aperture target, m.
    public var gripperTarget: Double
    /// The expert's task phase: `reach`, `descend`, `grasp`, `lift`, `move`, `place`, `release`, `retreat`,
    /// `done`… (informational; the set depends on the cell).
    public var phase: String
    /// Whether the expert has nothing more to do.
    public var done: Bool

    /// Creates an `ADVICE`.
    public init(jointTargets: [Double], gripperTarget: Double, phase: String, done: Bool) {
        self.jointTargets = jointTargets
        self.gripperTarget = gripperTarget
        self.phase = phase
        self.done = done
    }
}
