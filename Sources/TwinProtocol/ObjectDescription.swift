/// A tracked object as described in `WELCOME`; observations report object poses in this order.
public struct ObjectDescription: Hashable, Sendable {
    /// Object name, such as `red_cube` or `bin`.
    public var name: String
    /// Full extents of its bounding box, m.
    public var size: SIMD3<Double>

    /// Creates an object description.
    public init(name: String, size: SIMD3<Double>) {
        self.name = name
        self.size = size
    }
}
