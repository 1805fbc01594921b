"""Model folders: round trip, hash and tensor-set refusal, golden layout and determinism, the fixtures."""

from __future__ import annotations

import filecmp
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_NAMES, FIXTURE_ROOT, small_arch
from edgecell_policy import tensorfile
from edgecell_policy.config import save_config
from edgecell_policy.fixtures import FIXTURES, check_all
from edgecell_policy.folder import (
    ModelFolderError,
    WeightFile,
    init_folder,
    load_folder,
    load_folder_config,
    load_golden,
    new_config,
    sha256_file,
)
from edgecell_policy.model import denormalize_actions, init_params, normalize_state
from edgecell_policy.quantize import dequantized
from edgecell_policy.reference import reference_forward

VARIANTS = ("fp32", "bf16", "int8")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "m"
    init_folder(out, new_config("m", small_arch()), 21, variants=VARIANTS, scheme="conformance", command="test")
    return out


def test_round_trip(folder: Path) -> None:
    config = load_folder_config(folder)
    assert set(config.weights) == set(VARIANTS)
    assert config.provenance is not None and config.provenance.seed == 21
    assert config.provenance.data.startswith("random init")
    params = init_params(config.architecture, config.vocab_size, 21, "conformance")
    for v in VARIANTS:
        loaded = load_folder(folder, v)
        want = dequantized(params, config.architecture.depth, v)
        assert set(loaded.params) == set(want)
        assert all(np.array_equal(loaded.params[k], want[k]) for k in want)
        assert sha256_file(folder / config.weights[v].file) == config.weights[v].sha256
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "golden.safetensors", "model-bf16.safetensors", "model-int8.safetensors", "model.safetensors"]


