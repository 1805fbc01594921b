/// The instruction tokeniser of `Models/README.md` §2: lower-case ASCII letters only, split at every character
/// outside `a-z0-9` (any non-ASCII character separates words), map words through the vocabulary (unknown → 1),
/// keep the first `maxTokens`. ASCII-only case folding keeps Swift, Python and C in exact agreement (Unicode
/// lower-casing differs between libraries, e.g. the Kelvin sign).
public struct Tokenizer: Sendable {
    private let ids: [String: Int32]
    /// Token slots of the model.
    public let maxTokens: Int

    /// A tokeniser over a vocabulary (index = id).
    public init(vocabulary: [String], maxTokens: Int) {
        var ids: [String: Int32] = [:]
        for (index, word) in vocabulary.enumerated() where ids[word] == nil { ids[word] = Int32(index) }
        self.ids = ids
        self.maxTokens = maxTokens
    }

    /// The result of tokenising one instruction.
    public struct Tokens: Hashable, Sendable {
        /// `maxTokens` ids, padded with 0.
        public var ids: [Int32]
        /// Ids in use.
        public var count: Int
        /// Words not in the vocabulary (mapped to `<unk>`).
        public var unknownWords: [String]
        /// Words dropped because the instruction is longer than `maxTokens`.
        public var truncatedWords: Int
    }

    /// Tokenises an instruction.
    public func tokenize(_ instruction: String) -> Tokens {
        var words: [String] = []
        var current = ""
        for scalar in instruction.unicodeScalars {
            if ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) {
                current.unicodeScalars.append(scalar)
            } else if ("A"..."Z").contains(scalar) {
                current.unicodeScalars.append(Unicode.Scalar(scalar.value + 32)!)
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        var ids = [Int32](repeating: 0, count: self.maxTokens)
        var unknown: [String] = []
        let kept = min(words.count, self.maxTokens)
        for index in 0..<kept {
            if let id = self.ids[words[index]] {
                ids[index] = id
            } else {
                ids[index] = 1
                unknown.append(words[index])
            }
        }
        return Tokens(ids: ids, count: kept, unknownWords: unknown, truncatedWords: words.count - kept)
    }
}
