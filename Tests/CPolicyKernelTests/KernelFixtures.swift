import CPolicyKernel
import Foundation
import Testing

/// The committed model fixtures (Tests/Fixtures/models, made by Tools/make-fixtures) and small helpers to drive
/// the C kernel from Swift.
enum KernelFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")
    static let names = ["tiny", "tiny2cam", "small", "tinykp"]

    /// Every SIMD path this CPU runs (scalar always).
    static let isas: [pk_isa] = [PK_ISA_SCALAR, PK_ISA_AVX2, PK_ISA_AVX512].filter { pk_isa_supported($0) != 0 }

    /// Stated bounds of a variant against the fp32 golden output (Tools/edgecell_policy/README.md).
    static let variantBounds: [String: Float] = ["fp32": 0, "bf16": 0.03, "int8": 0.08]

    static func folder(_ name: String) -> URL { root.appendingPathComponent(name) }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: folder(name).appendingPathComponent("config.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// `pk_config` from config.json's architecture and vocabulary.
    static func config(_ name: String) throws -> pk_config {
        let root = try json(name)
        let a = try #require(root["architecture"] as? [String: Any])
        let vocabulary = try #require(root["vocabulary"] as? [String])
        func int(_ key: String) throws -> Int32 { Int32(try #require(a[key] as? Int)) }
        var c = pk_config()
        c.cameras = Int32(try #require(a["cameras"] as? [String]).count)
        c.image_width = try int("image_width")
        c.image_height = try int("image_height")
        c.patch_size = try int("patch_size")
        c.vocab_size = Int32(vocabulary.count)
        c.max_text_tokens = try int("max_text_tokens")
        c.state_dim = try int("state_dim")
        c.action_dim = try int("action_dim")
        c.horizon = try int("horizon")
        c.width = try int("width")
        c.depth = try int("depth")
        c.heads = try int("heads")
        c.mlp_width = try int("mlp_width")
        c.layer_norm_epsilon = Float(try #require(a["layer_norm_epsilon"] as? Double))
        c.keypoints = Int32(a["keypoints"] as? Int ?? 0)
        return c
    }

    /// (variant, file path) of every weight file config.json lists.
    static func variants(_ name: String) throws -> [(variant: String, path: String)] {
        let weights = try #require(try json(name)["weights"] as? [String: Any])
        return try ["fp32", "bf16", "int8"].compactMap { variant in
            guard let entry = weights[variant] as? [String: Any] else { return nil }
            let file = try #require(entry["file"] as? String)
            return (variant, folder(name).appendingPathComponent(file).path)
        }
    }

    static func modelPath(_ name: String) -> String { folder(name).appendingPathComponent("model.safetensors").path }
}

/// A kernel failure: the status and the kernel's message.
struct KernelFailure: Error, CustomStringConvertible {
    let status: pk_status
    let message: String
    var description: String { "\(String(cString: pk_status_string(status))): \(message)" }
}

/// A C message buffer.
final class MessageBuffer {
    let count = 512
    let pointer: UnsafeMutablePointer<CChar>
    init() {
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: 0, count: count)
    }
    deinit { pointer.deallocate() }
    var text: String { String(cString: pointer) }
}

/// Loads a model file; returns the failure instead of throwing, for the loader tests.
func loadModel(
    _ path: String,
    _ config: pk_config,
    isa: pk_isa = PK_ISA_AUTO,
    threads: Int32 = 1
)
    -> Result<OpaquePointer, KernelFailure>
{
    var config = config
    var options = pk_options(isa: Int32(isa.rawValue), threads: threads)
    var model: OpaquePointer? = nil
    let message = MessageBuffer()
    let status = pk_model_load(path, &config, &options, &model, message.pointer, message.count)
    if status != PK_OK { return .failure(KernelFailure(status: status, message: message.text)) }
    return .success(model!)
}

/// One golden case, with its inputs in stable memory so pk_forward can be called without Swift allocating.
final class GoldenCase {
    let index: Int
    let cameras: Int
    let imageBytes: UnsafeMutableBufferPointer<UInt8>
    let imagePointers: UnsafeMutablePointer<UnsafePointer<UInt8>?>
    let tokens: UnsafeMutableBufferPointer<Int32>
    let state: UnsafeMutableBufferPointer<Float>
    var tokenCount: Int32
    /// actions_normalized (key "fp32") and its variant versions ("bf16", "int8") where present.
    var expected: [String: [Float]] = [:]

    init(index: Int, images: [UInt8], cameras: Int, tokens: [Int32], tokenCount: Int32, state: [Float]) {
        self.index = index
        self.cameras = cameras
        imageBytes = .allocate(capacity: max(images.count, 1))
        _ = imageBytes.initialize(from: images)
        imagePointers = .allocate(capacity: max(cameras, 1))
        let per = images.count / max(cameras, 1)
        for c in 0..<cameras { imagePointers[c] = UnsafePointer(imageBytes.baseAddress! + c * per) }
        self.tokens = .allocate(capacity: max(tokens.count, 1))
        _ = self.tokens.initialize(from: tokens)
        self.state = .allocate(capacity: max(state.count, 1))
        _ = self.state.initialize(from: state)
        self.tokenCount = tokenCount
    }

    deinit {
        imageBytes.deallocate()
        imagePointers.deallocate()
        tokens.deallocate()
        state.deallocate()
    }

    var input: pk_input {
        pk_input(
            images: UnsafePointer(imagePointers),
            tokens: UnsafePointer(tokens.baseAddress),
            token_count: tokenCount,
            state: UnsafePointer(state.baseAddress)
        )
    }
}

/// Reads a tensor of a safetensors file through the kernel's own reader.
func tensor<T>(_ file: OpaquePointer, _ name: String, as: T.Type) throws -> [T] {
    var info = pk_tensor_info()
    let status = pk_tensor_file_find(file, name, &info)
    guard status == PK_OK else { throw KernelFailure(status: status, message: "golden: no tensor '\(name)'") }
    let count = Int(info.bytes) / MemoryLayout<T>.stride
    var out = [T]()
    out.reserveCapacity(count)
    let raw = UnsafeRawPointer(info.data!)
    for i in 0..<count { out.append(raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.stride, as: T.self)) }
    return out
}

/// The golden cases of a fixture (Models/README.md §5).
func goldenCases(_ name: String) throws -> [GoldenCase] {
    let path = KernelFixtures.folder(name).appendingPathComponent("golden.safetensors").path
    var file: OpaquePointer? = nil
    let message = MessageBuffer()
    let status = pk_tensor_file_open(path, &file, message.pointer, message.count)
    guard status == PK_OK, let file else { throw KernelFailure(status: status, message: message.text) }
    defer { pk_tensor_file_close(file) }
    let count = Int(String(cString: try #require(pk_tensor_file_metadata(file, "cases")))) ?? 0
    #expect(count > 0)
    let config = try KernelFixtures.config(name)
    return try (0..<count).map { k in
        let c = GoldenCase(
            index: k,
            images: try tensor(file, "case.\(k).images", as: UInt8.self),
            cameras: Int(config.cameras),
            tokens: try tensor(file, "case.\(k).tokens", as: Int32.self),
            tokenCount: try tensor(file, "case.\(k).token_count", as: Int32.self)[0],
            state: try tensor(file, "case.\(k).state_normalized", as: Float.self)
        )
        c.expected["fp32"] = try tensor(file, "case.\(k).actions_normalized", as: Float.self)
        for variant in ["bf16", "int8"] {
            var info = pk_tensor_info()
            if pk_tensor_file_find(file, "case.\(k).actions_normalized.\(variant)", &info) == PK_OK {
                c.expected[variant] = try tensor(file, "case.\(k).actions_normalized.\(variant)", as: Float.self)
            }
        }
        return c
    }
}

/// A loaded model with one state in a Swift-owned arena.
final class KernelSession {
    let model: OpaquePointer
    let state: OpaquePointer
    let arena: UnsafeMutableRawPointer
    let config: pk_config
    let actions: UnsafeMutablePointer<Float>
    let message = MessageBuffer()

    init(path: String, config: pk_config, isa: pk_isa = PK_ISA_AUTO, threads: Int32 = 1) throws {
        model = try loadModel(path, config, isa: isa, threads: threads).get()
        self.config = config
        let size = pk_state_arena_size(model)
        arena = .allocate(byteCount: size, alignment: 1)
        var state: OpaquePointer? = nil
        let status = pk_state_init(model, arena, size, &state, message.pointer, message.count)
        guard status == PK_OK, let state else {
            arena.deallocate()
            pk_model_free(model)
            throw KernelFailure(status: status, message: message.text)
        }
        self.state = state
        actions = .allocate(capacity: Int(config.horizon * config.action_dim))
        actions.initialize(repeating: 0, count: Int(config.horizon * config.action_dim))
    }

    deinit {
        pk_state_release(state)
        arena.deallocate()
        pk_model_free(model)
        actions.deallocate()
    }

    /// Runs one input; the status and, on success, the actions.
    func run(_ input: pk_input) -> (pk_status, [Float]) {
        var input = input
        let status = pk_forward(model, state, &input, actions, message.pointer, message.count)
        return (status, Array(UnsafeBufferPointer(start: actions, count: Int(config.horizon * config.action_dim))))
    }

    func forward(_ c: GoldenCase) throws -> [Float] {
        let (status, out) = run(c.input)
        guard status == PK_OK else { throw KernelFailure(status: status, message: message.text) }
        return out
    }
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var worst: Float = 0
    for i in a.indices { worst = max(worst, abs(a[i] - b[i])) }
    return worst
}

func bitPatterns(_ a: [Float]) -> [UInt32] { a.map(\.bitPattern) }
