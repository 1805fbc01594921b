import CPolicyKernel
import Foundation
import Testing

/// SplitMix64: a seeded generator, so a failing fuzz case can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct FuzzTests {
    /// Every outcome must be a status with a message or a model; the process must survive.
    func attempt(_ bytes: [UInt8], _ directory: TemporaryDirectory, _ config: pk_config) throws {
        let path = try directory.write(bytes, "fuzz.safetensors")
        switch loadModel(path, config) {
        case .success(let model): pk_model_free(model)
        case .failure(let failure): #expect(!failure.message.isEmpty, "status \(failure.status) without a message")
        }
    }

    @Test func truncationAtEveryByteOfTheHeaderAndAcrossTheData() throws {
        let directory = try TemporaryDirectory()
        let config = try KernelFixtures.config("tiny")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: KernelFixtures.modelPath("tiny"))))
        let headerEnd = 8 + (Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16)
        for cut in 0..<headerEnd { try attempt(Array(bytes[0..<cut]), directory, config) }
        for cut in stride(from: headerEnd, to: bytes.count, by: 997) {
            try attempt(Array(bytes[0..<cut]), directory, config)
        }
    }

    @Test func truncationAtEveryByteOfASmallTensorFile() throws {
        let directory = try TemporaryDirectory()
        let header: [String: Any] = [
            "__metadata__": ["k": "v"],
            "a": ["dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]],
            "b": ["dtype": "I8", "shape": [3], "data_offsets": [16, 19]],
        ]
        let bytes = try EditableSafetensors.encode(header: header, data: (0..<19).map { UInt8($0) })
        let whole = try directory.write(bytes)
        var file: OpaquePointer? = nil
        let message = MessageBuffer()
        #expect(pk_tensor_file_open(whole, &file, message.pointer, message.count) == PK_OK, "\(message.text)")
        #expect(pk_tensor_file_count(file) == 2)
        #expect(String(cString: try #require(pk_tensor_file_metadata(file, "k"))) == "v")
        var info = pk_tensor_info()
        #expect(pk_tensor_file_find(file, "b", &info) == PK_OK)
        #expect(info.dtype == PK_DTYPE_I8 && info.rank == 1 && info.shape.0 == 3 && info.bytes == 3)
        #expect(pk_tensor_file_find(file, "c", &info) == PK_ERR_TENSOR)
        pk_tensor_file_close(file)
        for cut in 0..<bytes.count {
            let path = try directory.write(Array(bytes[0..<cut]), "cut")
            #expect(pk_tensor_file_open(path, &file, message.pointer, message.count) != PK_OK, "cut at \(cut)")
            #expect(file == nil)
            #expect(!message.text.isEmpty)
        }
    }

    @Test func randomBitFlips() throws {
        let directory = try TemporaryDirectory()
        let config = try KernelFixtures.config("tiny")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: KernelFixtures.modelPath("tiny"))))
        let headerEnd = 8 + (Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16)
        var random = SplitMix64(state: 1)
        for round in 0..<1500 {
            var flipped = bytes
            // Mostly the header (where parsing happens), sometimes the length field or the data.
            let flips = 1 + Int(random.next() % 3)
            for _ in 0..<flips {
                let region = random.next() % 10
                let at =
                    region == 0
                    ? Int(random.next() % 8)
                    : region == 1
                        ? headerEnd + Int(random.next() % UInt64(bytes.count - headerEnd))
                        : 8 + Int(random.next() % UInt64(headerEnd - 8))
                flipped[at] ^= UInt8(1) << (random.next() % 8)
            }
            _ = round
            try attempt(flipped, directory, config)
        }
    }

    @Test func randomHeaderText() throws {
        let directory = try TemporaryDirectory()
        let config = try KernelFixtures.config("tiny")
        let alphabet = Array(
            "{}[]:,\"\\ 0123456789-+.eEtruefalsn_dtypeshapedata_offsetsF32BF16I8__metadata__\u{7F}\u{0}\n\u{E9}".utf8
        )
        var random = SplitMix64(state: 2)
        for _ in 0..<3000 {
            let length = Int(random.next() % 200)
            let text = (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            try attempt(
                EditableSafetensors.encode(
                    headerText: text,
                    data: [UInt8](repeating: 0, count: Int(random.next() % 64))
                ),
                directory,
                config
            )
        }
        // Structured but wrong: valid JSON objects of random entries.
        for _ in 0..<500 {
            var header: [String: Any] = [:]
            for i in 0..<Int(random.next() % 5) {
                let dtypes = ["F32", "BF16", "I8", "U8", "F64", "Q4"]
                let shape = (0..<Int(random.next() % 4)).map { _ in Int(random.next() % 5) }
                let begin = Int(random.next() % 40)
                header["t\(i)"] = [
                    "dtype": dtypes[Int(random.next() % 6)], "shape": shape,
                    "data_offsets": [begin, begin + Int(random.next() % 40)],
                ]
            }
            try attempt(
                try EditableSafetensors.encode(
                    header: header,
                    data: [UInt8](repeating: 0, count: Int(random.next() % 64))
                ),
                directory,
                config
            )
        }
    }
}

