import CPolicyKernel
import Crypto
import Foundation

/// Weight storage of a model variant (`Models/README.md` §4).
public enum WeightVariant: String, CaseIterable, Sendable {
    case fp32, bf16, int8
}

/// The kernel's SIMD path.
public enum KernelPath: String, CaseIterable, Sendable {
    case auto, scalar, avx2, avx512

    var isa: pk_isa {
        switch self {
        case .auto: PK_ISA_AUTO
        case .scalar: PK_ISA_SCALAR
        case .avx2: PK_ISA_AVX2
        case .avx512: PK_ISA_AVX512
        }
    }

    /// Whether this CPU can run the path.
    public var isSupported: Bool { self == .auto || pk_isa_supported(self.isa) != 0 }

    /// The best path of this CPU.
    public static var best: KernelPath {
        KernelPath(rawValue: String(cString: pk_isa_name(pk_best_isa()))) ?? .scalar
    }
}

/// A loaded policy: the model folder's configuration and tokeniser, the C kernel's model and state, and every
/// buffer an inference needs, allocated once here.
///
/// Use: `setInstruction` once per episode, `setImage` for each camera and `infer(state:)` per chunk; read the
/// de-normalised chunk from `actions`. `setImage` and `infer` allocate nothing. One thread at a time.
public final class Policy: @unchecked Sendable {
    /// The model folder.
    public let directory: String
    /// Its `config.json`.
    public let config: PolicyConfig
    /// The weights loaded.
    public let variant: WeightVariant
    /// The instruction tokeniser.
    public let tokenizer: Tokenizer

    private let model: OpaquePointer
    private let state: OpaquePointer
    private let arena: UnsafeMutableRawPointer
    /// Bytes of the activation arena.
    public let arenaBytes: Int
    private let imageBuffers: [UnsafeMutablePointer<UInt8>]
    private let imagePointers: UnsafeMutablePointer<UnsafePointer<UInt8>?>
    private let tokenBuffer: UnsafeMutablePointer<Int32>
    private var tokenCount: Int32 = 0
    private let stateBuffer: UnsafeMutablePointer<Float>
    private let outputBuffer: UnsafeMutablePointer<Float>
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let stateMean: [Double]
    private let stateScale: [Double]
    private let actionMean: [Double]
    private let actionStd: [Double]
    /// The last chunk: `horizon` × `actionDim` de-normalised actions, row-major.
    public let actions: UnsafeMutableBufferPointer<Double>

    /// Loads a model folder.
    /// - Parameters:
    ///   - directory: the folder holding `config.json` and the weights.
    ///   - variant: which weights to load.
    ///   - path: the SIMD path (`auto` = the best this CPU has).
    ///   - threads: 1, or 2 to share each matrix product with a helper thread.
    ///   - verifyChecksum: check the weight file's SHA-256 against `config.json`.
    public init(
        directory: String,
        variant: WeightVariant = .fp32,
        path: KernelPath = .auto,
        threads: Int = 1,
        verifyChecksum: Bool = true
    ) throws(PolicyError) {
        let config = try PolicyConfig.load(directory: directory)
        guard let file = config.weights[variant.rawValue] else {
            throw PolicyError(
                .argument,
                "\(directory) has no \(variant.rawValue) weights (it has: "
                    + config.weights.keys.sorted().joined(separator: ", ") + ")"
            )
        }
        guard path.isSupported else {
            throw PolicyError(
                .argument,
                "this CPU cannot run the \(path.rawValue) path (best: \(KernelPath.best.rawValue))"
            )
        }
        guard threads == 1 || threads == 2 else {
            throw PolicyError(.argument, "threads must be 1 or 2, not \(threads)")
        }
        let weightsPath = (directory as NSString).appendingPathComponent(file.file)
        if verifyChecksum { try Self.verify(weightsPath, sha256: file.sha256) }

        let a = config.architecture
        var pk = pk_config()
        pk.cameras = Int32(a.cameras.count)
        pk.image_width = Int32(a.imageWidth)
        pk.image_height = Int32(a.imageHeight)
        pk.patch_size = Int32(a.patchSize)
        pk.vocab_size = Int32(config.vocabulary.count)
        pk.max_text_tokens = Int32(a.maxTextTokens)
        pk.state_dim = Int32(a.stateDim)
        pk.action_dim = Int32(a.actionDim)
        pk.horizon = Int32(a.horizon)
        pk.width = Int32(a.width)
        pk.depth = Int32(a.depth)
        pk.heads = Int32(a.heads)
        pk.mlp_width = Int32(a.mlpWidth)
        pk.layer_norm_epsilon = Float(a.layerNormEpsilon)
        pk.keypoints = Int32(a.keypointCount)
        var options = pk_default_options()
        options.isa = Int32(path.isa.rawValue)
        options.threads = Int32(threads)

        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: 1024)
        errorBuffer.initialize(repeating: 0, count: 1024)
        var model: OpaquePointer?
        let status = pk_model_load(weightsPath, &pk, &options, &model, errorBuffer, 1024)
        guard status == PK_OK, let model else {
            let message = String(cString: errorBuffer)
            errorBuffer.deallocate()
            throw PolicyError(.weights, "\(weightsPath): \(message)")
        }
        let arenaBytes = pk_state_arena_size(model)
        let arena = UnsafeMutableRawPointer.allocate(byteCount: max(arenaBytes, 1), alignment: 64)
        var state: OpaquePointer?
        let stateStatus = pk_state_init(model, arena, arenaBytes, &state, errorBuffer, 1024)
        guard stateStatus == PK_OK, let state else {
            let message = String(cString: errorBuffer)
            arena.deallocate()
            pk_model_free(model)
            errorBuffer.deallocate()
            throw PolicyError(.weights, "cannot set up the kernel's state: \(message)")
        }

