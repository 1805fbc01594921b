"""Models/README.md §2."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FIXTURE_NAMES, FIXTURE_ROOT
from edgecell_policy.folder import load_folder_config, load_golden
from edgecell_policy.tokenizer import Tokenizer, split_words, tokenize

VOCAB = ("<pad>", "<unk>", "put", "the", "red", "cube", "in", "bin", "stack", "2x")


def ids(text: str, max_tokens: int = 8) -> tuple[list[int], int]:
    tokens, n = tokenize(text, VOCAB, max_tokens)
    assert tokens.dtype == np.int32 and tokens.shape == (max_tokens,)
    assert (tokens[n:] == 0).all(), "padded with 0"
    return tokens.tolist(), n


def test_task_instruction() -> None:
    assert ids("put the red cube in the bin") == ([2, 3, 4, 5, 6, 3, 7, 0], 7)


def test_empty_and_separators_only() -> None:
    assert ids("") == ([0] * 8, 0)
    assert ids(" ,.;!?\t\n ") == ([0] * 8, 0)


def test_case_punctuation_and_unknown_words() -> None:
    assert ids("PUT the Red cube, please!") == ([2, 3, 4, 5, 1, 0, 0, 0], 5)


def test_digits_are_word_characters() -> None:
    assert split_words("2x cube3 4") == ["2x", "cube3", "4"]
    assert ids("2x")[0][0] == 9


def test_truncation_keeps_the_first_ids() -> None:
    tokens, n = ids("put the red cube in the bin put the red", max_tokens=4)
    assert tokens == [2, 3, 4, 5] and n == 4


def test_non_ascii_separates_words() -> None:
    # Only ASCII A-Z is lower-cased: the Kelvin sign (whose Unicode lower case is "k") separates words.
    assert split_words("STAC\u212a it") == ["stac", "it"]
    assert split_words("caf\u00e9\u2014bin") == ["caf", "bin"]
    assert split_words("\u0130n") == ["n"]  # dotted capital I is not ASCII
    assert ids("STAC\u212a")[0][0] == 1


def test_reserved_words_never_match() -> None:
    assert ids("<pad> <unk>") == ([1, 1, 0, 0, 0, 0, 0, 0], 2)  # "pad" and "unk" are unknown words


def test_tokenizer_class_matches_function() -> None:
    tok = Tokenizer(VOCAB, 5)
    for text in ("put the bin", "", "a b c d e f g"):
        t1, n1 = tok.encode(text)
        t2, n2 = tokenize(text, VOCAB, 5)
        assert n1 == n2 and np.array_equal(t1, t2)


def test_max_text_tokens_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Tokenizer(VOCAB, 0)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_golden_tokens_are_the_tokenisers(name: str) -> None:
    folder = FIXTURE_ROOT / name
    config = load_folder_config(folder)
    golden, meta = load_golden(folder)
    tok = Tokenizer(config.vocabulary, config.architecture.max_text_tokens)
    for k in range(int(meta["cases"])):
        tokens, n = tok.encode(meta[f"instruction.{k}"])
        assert np.array_equal(golden[f"case.{k}.tokens"], tokens)
        assert golden[f"case.{k}.token_count"].tolist() == [n]
