import CZlib
import Foundation

/// The binary files of an episode (docs/DATASET.md §4–5): layouts and their parsers.
public enum EpisodeFiles {
    /// `steps.bin` magic.
    public static let stepsMagic: [UInt8] = Array("ECSTEPS1".utf8)
    /// `frames.bin` magic.
    public static let framesMagic: [UInt8] = Array("ECFRAME1".utf8)
    /// Both files start with a 16-byte header.
    public static let headerSize = 16
    /// Frame encodings.
    public static let rawRGB: UInt8 = 1
    /// zlib-compressed RGB8, what the writer uses.
    public static let zlibRGB: UInt8 = 2

    /// Bytes of one step record for `n` joints: time, 3n + 3 more f64, then phase, success, flags, frame.
    public static func recordSize(joints n: Int) -> Int { 8 * (3 * n + 4) + 8 }

    /// Byte offsets inside a step record.
    struct Layout {
        let n: Int
        var positions: Int { 8 }
        var velocities: Int { 8 + 8 * self.n }
        var aperture: Int { 8 + 16 * self.n }
        var force: Int { 16 + 16 * self.n }
        var action: Int { 24 + 16 * self.n }
        var actionGripper: Int { 24 + 24 * self.n }
        var phase: Int { 32 + 24 * self.n }
        var success: Int { 33 + 24 * self.n }
        var flags: Int { 34 + 24 * self.n }
        var frame: Int { 36 + 24 * self.n }
    }
}

/// One control step as stored in `steps.bin`.
public struct StepRecord: Hashable, Sendable {
    /// Episode time of the observation, s.
    public var time: Double
    /// Observed joint positions, rad.
    public var jointPositions: [Double]
    /// Observed joint velocities, rad/s.
    public var jointVelocities: [Double]
    /// Observed gripper aperture, m.
    public var gripperAperture: Double
    /// Observed grip force, N.
    public var gripperForce: Double
    /// Joint targets commanded at this step, rad.
    public var actionJoints: [Double]
    /// Gripper aperture target commanded at this step, m.
    public var actionGripper: Double
    /// Index into the episode's `phases`.
    public var phase: UInt8
    /// The cell's success flag in this observation.
    public var success: Bool
    /// The observation's flags (protocol §4.6).
    public var flags: UInt16
    /// Index of this step's frame, or −1.
    public var frame: Int32

    /// Creates a record.
    public init(
        time: Double,
        jointPositions: [Double],
        jointVelocities: [Double],
        gripperAperture: Double,
        gripperForce: Double,
        actionJoints: [Double],
        actionGripper: Double,
        phase: UInt8,
        success: Bool,
        flags: UInt16,
        frame: Int32
    ) {
        self.time = time
        self.jointPositions = jointPositions
        self.jointVelocities = jointVelocities
        self.gripperAperture = gripperAperture
        self.gripperForce = gripperForce
        self.actionJoints = actionJoints
        self.actionGripper = actionGripper
        self.phase = phase
        self.success = success
        self.flags = flags
        self.frame = frame
    }
}

/// One camera frame as stored in `frames.bin`, decompressed.
public struct FrameRecord: Hashable, Sendable {
    /// The step it belongs to.
    public var step: Int
    /// One RGB8 image per camera, in the dataset's `cameras` order (height × width × 3, row-major).
    public var images: [[UInt8]]
}

/// Little-endian reads from a byte array with bounds already checked by the caller.
struct ByteReader {
    let bytes: [UInt8]

    func u8(_ at: Int) -> UInt8 { self.bytes[at] }

    func u16(_ at: Int) -> UInt16 { UInt16(self.bytes[at]) | UInt16(self.bytes[at + 1]) << 8 }

    func u32(_ at: Int) -> UInt32 {
        var value: UInt32 = 0
        for k in 0..<4 { value |= UInt32(self.bytes[at + k]) << (8 * k) }
        return value
    }

    func u64(_ at: Int) -> UInt64 {
        var value: UInt64 = 0
        for k in 0..<8 { value |= UInt64(self.bytes[at + k]) << (8 * k) }
        return value
    }

    func f64(_ at: Int) -> Double { Double(bitPattern: self.u64(at)) }

    func matches(_ magic: [UInt8]) -> Bool {
        self.bytes.count >= magic.count && Array(self.bytes[0..<magic.count]) == magic
    }
}

/// What decompressing an image gave.
enum Inflated {
    /// The image.
    case image([UInt8])
    /// What is wrong with the data.
    case bad(String)
}

/// zlib through the system library.
enum Zlib {
    /// Largest compressed size of `count` bytes.
    static func bound(_ count: Int) -> Int { Int(compressBound(uLong(count))) }

    /// Compresses `source` into `destination`; returns the compressed length.
    static func compress(
        _ source: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer,
        level: Int32
    ) -> Int? {
        var length = uLongf(destination.count)
        let status = compress2(
            destination.baseAddress!.assumingMemoryBound(to: Bytef.self),
            &length,
            source.baseAddress!.assumingMemoryBound(to: Bytef.self),
            uLong(source.count),
            level
        )
        return status == Z_OK ? Int(length) : nil
    }

    /// Decompresses data that must inflate to exactly `expected` bytes (one zlib stream, nothing after it).
    static func decompress(_ source: ArraySlice<UInt8>, expected: Int) -> Inflated {
        // One byte more than expected tells "too much data" apart from "exactly right".
        var out = [UInt8](repeating: 0, count: expected + 1)
        var produced = uLongf(expected + 1)
        var consumed = uLong(source.count)
        let status = source.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                uncompress2(
                    dst.baseAddress!.assumingMemoryBound(to: Bytef.self),
                    &produced,
                    src.baseAddress?.assumingMemoryBound(to: Bytef.self) ?? UnsafePointer(bitPattern: 1),
                    &consumed
                )
            }
        }
        switch status {
        case Z_OK:
            guard Int(produced) == expected else {
                return .bad("decompresses to \(produced) bytes, expected \(expected)")
            }
            guard Int(consumed) == source.count else {
                return .bad("has \(source.count - Int(consumed)) bytes after the end of the zlib stream")
            }
            out.removeLast()
            return .image(out)
        case Z_BUF_ERROR:
            if Int(produced) > expected { return .bad("decompresses to more than \(expected) bytes") }
            return .bad(
                "is cut short (decompresses to \(produced) bytes of \(expected) and the stream does not end)"
            )
        case Z_DATA_ERROR:
            return .bad("is not valid zlib data")
        default:
            return .bad("cannot be decompressed (zlib status \(status))")
        }
    }
}