        self.directory = directory
        self.config = config
        self.variant = variant
        self.tokenizer = Tokenizer(vocabulary: config.vocabulary, maxTokens: a.maxTextTokens)
        self.model = model
        self.state = state
        self.arena = arena
        self.arenaBytes = arenaBytes
        self.errorBuffer = errorBuffer
        let imageBytes = a.imageWidth * a.imageHeight * 3
        self.imageBuffers = a.cameras.map { _ in
            let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: imageBytes)
            buffer.initialize(repeating: 0, count: imageBytes)
            return buffer
        }
        self.imagePointers = .allocate(capacity: a.cameras.count)
        for (index, buffer) in self.imageBuffers.enumerated() { self.imagePointers[index] = UnsafePointer(buffer) }
        self.tokenBuffer = .allocate(capacity: a.maxTextTokens)
        self.tokenBuffer.initialize(repeating: 0, count: a.maxTextTokens)
        self.stateBuffer = .allocate(capacity: a.stateDim)
        self.stateBuffer.initialize(repeating: 0, count: a.stateDim)
        self.outputBuffer = .allocate(capacity: a.horizon * a.actionDim)
        self.outputBuffer.initialize(repeating: 0, count: a.horizon * a.actionDim)
        self.actions = .allocate(capacity: a.horizon * a.actionDim)
        self.actions.initialize(repeating: 0)
        let n = config.normalization
        self.stateMean = n.stateMean
        self.stateScale = n.stateStd.map { 1 / $0 }
        self.actionMean = n.actionMean
        self.actionStd = n.actionStd
    }

    deinit {
        pk_state_release(self.state)
        self.arena.deallocate()
        pk_model_free(self.model)
        for buffer in self.imageBuffers { buffer.deallocate() }
        self.imagePointers.deallocate()
        self.tokenBuffer.deallocate()
        self.stateBuffer.deallocate()
        self.outputBuffer.deallocate()
        self.actions.deallocate()
        self.errorBuffer.deallocate()
    }

    static func verify(_ path: String, sha256 expected: String) throws(PolicyError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw PolicyError(.io, "cannot read \(path): \(error.localizedDescription)")
        }
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        guard digest == expected.lowercased() else {
            throw PolicyError(
                .checksum,
                "\(path): SHA-256 \(digest) differs from config.json's \(expected): the file was changed or damaged"
            )
        }
    }

    // MARK: - Inputs

    /// Tokenises the instruction into the model's token slots (once per episode).
    @discardableResult
    public func setInstruction(_ instruction: String) -> Tokenizer.Tokens {
        let tokens = self.tokenizer.tokenize(instruction)
        for index in 0..<tokens.ids.count { self.tokenBuffer[index] = tokens.ids[index] }
        self.tokenCount = Int32(tokens.count)
        return tokens
    }

    /// Copies one camera's RGB8 image (row-major, top row first) into the model's input, resizing it by
    /// nearest neighbour if its size differs from the model's. Allocates nothing.
    public func setImage(camera: Int, rgb: UnsafeRawBufferPointer, width: Int, height: Int) throws(PolicyError) {
        let a = self.config.architecture
        guard camera >= 0, camera < self.imageBuffers.count else {
            throw PolicyError(.argument, "camera \(camera) does not exist (the model has \(self.imageBuffers.count))")
        }
        guard width > 0, height > 0, rgb.count == width * height * 3 else {
            throw PolicyError(.argument, "camera \(camera): \(rgb.count) bytes is not a \(width)×\(height) RGB8 image")
        }
        let target = self.imageBuffers[camera]
        guard let source = rgb.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        if width == a.imageWidth && height == a.imageHeight {
            target.update(from: source, count: rgb.count)
            return
        }
        for y in 0..<a.imageHeight {
            let sy = (y * height + height / 2) / a.imageHeight
            for x in 0..<a.imageWidth {
                let sx = (x * width + width / 2) / a.imageWidth
                let from = source + (sy * width + sx) * 3
                let to = target + (y * a.imageWidth + x) * 3
                to[0] = from[0]
                to[1] = from[1]
                to[2] = from[2]
            }
        }
    }

    /// Runs the network on the current images and instruction and a raw state (joint positions then gripper
    /// aperture); the de-normalised chunk lands in `actions`. Allocates nothing unless it throws.
    public func infer(state: UnsafeBufferPointer<Double>) throws(PolicyError) {
        let s = self.config.architecture.stateDim
        guard state.count == s else {
            throw PolicyError(.argument, "state has \(state.count) values, the model takes \(s)")
        }
        for index in 0..<s {
            let value = state[index]
            guard value.isFinite else { throw PolicyError(.inference, "state[\(index)] is \(value)") }
            self.stateBuffer[index] = Float((value - self.stateMean[index]) * self.stateScale[index])
        }
        var input = pk_input(
            images: UnsafePointer(self.imagePointers),
            tokens: UnsafePointer(self.tokenBuffer),
            token_count: self.tokenCount,
            state: UnsafePointer(self.stateBuffer)
        )
        let status = pk_forward(self.model, self.state, &input, self.outputBuffer, self.errorBuffer, 1024)
        guard status == PK_OK else {
            throw PolicyError(.inference, "the kernel failed: \(String(cString: self.errorBuffer))")
        }
        let a = self.config.architecture.actionDim
        for row in 0..<self.config.architecture.horizon {
            for column in 0..<a {
                let value =
                    Double(self.outputBuffer[row * a + column]) * self.actionStd[column] + self.actionMean[column]
                guard value.isFinite else {
                    throw PolicyError(
                        .inference,
                        "the network produced a non-finite action (row \(row), column \(column))"
                    )
                }
                self.actions[row * a + column] = value
            }
        }
    }

    /// The normalised output of the last inference (for parity checks).
    public var normalizedActions: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(
            start: self.outputBuffer,
            count: self.config.architecture.horizon * self.config.architecture.actionDim
        )
    }

    // MARK: - Introspection

    /// The SIMD path in use.
    public var path: KernelPath {
        KernelPath(rawValue: String(cString: pk_isa_name(pk_model_isa(self.model)))) ?? .scalar
    }
    /// Parameters of the network.
    public var parameterCount: UInt64 { pk_model_parameter_count(self.model) }
    /// Floating-point operations per inference, as the kernel counts them.
    public var flopsPerInference: UInt64 { pk_model_flops(self.model) }
    /// Work one inference executes, per operation class (FLOPs and modelled bytes), for an instruction that
    /// fills every token slot: `matmul`, `attention`, `norm`, `elementwise`.
    public var executedWork: [(operation: String, flops: UInt64, bytes: UInt64)] {
        var stats = pk_op_stats()
        guard pk_model_op_stats(self.model, &stats) == PK_OK else { return [] }
        let names = ["matmul", "attention", "norm", "elementwise"]
        return withUnsafeBytes(of: &stats.flops) { flops in
            withUnsafeBytes(of: &stats.bytes) { bytes in
                names.indices.map {
                    (
                        names[$0], flops.load(fromByteOffset: $0 * 8, as: UInt64.self),
                        bytes.load(fromByteOffset: $0 * 8, as: UInt64.self)
                    )
                }
            }
        }
    }

    /// Bytes of tensor data in the weight file.
    public var fileWeightBytes: UInt64 { pk_model_file_weight_bytes(self.model) }
    /// Bytes of the packed weight copies made at load.
    public var packedWeightBytes: UInt64 { pk_model_packed_bytes(self.model) }
    /// Tokens the network processes per inference.
    public var sequenceLength: Int {
        let a = self.config.architecture
        return a.cameras.count * (a.imageWidth / a.patchSize) * (a.imageHeight / a.patchSize) + a.maxTextTokens + 1
            + a.horizon
    }

    /// This core's fp32 FMA throughput on a path, GFLOP/s (measured for about `seconds`).
    public static func measurePeak(path: KernelPath, seconds: Double = 0.3) -> Double {
        pk_measure_fma_peak(path == .auto ? pk_best_isa() : path.isa, seconds)
    }
}
