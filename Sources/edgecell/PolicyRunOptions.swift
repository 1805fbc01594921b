import ArgumentParser
import CellRuntime
import Foundation
import LinkSecurity
import ModelSigning
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

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "Public key files of model signers to trust for this run, besides the cell's (`edgecell model trusted`).",
            valueName: "pubkeyfile"
        )
    )
    var trust: [String] = []

    @Flag(
        help: ArgumentHelp(
            "Development only: run a model that is unsigned, changed since signing, or signed by an untrusted key.",
            discussion: "Warned at start and recorded in the audit log (model.unverified)."
        )
    )
    var allowUnsignedModel = false

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
        let verified = try self.checkSignature(model, console: console)
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
        // The loader has checked the weights file against this SHA-256 (config.json's), so it names the bytes run;
        // with a signature, that SHA-256 must also be the signed manifest's for the file (config.json cannot have
        // been swapped between the check and the load to point at other weights).
        let weights = policy.config.weights[policy.variant.rawValue]
        if let verified, let weights {
            let signed = verified.manifest.files.first { $0.path == weights.file }?.sha256
            guard signed == weights.sha256.lowercased() else {
                console.error(
                    "error: refusing to run \(model): \(weights.file) as loaded (sha256 \(weights.sha256)) is not the "
                        + "file signed in \(ModelManifest.fileName) (\(signed ?? "not listed")): the folder changed "
                        + "while it was being loaded"
                )
                AuditTrail.record("model.refused", ["directory": model, "reason": "weights changed during load"])
                throw ExitCode(1)
            }
        }
        AuditTrail.record(
            "model.loaded",
            [
                "model": policy.config.name, "directory": model, "variant": policy.variant.rawValue,
                "file": weights?.file ?? "", "sha256": weights?.sha256.lowercased() ?? "",
                "signer": verified.map { $0.signer.description } ?? "none (--allow-unsigned-model)",
                "manifest_sha256": verified?.manifestSHA256 ?? "",
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

    /// Checks `model`'s signature against the cell's trusted signers and `--trust`: the verified manifest and
    /// signer, or nil when `--allow-unsigned-model` lets a model that does not verify run (warned and audited).
    /// Otherwise exits 1 naming what failed (the file that changed, the missing signature, the unknown signer).
    func checkSignature(_ model: String, console: Console) throws -> ModelSigner.Verified? {
        let list = TrustedSigners(directory: KeyStore.defaultDirectory())
        var trusted: [SigningPublicKey] = []
        do {
            for path in self.trust { trusted += try SigningPublicKey.load(path) }
            trusted += try list.keys()
        } catch {
            console.error("error: \(error)")
            throw ExitCode(1)
        }
        var failure: String
        if trusted.isEmpty {
            failure = "this cell trusts no model signer (\(list.path) has no key, and no --trust was given)"
        } else {
            do {
                let verified = try ModelSigner.verify(directory: model, trusted: trusted)
                console.line(
                    "model \(model): signed by trusted key \(verified.signer), every file matches its manifest"
                )
                return verified
            } catch {
                failure = error.message
                if !error.problems.isEmpty {
                    failure =
                        "\(model) does not match its signed manifest: "
                        + error.problems.map(\.description).joined(separator: "; ")
                }
            }
        }
        if self.allowUnsignedModel {
            console.line(
                "warning: --allow-unsigned-model (development only): running a model that does not verify: \(failure)"
            )
            AuditTrail.record("model.unverified", ["directory": model, "reason": failure])
            return nil
        }
        console.error(
            "error: refusing to run \(model): \(failure). Sign the model (`edgecell model sign`) and trust its signer "
                + "on this cell (`edgecell model trust KEY.pub` or --trust KEY.pub); for development only, "
                + "--allow-unsigned-model runs it anyway"
        )
        AuditTrail.record("model.refused", ["directory": model, "reason": failure])
        throw ExitCode(1)
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
