/// A rotation as a unit quaternion, in MuJoCo's (w, x, y, z) order.
///
/// The codec does not normalise or check the norm: the protocol only requires finite components.
public struct Quaternion: Hashable, Sendable {
    /// Scalar part.
    public var w: Double
    /// First vector component.
    public var x: Double
    /// Second vector component.
    public var y: Double
    /// Third vector component.
    public var z: Double

    /// Creates a quaternion from its components.
    public init(w: Double, x: Double, y: Double, z: Double) {
        self.w = w
        self.x = x
        self.y = y
        self.z = z
    }

    /// The identity rotation.
    public static let identity = Quaternion(w: 1, x: 0, y: 0, z: 0)
}
