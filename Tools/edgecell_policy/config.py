"""`config.json` of a policy model folder (Models/README.md §1): dataclasses, validation, canonical JSON.

Everything read from disk is validated field by field; a problem raises `ConfigError` naming the file, the
field and the value. Writing goes through `atomic_write_bytes` (temp file, fsync, rename), so a reader never
sees half a file.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

FORMAT = "edgecell-vla"
FORMAT_VERSION = 1
VARIANTS: tuple[str, ...] = ("fp32", "bf16", "int8")
WEIGHT_FILES: dict[str, str] = {
    "fp32": "model.safetensors",
    "bf16": "model-bf16.safetensors",
    "int8": "model-int8.safetensors",
}
MAX_CAMERAS = 4
MAX_KEYPOINTS = 64
PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9]+\Z")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


class ConfigError(ValueError):
    """A configuration that breaks the format contract; the message names the field and the value."""


@dataclass(frozen=True)
class Architecture:
    """Every shape of the network (§1 `architecture`, §3)."""

    cameras: tuple[str, ...]
    image_width: int
    image_height: int
    patch_size: int
    max_text_tokens: int
    state_dim: int
    action_dim: int
    horizon: int
    width: int
    depth: int
    heads: int
    mlp_width: int
    layer_norm_epsilon: float = 1e-5
    keypoints: int = 0

    @property
    def keypoint_features(self) -> int:
        """C · K · 2: the spatial soft-argmax stem's (x, y) per camera and keypoint (0 without the stem)."""
        return self.num_cameras * self.keypoints * 2

    @property
    def num_cameras(self) -> int:
        """C."""
        return len(self.cameras)

    @property
    def patches_per_camera(self) -> int:
        """Np = (image_height / P) · (image_width / P)."""
        return (self.image_height // self.patch_size) * (self.image_width // self.patch_size)

    @property
    def patch_dim(self) -> int:
        """P · P · 3."""
        return self.patch_size * self.patch_size * 3

    @property
    def head_dim(self) -> int:
        """dh = d / heads."""
        return self.width // self.heads

    @property
    def sequence_length(self) -> int:
        """T = C · Np + L + 1 + H."""
        return self.num_cameras * self.patches_per_camera + self.max_text_tokens + 1 + self.horizon

    def validate(self) -> None:
        """Raises `ConfigError` unless every §1 constraint holds."""
        if not 1 <= len(self.cameras) <= MAX_CAMERAS:
            raise ConfigError(f"architecture.cameras: {len(self.cameras)} cameras, expected 1…{MAX_CAMERAS}")
        for name in self.cameras:
            if not isinstance(name, str) or not name:
                raise ConfigError(f"architecture.cameras: {name!r} is not a non-empty name")
        if len(set(self.cameras)) != len(self.cameras):
            raise ConfigError(f"architecture.cameras: duplicate names in {list(self.cameras)}")
        for key in ("image_width", "image_height", "patch_size", "max_text_tokens", "state_dim", "action_dim",
                    "horizon", "width", "depth", "heads", "mlp_width"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"architecture.{key}: {value!r}, expected an integer ≥ 1")
        for key in ("image_width", "image_height"):
            if getattr(self, key) % self.patch_size:
                raise ConfigError(
                    f"architecture.{key}: {getattr(self, key)} is not a multiple of patch_size {self.patch_size}"
                )
        if self.width % self.heads:
            raise ConfigError(f"architecture.width: {self.width} is not divisible by heads {self.heads}")
        k = self.keypoints
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= MAX_KEYPOINTS:
            raise ConfigError(f"architecture.keypoints: {k!r}, expected an integer 0…{MAX_KEYPOINTS}")
        eps = self.layer_norm_epsilon
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
            raise ConfigError(f"architecture.layer_norm_epsilon: {eps!r}, expected a positive number")


@dataclass(frozen=True)
class Normalization:
    """Affine maps between raw and network units (§1 `normalization`)."""

    state_mean: tuple[float, ...]
    state_std: tuple[float, ...]
    action_mean: tuple[float, ...]
    action_std: tuple[float, ...]


@dataclass(frozen=True)
class Robot:
    """What the cell's handshake must report for the model to be used on it."""

    name: str
    joints: tuple[str, ...]
    gripper: str


@dataclass(frozen=True)
class Control:
    """`action_period`: seconds between two rows of the action chunk."""

    action_period: float


@dataclass(frozen=True)
class WeightFile:
    """One weight file of the folder and its SHA-256 (lower-case hex)."""

    file: str
    sha256: str


@dataclass(frozen=True)
class Provenance:
    """Where the weights came from. `data` is a description string for untrained models and an object for
    trained ones (the trainer writes `data.tasks`, which the runtime reads); `extra` holds any further keys
    (the trainer's `training` and `base`), kept in order on a round trip."""

    tool: str
    command: str
    seed: int | None
    commit: str | None
    created: str
    data: str | dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """The whole `config.json`."""

    name: str
    architecture: Architecture
    vocabulary: tuple[str, ...]
    normalization: Normalization
    robot: Robot
    control: Control
    weights: dict[str, WeightFile] = field(default_factory=dict)
    provenance: Provenance | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def vocab_size(self) -> int:
        """V."""
        return len(self.vocabulary)

    def with_weights(self, weights: dict[str, WeightFile]) -> ModelConfig:
        """A copy with `weights` replaced."""
        return replace(self, weights=dict(weights))

    def validate(self) -> None:
        """Raises `ConfigError` unless the whole configuration satisfies §1."""
        if self.format != FORMAT:
            raise ConfigError(f"format: {self.format!r}, expected {FORMAT!r}")
        if self.format_version != FORMAT_VERSION:
            raise ConfigError(f"format_version: {self.format_version!r}, this tool reads {FORMAT_VERSION}")
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name: {self.name!r}, expected a non-empty string")
        self.architecture.validate()
        vocab = self.vocabulary
        if len(vocab) < 2 or vocab[0] != PAD or vocab[1] != UNK:
            raise ConfigError(f"vocabulary: must start with {PAD!r}, {UNK!r}; got {list(vocab[:2])}")
        seen: set[str] = set()
        for i, word in enumerate(vocab[2:], start=2):
            if not isinstance(word, str) or not _WORD.match(word):
                raise ConfigError(f"vocabulary[{i}]: {word!r} is not a word of a-z and 0-9")
            if word in seen:
                raise ConfigError(f"vocabulary[{i}]: {word!r} appears twice")
            seen.add(word)
        arch = self.architecture
        norm = self.normalization
        for key, size in (("state_mean", arch.state_dim), ("state_std", arch.state_dim),
                          ("action_mean", arch.action_dim), ("action_std", arch.action_dim)):
            values = getattr(norm, key)
            if len(values) != size:
                raise ConfigError(f"normalization.{key}: {len(values)} numbers, expected {size}")
            for i, v in enumerate(values):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise ConfigError(f"normalization.{key}[{i}]: {v!r} is not a finite number")
                if key.endswith("std") and not v > 0:
                    raise ConfigError(f"normalization.{key}[{i}]: {v!r}, expected > 0")
        if not isinstance(self.robot.name, str) or not isinstance(self.robot.gripper, str):
            raise ConfigError("robot: name and gripper must be strings")
        if not all(isinstance(j, str) and j for j in self.robot.joints):
            raise ConfigError(f"robot.joints: {list(self.robot.joints)!r}, expected non-empty names")
        period = self.control.action_period
        if isinstance(period, bool) or not isinstance(period, (int, float)) or not (
            math.isfinite(period) and period > 0
        ):
            raise ConfigError(f"control.action_period: {period!r}, expected a positive number of seconds")
        for variant, wf in self.weights.items():
            if variant not in VARIANTS:
                raise ConfigError(f"weights.{variant}: unknown variant, expected one of {', '.join(VARIANTS)}")
            if not isinstance(wf.file, str) or not wf.file or "/" in wf.file or "\\" in wf.file or wf.file in (
                ".", ".."
            ):
                raise ConfigError(f"weights.{variant}.file: {wf.file!r} is not a file name inside the folder")
            if not isinstance(wf.sha256, str) or not _SHA256.match(wf.sha256):
                raise ConfigError(f"weights.{variant}.sha256: {wf.sha256!r} is not 64 lower-case hex digits")
        if self.weights and "fp32" not in self.weights:
            raise ConfigError("weights: the fp32 file is required")

    # --- JSON ------------------------------------------------------------------------------------------

    def to_json_dict(self) -> dict[str, Any]:
        """The §1 JSON object, keys in the documented order."""
        a = self.architecture
        out: dict[str, Any] = {
            "format": self.format,
            "format_version": self.format_version,
            "name": self.name,
            "architecture": {
                "cameras": list(a.cameras),
                "image_width": a.image_width,
                "image_height": a.image_height,
                "patch_size": a.patch_size,
                "max_text_tokens": a.max_text_tokens,
                "state_dim": a.state_dim,
                "action_dim": a.action_dim,
                "horizon": a.horizon,
                "width": a.width,
                "depth": a.depth,
                "heads": a.heads,
                "mlp_width": a.mlp_width,
                "layer_norm_epsilon": a.layer_norm_epsilon,
                **({"keypoints": a.keypoints} if a.keypoints else {}),
            },
            "vocabulary": list(self.vocabulary),
            "normalization": {
                "state_mean": list(self.normalization.state_mean),
                "state_std": list(self.normalization.state_std),
                "action_mean": list(self.normalization.action_mean),
                "action_std": list(self.normalization.action_std),
            },
            "robot": {"name": self.robot.name, "joints": list(self.robot.joints), "gripper": self.robot.gripper},
            "control": {"action_period": self.control.action_period},
            "weights": {
                v: {"file": self.weights[v].file, "sha256": self.weights[v].sha256}
                for v in VARIANTS
                if v in self.weights
            },
        }
        if self.provenance is not None:
            p = self.provenance
            out["provenance"] = {"tool": p.tool, "command": p.command, "seed": p.seed, "commit": p.commit,
                                 "created": p.created, "data": p.data, **p.extra}
        out["metrics"] = dict(self.metrics)
        return out

    def to_json(self) -> str:
        """Canonical JSON text (see `canonical_json`)."""
        return canonical_json(self.to_json_dict())

    @staticmethod
    def from_json_dict(obj: Any, source: str = "config.json") -> ModelConfig:
        """Parses and validates a §1 object; `source` names the file in error messages."""
        try:
            return _parse(obj)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None


def _require(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where or 'top level'}: expected an object, got {type(obj).__name__}")
    if key not in obj:
        raise ConfigError(f"{where + '.' if where else ''}{key}: missing")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ConfigError(f"{where + '.' if where else ''}{key}: {value!r} has the wrong type")
    return value


def _numbers(obj: dict[str, Any], key: str, where: str) -> tuple[float, ...]:
    values = _require(obj, key, list, where)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{where}.{key}[{i}]: {v!r} is not a number")
    return tuple(float(v) for v in values)


def _strings(obj: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = _require(obj, key, list, where)
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise ConfigError(f"{where + '.' if where else ''}{key}[{i}]: {v!r} is not a string")
    return tuple(values)


def _parse(obj: Any) -> ModelConfig:
    fmt = _require(obj, "format", str, "")
    version = _require(obj, "format_version", int, "")
    if fmt != FORMAT:
        raise ConfigError(f"format: {fmt!r}, expected {FORMAT!r}")
    if version != FORMAT_VERSION:
        raise ConfigError(f"format_version: {version!r}, this tool reads {FORMAT_VERSION}")
    a = _require(obj, "architecture", dict, "")
    known = {"cameras", "image_width", "image_height", "patch_size", "max_text_tokens", "state_dim", "action_dim",
             "horizon", "width", "depth", "heads", "mlp_width", "layer_norm_epsilon"}
    extra = sorted(set(a) - known - {"keypoints"})
    if extra:
        raise ConfigError(f"architecture: unknown fields {extra}")
    ints = {k: _require(a, k, int, "architecture") for k in sorted(known - {"cameras", "layer_norm_epsilon"})}
    if "keypoints" in a:
        ints["keypoints"] = _require(a, "keypoints", int, "architecture")
    eps = _require(a, "layer_norm_epsilon", (int, float), "architecture")
    arch = Architecture(cameras=_strings(a, "cameras", "architecture"), layer_norm_epsilon=float(eps), **ints)
    n = _require(obj, "normalization", dict, "")
    norm = Normalization(*(_numbers(n, k, "normalization") for k in ("state_mean", "state_std", "action_mean",
                                                                        "action_std")))
    r = _require(obj, "robot", dict, "")
    robot = Robot(_require(r, "name", str, "robot"), _strings(r, "joints", "robot"), _require(r, "gripper", str,
                                                                                               "robot"))
    c = _require(obj, "control", dict, "")
    control = Control(float(_require(c, "action_period", (int, float), "control")))
    weights: dict[str, WeightFile] = {}
    for variant, wf in _require(obj, "weights", dict, "").items():
        weights[variant] = WeightFile(_require(wf, "file", str, f"weights.{variant}"),
                                      _require(wf, "sha256", str, f"weights.{variant}"))
    provenance = None
    if "provenance" in obj:
        p = _require(obj, "provenance", dict, "")
        seed = p.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"provenance.seed: {seed!r}, expected an integer or null")
        commit = p.get("commit")
        if commit is not None and not isinstance(commit, str):
            raise ConfigError(f"provenance.commit: {commit!r}, expected a string or null")
        known_p = ("tool", "command", "seed", "commit", "created", "data")
        provenance = Provenance(tool=_require(p, "tool", str, "provenance"),
                                command=_require(p, "command", str, "provenance"), seed=seed, commit=commit,
                                created=_require(p, "created", str, "provenance"),
                                data=_require(p, "data", (str, dict), "provenance"),
                                extra={k: v for k, v in p.items() if k not in known_p})
    metrics = obj.get("metrics", {})
    if not isinstance(metrics, dict):
        raise ConfigError(f"metrics: {metrics!r}, expected an object")
    config = ModelConfig(name=_require(obj, "name", str, ""), architecture=arch,
                         vocabulary=_strings(obj, "vocabulary", ""), normalization=norm, robot=robot,
                         control=control, weights=weights, provenance=provenance, metrics=dict(metrics),
                         format=fmt, format_version=version)
    config.validate()
    return config


# --- Canonical JSON and atomic files ---------------------------------------------------------------------


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: objects one key per line (2-space indent, insertion order), lists of scalars on one
    line, floats in Python's shortest round-trip form, UTF-8 text, a final newline. NaN/inf are refused."""

    def scalar(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False, allow_nan=False)

    def emit(v: Any, indent: int) -> str:
        pad = "  " * (indent + 1)
        if isinstance(v, dict):
            if not v:
                return "{}"
            items = [f"{pad}{scalar(str(k))}: {emit(x, indent + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
        if isinstance(v, (list, tuple)):
            if all(not isinstance(x, (dict, list, tuple)) for x in v):
                return "[" + ", ".join(scalar(x) for x in v) + "]"
            items = [f"{pad}{emit(x, indent + 1)}" for x in v]
            return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
        return scalar(v)

    return emit(obj, 0) + "\n"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Writes `data` to `path` so that readers see the old file or the whole new one: a temp file in the same
    folder, fsync, rename, fsync of the folder."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_config(path: str | os.PathLike[str]) -> ModelConfig:
    """Reads and validates a `config.json`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    return ModelConfig.from_json_dict(obj, source=str(path))


def save_config(config: ModelConfig, path: str | os.PathLike[str]) -> None:
    """Validates `config` and writes it as canonical JSON, atomically."""
    config.validate()
    atomic_write_bytes(path, config.to_json().encode("utf-8"))
