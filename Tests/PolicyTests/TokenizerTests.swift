import Policy
import Testing

@Suite struct TokenizerTests {
    let tokenizer = Tokenizer(
        vocabulary: ["<pad>", "<unk>", "put", "the", "red", "cube", "in", "bin", "2"],
        maxTokens: 6
    )

    @Test func lowercasesSplitsAndMapsWords() {
        let tokens = self.tokenizer.tokenize("Put the RED cube, in the bin!")
        #expect(tokens.ids == [2, 3, 4, 5, 6, 3])
        #expect(tokens.count == 6)
        #expect(tokens.truncatedWords == 1)
        #expect(tokens.unknownWords.isEmpty)
    }

    @Test func unknownWordsMapToUnkAndArePadded() {
        let tokens = self.tokenizer.tokenize("put the purple cube2")
        #expect(tokens.ids == [2, 3, 1, 1, 0, 0])
        #expect(tokens.count == 4)
        #expect(tokens.unknownWords == ["purple", "cube2"])
    }

    @Test func emptyAndPunctuationOnlyGiveNoTokens() {
        #expect(self.tokenizer.tokenize("").count == 0)
        #expect(self.tokenizer.tokenize("  ,.;!  ").ids == [0, 0, 0, 0, 0, 0])
        #expect(self.tokenizer.tokenize("RED\u{212A}cube").ids == [4, 5, 0, 0, 0, 0], "only ASCII letters fold")
        #expect(self.tokenizer.tokenize("café 2").ids == [1, 8, 0, 0, 0, 0], "é splits: the words are caf and 2")
    }
}
