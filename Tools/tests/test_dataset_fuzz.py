"""Tools/fuzz/dataset_fuzz.py: the libFuzzer (atheris) harness of the dataset reader reads its seeds, turns
corruptions into DatasetError only, and lets any other exception through (so the fuzzer reports it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ))
dataset_fuzz = pytest.importorskip("dataset_fuzz")
SEEDS = sorted((FUZZ / "corpus" / "dataset").iterdir())


def test_there_are_seeds_and_they_round_trip() -> None:
    assert len(SEEDS) >= 3
    for seed in SEEDS:
        data = seed.read_bytes()
        assert dataset_fuzz.pack(dataset_fuzz.unpack(data)) == data


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.stem)
def test_seeds_read_and_corruptions_are_dataset_errors(seed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = seed.read_bytes()
    opened: list[object] = []
    real = dataset_fuzz.open_dataset
    monkeypatch.setattr(dataset_fuzz, "open_dataset", lambda *a, **k: opened.append(real(*a, **k)) or opened[-1])
    dataset_fuzz.one_input(data)  # valid: reads without an exception
    assert opened and len(opened[-1].episode_meta) == 1
    for cut in (0, 10, 17, len(data) // 2, len(data) - 1):
        dataset_fuzz.one_input(data[:cut])  # truncated: refused with DatasetError, which the harness expects


def test_other_exceptions_reach_the_fuzzer(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a reader bug")

    monkeypatch.setattr(dataset_fuzz, "open_dataset", broken)
    with pytest.raises(KeyError):
        dataset_fuzz.one_input(SEEDS[0].read_bytes())
