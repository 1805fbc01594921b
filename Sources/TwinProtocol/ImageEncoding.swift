/// The pixel encoding of a camera image.
public enum ImageEncoding: UInt8, Hashable, Sendable, CaseIterable {
    /// 3 bytes per pixel (R, G, B), row-major, top row first.
    case rgb8 = 1

    /// Bytes per pixel.
    public var bytesPerPixel: Int {
        switch self {
        case .rgb8: 3
        }
    }
}
