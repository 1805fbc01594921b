/// `STEP` (5), client → twin: joint and gripper targets for the next control period.
///
/// The hot path encodes steps without building this type:
/// ``TwinCodec/encodeStep(seq:jointTargets:gripperTarget:into:)``.
public struct Step: Hashable, Sendable {
    /// Joint position targets, rad, one per joint.
    public var jointTargets: [Double]
    /// Finger aperture target, m.
    public var gripperTarget: Double

    /// Creates a `STEP`.
    public init(jointTargets: [Double], gripperTarget: Double) {
        self.jointTargets = jointTargets
        self.gripperTarget = gripperTarget
    }
}
