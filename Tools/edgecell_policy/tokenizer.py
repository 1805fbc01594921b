"""The tokeniser, exactly Models/README.md §2.

ASCII `A-Z` become `a-z`; every character other than `a-z` and `0-9` (including every non-ASCII character,
even one whose Unicode lower case is ASCII, such as the Kelvin sign) separates words; words map to their
vocabulary index or to 1 (`<unk>`); the first `max_text_tokens` ids are kept and padded with 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PAD_ID = 0
UNK_ID = 1


def split_words(text: str) -> list[str]:
    """The words of `text` after ASCII lower-casing (§2), in order; no empty words."""
    words: list[str] = []
    current: list[str] = []
    for ch in text:
        if "A" <= ch <= "Z":
            ch = chr(ord(ch) + 32)
        if "a" <= ch <= "z" or "0" <= ch <= "9":
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


class Tokenizer:
    """A vocabulary and a token budget; `encode` gives the network's `tokens` and `token_count` inputs."""

    def __init__(self, vocabulary: Sequence[str], max_text_tokens: int) -> None:
        if max_text_tokens < 1:
            raise ValueError(f"max_text_tokens must be ≥ 1, got {max_text_tokens}")
        self.vocabulary = tuple(vocabulary)
        self.max_text_tokens = int(max_text_tokens)
        self._ids = {w: i for i, w in enumerate(self.vocabulary) if i > UNK_ID}

    def encode(self, text: str) -> tuple[np.ndarray, int]:
        """(`tokens` int32 [L] padded with 0, `token_count` n)."""
        ids = [self._ids.get(w, UNK_ID) for w in split_words(text)][: self.max_text_tokens]
        tokens = np.zeros(self.max_text_tokens, dtype=np.int32)
        tokens[: len(ids)] = ids
        return tokens, len(ids)


def tokenize(text: str, vocabulary: Sequence[str], max_text_tokens: int) -> tuple[np.ndarray, int]:
    """One-shot `Tokenizer(vocabulary, max_text_tokens).encode(text)`."""
    return Tokenizer(vocabulary, max_text_tokens).encode(text)
