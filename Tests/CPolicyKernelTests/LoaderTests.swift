import CPolicyKernel
import Foundation
import Testing

/// A safetensors file taken apart (header entries with their bytes), to build malformed variants of a valid one.
struct EditableSafetensors {
    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var bytes: [UInt8]
    }
    var metadata: [String: String]
    var entries: [Entry]

    init(path: String) throws {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var n = 0
        for i in (0..<8).reversed() { n = n << 8 | Int(data[i]) }
        let header = try #require(try JSONSerialization.jsonObject(with: Data(data[8..<(8 + n)])) as? [String: Any])
        metadata = header["__metadata__"] as? [String: String] ?? [:]
        let base = 8 + n
        entries = try header.keys.filter { $0 != "__metadata__" }.sorted().map { name in
            let e = try #require(header[name] as? [String: Any])
            let offsets = try #require(e["data_offsets"] as? [Int])
            return Entry(
                name: name,
                dtype: try #require(e["dtype"] as? String),
                shape: try #require(e["shape"] as? [Int]),
                bytes: Array(data[(base + offsets[0])..<(base + offsets[1])])
            )
        }
    }

    /// The header object (entries laid out back to back), before any edit of the offsets.
    func headerObject() -> [String: Any] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for e in entries {
            header[e.name] = ["dtype": e.dtype, "shape": e.shape, "data_offsets": [offset, offset + e.bytes.count]]
            offset += e.bytes.count
        }
        return header
    }

    var data: [UInt8] { entries.flatMap(\.bytes) }

    static func encode(header: [String: Any], data: [UInt8]) throws -> [UInt8] {
        let json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        return encode(headerText: json + [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8), data: data)
    }

    static func encode(headerText: [UInt8], data: [UInt8], declaredLength: Int? = nil) -> [UInt8] {
        var out = [UInt8]()
        let n = UInt64(declaredLength ?? headerText.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        return out + headerText + data
    }

    func encoded() throws -> [UInt8] { try Self.encode(header: headerObject(), data: data) }
}

