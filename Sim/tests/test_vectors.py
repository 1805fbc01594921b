"""The committed test vectors (PROTOCOL.md §7): up to date, and the Python codec passes every one."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from edgecell_twin import protocol as p

SIM = Path(__file__).resolve().parents[1]
VECTORS = SIM / "tests" / "vectors" / "vectors.json"


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_vectors", SIM / "tools" / "make_vectors.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DOCUMENT = json.loads(VECTORS.read_text(encoding="utf-8"))
ENTRIES: list[dict[str, Any]] = DOCUMENT["vectors"]
BY_NAME = {e["name"]: e for e in ENTRIES}


def _frames(entry: dict[str, Any]) -> list[bytes]:
    return [bytes.fromhex(f) for f in entry["frames"]]


def _welcome(name: str) -> p.Welcome:
    entry = BY_NAME[name]
    assert entry["valid"] and entry["message"]["type"] == "WELCOME"
    _, message = p.from_json(entry["message"])
    assert isinstance(message, p.Welcome)
    return message


def test_committed_file_matches_a_fresh_generation() -> None:
    assert VECTORS.read_text(encoding="utf-8") == _load_generator().render(), (
        "Sim/tests/vectors/vectors.json is stale: run python Sim/tools/make_vectors.py"
    )


def test_file_header_and_unique_names() -> None:
    assert DOCUMENT["format"] == "edgecell-twin-test-vectors"
    assert DOCUMENT["format_version"] == 1
    assert DOCUMENT["protocol_version"] == p.VERSION
    names = [e["name"] for e in ENTRIES]
    assert len(names) == len(set(names))
    for e in ENTRIES:
        assert e["context"] is None or BY_NAME[e["context"]]["message"]["type"] == "WELCOME"


def test_every_decoder_error_code_is_covered() -> None:
    covered = {e["error"] for e in ENTRIES if not e["valid"]}
    decoder_codes = {c.name for c in p.ErrorCode} - {"BAD_STATE", "UNKNOWN_TASK", "INTERNAL"}
    assert decoder_codes <= covered
    assert {e["message"]["type"] for e in ENTRIES if e["valid"]} == {t.name for t in p.MessageType}


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e["valid"]], ids=lambda e: e["name"])
def test_valid_vector(entry: dict[str, Any]) -> None:
    frames = _frames(entry)
    header, message = p.decode(frames)
    assert header.seq == entry["message"]["seq"]
    assert p.to_json(message, header.seq) == entry["message"]
    # Key order is part of the canonical form.
    assert list(p.to_json(message, header.seq)) == list(entry["message"])
    seq, rebuilt = p.from_json(entry["message"], frames[1:])
    assert rebuilt == message
    assert p.encode(rebuilt, seq) == frames
    if entry["context"] is not None:
        p.validate_against(_welcome(entry["context"]), message, frames)


@pytest.mark.parametrize("entry", [e for e in ENTRIES if not e["valid"]], ids=lambda e: e["name"])
def test_invalid_vector(entry: dict[str, Any]) -> None:
    frames = _frames(entry)
    with pytest.raises(p.ProtocolError) as info:
        _, message = p.decode(frames)
        if entry["context"] is not None:
            p.validate_against(_welcome(entry["context"]), message, frames)
    assert info.value.code.name == entry["error"], str(info.value)
    assert info.value.offending_seq == entry["offending_seq"]
