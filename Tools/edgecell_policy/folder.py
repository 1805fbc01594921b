"""Model folders (Models/README.md): write a complete folder, read and verify one.

A folder is written weights first, then `golden.safetensors`, then `config.json` (which holds the weights'
SHA-256), each file atomically; a folder with a `config.json` is therefore complete. Reading checks the
hash of every weight file it opens and the exact tensor set of §4 (names, dtypes, shapes, metadata).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import __version__, tensorfile
from .config import (
    VARIANTS,
    WEIGHT_FILES,
    Architecture,
    ConfigError,
    Control,
    ModelConfig,
    Normalization,
    Provenance,
    Robot,
    WeightFile,
    load_config,
    save_config,
)
from .golden import GoldenCase, compute_golden, make_cases
from .model import init_params, param_shapes
from .quantize import from_variant, quantized_names, to_variant

CONFIG_FILE = "config.json"
GOLDEN_FILE = "golden.safetensors"

#: Words of the twin's task instructions (Sim/edgecell_twin/tasks.py) then likely operator words.
TASK_WORDS: tuple[str, ...] = ("put", "the", "red", "cube", "in", "bin", "stack", "blue", "on", "green")
OPERATOR_WORDS: tuple[str, ...] = (
    "a", "and", "pick", "place", "move", "into", "onto", "to", "top", "of", "left", "right", "block", "box",
    "up", "down", "grab", "drop", "release", "it", "then", "next", "table", "yellow", "open", "close", "gripper",
    "from", "front", "back", "small", "large",
)
DEFAULT_VOCABULARY: tuple[str, ...] = ("<pad>", "<unk>") + TASK_WORDS + OPERATOR_WORDS

#: UR5e home posture (Sim/edgecell_twin/model.py HOME_Q) and a half-open gripper: placeholder normalisation
#: for untrained models (std 1 rad per joint, 0.04 m for the gripper) until training computes real statistics.
HOME_STATE: tuple[float, ...] = (0.0, -math.pi / 2, math.pi / 2, -math.pi / 2, -math.pi / 2, 0.0, 0.04)
PLACEHOLDER_STD: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.04)
UR5E_JOINTS: tuple[str, ...] = ("shoulder_pan", "shoulder_lift", "elbow", "wrist_1", "wrist_2", "wrist_3")


class ModelFolderError(ValueError):
    """A model folder that cannot be used; the message names the file and the problem."""


def default_architecture(**overrides: object) -> Architecture:
    """Models/README.md §1's example architecture, with `overrides`."""
    base = Architecture(cameras=("scene", "wrist"), image_width=96, image_height=96, patch_size=16,
                        max_text_tokens=16, state_dim=7, action_dim=7, horizon=20, width=256, depth=4, heads=4,
                        mlp_width=1024, layer_norm_epsilon=1e-5)
    return replace(base, **overrides)  # type: ignore[arg-type]


def placeholder_normalization(state_dim: int, action_dim: int) -> Normalization:
    """Home posture means, 1 rad / 0.04 m stds (UR5e: 6 joints + gripper); other sizes: mean 0, std 1."""

    def pick(n: int, values: tuple[float, ...], fill: float) -> tuple[float, ...]:
        return values if n == len(values) else (fill,) * n

    return Normalization(state_mean=pick(state_dim, HOME_STATE, 0.0), state_std=pick(state_dim, PLACEHOLDER_STD, 1.0),
                         action_mean=pick(action_dim, HOME_STATE, 0.0),
                         action_std=pick(action_dim, PLACEHOLDER_STD, 1.0))