@Suite struct AccountingTests {
    /// Models/README.md §3: FLOPs = 2·(C·Np·3P²·d + S·d + depth·(4·T·d² + 2·T²·d + 2·T·d·m) + H·d·A + stem).
    @Test("pk_model_flops is the README's count, by hand for tiny", arguments: KernelFixtures.names)
    func flops(name: String) throws {
        let c = try KernelFixtures.config(name)
        for isa in KernelFixtures.isas {
            let model = try loadModel(KernelFixtures.modelPath(name), c, isa: isa).get()
            defer { pk_model_free(model) }
            let (C, d, m, S, A, H) = (
                UInt64(c.cameras), UInt64(c.width), UInt64(c.mlp_width), UInt64(c.state_dim), UInt64(c.action_dim),
                UInt64(c.horizon)
            )
            let P = UInt64(c.patch_size)
            let Np = UInt64(c.image_width / c.patch_size) * UInt64(c.image_height / c.patch_size)
            let T = C * Np + UInt64(c.max_text_tokens) + 1 + H
            // The keypoint stem: a 3×3 convolution over every pixel (27 taps per keypoint) and the projection of
            // the C·K·2 coordinates into the state token.
            let K = UInt64(c.keypoints)
            let stem = C * UInt64(c.image_width) * UInt64(c.image_height) * 27 * K + C * K * 2 * d
            let formula =
                2
                * (C * Np * 3 * P * P * d + S * d + UInt64(c.depth) * (4 * T * d * d + 2 * T * T * d + 2 * T * d * m)
                    + H * d * A + stem)
            #expect(pk_model_flops(model) == formula)
            if name == "tiny" {
                // 1 camera 32×32, patch 16: Np = 4, T = 4 + 6 + 1 + 4 = 15; d = 32, m = 64, depth 2, S = A = 7, H = 4.
                // patch 4·768·32 = 98 304; state 7·32 = 224; per block 4·15·32² + 2·15²·32 + 2·15·32·64
                // = 61 440 + 14 400 + 61 440 = 137 280 (× 2 blocks = 274 560); head 4·32·7 = 896.
                #expect(pk_model_flops(model) == 2 * (98_304 + 224 + 274_560 + 896))
                #expect(pk_model_flops(model) == 747_968)
            }
            var stats = pk_op_stats()
            #expect(pk_model_op_stats(model, &stats) == PK_OK)
            let executed = stats.flops
            // Executed matrix products: the last block runs its MLP and output projection on the H query rows only.
            #expect(executed.0 > 0 && executed.1 > 0 && executed.2 > 0 && executed.3 > 0)
            #expect(executed.0 < pk_model_flops(model))
            #expect(stats.bytes.0 > 0 && stats.operations > 0)
            // The executed work does not depend on the path.
            if isa != PK_ISA_SCALAR {
                let scalar = try loadModel(KernelFixtures.modelPath(name), c, isa: PK_ISA_SCALAR).get()
                var s2 = pk_op_stats()
                _ = pk_model_op_stats(scalar, &s2)
                pk_model_free(scalar)
                #expect(
                    s2.flops.0 == executed.0 && s2.flops.1 == executed.1 && s2.flops.2 == executed.2
                        && s2.flops.3 == executed.3
                )
            }
        }
    }

    @Test func executedWorkByHandForTiny() throws {
        let c = try KernelFixtures.config("tiny")
        let model = try loadModel(KernelFixtures.modelPath("tiny"), c, isa: PK_ISA_SCALAR).get()
        defer { pk_model_free(model) }
        var stats = pk_op_stats()
        _ = pk_model_op_stats(model, &stats)
        // T = 15, d = 32, m = 64, H = 4 (query rows 11…14), dh = 16, 2 heads, depth 2.
        let T: UInt64 = 15
        let d: UInt64 = 32
        let m: UInt64 = 64
        let H: UInt64 = 4
        let dh: UInt64 = 16
        let fullBlock = 2 * T * 3 * d * d + 2 * T * d * d + 2 * T * d * m * 2
        let lastBlock = 2 * T * 2 * d * d + 2 * H * d * d + 2 * H * d * d + 2 * H * d * m * 2
        let matmul = 2 * 4 * 768 * d + 2 * 7 * d + fullBlock + lastBlock + 2 * H * d * 7
        #expect(stats.flops.0 == matmul)
        let attention = { (tq: UInt64) in 2 * (2 * tq * T * dh + 5 * tq * T + tq + 2 * tq * T * dh + tq * dh) }
        #expect(stats.flops.1 == attention(T) + attention(H))
        let norm = { (rows: UInt64) in 8 * rows * d + 3 * rows }
        #expect(stats.flops.2 == norm(T) + norm(T) + norm(T) + norm(H) + norm(H))
        // pixels 2·3072; patch epilogue 2 per output; text 6·32; state bias; qkv bias; out bias+residual;
        // fc1 bias + GELU (9 per output); fc2 bias+residual; head bias.
        let rowsBlock = { (kvRows: UInt64, rows: UInt64) in
            kvRows * 2 * d + rows * d + 2 * rows * d + 9 * rows * m + 2 * rows * d
        }
        let elementwise = 2 * 3072 + 2 * 4 * d + 6 * d + d + rowsBlock(T, T) + rowsBlock(T, H) + H * 7
        #expect(stats.flops.3 == elementwise)
    }

    @Test func introspectionAndNames() throws {
        let c = try KernelFixtures.config("tiny")
        let model = try loadModel(KernelFixtures.modelPath("tiny"), c).get()
        defer { pk_model_free(model) }
        let loaded = try #require(pk_model_config(model)).pointee
        #expect(loaded.width == c.width && loaded.depth == c.depth && loaded.vocab_size == c.vocab_size)
        #expect(pk_model_isa(model) == pk_best_isa())
        #expect(pk_model_threads(model) == 1)
        // tiny: patch 768·32+32, camera.pos 4·32, embed 12·32, text.pos 6·32, state 7·32+32, query 4·32,
        // per block 4·32 (norms) + 96·32+96 + 32·32+32 + 64·32+64 + 32·64+32, final 64, head 7·32+7.
        let block = 4 * 32 + 96 * 32 + 96 + 32 * 32 + 32 + 64 * 32 + 64 + 32 * 64 + 32
        let parameters = 768 * 32 + 32 + 4 * 32 + 12 * 32 + 6 * 32 + 7 * 32 + 32 + 4 * 32 + 2 * block + 64 + 7 * 32 + 7
        #expect(pk_model_parameter_count(model) == UInt64(parameters))
        #expect(pk_model_file_weight_bytes(model) == UInt64(parameters * 4))
        #expect(pk_model_packed_bytes(model) >= UInt64(parameters * 4))
        #expect(String(cString: pk_isa_name(PK_ISA_SCALAR)) == "scalar")
        #expect(String(cString: pk_isa_name(PK_ISA_AVX2)) == "avx2")
        #expect(String(cString: pk_isa_name(PK_ISA_AVX512)) == "avx512")
        #expect(String(cString: pk_weights_name(PK_WEIGHTS_BF16)) == "bf16")
        #expect(String(cString: pk_status_string(PK_ERR_TENSOR)).contains("tensor"))
        #expect(pk_isa_supported(PK_ISA_SCALAR) != 0)
        #expect(pk_isa_supported(pk_best_isa()) != 0)
        #expect(pk_default_options().threads == 1 && pk_default_options().isa == Int32(PK_ISA_AUTO.rawValue))
        for isa in KernelFixtures.isas { #expect(pk_measure_fma_peak(isa, 0.01) > 0) }
        for isa in [PK_ISA_AVX2, PK_ISA_AVX512] where pk_isa_supported(isa) == 0 {
            #expect(pk_measure_fma_peak(isa, 0.01) == 0)
        }
    }
}