def copy_folder(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_hash_mismatch_is_refused(folder: Path, tmp_path: Path) -> None:
    bad = copy_folder(folder, tmp_path / "bad")
    data = bytearray((bad / "model-int8.safetensors").read_bytes())
    data[-1] ^= 1
    (bad / "model-int8.safetensors").write_bytes(bytes(data))
    load_folder(bad, "fp32")  # other variants still load
    with pytest.raises(ModelFolderError, match="SHA-256"):
        load_folder(bad, "int8")


def rewrite(folder: Path, variant: str, edit: object) -> None:
    """Edits the tensors of a variant file and fixes config.json's hash, so the tensor checks are reached."""
    config = load_folder_config(folder)
    path = folder / config.weights[variant].file
    tensors, meta, dtypes = tensorfile.read(path)
    edit(tensors, meta, dtypes)  # type: ignore[operator]
    tensorfile.write(path, tensors, meta, dtypes)
    weights = dict(config.weights)
    weights[variant] = WeightFile(path.name, sha256_file(path))
    save_config(replace(config, weights=weights), folder / "config.json")


@pytest.mark.parametrize(
    ("variant", "edit", "message"),
    [
        ("fp32", lambda t, m, d: t.pop("query"), r"missing tensors \['query'\]"),
        ("fp32", lambda t, m, d: t.__setitem__("extra", np.zeros(2, np.float32)), "unexpected tensors"),
        ("fp32", lambda t, m, d: t.__setitem__("head.bias", np.zeros(3, np.float32)), "shape"),
        ("int8", lambda t, m, d: t.pop("head.weight.scale"), "missing tensors"),
        ("bf16", lambda t, m, d: (t.__setitem__("head.weight", np.zeros((7, 32), np.float32)),
                                  d.__setitem__("head.weight", "F32")), "is F32, expected BF16"),
        ("fp32", lambda t, m, d: m.__setitem__("variant", "bf16"), "variant"),
    ],
)
def test_wrong_tensors_are_refused(folder: Path, tmp_path: Path, variant: str, edit: object, message: str) -> None:
    bad = copy_folder(folder, tmp_path / "bad")
    rewrite(bad, variant, edit)
    with pytest.raises(ModelFolderError, match=message):
        load_folder(bad, variant)


def test_unusable_folders(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="no such directory"):
        load_folder(tmp_path / "nope")
    with pytest.raises(ModelFolderError, match="no config.json"):
        load_folder(tmp_path)
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(ModelFolderError, match="expected an object"):
        load_folder(tmp_path)


def test_golden_layout(folder: Path) -> None:
    config = load_folder_config(folder)
    a = config.architecture
    golden, meta = load_golden(folder)
    _, _, dtypes = tensorfile.read(folder / "golden.safetensors")
    k_count = int(meta["cases"])
    assert k_count >= 4
    per_case = {
        "images": ("U8", (a.num_cameras, a.image_height, a.image_width, 3)),
        "tokens": ("I32", (a.max_text_tokens,)),
        "token_count": ("I32", (1,)),
        "state": ("F32", (a.state_dim,)),
        "state_normalized": ("F32", (a.state_dim,)),
        "actions_normalized": ("F32", (a.horizon, a.action_dim)),
        "actions_normalized.bf16": ("F32", (a.horizon, a.action_dim)),
        "actions_normalized.int8": ("F32", (a.horizon, a.action_dim)),
        "actions": ("F32", (a.horizon, a.action_dim)),
    }
    expected = {f"case.{k}.{n}" for k in range(k_count) for n in per_case}
    assert set(golden) == expected
    counts = set()
    for k in range(k_count):
        assert f"instruction.{k}" in meta
        for n, (dt, shape) in per_case.items():
            assert dtypes[f"case.{k}.{n}"] == dt and golden[f"case.{k}.{n}"].shape == shape
        norm = config.normalization
        assert np.array_equal(golden[f"case.{k}.state_normalized"],
                              normalize_state(golden[f"case.{k}.state"], norm.state_mean, norm.state_std))
        assert np.array_equal(golden[f"case.{k}.actions"], denormalize_actions(
            golden[f"case.{k}.actions_normalized"], norm.action_mean, norm.action_std))
        counts.add(int(golden[f"case.{k}.token_count"][0]))
    assert 0 in counts and a.max_text_tokens in counts
    assert "" in [meta[f"instruction.{k}"] for k in range(k_count)]


def test_same_seed_same_bytes(folder: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    init_folder(again, new_config("m", small_arch()), 21, variants=VARIANTS, scheme="conformance", command="test")
    for name in ("model.safetensors", "model-bf16.safetensors", "model-int8.safetensors", "golden.safetensors"):
        assert filecmp.cmp(folder / name, again / name, shallow=False), name
    a, b = (json.loads((p / "config.json").read_text()) for p in (folder, again))
    a.pop("provenance"), b.pop("provenance")
    assert a == b
    other = tmp_path / "other"
    init_folder(other, new_config("m", small_arch()), 22, command="test")
    assert not filecmp.cmp(folder / "golden.safetensors", other / "golden.safetensors", shallow=False)


# --- The committed fixtures ---------------------------------------------------------------------------


def test_fixtures_reproduce() -> None:
    assert check_all(FIXTURE_ROOT) == []


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_is_small_and_complete(name: str) -> None:
    folder = FIXTURE_ROOT / name
    fixture = next(f for f in FIXTURES if f.name == name)
    config = load_folder_config(folder)
    assert config.architecture == fixture.arch
    assert tuple(config.weights) == fixture.variants
    assert sum(p.stat().st_size for p in folder.iterdir()) < 1_000_000
    for v in fixture.variants:
        load_folder(folder, v)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_golden_matches_the_numpy_reference(name: str) -> None:
    folder = FIXTURE_ROOT / name
    config = load_folder_config(folder)
    golden, meta = load_golden(folder)
    for v in config.weights:
        params = load_folder(folder, v).params
        suffix = "" if v == "fp32" else f".{v}"
        for k in range(int(meta["cases"])):
            ref = reference_forward(config.architecture, params, golden[f"case.{k}.images"], golden[f"case.{k}.tokens"],
                                    int(golden[f"case.{k}.token_count"][0]), golden[f"case.{k}.state_normalized"])
            assert np.abs(ref - golden[f"case.{k}.actions_normalized{suffix}"]).max() <= 1e-5, (v, k)
