// libFuzzer target for the runtime's dataset reader (Sources/Teach: `Dataset`, the reader behind `edgecell teach
// info`, `teach export` and resumed recordings), built with -sanitize=fuzzer,address by Tools/fuzz/run.
//
// The input format is the Python target's (Tools/fuzz/dataset_fuzz.py), so both read the same seeds: four
// little-endian uint32 lengths, then dataset.json, episode.json, steps.bin and frames.bin back to back (a length
// past the end takes what is left). The harness writes the four files into a scratch folder and, when
// episode.json is an object with a `files` table, rewrites the recorded sizes and SHA-256 of steps.bin and
// frames.bin to the actual ones (a checksum fix-up, so mutations reach the parsers behind the hash check). Then
// it opens the dataset with full verification and reads episode 0's steps and frames. The reader's errors are
// typed (`throws(TeachError)`), so a finding is a crash: a trap (index out of range, overflow, a forced unwrap),
// an ASan report, a hang or running out of memory.

import Crypto
import Foundation

/// The scratch folder: in /dev/shm when there is one (the reader hashes and parses files; a RAM file system keeps
/// each execution off the disk), else the temporary directory.
private let scratchRoot = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
private let scratch: String = {
    let path = scratchRoot + "edgecell-dataset-fuzz-\(getpid())"
    try? FileManager.default.removeItem(atPath: path)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: scratchRoot + "edgecell-dataset-fuzz-\(getpid())") }
    return path
}()

/// EDGECELL_FUZZ_VERBOSE=1 prints each input's outcome (to check that the seeds are accepted).
private let verbose = ProcessInfo.processInfo.environment["EDGECELL_FUZZ_VERBOSE"] == "1"

private func unpack(_ data: Data) -> [Data] {
    guard data.count >= 16 else { return [data, Data(), Data(), Data()] }
    var parts: [Data] = []
    var at = data.startIndex + 16
    for i in 0..<4 {
        let offset = data.startIndex + 4 * i
        let n = Int(UInt32(data[offset]) | UInt32(data[offset + 1]) << 8 | UInt32(data[offset + 2]) << 16
            | UInt32(data[offset + 3]) << 24)
        let end = at + min(n, data.endIndex - at)
        parts.append(Data(data[at..<end]))
        at = end
    }
    return parts
}

private func hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

private func fixUp(_ episode: Data, steps: Data, frames: Data) -> Data {
    guard var meta = (try? JSONSerialization.jsonObject(with: episode)) as? [String: Any],
        var files = meta["files"] as? [String: Any]
    else { return episode }
    for (name, content) in [("steps.bin", steps), ("frames.bin", frames)] {
        if var entry = files[name] as? [String: Any] {
            entry["bytes"] = content.count
            entry["sha256"] = hex(content)
            files[name] = entry
        }
    }
    meta["files"] = files
    return (try? JSONSerialization.data(withJSONObject: meta)) ?? episode
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let parts = unpack(Data(bytes: bytes, count: count))
    let episode = fixUp(parts[1], steps: parts[2], frames: parts[3])
    let folder = scratch + "/episodes/000000"
    try? FileManager.default.removeItem(atPath: scratch + "/episodes")
    try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for (name, content) in [
        ("dataset.json", parts[0]), ("episodes/000000/episode.json", episode),
        ("episodes/000000/steps.bin", parts[2]), ("episodes/000000/frames.bin", parts[3]),
    ] {
        try! content.write(to: URL(fileURLWithPath: scratch + "/" + name))
    }
    do {
        let dataset = try Dataset(directory: scratch, verifyFiles: true)
        if !dataset.episodes.isEmpty {
            _ = try dataset.steps(of: 0)
            _ = try dataset.frames(of: 0)
        }
        if verbose { print("accepted: \(dataset.episodes.count) episode(s)") }
    } catch {
        // A TeachError naming the problem: the expected outcome for malformed data.
        if verbose { print("refused: \(error)") }
    }
    return 0
}
