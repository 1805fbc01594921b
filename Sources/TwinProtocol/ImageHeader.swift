/// Describes one image of an observation; its pixels are the corresponding extra frame.
public struct ImageHeader: Hashable, Sendable {
    /// Index into `WELCOME.cameras`.
    public var camera: UInt8
    /// Image width, pixels.
    public var width: UInt16
    /// Image height, pixels.
    public var height: UInt16
    /// Pixel encoding.
    public var encoding: ImageEncoding

    /// Creates an image header.
    public init(camera: UInt8, width: UInt16, height: UInt16, encoding: ImageEncoding = .rgb8) {
        self.camera = camera
        self.width = width
        self.height = height
        self.encoding = encoding
    }

    /// Bytes the image's frame must hold: `width × height × 3` for RGB8.
    public var frameSize: Int {
        Int(self.width) * Int(self.height) * self.encoding.bytesPerPixel
    }
}
