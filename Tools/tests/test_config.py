"""config.json: round trip, canonical text, validation, atomic writes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import small_arch
from edgecell_policy.config import (
    ConfigError,
    ModelConfig,
    Normalization,
    Provenance,
    WeightFile,
    atomic_write_bytes,
    canonical_json,
    load_config,
    save_config,
)
from edgecell_policy.folder import DEFAULT_VOCABULARY, new_config

SHA = "0" * 64


def config() -> ModelConfig:
    c = new_config("t", small_arch())
    return replace(c, weights={"fp32": WeightFile("model.safetensors", SHA)},
                   provenance=Provenance("tool", "cmd", 3, None, "2026-01-01T00:00:00Z", "random init"),
                   metrics={"loss": 0.5})


def test_round_trip(tmp_path: Path) -> None:
    c = config()
    save_config(c, tmp_path / "config.json")
    back = load_config(tmp_path / "config.json")
    assert back == c
    assert (tmp_path / "config.json").read_text() == c.to_json()
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"], "no temp files left"


def test_canonical_json_is_deterministic_and_valid() -> None:
    obj = config().to_json_dict()
    text = canonical_json(obj)
    assert text == canonical_json(json.loads(text))
    assert json.loads(text) == obj
    assert text.endswith("}\n")
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_default_vocabulary_is_valid_and_has_the_task_words() -> None:
    new_config("v", small_arch(), DEFAULT_VOCABULARY).validate()
    for word in "put the red green blue cube in bin stack on".split():
        assert word in DEFAULT_VOCABULARY


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(architecture=small_arch(width=30, heads=4)), "divisible by heads"),
        (dict(architecture=small_arch(image_width=40)), "multiple of patch_size"),
        (dict(architecture=small_arch(cameras=())), "cameras"),
        (dict(architecture=small_arch(cameras=("a", "b", "c", "d", "e"))), "cameras"),
        (dict(architecture=small_arch(cameras=("a", "a"))), "duplicate"),
        (dict(architecture=small_arch(depth=0)), "depth"),
        (dict(architecture=small_arch(layer_norm_epsilon=0.0)), "layer_norm_epsilon"),
        (dict(vocabulary=("<unk>", "<pad>", "x")), "must start with"),
        (dict(vocabulary=("<pad>", "<unk>", "Red")), "a-z and 0-9"),
        (dict(vocabulary=("<pad>", "<unk>", "red", "red")), "twice"),
        (dict(weights={"fp32": WeightFile("../model.safetensors", SHA)}), "file name inside"),
        (dict(weights={"fp32": WeightFile("model.safetensors", "ABC")}), "hex"),
        (dict(weights={"bf16": WeightFile("model-bf16.safetensors", SHA)}), "fp32 file is required"),
        (dict(weights={"fp16": WeightFile("m.safetensors", SHA)}), "unknown variant"),
        (dict(format_version=2), "format_version"),
    ],
)
def test_validation_errors(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        replace(config(), **change).validate()  # type: ignore[arg-type]


def test_normalization_errors() -> None:
    n = config().normalization
    with pytest.raises(ConfigError, match="expected > 0"):
        replace(config(), normalization=replace(n, state_std=(1.0,) * 6 + (0.0,))).validate()
    with pytest.raises(ConfigError, match="6 numbers, expected 7"):
        replace(config(), normalization=Normalization(n.state_mean[:6], n.state_std, n.action_mean,
                                                      n.action_std)).validate()


def test_load_reports_file_and_field(tmp_path: Path) -> None:
    obj = config().to_json_dict()
    obj["architecture"]["heads"] = True  # a bool is not an integer
    (tmp_path / "config.json").write_text(json.dumps(obj))
    with pytest.raises(ConfigError, match=r"config.json: architecture.heads"):
        load_config(tmp_path / "config.json")
    obj = config().to_json_dict()
    del obj["normalization"]
    (tmp_path / "config.json").write_text(json.dumps(obj))
    with pytest.raises(ConfigError, match="normalization: missing"):
        load_config(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path / "config.json")
    obj = config().to_json_dict()
    obj["architecture"]["dropout"] = 0.1
    (tmp_path / "config.json").write_text(json.dumps(obj))
    with pytest.raises(ConfigError, match="unknown fields"):
        load_config(tmp_path / "config.json")


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")
    atomic_write_bytes(path, b"new contents")
    assert path.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_keypoints_round_trip_and_are_left_out_when_zero(tmp_path: Path) -> None:
    plain = config()
    assert "keypoints" not in plain.to_json_dict()["architecture"]
    with_stem = replace(plain, architecture=replace(plain.architecture, keypoints=8))
    assert with_stem.to_json_dict()["architecture"]["keypoints"] == 8
    save_config(with_stem, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == with_stem
    assert with_stem.architecture.keypoint_features == with_stem.architecture.num_cameras * 16


@pytest.mark.parametrize("bad", [-1, 65, True, 2.0])
def test_keypoints_out_of_range_are_refused(tmp_path: Path, bad: object) -> None:
    obj = config().to_json_dict()
    obj["architecture"]["keypoints"] = bad
    (tmp_path / "config.json").write_text(json.dumps(obj))
    with pytest.raises(ConfigError, match="keypoints"):
        load_config(tmp_path / "config.json")
