/// A camera the twin renders, as described in `WELCOME`.
public struct CameraDescription: Hashable, Sendable {
    /// The range of `width` and `height` the protocol allows, pixels.
    public static let sizeRange: ClosedRange<UInt16> = 1...4096

    /// Camera name, such as `scene` or `wrist`.
    public var name: String
    /// Image width, pixels (1…4096).
    public var width: UInt16
    /// Image height, pixels (1…4096).
    public var height: UInt16
    /// Pixel encoding.
    public var encoding: ImageEncoding

    /// Creates a camera description.
    public init(name: String, width: UInt16, height: UInt16, encoding: ImageEncoding = .rgb8) {
        self.name = name
        self.width = width
        self.height = height
        self.encoding = encoding
    }

    /// Bytes in one image frame from this camera.
    public var frameSize: Int {
        Int(self.width) * Int(self.height) * self.encoding.bytesPerPixel
    }
}
