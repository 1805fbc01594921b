import CZlib
import Foundation

/// A minimal PNG encoder for RGB8 images (reports' film strips): one IDAT of zlib-compressed scanlines with
/// filter 0, CRCs from zlib.
public enum PNG {
    /// Encodes `rgb` (height × width × 3, row-major, top row first).
    public static func encode(width: Int, height: Int, rgb: [UInt8]) -> Data {
        precondition(rgb.count == width * height * 3, "PNG.encode: \(rgb.count) bytes for a \(width)×\(height) image")
        var raw = [UInt8]()
        raw.reserveCapacity(height * (width * 3 + 1))
        for row in 0..<height {
            raw.append(0)  // filter: none
            raw.append(contentsOf: rgb[(row * width * 3)..<((row + 1) * width * 3)])
        }
        var compressedSize = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        _ = compress2(&compressed, &compressedSize, raw, uLong(raw.count), 9)
        compressed.removeSubrange(Int(compressedSize)...)

        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = [UInt8]()
        header += bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [8, 2, 0, 0, 0]  // 8 bits, truecolour, deflate, no filter method, no interlace
        png += Self.chunk("IHDR", header)
        png += Self.chunk("IDAT", compressed)
        png += Self.chunk("IEND", [])
        return png
    }

    static func chunk(_ type: String, _ body: [UInt8]) -> Data {
        let typeBytes = Array(type.utf8)
        var crc = crc32(0, nil, 0)
        crc = crc32(crc, typeBytes, uInt(typeBytes.count))
        crc = body.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt(body.count)) }
        return Data(bigEndian(UInt32(body.count)) + typeBytes + body + bigEndian(UInt32(truncatingIfNeeded: crc)))
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// Lays frames out as a grid: one column per time, one row per camera, 2 px gaps; nearest-neighbour
    /// scaling by `scale`.
    public static func filmStrip(
        _ frames: [[(width: Int, height: Int, rgb: [UInt8])]],
        columns: Int = 8,
        scale: Int = 2
    ) -> (width: Int, height: Int, rgb: [UInt8])? {
        guard !frames.isEmpty, let cameras = frames.first, !cameras.isEmpty else { return nil }
        let picked: [[(width: Int, height: Int, rgb: [UInt8])]] =
            frames.count <= columns
            ? frames
            : (0..<columns).map { frames[$0 * (frames.count - 1) / (columns - 1)] }
        let cellWidth = (cameras.map(\.width).max() ?? 0) * scale
        let cellHeight = cameras.map { $0.height * scale }
        let gap = 2
        let width = picked.count * cellWidth + (picked.count + 1) * gap
        let height = cellHeight.reduce(0, +) + (cameras.count + 1) * gap
        var out = [UInt8](repeating: 255, count: width * height * 3)
        for (column, frame) in picked.enumerated() {
            var y0 = gap
            for (camera, image) in frame.enumerated() {
                let x0 = gap + column * (cellWidth + gap)
                for y in 0..<(image.height * scale) {
                    for x in 0..<(image.width * scale) {
                        let source = ((y / scale) * image.width + x / scale) * 3
                        let target = ((y0 + y) * width + x0 + x) * 3
                        out[target] = image.rgb[source]
                        out[target + 1] = image.rgb[source + 1]
                        out[target + 2] = image.rgb[source + 2]
                    }
                }
                y0 += cellHeight[camera] + gap
            }
        }
        return (width, height, out)
    }
}