/// A temporary directory removed at deinit.
final class TemporaryDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("pk-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    func write(_ bytes: [UInt8], _ name: String = UUID().uuidString) throws -> String {
        let path = url.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

@Suite struct LoaderTests {
    let config: pk_config
    let original: EditableSafetensors
    let bytes: [UInt8]
    let directory: TemporaryDirectory

    init() throws {
        config = try KernelFixtures.config("tiny")
        original = try EditableSafetensors(path: KernelFixtures.modelPath("tiny"))
        bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: KernelFixtures.modelPath("tiny"))))
        directory = try TemporaryDirectory()
    }

    /// Loads `file` and expects failure with `status` and a message holding `fragment`.
    func expectRefused(
        _ file: [UInt8],
        _ status: pk_status,
        _ fragment: String,
        config: pk_config? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let path = try directory.write(file)
        switch loadModel(path, config ?? self.config) {
        case .success(let model):
            pk_model_free(model)
            Issue.record("loaded a file that should fail with '\(fragment)'", sourceLocation: sourceLocation)
        case .failure(let failure):
            #expect(failure.status == status, "\(failure)", sourceLocation: sourceLocation)
            #expect(failure.message.contains(fragment), "message: \(failure.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func theValidFileLoadsAndRoundTrips() throws {
        let model = try loadModel(try directory.write(try original.encoded()), config).get()
        #expect(pk_model_parameter_count(model) > 0)
        #expect(pk_model_file_weight_bytes(model) == UInt64(original.data.count))
        pk_model_free(model)
    }

    @Test func truncated() throws {
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        try expectRefused([], PK_ERR_FORMAT, "file truncated: 0 bytes")
        try expectRefused(Array(bytes[0..<5]), PK_ERR_FORMAT, "file truncated: 5 bytes")
        for cut in [8, 9, 8 + headerLength / 2, 8 + headerLength - 1] {
            try expectRefused(
                Array(bytes[0..<cut]),
                PK_ERR_FORMAT,
                "file truncated: header says \(headerLength) bytes, file has \(cut - 8)"
            )
        }
        for cut in [8 + headerLength + 1, bytes.count / 2, bytes.count - 1] {
            try expectRefused(
                Array(bytes[0..<cut]),
                PK_ERR_FORMAT,
                "beyond the data section (\(cut - 8 - headerLength) bytes)"
            )
        }
        // Cut exactly after the header: every tensor lies past the (empty) data section.
        try expectRefused(Array(bytes[0..<(8 + headerLength)]), PK_ERR_FORMAT, "beyond the data section (0 bytes)")
    }

    @Test func badHeaderJSON() throws {
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        var text = Array(bytes[8..<(8 + headerLength)])
        let comma = try #require(text.firstIndex(of: UInt8(ascii: ",")))
        text[comma] = UInt8(ascii: ";")
        try expectRefused(
            EditableSafetensors.encode(headerText: text, data: original.data),
            PK_ERR_FORMAT,
            "header: JSON error at byte \(comma): expected ','"
        )
        let cases: [(String, String)] = [
            ("{\"a\":[1,2,]}", "JSON error at byte 10: expected a value"),
            ("{\"a\" [1]}", "JSON error at byte 5: expected ':'"),
            ("{\"a\":\"\\x\"}", "JSON error at byte 6: invalid escape"),
            ("{\"a\":01}", "JSON error at byte 5: leading zero"),
            ("{\"a\":1} x", "JSON error at byte 8: unexpected text"),
            ("{\"a\":\"\u{1}\"}", "control character"),
            ("[1,2]", "header: not a JSON object"),
            ("{", "unexpected end of header"),
            (String(repeating: "[", count: 100), "nesting deeper than 32"),
            ("{\"__metadata__\":{\"format\":1}}", "__metadata__ 'format' is not a string"),
            (
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                "duplicate tensor 'a'"
            ),
            ("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unknown dtype 'F33'"),
            (
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
                "shape holds something other than an integer"
            ),
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "end before they begin"),
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "hold 4 bytes, F32 [2] needs 8"),
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "missing 'data_offsets'"),
            ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", "unknown field 'x'"),
        ]
        for (header, fragment) in cases {
            try expectRefused(
                EditableSafetensors.encode(headerText: Array(header.utf8), data: [0, 0, 0, 0, 0, 0, 0, 0]),
                PK_ERR_FORMAT,
                fragment
            )
        }
    }

    @Test func headerLengthBeyondTheFile() throws {
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        let text = Array(bytes[8..<(8 + headerLength)])
        try expectRefused(
            EditableSafetensors.encode(headerText: text, data: original.data, declaredLength: bytes.count),
            PK_ERR_FORMAT,
            "file truncated: header says \(bytes.count) bytes, file has \(bytes.count - 8)"
        )
        try expectRefused(
            EditableSafetensors.encode(headerText: text, data: original.data, declaredLength: 200_000_000),
            PK_ERR_FORMAT,
            "header: length 200000000 exceeds the limit"
        )
    }

    @Test func offsetsOutOfBoundsOverlappingOrLeavingGaps() throws {
        let size = original.data.count
        var header = original.headerObject()
        var bias = try #require(header["head.bias"] as? [String: Any])
        bias["data_offsets"] = [size, size + 28]
        header["head.bias"] = bias
        try expectRefused(
            try EditableSafetensors.encode(header: header, data: original.data),
            PK_ERR_FORMAT,
            "tensor 'head.bias': data_offsets [\(size), \(size + 28)] beyond the data section (\(size) bytes)"
        )

        // Two tensors of the same size on the same bytes (and a gap where one of them was).
        header = original.headerObject()
        // (The weight moves onto the bias, which lies first, so the overlap comes before the gap it leaves.)
        var a = try #require(header["blocks.0.ln1.weight"] as? [String: Any])
        let b = try #require(header["blocks.0.ln1.bias"] as? [String: Any])
        a["data_offsets"] = b["data_offsets"]
        header["blocks.0.ln1.weight"] = a
        try expectRefused(
            try EditableSafetensors.encode(header: header, data: original.data),
            PK_ERR_FORMAT,
            "tensors 'blocks.0.ln1.bias' and 'blocks.0.ln1.weight' overlap"
        )

        // Bytes that belong to no tensor.
        try expectRefused(
            try EditableSafetensors.encode(header: original.headerObject(), data: original.data + [0, 0, 0, 0]),
            PK_ERR_FORMAT,
            "after the last tensor belong to no tensor"
        )
    }

    @Test func wrongDtypeShapeMissingOrExtraTensor() throws {
        var edited = original
        var i = try #require(edited.entries.firstIndex { $0.name == "query" })
        edited.entries[i].dtype = "I32"
        try expectRefused(try edited.encoded(), PK_ERR_TENSOR, "tensor 'query': dtype I32, expected F32")

        edited = original
        i = try #require(edited.entries.firstIndex { $0.name == "blocks.1.attn.qkv.weight" })
        edited.entries[i].shape = [32, 96]
        try expectRefused(
            try edited.encoded(),
            PK_ERR_TENSOR,
            "tensor 'blocks.1.attn.qkv.weight': shape [32, 96], expected [96, 32]"
        )

        edited = original
        edited.entries.removeAll { $0.name == "head.bias" }
        try expectRefused(try edited.encoded(), PK_ERR_TENSOR, "missing tensor 'head.bias'")

        edited = original
        edited.entries.append(
            .init(name: "blocks.2.ln1.weight", dtype: "F32", shape: [32], bytes: .init(repeating: 0, count: 128))
        )
        try expectRefused(try edited.encoded(), PK_ERR_TENSOR, "unexpected tensor 'blocks.2.ln1.weight'")

        edited = original
        i = try #require(edited.entries.firstIndex { $0.name == "text.pos" })
        edited.entries[i].bytes.replaceSubrange(0..<4, with: [0, 0, 0xC0, 0x7F])  // NaN
        try expectRefused(try edited.encoded(), PK_ERR_TENSOR, "tensor 'text.pos': element 0 is not finite")
    }

    @Test func metadata() throws {
        var edited = original
        edited.metadata["format"] = "other"
        try expectRefused(try edited.encoded(), PK_ERR_FORMAT, "metadata: format 'other', expected 'edgecell-vla'")
        edited = original
        edited.metadata["format"] = nil
        try expectRefused(try edited.encoded(), PK_ERR_FORMAT, "metadata: format missing")
        edited = original
        edited.metadata["format_version"] = "2"
        try expectRefused(try edited.encoded(), PK_ERR_FORMAT, "metadata: format_version '2', expected '1'")
        edited = original
        edited.metadata["variant"] = "int4"
        try expectRefused(try edited.encoded(), PK_ERR_FORMAT, "metadata: variant 'int4', expected fp32, bf16 or int8")
        edited = original
        edited.metadata["variant"] = "bf16"
        try expectRefused(
            try edited.encoded(),
            PK_ERR_TENSOR,
            "tensor 'patch.weight': dtype F32, expected BF16 (variant 'bf16')"
        )
        // An int8 file that says fp32.
        var int8 = try EditableSafetensors(
            path: KernelFixtures.folder("tiny").appendingPathComponent("model-int8.safetensors").path
        )
        int8.metadata["variant"] = "fp32"
        try expectRefused(
            try int8.encoded(),
            PK_ERR_TENSOR,
            "tensor 'patch.weight': dtype I8, expected F32 (variant 'fp32')"
        )
    }

    @Test func anotherArchitecture() throws {
        // tiny's weights with tiny2cam's configuration: the first tensor of the table that disagrees is named.
        let other = try KernelFixtures.config("tiny2cam")
        try expectRefused(
            bytes,
            PK_ERR_TENSOR,
            "tensor 'patch.weight': shape [32, 768], expected [48, 768]",
            config: other
        )
        // Deeper configuration: the first block the file lacks.
        var deeper = config
        deeper.depth = 3
        try expectRefused(bytes, PK_ERR_TENSOR, "missing tensor 'blocks.2.ln1.weight'", config: deeper)
        var fewerCameras = try KernelFixtures.config("tiny2cam")
        fewerCameras.cameras = 1
        let tiny2cam = [UInt8](try Data(contentsOf: URL(fileURLWithPath: KernelFixtures.modelPath("tiny2cam"))))
        try expectRefused(
            tiny2cam,
            PK_ERR_TENSOR,
            "tensor 'camera.pos': shape [2, 6, 48], expected [1, 6, 48]",
            config: fewerCameras
        )
    }

    @Test func keypointStemMustMatchTheConfiguration() throws {
        let tinykp = [UInt8](try Data(contentsOf: URL(fileURLWithPath: KernelFixtures.modelPath("tinykp"))))
        var withoutStem = try KernelFixtures.config("tinykp")
        withoutStem.keypoints = 0
        try expectRefused(
            tinykp,
            PK_ERR_TENSOR,
            "unexpected tensor 'keypoint.conv.weight' (not part of a model with this configuration and variant)",
            config: withoutStem
        )
        var moreKeypoints = try KernelFixtures.config("tinykp")
        moreKeypoints.keypoints = 4
        try expectRefused(
            tinykp,
            PK_ERR_TENSOR,
            "tensor 'keypoint.conv.weight': shape [3, 27], expected [4, 27]",
            config: moreKeypoints
        )
        // tiny's weights (no stem) under a configuration that has one: the stem's first tensor is missing.
        var stem = config
        stem.keypoints = 2
        try expectRefused(bytes, PK_ERR_TENSOR, "missing tensor 'keypoint.conv.weight'", config: stem)
        stem.keypoints = 65
        if case .failure(let f) = loadModel(KernelFixtures.modelPath("tiny"), stem) {
            #expect(f.status == PK_ERR_CONFIG)
            #expect(f.message.contains("keypoints = 65, expected 0…64"))
        } else {
            Issue.record("65 keypoints were accepted")
        }
    }

    @Test func badArgumentsAndConfigurations() throws {
        let path = KernelFixtures.modelPath("tiny")
        var c = config
        c.heads = 5
        #expect(throws: KernelFailure.self) { try loadModel(path, c).get() }
        if case .failure(let f) = loadModel(path, c) {
            #expect(f.status == PK_ERR_CONFIG)
            #expect(f.message.contains("width 32 is not divisible by heads 5"))
        }
        c = config
        c.image_width = 33
        if case .failure(let f) = loadModel(path, c) { #expect(f.message.contains("not a multiple of patch_size")) }
        c = config
        c.cameras = 5
        if case .failure(let f) = loadModel(path, c) { #expect(f.message.contains("cameras = 5")) }
        if case .failure(let f) = loadModel(path, config, threads: 3) {
            #expect(f.status == PK_ERR_ARGUMENT)
            #expect(f.message.contains("threads = 3"))
        }
        if case .failure(let f) = loadModel("/nonexistent/model.safetensors", config) {
            #expect(f.status == PK_ERR_IO)
            #expect(f.message.contains("/nonexistent/model.safetensors"))
        }
        for isa in [PK_ISA_AVX2, PK_ISA_AVX512] where pk_isa_supported(isa) == 0 {
            if case .failure(let f) = loadModel(path, config, isa: isa) { #expect(f.status == PK_ERR_UNSUPPORTED) }
        }
        let message = MessageBuffer()
        var model: OpaquePointer? = nil
        var cfg = config
        #expect(pk_model_load(nil, &cfg, nil, &model, message.pointer, message.count) == PK_ERR_ARGUMENT)
        #expect(pk_model_load(path, nil, nil, &model, message.pointer, message.count) == PK_ERR_ARGUMENT)
        #expect(pk_model_load(path, &cfg, nil, nil, message.pointer, message.count) == PK_ERR_ARGUMENT)
        // A null options pointer means the defaults; a null message buffer is allowed.
        #expect(pk_model_load(path, &cfg, nil, &model, nil, 0) == PK_OK)
        pk_model_free(model)
    }
}