def git_commit(path: str | os.PathLike[str]) -> str | None:
    """HEAD of the git repository holding `path` (for provenance: this tool's own checkout), or None."""
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def git_revision(path: str | os.PathLike[str], dirty_paths: tuple[str, ...] = ()) -> str | None:
    """`git_commit(path)`, with "+dirty" appended when the working tree differs from it in `dirty_paths`
    (relative to the repository root; all tracked files if empty)."""
    commit = git_commit(path)
    if commit is None:
        return None
    try:
        top = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10, check=False).stdout.strip()
        out = subprocess.run(["git", "-C", top, "status", "--porcelain", "--", *dirty_paths], capture_output=True,
                             text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return commit
    return commit + "+dirty" if out.returncode == 0 and out.stdout.strip() else commit


def utc_now() -> str:
    """ISO 8601 UTC time, seconds, with a Z."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def new_config(name: str, arch: Architecture, vocabulary: tuple[str, ...] = DEFAULT_VOCABULARY,
               action_period: float = 0.01) -> ModelConfig:
    """A config for a fresh model (no weights or provenance yet), validated."""
    config = ModelConfig(name=name, architecture=arch, vocabulary=tuple(vocabulary),
                         normalization=placeholder_normalization(arch.state_dim, arch.action_dim),
                         robot=Robot("UR5e", UR5E_JOINTS, "parallel-2f85"), control=Control(action_period))
    config.validate()
    return config


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Lower-case hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_folder(
    out: str | os.PathLike[str],
    config: ModelConfig,
    params: dict[str, np.ndarray],
    *,
    variants: tuple[str, ...] = ("fp32",),
    provenance: Provenance,
    golden_seed: int,
    log: object = None,
    extra_cases: list[GoldenCase] | None = None,
) -> ModelConfig:
    """Writes a complete model folder (weights per variant, golden vectors, config.json) and returns the
    config written. `params` are fp32; `extra_cases` (e.g. real dataset frames) follow the standard golden
    cases; `log` is an optional callable for progress lines."""
    say = log if callable(log) else (lambda _msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_params(config, params)
    if "fp32" not in variants:
        variants = ("fp32",) + tuple(variants)
    weights: dict[str, WeightFile] = {}
    dequantized: dict[str, dict[str, np.ndarray]] = {}
    depth = config.architecture.depth
    for variant in VARIANTS:
        if variant not in variants:
            continue
        tensors, dtypes = to_variant(params, depth, variant)
        meta = {"format": "edgecell-vla", "format_version": "1", "variant": variant}
        data = tensorfile.write(out / WEIGHT_FILES[variant], tensors, meta, dtypes)
        weights[variant] = WeightFile(WEIGHT_FILES[variant], hashlib.sha256(data).hexdigest())
        dequantized[variant] = from_variant(tensors, dtypes, depth)
        say(f"wrote {out / WEIGHT_FILES[variant]} ({len(data)} bytes)")
    say(f"computing golden vectors ({', '.join(dequantized)})")
    cases = make_cases(config, golden_seed) + list(extra_cases or [])
    tensors, meta = compute_golden(config, dequantized, cases)
    data = tensorfile.write(out / GOLDEN_FILE, tensors, meta)
    say(f"wrote {out / GOLDEN_FILE} ({len(data)} bytes, {meta['cases']} cases)")
    final = replace(config, weights=weights, provenance=provenance)
    save_config(final, out / CONFIG_FILE)
    say(f"wrote {out / CONFIG_FILE}")
    return final


def init_folder(
    out: str | os.PathLike[str],
    config: ModelConfig,
    seed: int,
    *,
    variants: tuple[str, ...] = ("fp32",),
    scheme: str = "standard",
    command: str = "",
    log: object = None,
) -> ModelConfig:
    """A random-init model folder (provenance data "random init"), deterministic for `seed` except for
    the provenance's date and commit."""
    params = init_params(config.architecture, config.vocab_size, seed, scheme)
    provenance = Provenance(tool=f"edgecell_policy {__version__}", command=command, seed=seed,
                            commit=git_commit(Path(__file__).resolve().parent),
                            created=utc_now(), data="random init" if scheme == "standard"
                            else "random init (conformance scheme)")
    return write_folder(out, config, params, variants=variants, provenance=provenance, golden_seed=seed, log=log)


# --- Reading ----------------------------------------------------------------------------------------------


def expected_tensors(config: ModelConfig, variant: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Name → (dtype, shape) of every tensor the `variant` file must hold, exactly (§4)."""
    shapes = param_shapes(config.architecture, config.vocab_size)
    spec = {name: ("F32", shape) for name, shape in shapes.items()}
    if variant == "fp32":
        return spec
    for name in quantized_names(config.architecture.depth):
        if variant == "bf16":
            spec[name] = ("BF16", shapes[name])
        elif variant == "int8":
            spec[name] = ("I8", shapes[name])
            spec[name + ".scale"] = ("F32", (shapes[name][0],))
        else:
            raise ModelFolderError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return spec


def check_params(config: ModelConfig, params: dict[str, np.ndarray]) -> None:
    """Raises `ModelFolderError` unless `params` has exactly the fp32 tensors of `config`, finite."""
    shapes = param_shapes(config.architecture, config.vocab_size)
    missing = sorted(set(shapes) - set(params))
    extra = sorted(set(params) - set(shapes))
    if missing or extra:
        raise ModelFolderError(f"parameters: missing {missing}, unexpected {extra}")
    for name, shape in shapes.items():
        if tuple(np.shape(params[name])) != shape:
            raise ModelFolderError(f"parameter {name!r}: shape {list(np.shape(params[name]))}, expected {list(shape)}")
        if not np.isfinite(params[name]).all():
            raise ModelFolderError(f"parameter {name!r}: holds NaN or infinity")


def load_folder_config(folder: str | os.PathLike[str]) -> ModelConfig:
    """The validated config.json of a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: not a model folder (no such directory)")
    if not (folder / CONFIG_FILE).is_file():
        raise ModelFolderError(f"{folder}: not a model folder (no {CONFIG_FILE})")
    try:
        return load_config(folder / CONFIG_FILE)
    except ConfigError as e:
        raise ModelFolderError(str(e)) from None


@dataclass(frozen=True)
class LoadedModel:
    """A folder's config and one variant's weights, dequantised to fp32."""

    config: ModelConfig
    variant: str
    params: dict[str, np.ndarray]
    path: Path


def load_folder(folder: str | os.PathLike[str], variant: str = "fp32") -> LoadedModel:
    """Reads config.json and the `variant` weights, refusing a file whose SHA-256 differs from config.json's or
    whose tensors differ from §4 in any name, dtype, shape or metadata."""
    folder = Path(folder)
    config = load_folder_config(folder)
    if variant not in config.weights:
        raise ModelFolderError(f"{folder}: config.json lists no {variant} weights (has {', '.join(config.weights)})")
    wf = config.weights[variant]
    path = folder / wf.file
    if not path.is_file():
        raise ModelFolderError(f"{path}: missing (listed in config.json weights.{variant})")
    digest = sha256_file(path)
    if digest != wf.sha256:
        raise ModelFolderError(f"{path}: SHA-256 {digest} differs from config.json's {wf.sha256}; refusing it")
    try:
        tensors, metadata, dtypes = tensorfile.read(path)
    except tensorfile.TensorFileError as e:
        raise ModelFolderError(str(e)) from None
    want_meta = {"format": "edgecell-vla", "format_version": "1", "variant": variant}
    for k, v in want_meta.items():
        if metadata.get(k) != v:
            raise ModelFolderError(f"{path}: __metadata__ {k!r} is {metadata.get(k)!r}, expected {v!r}")
    spec = expected_tensors(config, variant)
    missing = sorted(set(spec) - set(tensors))
    extra = sorted(set(tensors) - set(spec))
    if missing:
        raise ModelFolderError(f"{path}: missing tensors {missing}")
    if extra:
        raise ModelFolderError(f"{path}: unexpected tensors {extra}")
    for name, (dt, shape) in spec.items():
        if dtypes[name] != dt:
            raise ModelFolderError(f"{path}: tensor {name!r} is {dtypes[name]}, expected {dt}")
        if tuple(tensors[name].shape) != shape:
            raise ModelFolderError(
                f"{path}: tensor {name!r}: shape {list(tensors[name].shape)}, expected {list(shape)}"
            )
    params = from_variant(tensors, dtypes, config.architecture.depth)
    return LoadedModel(config=config, variant=variant, params=params, path=folder)


def load_golden(folder: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of a folder's golden.safetensors."""
    path = Path(folder) / GOLDEN_FILE
    try:
        tensors, metadata, _ = tensorfile.read(path)
    except tensorfile.TensorFileError as e:
        raise ModelFolderError(str(e)) from None
    if "cases" not in metadata or not metadata["cases"].isdigit():
        raise ModelFolderError(f"{path}: __metadata__ has no case count")
    return tensors, metadata
