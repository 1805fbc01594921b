import ArgumentParser
import CellRuntime
import Foundation
import Policy

/// Options for running a learned policy (`run --controller policy`, `eval`).
struct PolicyRunOptions: ParsableArguments {
    @Option(help: "The policy model folder, e.g. Models/base.")
    var model: String?

    @Option(help: "Weights: fp32, bf16 or int8.")
    var variant: WeightVariant = .fp32

    @Option(name: .customLong("kernel-path"), help: "SIMD path of the kernel: auto, scalar, avx2 or avx512.")
    var kernelPath: KernelPath = .auto

    @Option(name: .customLong("kernel-threads"), help: "Threads per inference: 1, or 2 to share each matrix product.")
    var kernelThreads = 1

    @Option(help: "Instruction for the policy (default: the task's own, as the cell states it).")
    var instruction: String?

    @Option(
        help: ArgumentHelp(
            "How chunks become joint targets: sequential or ensemble.",
            discussion: """
                sequential: execute --execute-rows rows of a chunk open loop, then switch to the newest chunk. \\
                ensemble: temporal ensembling (ACT), averaging every live chunk's prediction for each instant.
                """
        )
    )
    var chunking: ChunkingOption = .sequential

    @Option(help: "Sequential and real-time chunking: rows executed from each chunk (default: half the horizon).")
    var executeRows: Int?

    @Option(help: "Real-time chunking: rows over which a new chunk is blended in.")
    var blendRows: Int = 4

    @Option(help: "Temporal ensembling: the i-th oldest chunk weighs exp(−decay·i).")
    var ensembleDecay: Double = 0.0

    func validate() throws {
        guard self.kernelThreads == 1 || self.kernelThreads == 2 else {
            throw ValidationError("--kernel-threads must be 1 or 2")
        }
        if let rows = self.executeRows, rows < 1 { throw ValidationError("--execute-rows must be at least 1") }
        guard self.blendRows >= 1 else { throw ValidationError("--blend-rows must be at least 1") }
        guard self.ensembleDecay >= 0, self.ensembleDecay.isFinite else {
            throw ValidationError("--ensemble-decay must be ≥ 0")
        }
    }

    /// The loaded policy and what a local twin must render for it.
    struct Loaded {
        let policy: Policy
        let cameras: String
        let imageSize: String
    }

    /// Loads the model (clear error and exit status 1 if it cannot).
    func load(console: Console) throws -> Loaded {
        guard let model = self.model else { throw ValidationError("--model is required") }
        let policy: Policy
        do {
            policy = try Policy(
                directory: model,
                variant: self.variant,
                path: self.kernelPath,
                threads: self.kernelThreads
            )
        } catch {
            console.error("error: \(error)")
            throw ExitCode(1)
        }
        // The loader has checked the weights file against this SHA-256 (config.json's), so it names the bytes run.
        let weights = policy.config.weights[policy.variant.rawValue]
        AuditTrail.record(
            "model.loaded",
            [
                "model": policy.config.name, "directory": model, "variant": policy.variant.rawValue,
                "file": weights?.file ?? "", "sha256": weights?.sha256.lowercased() ?? "",
            ]
        )
        let a = policy.config.architecture
        if let instruction = self.instruction {
            let tokens = policy.tokenizer.tokenize(instruction)
            if !tokens.unknownWords.isEmpty {
                console.line(
                    "note: the model does not know the word(s) \(tokens.unknownWords.joined(separator: ", ")) "
                        + "(they read as <unk>)"
                )
            }
        }
        return Loaded(
            policy: policy,
            cameras: a.cameras.joined(separator: ","),
            imageSize: "\(a.imageWidth)x\(a.imageHeight)"
        )
    }

    /// The chunk execution these options ask for.
    func execution(_ pipeline: PolicyPipeline) -> ChunkExecution {
        switch self.chunking {
        case .sequential: .sequential(rows: min(self.executeRows ?? max(1, pipeline.horizon / 2), pipeline.horizon))
        case .ensemble: .ensemble(decay: self.ensembleDecay)
        case .realtime:
            .realtime(
                rows: min(self.executeRows ?? max(1, pipeline.horizon / 2), pipeline.horizon),
                blendRows: min(self.blendRows, pipeline.horizon)
            )
        }
    }

    /// One line about the policy in use.
    func describe(_ pipeline: PolicyPipeline) -> String {
        let p = pipeline.policy
        return "policy: \(p.config.name) (\(p.variant.rawValue), \(p.path.rawValue) path, "
            + String(
                format: "%.2f M parameters, %.0f MFLOP per chunk), ",
                Double(p.parameterCount) / 1e6,
                Double(p.flopsPerInference) / 1e6
            )
            + "\(pipeline.horizon) rows every \(Int((pipeline.actionPeriod * 1000).rounded())) ms, \(self.execution(pipeline))"
    }
}

/// Chunk execution strategies, as the CLI spells them.
enum ChunkingOption: String, ExpressibleByArgument, CaseIterable {
    case sequential, ensemble, realtime
}
