import Foundation

/// A minimal safetensors reader for the tests (golden vectors): header JSON + raw little-endian data.
struct SafetensorsFile {
    struct Tensor {
        let dtype: String
        let shape: [Int]
        let bytes: Data
    }

    let tensors: [String: Tensor]
    let metadata: [String: String]

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = data.prefix(8).withUnsafeBytes {
            Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)))
        }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            let entry = value as! [String: Any]
            if name == "__metadata__" {
                metadata = entry.compactMapValues { $0 as? String }
                continue
            }
            let offsets = entry["data_offsets"] as! [Int]
            let start = 8 + headerLength + offsets[0]
            tensors[name] = Tensor(
                dtype: entry["dtype"] as! String,
                shape: entry["shape"] as! [Int],
                bytes: data.subdata(in: start..<(8 + headerLength + offsets[1]))
            )
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    func floats(_ name: String) -> [Float] {
        let tensor = self.tensors[name]!
        return tensor.bytes.withUnsafeBytes { raw in
            (0..<(tensor.bytes.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        }
    }

    func ints(_ name: String) -> [Int32] {
        let tensor = self.tensors[name]!
        return tensor.bytes.withUnsafeBytes { raw in
            (0..<(tensor.bytes.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self) }
        }
    }

    func bytes(_ name: String) -> [UInt8] { [UInt8](self.tensors[name]!.bytes) }
}

/// The committed test models (`Tools/make-fixtures`).
func fixtureDirectory(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/\(name)").path
}
