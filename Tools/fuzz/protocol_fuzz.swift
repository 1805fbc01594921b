// libFuzzer target: the runtime's twin-protocol decoder (Sources/TwinProtocol), compiled together with it by
// Tools/fuzz/run. Input layout: byte 0 mod 4 = number k of frames after frame 0; then k little-endian u16 byte
// counts of those frames; the rest is frame 0. Both decoders a runtime uses are run: the general one and the
// allocation-free observation path (reusing one Observation, as the I/O thread does).

nonisolated(unsafe) private var reused = Observation()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTwinProtocol(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let k = Int(bytes[0] % 4)
    var at = 1
    var sizes: [Int] = []
    for _ in 0..<k {
        guard at + 2 <= size else { return 0 }
        sizes.append(Int(bytes[at]) | Int(bytes[at + 1]) << 8)
        at += 2
    }
    let frame0 = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[at...])
    do {
        _ = try TwinCodec.decode(frame0: frame0, extraFrameSizes: sizes)
    } catch {
        precondition(!error.message.isEmpty, "a refusal without a message")
    }
    if let header = try? TwinCodec.decodeHeader(frame0),
        header.type == .observation || header.type == .episode
    {
        _ = try? TwinCodec.decodeObservation(frame0: frame0, extraFrameSizes: sizes, into: &reused)
    }
    return 0
}
