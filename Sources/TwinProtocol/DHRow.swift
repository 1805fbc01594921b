/// One standard Denavit–Hartenberg row: the transform `Rz(q + thetaOffset) · Tz(d) · Tx(a) · Rx(alpha)`.
public struct DHRow: Hashable, Sendable {
    /// Link length along x, m.
    public var a: Double
    /// Link offset along z, m.
    public var d: Double
    /// Link twist about x, rad.
    public var alpha: Double
    /// Added to the joint position to give θ, rad.
    public var thetaOffset: Double

    /// Creates a DH row.
    public init(a: Double, d: Double, alpha: Double, thetaOffset: Double) {
        self.a = a
        self.d = d
        self.alpha = alpha
        self.thetaOffset = thetaOffset
    }
}
