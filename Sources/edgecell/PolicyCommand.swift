import ArgumentParser
import CellRuntime
import Foundation
import Policy

/// `edgecell policy`: inspect and time a policy model with the C kernel.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Inspect a policy model and time its inference on this CPU.",
        subcommands: [PolicyInfo.self, PolicyBench.self]
    )
}

/// Options shared by the policy subcommands.
struct ModelOptions: ParsableArguments {
    @Argument(help: "The model folder (holding config.json), e.g. Models/base.")
    var model: String

    @Option(help: "Weights: fp32, bf16 or int8.")
    var variant: WeightVariant = .fp32

    @Option(help: "SIMD path: auto, scalar, avx2 or avx512.")
    var path: KernelPath = .auto

    @Option(help: "Threads per inference: 1, or 2 to share each matrix product.")
    var threads = 1

    func load() throws -> Policy {
        do {
            return try Policy(directory: self.model, variant: self.variant, path: self.path, threads: self.threads)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

extension WeightVariant: ExpressibleByArgument {}
extension KernelPath: ExpressibleByArgument {}

/// `edgecell policy info MODEL`.
struct PolicyInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print a model's architecture, parameters, FLOPs per inference, weight bytes and SIMD path."
    )

    @OptionGroup var options: ModelOptions

    func run() throws {
        let policy = try self.options.load()
        let c = policy.config
        let a = c.architecture
        let patches = (a.imageWidth / a.patchSize) * (a.imageHeight / a.patchSize)
        func mib(_ bytes: UInt64) -> String { String(format: "%.2f MiB", Double(bytes) / 1_048_576) }
        var lines = [
            "model:        \(c.name) (\(self.options.model)), format \(c.format) v\(c.formatVersion)",
            "inputs:       \(a.cameras.count) camera(s) \(a.cameras.joined(separator: ", ")) at \(a.imageWidth)×\(a.imageHeight) "
                + "(patch \(a.patchSize): \(patches) tokens each), instruction ≤ \(a.maxTextTokens) tokens "
                + "(vocabulary \(c.vocabulary.count)), state \(a.stateDim)",
            "vision stem:  "
                + (a.keypointCount > 0
                    ? "\(a.keypointCount) soft-argmax keypoints per camera (3×3 convolution, full resolution) into the state token"
                    : "none (patch embeddings only)"),
            "transformer:  width \(a.width), depth \(a.depth), heads \(a.heads), MLP \(a.mlpWidth), "
                + "\(policy.sequenceLength) tokens per inference",
            "output:       \(a.horizon) × \(a.actionDim) action chunk"
                + (c.control.map { String(format: " (%.0f ms per row)", $0.actionPeriod * 1000) } ?? ""),
            "parameters:   \(policy.parameterCount) (\(String(format: "%.2f", Double(policy.parameterCount) / 1e6)) M)",
            "FLOPs:        \(policy.flopsPerInference) per inference (\(String(format: "%.1f", Double(policy.flopsPerInference) / 1e6)) MFLOP, counted by the kernel)",
            "weights:      \(policy.variant.rawValue), \(mib(policy.fileWeightBytes)) in the file, "
                + "\(mib(policy.packedWeightBytes)) packed at load; activations \(mib(UInt64(policy.arenaBytes)))",
            "SIMD path:    \(policy.path.rawValue) (best on this CPU: \(KernelPath.best.rawValue); available: "
                + KernelPath.allCases.filter { $0 != .auto && $0.isSupported }.map(\.rawValue).joined(separator: ", ")
                + ")",
            "variants:     " + c.weights.keys.sorted().joined(separator: ", "),
        ]
        if let robot = c.robot {
            lines.append("robot:        \(robot.name), joints \(robot.joints.joined(separator: " ")), \(robot.gripper)")
        }
        for line in lines { print(line) }
    }
}

/// `edgecell policy bench MODEL`.
struct PolicyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time inference (one action chunk per call) and print the latency summary.",
        discussion:
            "Inputs are synthetic (seeded random images, an instruction from the vocabulary, a mid-range state)."
    )

    @OptionGroup var options: ModelOptions

    @Option(help: "Timed inferences.")
    var iterations = 200

    @Option(help: "Untimed inferences first.")
    var warmup = 20

    func validate() throws {
        guard self.iterations >= 1, self.warmup >= 0 else { throw ValidationError("--iterations ≥ 1 and --warmup ≥ 0") }
    }

    func run() throws {
        let policy = try self.options.load()
        let a = policy.config.architecture
        var generator = SplitMix64(seed: 1)
        let image = (0..<(a.imageWidth * a.imageHeight * 3)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        for camera in 0..<a.cameras.count {
            try image.withUnsafeBytes {
                try policy.setImage(camera: camera, rgb: $0, width: a.imageWidth, height: a.imageHeight)
            }
        }
        // An instruction that fills every token slot: the worst case (the kernel skips padding rows).
        let words = Array(policy.config.vocabulary.dropFirst(2))
        policy.setInstruction(
            (0..<a.maxTextTokens).map { words.isEmpty ? "x" : words[$0 % words.count] }.joined(separator: " ")
        )
        let state = policy.config.normalization.stateMean
        let histogram = LatencyHistogram()
        try state.withUnsafeBufferPointer { buffer in
            for _ in 0..<self.warmup { try policy.infer(state: buffer) }
            for _ in 0..<self.iterations {
                let start = MonotonicClock.nanoseconds()
                try policy.infer(state: buffer)
                histogram.record(MonotonicClock.nanoseconds() - start)
            }
        }
        let flops = Double(policy.flopsPerInference)
        let executed = Double(policy.executedWork.reduce(0) { $0 + $1.flops })
        let peak = Policy.measurePeak(path: policy.path, seconds: 0.3)
        let achieved = executed / histogram.percentile(50)  // FLOP/ns = GFLOP/s
        print(
            "model \(policy.config.name): \(policy.variant.rawValue) weights, \(policy.path.rawValue) path, "
                + "\(self.options.threads) thread(s), \(self.iterations) inferences"
        )
        print(
            "latency per action chunk: " + histogram.summaryMicros()
                + String(format: ", mean %.1f µs", histogram.mean / 1000)
        )
        print(
            String(
                format: "work: %.1f MFLOP per inference by the model's count, %.1f MFLOP executed by the kernel "
                    + "(it skips rows no output reads)",
                flops / 1e6,
                executed / 1e6
            )
        )
        print(
            String(
                format: "throughput: %.1f GFLOP/s executed at p50; FP32 FMA peak of this core on the %@ path "
                    + "%.1f GFLOP/s → %.0f %% of peak",
                achieved,
                policy.path.rawValue,
                peak,
                peak > 0 ? achieved / peak * 100 : 0
            )
        )
        print(String(format: "budget: %.1f chunks/s at p99", 1e9 / histogram.percentile(99)))
    }
}

/// A small seeded generator for synthetic inputs.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
