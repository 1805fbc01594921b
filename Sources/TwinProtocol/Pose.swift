/// A rigid transform: a position in metres and an orientation (`pose` on the wire: `vec3` then `quat`).
public struct Pose: Hashable, Sendable {
    /// Translation, metres.
    public var position: SIMD3<Double>
    /// Rotation.
    public var orientation: Quaternion

    /// Creates a pose.
    public init(position: SIMD3<Double>, orientation: Quaternion) {
        self.position = position
        self.orientation = orientation
    }

    /// The identity transform.
    public static let identity = Pose(position: .zero, orientation: .identity)
}
