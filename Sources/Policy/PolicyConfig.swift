import Foundation

/// `config.json` of a model folder (`Models/README.md` §1): the format contract's card.
public struct PolicyConfig: Codable, Hashable, Sendable {
    /// The network's shape.
    public struct Architecture: Codable, Hashable, Sendable {
        public var cameras: [String]
        public var imageWidth: Int
        public var imageHeight: Int
        public var patchSize: Int
        public var maxTextTokens: Int
        public var stateDim: Int
        public var actionDim: Int
        public var horizon: Int
        public var width: Int
        public var depth: Int
        public var heads: Int
        public var mlpWidth: Int
        public var layerNormEpsilon: Double
        /// Keypoints per camera of the spatial soft-argmax stem (absent or 0: no stem; `Models/README.md` §3).
        public var keypoints: Int?

        /// `keypoints`, 0 when absent.
        public var keypointCount: Int { self.keypoints ?? 0 }

        enum CodingKeys: String, CodingKey {
            case cameras
            case imageWidth = "image_width"
            case imageHeight = "image_height"
            case patchSize = "patch_size"
            case maxTextTokens = "max_text_tokens"
            case stateDim = "state_dim"
            case actionDim = "action_dim"
            case horizon, width, depth, heads
            case mlpWidth = "mlp_width"
            case layerNormEpsilon = "layer_norm_epsilon"
            case keypoints
        }
    }

    /// State and action normalisation statistics.
    public struct Normalization: Codable, Hashable, Sendable {
        public var stateMean: [Double]
        public var stateStd: [Double]
        public var actionMean: [Double]
        public var actionStd: [Double]

        enum CodingKeys: String, CodingKey {
            case stateMean = "state_mean"
            case stateStd = "state_std"
            case actionMean = "action_mean"
            case actionStd = "action_std"
        }
    }

    /// The robot the model was trained for.
    public struct Robot: Codable, Hashable, Sendable {
        public var name: String
        public var joints: [String]
        public var gripper: String
    }

    /// Control timing.
    public struct Control: Codable, Hashable, Sendable {
        /// Seconds between two rows of the action chunk.
        public var actionPeriod: Double

        enum CodingKeys: String, CodingKey {
            case actionPeriod = "action_period"
        }
    }

    /// One weight file.
    public struct WeightFile: Codable, Hashable, Sendable {
        public var file: String
        public var sha256: String
    }

    public var format: String
    public var formatVersion: Int
    public var name: String
    public var architecture: Architecture
    public var vocabulary: [String]
    public var normalization: Normalization
    public var robot: Robot?
    public var control: Control?
    /// Weight files by variant: `fp32`, `bf16`, `int8`.
    public var weights: [String: WeightFile]
    /// Where the model came from (the trainer writes `data.tasks`, the tasks of its demonstrations).
    public var provenance: Provenance?

    /// The model card's provenance, as far as the runtime reads it.
    public struct Provenance: Codable, Hashable, Sendable {
        public struct DataInfo: Codable, Hashable, Sendable {
            public var tasks: [String]?
        }
        public var data: DataInfo?

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            // `data` is a description string for untrained models and an object for trained ones.
            self.data = try? container.decodeIfPresent(DataInfo.self, forKey: .data)
        }

        enum CodingKeys: String, CodingKey { case data }
    }

    /// The tasks of the demonstrations the model was trained on (empty if the card does not say).
    public var trainedTasks: [String] { self.provenance?.data?.tasks ?? [] }

    enum CodingKeys: String, CodingKey {
        case format
        case formatVersion = "format_version"
        case name, architecture, vocabulary, normalization, robot, control, weights, provenance
    }

    /// Reads and validates `config.json` in a model folder.
    public static func load(directory: String) throws(PolicyError) -> PolicyConfig {
        let path = (directory as NSString).appendingPathComponent("config.json")
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PolicyError(.io, "cannot read \(path): \(error.localizedDescription)")
        }
        let config: PolicyConfig
        do {
            config = try JSONDecoder().decode(PolicyConfig.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw PolicyError(.config, "\(path): missing key '\(Self.path(context.codingPath + [key]))'")
        } catch let DecodingError.typeMismatch(_, context) {
            throw PolicyError(.config, "\(path): '\(Self.path(context.codingPath))' has the wrong type")
        } catch let DecodingError.valueNotFound(_, context) {
            throw PolicyError(.config, "\(path): '\(Self.path(context.codingPath))' is null")
        } catch {
            throw PolicyError(.config, "\(path): not valid JSON (\(error.localizedDescription))")
        }
        try config.validate(path: path)
        return config
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            .replacingOccurrences(of: ".[", with: "[")
    }

    /// Checks the consistency rules of `Models/README.md` §1.
    public func validate(path: String = "config.json") throws(PolicyError) {
        func fail(_ text: String) -> PolicyError { PolicyError(.config, "\(path): \(text)") }
        guard self.format == "edgecell-vla" else {
            throw fail("format is '\(self.format)', expected 'edgecell-vla'")
        }
        guard self.formatVersion == 1 else {
            throw fail("format_version \(self.formatVersion) is not supported (this build reads version 1)")
        }
        let a = self.architecture
        let positive: [(String, Int)] = [
            ("image_width", a.imageWidth), ("image_height", a.imageHeight), ("patch_size", a.patchSize),
            ("max_text_tokens", a.maxTextTokens), ("state_dim", a.stateDim), ("action_dim", a.actionDim),
            ("horizon", a.horizon), ("width", a.width), ("depth", a.depth), ("heads", a.heads),
            ("mlp_width", a.mlpWidth),
        ]
        for (name, value) in positive where value < 1 {
            throw fail("architecture.\(name) is \(value), must be ≥ 1")
        }
        guard (1...4).contains(a.cameras.count) else {
            throw fail("architecture.cameras has \(a.cameras.count) entries, expected 1…4")
        }
        guard a.imageWidth % a.patchSize == 0, a.imageHeight % a.patchSize == 0 else {
            throw fail("image \(a.imageWidth)×\(a.imageHeight) is not a multiple of patch_size \(a.patchSize)")
        }
        guard a.width % a.heads == 0 else { throw fail("width \(a.width) is not divisible by heads \(a.heads)") }
        guard (0...64).contains(a.keypointCount) else {
            throw fail("architecture.keypoints is \(a.keypointCount), expected 0…64")
        }
        guard a.layerNormEpsilon > 0, a.layerNormEpsilon.isFinite else {
            throw fail("architecture.layer_norm_epsilon must be a positive number")
        }
        guard self.vocabulary.count >= 2, self.vocabulary[0] == "<pad>", self.vocabulary[1] == "<unk>" else {
            throw fail("vocabulary must start with \"<pad>\", \"<unk>\"")
        }
        let n = self.normalization
        for (name, values, count) in [
            ("state_mean", n.stateMean, a.stateDim), ("state_std", n.stateStd, a.stateDim),
            ("action_mean", n.actionMean, a.actionDim), ("action_std", n.actionStd, a.actionDim),
        ] {
            guard values.count == count else {
                throw fail("normalization.\(name) has \(values.count) values, expected \(count)")
            }
            guard values.allSatisfy(\.isFinite) else { throw fail("normalization.\(name) holds a non-finite value") }
        }
        if let index = n.stateStd.firstIndex(where: { $0 <= 0 }) ?? n.actionStd.firstIndex(where: { $0 <= 0 }) {
            throw fail("normalization std \(index) is not positive")
        }
        guard self.weights["fp32"] != nil || !self.weights.isEmpty else { throw fail("weights lists no file") }
    }
}
