"""Training and fine-tuning of the policy on demonstration datasets (docs/TRAINING.md).

ACT-style behaviour cloning: L1 loss on normalised action chunks, AdamW with linear warm-up and cosine decay,
gradient clipping, random image shifts (edge padding + crop, ±4 px) and mild brightness/contrast jitter per
sample and camera. The whole training set sits in RAM as uint8 (one device array on the CPU backend); a step
gathers its batch, augments it and updates the weights inside one jitted function, so the Python loop does
nothing per sample. Everything random comes from `seed`.

Fine-tuning (`base`): the base model's architecture, normalisation and action period are kept, its weights
are the starting point, and the vocabulary grows by the datasets' new instruction words (new embedding rows
start from the `<unk>` row plus small noise, so a new word first reads as an unknown one). A dataset whose
robot, cameras or image size differ from the base model's is refused with a message naming the difference.
"""

from __future__ import annotations

import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import __version__
from .config import (
    Architecture,
    Control,
    ModelConfig,
    Normalization,
    Provenance,
    Robot,
    atomic_write_bytes,
)
from .dataset import Dataset, DatasetError, Samples, make_samples, normalization_stats, open_dataset
from .defaults import DEFAULTS
from .folder import DEFAULT_VOCABULARY, load_folder, write_folder
from .golden import GoldenCase
from .model import _truncated_normal, forward_batched, init_params, parameter_count
from .tokenizer import UNK_ID, Tokenizer, split_words

SHIFT_PIXELS = 4
# The keypoint convolution learns this many times faster than the rest: a keypoint only moves once its
# softmax over ~10⁴ pixels is sharp, which takes logits that differ by ~10 between an object and the table;
# at the common learning rate the stem stays diffuse and the network learns to ignore it (measured:
# docs/TRAINING.md §12).
KEYPOINT_LR_SCALE = 20.0
BRIGHTNESS = 0.15
CONTRAST = 0.15
GOLDEN_FRAMES = 3


class TrainError(ValueError):
    """Arguments or data that cannot be trained on; the message says what differs or is missing."""


@dataclass
class TrainOptions:
    """Everything `train` needs (the CLI's arguments)."""

    datasets: list[Path]
    out: Path
    base: Path | None = None
    steps: int | None = None
    batch_size: int = DEFAULTS["batch_size"]
    lr: float = DEFAULTS["lr"]
    seed: int = 0
    tasks: list[str] | None = None
    width: int | None = None
    depth: int | None = None
    heads: int | None = None
    mlp_width: int | None = None
    patch_size: int | None = None
    horizon: int | None = None
    action_period: float | None = None
    max_text_tokens: int | None = None
    variants: tuple[str, ...] = ()
    eval_fraction: float = DEFAULTS["eval_fraction"]
    warmup: int | None = None
    weight_decay: float = DEFAULTS["weight_decay"]
    clip: float = DEFAULTS["clip"]
    eval_every: int | None = None
    augment: bool = True
    shift_pixels: int = DEFAULTS["shift_pixels"]
    keypoints: int | None = None
    state_noise: float = DEFAULTS["state_noise"]
    aux_weight: float = DEFAULTS["aux_weight"]
    state_dropout: float = DEFAULTS["state_dropout"]
    name: str | None = None
    command: str = ""
    progress: TextIO | None = None  # default sys.stderr
    log: Callable[[str], None] | None = None


@dataclass
class TrainResult:
    """What a run produced."""

    config: ModelConfig
    params: dict[str, np.ndarray]
    train_loss: float
    heldout_loss: float | None
    history: list[tuple[int, float]]  # (step, smoothed train loss)
    heldout_history: list[tuple[int, float]]
    seconds: float
    seconds_per_step: float
    compile_seconds: float
    frames: int
    heldout_frames: int
    metrics: dict[str, Any] = field(default_factory=dict)


# --- Data preparation -----------------------------------------------------------------------------------------


def robot_of(ds: Dataset) -> Robot:
    """The model's `robot` (name, joints, gripper) of a dataset."""
    return Robot(ds.robot.name, tuple(ds.robot.joints), ds.robot.gripper)


def check_compatible(datasets: Sequence[Dataset], robot: Robot | None = None, arch: Architecture | None = None,
                     what: str = "the base model") -> None:
    """Raises `TrainError` unless every dataset has the same robot (and `robot`, if given) and the cameras and
    image size of `arch` (if given), naming the first difference."""
    first = datasets[0]
    for ds in datasets:
        r = robot_of(ds)
        ref, ref_name = (robot, what) if robot is not None else (robot_of(first), str(first.path))
        for key in ("name", "joints", "gripper"):
            if getattr(r, key) != getattr(ref, key):
                raise TrainError(f"dataset {ds.path}: robot.{key} is {_show(getattr(r, key))}, {ref_name}'s is "
                                 f"{_show(getattr(ref, key))}; refusing to train a model for one robot on another's "
                                 "demonstrations")
        names = tuple(c.name for c in ds.cameras)
        if not ds.cameras:
            raise TrainError(f"dataset {ds.path}: has no cameras; the policy needs images")
        sizes = {(c.width, c.height) for c in ds.cameras}
        if len(sizes) != 1:
            raise TrainError(f"dataset {ds.path}: cameras of different sizes "
                             f"({', '.join(f'{c.name} {c.width}×{c.height}' for c in ds.cameras)}); the network "
                             "takes one image size")
        if arch is not None:
            if names != arch.cameras:
                raise TrainError(f"dataset {ds.path}: cameras are {list(names)}, {what} takes {list(arch.cameras)} "
                                 "(same names, same order)")
            (w, h), = sizes
            if (w, h) != (arch.image_width, arch.image_height):
                raise TrainError(f"dataset {ds.path}: images are {w}×{h}, {what} takes "
                                 f"{arch.image_width}×{arch.image_height}")
        elif names != tuple(c.name for c in first.cameras) or sizes != {(first.cameras[0].width,
                                                                             first.cameras[0].height)}:
            raise TrainError(f"dataset {ds.path}: cameras {[(c.name, c.width, c.height) for c in ds.cameras]} differ "
                             f"from {first.path}'s {[(c.name, c.width, c.height) for c in first.cameras]}")
        if len(ds.robot.joints) + 1 != (arch.state_dim if arch else len(first.robot.joints) + 1):
            raise TrainError(f"dataset {ds.path}: {len(ds.robot.joints)} joints + gripper do not make the "
                             f"network's state size {arch.state_dim if arch else '?'}")


def _show(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def extend_vocabulary(vocabulary: Sequence[str], instructions: Sequence[str]) -> tuple[str, ...]:
    """`vocabulary` followed by the instructions' words it lacks, in first-use order."""
    out = list(vocabulary)
    known = set(out)
    for text in instructions:
        for word in split_words(text):
            if word not in known:
                out.append(word)
                known.add(word)
    return tuple(out)


def split_episodes(tasks_of_episode: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """bool [episodes]: True for held-out episodes, `fraction` of each task's episodes (rounded, at least one
    when the task has two or more and fraction > 0), chosen from `seed`."""
    rng = np.random.default_rng([seed, 7])
    held = np.zeros(len(tasks_of_episode), bool)
    if fraction <= 0:
        return held
    by_task: dict[str, list[int]] = {}
    for i, t in enumerate(tasks_of_episode):
        by_task.setdefault(t, []).append(i)
    for task in sorted(by_task):
        ids = by_task[task]
        if len(ids) < 2:
            continue
        k = min(len(ids) - 1, max(1, round(fraction * len(ids))))
        held[rng.choice(ids, size=k, replace=False)] = True
    return held


# --- The jitted step --------------------------------------------------------------------------------------------


def augment(images: jax.Array, key: jax.Array, shift: int = SHIFT_PIXELS, brightness: float = BRIGHTNESS,
            contrast: float = CONTRAST) -> jax.Array:
    """Random shift (edge-pad by `shift`, crop back at a random offset) and brightness/contrast jitter, drawn
    per sample and camera: uint8 [B, C, H, W, 3] → float32 pixel values 0…255."""
    b, c, h, w, _ = images.shape
    k_shift, k_bright, k_contrast = jax.random.split(key, 3)
    x = images.astype(jnp.float32)
    if shift > 0:
        padded = jnp.pad(x, ((0, 0), (0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
        offsets = jax.random.randint(k_shift, (b, c, 2), 0, 2 * shift + 1)

        def crop(img: jax.Array, off: jax.Array) -> jax.Array:
            return jax.lax.dynamic_slice(img, (off[0], off[1], 0), (h, w, 3))

        x = jax.vmap(jax.vmap(crop))(padded, offsets)
    gain = jax.random.uniform(k_bright, (b, c, 1, 1, 1), minval=1 - brightness, maxval=1 + brightness)
    spread = jax.random.uniform(k_contrast, (b, c, 1, 1, 1), minval=1 - contrast, maxval=1 + contrast)
    mean = jnp.mean(x, axis=(2, 3, 4), keepdims=True)
    return jnp.clip(((x - mean) * spread + mean) * gain, 0, 255)


def decay_mask(params: dict[str, Any]) -> dict[str, bool]:
    """Weight decay on the matrices of linear layers only (not biases, norms, embeddings, positions, queries)."""
    return {k: k.endswith(".weight") and v.ndim == 2 and k != "text.embed" for k, v in params.items()}


def make_optimizer(lr: float, steps: int, warmup: int, weight_decay: float, clip: float,
                   params: dict[str, Any]) -> optax.GradientTransformation:
    """Gradient clipping by global norm, then AdamW on a warm-up + cosine schedule (to 5 % of `lr`)."""
    schedule = optax.warmup_cosine_decay_schedule(init_value=0.0, peak_value=lr, warmup_steps=max(1, warmup),
                                                  decay_steps=max(steps, warmup + 1), end_value=lr * 0.05)
    return optax.chain(optax.clip_by_global_norm(clip),
                       optax.adamw(schedule, weight_decay=weight_decay, mask=decay_mask(params)),
                       _scale_updates({"keypoint.conv.weight": KEYPOINT_LR_SCALE}))


def _scale_updates(factors: dict[str, float]) -> optax.GradientTransformation:
    """Multiplies the updates of the named parameters (a per-tensor learning-rate multiplier)."""

    def init(params: Any) -> optax.EmptyState:
        return optax.EmptyState()

    def update(updates: Any, state: optax.EmptyState, params: Any = None) -> tuple[Any, optax.EmptyState]:
        return {k: v * factors[k] if k in factors else v for k, v in updates.items()}, state

    return optax.GradientTransformation(init, update)


def object_targets(episode_objects: Sequence[dict[str, tuple[float, ...]] | None]
                   ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The auxiliary targets: (object names, float32 [episodes, 4·K], bool [episodes]).

    For each object whose initial pose varies between episodes (the cubes; not the fixed bin), its initial x and
    y (standardised over the episodes) and sin 4ψ, cos 4ψ of its yaw ψ (a cube looks the same every quarter
    turn). Episodes recorded without object poses get zeros and False (no auxiliary loss on their frames)."""
    known = [o for o in episode_objects if o]
    if not known:
        return [], np.zeros((len(episode_objects), 0), np.float32), np.zeros(len(episode_objects), bool)
    names = sorted(set.intersection(*(set(o) for o in known)))
    poses = np.asarray([[o[n] for n in names] for o in known], np.float64)  # [E, K, 7]
    varies = poses[:, :, :2].std(axis=0).max(axis=1) > 1e-6
    names = [n for n, v in zip(names, varies, strict=True) if v]
    poses = poses[:, varies]
    xy = poses[:, :, :2]
    mean, std = xy.mean(axis=0), np.maximum(xy.std(axis=0), 1e-3)
    out = np.zeros((len(episode_objects), 4 * len(names)), np.float32)
    mask = np.zeros(len(episode_objects), bool)
    for e, o in enumerate(episode_objects):
        if not o or any(n not in o for n in names):
            continue
        for k, n in enumerate(names):
            x, y, _z, qw, _qx, _qy, qz = o[n]
            yaw = 2 * math.atan2(qz, qw)
            out[e, 4 * k:4 * k + 4] = ((x - mean[k, 0]) / std[k, 0], (y - mean[k, 1]) / std[k, 1],
                                       math.sin(4 * yaw), math.cos(4 * yaw))
        mask[e] = True
    return names, out, mask


def _aux_init(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return _truncated_normal(rng, shape, 0.02)


def make_steps(arch: Architecture, optimizer: optax.GradientTransformation, augment_images: bool = True,
               state_noise: float = 0.0, aux_weight: float = 0.0, state_dropout: float = 0.0,
               shift_pixels: int = SHIFT_PIXELS) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(train_step, eval_loss), jitted.

    train_step(params, opt_state, data, idx, key) → (params, opt_state, loss): gathers the batch `idx` from
    the device-resident `data` (images uint8, tokens, counts, normalised states and targets), augments the
    images (shifts of up to `shift_pixels`, brightness and contrast), adds N(0, state_noise²) to the normalised joint positions (not the gripper), and takes one optimiser
    step on the mean L1 error, plus `aux_weight` × the mean L1 error of the auxiliary head (`aux.weight`,
    `aux.bias`: a linear map of the mean of the query rows the action head reads) predicting the objects'
    initial poses (`object_targets`) on frames that have them. The auxiliary head exists only in training: it
    makes the features the actions are read from carry where the objects are, so the network has to find them
    in the images. It returns (params, opt_state, action loss, auxiliary loss).
    eval_loss(params, data, idx) → mean L1 error of the actions without augmentation."""

    def action_loss(params: dict[str, jax.Array], images: jax.Array, tokens: jax.Array, counts: jax.Array,
                    states: jax.Array, targets: jax.Array) -> jax.Array:
        pred = forward_batched(arch, params, images, tokens, counts, states)
        return jnp.mean(jnp.abs(pred - targets))

    def loss_fn(params: dict[str, jax.Array], images: jax.Array, tokens: jax.Array, counts: jax.Array,
                states: jax.Array, targets: jax.Array, objects: jax.Array, has_objects: jax.Array
                ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        if aux_weight <= 0:
            loss = action_loss(params, images, tokens, counts, states, targets)
            return loss, (loss, jnp.float32(0))
        pred, features, points = forward_batched(arch, params, images, tokens, counts, states, return_features=True)
        act = jnp.mean(jnp.abs(pred - targets))
        guess = jnp.einsum("bi,oi->bo", jnp.mean(features, axis=1), params["aux.weight"]) + params["aux.bias"]
        per_frame = jnp.mean(jnp.abs(guess - objects), axis=-1)
        if points is not None:
            # The keypoint stem's own head: the objects' x, y from the keypoint coordinates alone, so the
            # stem's convolution gets a direct signal to find them.
            xy = objects.reshape(objects.shape[0], -1, 4)[:, :, :2].reshape(objects.shape[0], -1)
            kp_guess = jnp.einsum("bi,oi->bo", points, params["aux.kp.weight"]) + params["aux.kp.bias"]
            per_frame = per_frame + jnp.mean(jnp.abs(kp_guess - xy), axis=-1)
        weight = has_objects.astype(jnp.float32)
        aux = jnp.sum(per_frame * weight) / jnp.maximum(jnp.sum(weight), 1)
        return act + aux_weight * aux, (act, aux)

    @partial(jax.jit, donate_argnums=(0, 1))
    def train_step(params: dict[str, jax.Array], opt_state: Any, data: dict[str, jax.Array], idx: jax.Array,
                   key: jax.Array) -> tuple[dict[str, jax.Array], Any, jax.Array]:
        images = data["images"][idx]
        image_key, state_key = jax.random.split(key)
        images = augment(images, image_key, shift_pixels) if augment_images else images.astype(jnp.float32)
        states = data["states"][idx]
        if state_noise > 0:
            # Joint-state noise: without it the network learns to extrapolate the expert's motion from the joint
            # positions alone (a copycat) and ignores the cameras, so it cannot choose where to go from rest.
            noise = state_noise * jax.random.normal(state_key, states[:, :-1].shape, states.dtype)
            states = states.at[:, :-1].add(noise)
        if state_dropout > 0:
            # Joint-state dropout: on a random share of the samples the joint positions are replaced by a random
            # normalised posture, so the joints cannot always be trusted and the cameras must tell where to go.
            drop_key, fill_key = jax.random.split(jax.random.fold_in(state_key, 1))
            dropped = jax.random.bernoulli(drop_key, state_dropout, (states.shape[0], 1))
            fill = jax.random.normal(fill_key, states[:, :-1].shape, states.dtype)
            states = states.at[:, :-1].set(jnp.where(dropped, fill, states[:, :-1]))
        (_, (act, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, images, data["tokens"][idx], data["counts"][idx], states, data["targets"][idx],
            data["objects"][idx], data["has_objects"][idx])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, act, aux

    @jax.jit
    def eval_loss(params: dict[str, jax.Array], data: dict[str, jax.Array], idx: jax.Array) -> jax.Array:
        return action_loss(params, data["images"][idx], data["tokens"][idx], data["counts"][idx],
                           data["states"][idx], data["targets"][idx])

    return train_step, eval_loss


# --- Progress ------------------------------------------------------------------------------------------------


class Progress:
    """A progress line on `stream`: one line rewritten in place on a terminal, else a line every `every`
    seconds (and at the end)."""

    def __init__(self, total: int, stream: TextIO, every: float = 30.0) -> None:
        self.total = total
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every = every
        self.start = time.perf_counter()
        self.last = -math.inf
        self.width = 0

    def update(self, step: int, loss: float, heldout: float | None, rate: float | None, final: bool = False) -> None:
        now = time.perf_counter()
        if not final and not self.tty and now - self.last < self.every:
            return
        if not final and self.tty and now - self.last < 0.2:
            return
        self.last = now
        frac = step / max(1, self.total)
        eta = (self.total - step) / rate if rate else None
        text = (f"step {step}/{self.total} ({frac:5.1%}) loss {loss:.4f}"
                + (f" held-out {heldout:.4f}" if heldout is not None else "")
                + (f" {rate:.2f} steps/s" if rate else "")
                + (f" ETA {_duration(eta)}" if eta is not None and not final else "")
                + (f" elapsed {_duration(now - self.start)}" if final or not self.tty else ""))
        if self.tty:
            bar_width = 20
            filled = int(bar_width * frac)
            text = "[" + "#" * filled + "." * (bar_width - filled) + "] " + text
            pad = max(0, self.width - len(text))
            self.stream.write("\r" + text + " " * pad + ("\n" if final else ""))
            self.width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


# --- The loss curve --------------------------------------------------------------------------------------------


def loss_svg(train: Sequence[tuple[int, float]], heldout: Sequence[tuple[int, float]], title: str) -> str:
    """An SVG line chart of the (smoothed) training loss and the held-out loss against steps, log-scale y."""
    width, height, left, right, top, bottom = 640, 360, 64, 16, 32, 40
    points = [v for _, v in train] + [v for _, v in heldout]
    points = [v for v in points if v > 0 and math.isfinite(v)]
    if not points:
        points = [1.0]
    lo, hi = math.log10(min(points)), math.log10(max(points))
    if hi - lo < 0.3:
        mid = (hi + lo) / 2
        lo, hi = mid - 0.15, mid + 0.15
    lo, hi = math.floor(lo * 10) / 10, math.ceil(hi * 10) / 10
    max_step = max([s for s, _ in train] + [s for s, _ in heldout] + [1])

    def xy(step: float, value: float) -> tuple[float, float]:
        x = left + (width - left - right) * step / max_step
        y = top + (height - top - bottom) * (hi - math.log10(max(value, 1e-12))) / (hi - lo)
        return x, y

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{_xml(title)}</text>']
    for exp in range(math.floor(lo), math.ceil(hi) + 1):
        for m in (1, 2, 5):
            v = m * 10.0 ** exp
            if lo <= math.log10(v) <= hi:
                _, y = xy(0, v)
                out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
                out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    for k in range(6):
        step = max_step * k / 5
        x, _ = xy(step, 1)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - bottom}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{int(step)}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle">step</text>')
    out.append(f'<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})" text-anchor="middle">'
               'L1 loss (normalised actions)</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
               'fill="none" stroke="#888"/>')
    if train:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(s, v) for s, v in train))
        out.append(f'<polyline points="{pts}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    if heldout:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(s, v) for s, v in heldout))
        out.append(f'<polyline points="{pts}" fill="none" stroke="#d62728" stroke-width="1.5" '
                   'stroke-dasharray="4 3"/>')
        for s, v in heldout:
            x, y = xy(s, v)
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#d62728"/>')
    lx = width - right - 150
    out.append(f'<line x1="{lx}" x2="{lx + 20}" y1="{top + 14}" y2="{top + 14}" stroke="#1f77b4" '
               'stroke-width="1.5"/>')
    out.append(f'<text x="{lx + 26}" y="{top + 18}">train (smoothed)</text>')
    if heldout:
        out.append(f'<line x1="{lx}" x2="{lx + 20}" y1="{top + 30}" y2="{top + 30}" stroke="#d62728" '
                   'stroke-width="1.5" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{lx + 26}" y="{top + 34}">held-out</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- The run ---------------------------------------------------------------------------------------------------


def _architecture(opts: TrainOptions, ds: Dataset) -> Architecture:
    def pick(key: str) -> Any:
        value = getattr(opts, key)
        return DEFAULTS[key] if value is None else value

    return Architecture(cameras=tuple(c.name for c in ds.cameras), image_width=ds.cameras[0].width,
                        image_height=ds.cameras[0].height, patch_size=pick("patch_size"),
                        max_text_tokens=pick("max_text_tokens"), state_dim=len(ds.robot.joints) + 1,
                        action_dim=len(ds.robot.joints) + 1, horizon=pick("horizon"), width=pick("width"),
                        depth=pick("depth"), heads=pick("heads"), mlp_width=pick("mlp_width"),
                        keypoints=pick("keypoints"))


def _refuse_architecture_options(opts: TrainOptions, base: ModelConfig) -> None:
    a = base.architecture
    given = {"width": a.width, "depth": a.depth, "heads": a.heads, "mlp_width": a.mlp_width,
             "patch_size": a.patch_size, "horizon": a.horizon, "max_text_tokens": a.max_text_tokens,
             "action_period": base.control.action_period, "keypoints": a.keypoints}
    for key, value in given.items():
        mine = getattr(opts, key)
        if mine is not None and mine != value:
            raise TrainError(f"--{key.replace('_', '-')} {mine}: fine-tuning keeps the base model's {key} ({value}); "
                             "leave it out")


def train(opts: TrainOptions) -> TrainResult:
    """Trains (or fine-tunes) a model and writes its folder to `opts.out`; returns the run's numbers."""
    say = opts.log or (lambda _m: None)
    stream = opts.progress or sys.stderr
    t_start = time.perf_counter()
    if not opts.datasets:
        raise TrainError("no --dataset given")
    try:
        datasets = [open_dataset(p, verify=False) for p in opts.datasets]
    except DatasetError as e:
        raise TrainError(str(e)) from None
    tasks = list(opts.tasks) if opts.tasks else None
    if tasks:
        have = {t for ds in datasets for t in ds.tasks}
        missing = [t for t in tasks if t not in have]
        if missing:
            raise TrainError(f"--tasks {','.join(missing)}: not in the datasets (they hold {', '.join(sorted(have))})")

    base_cfg: ModelConfig | None = None
    base_params: dict[str, np.ndarray] | None = None
    if opts.base is not None:
        base = load_folder(opts.base, "fp32")
        base_cfg, base_params = base.config, base.params
        _refuse_architecture_options(opts, base_cfg)
        check_compatible(datasets, base_cfg.robot, base_cfg.architecture, f"the base model {opts.base}")
        arch = base_cfg.architecture
        action_period = base_cfg.control.action_period
        robot = base_cfg.robot
    else:
        check_compatible(datasets)
        arch = _architecture(opts, datasets[0])
        action_period = opts.action_period if opts.action_period is not None else DEFAULTS["action_period"]
        robot = robot_of(datasets[0])
    arch.validate()

    say(f"loading {', '.join(str(p) for p in opts.datasets)}")
    try:
        samples = make_samples(datasets, action_period, arch.horizon, tasks, log=say)
    except DatasetError as e:
        raise TrainError(str(e)) from None
    load_seconds = time.perf_counter() - t_start

    if base_cfg is not None and base_params is not None:
        vocabulary = extend_vocabulary(base_cfg.vocabulary, samples.instructions)
        norm = base_cfg.normalization
        params = dict(base_params)
        new_words = vocabulary[base_cfg.vocab_size:]
        if new_words:
            rng = np.random.default_rng([opts.seed, 11])
            unk = params["text.embed"][UNK_ID]
            rows = unk[None, :] + rng.normal(0, 0.02, (len(new_words), arch.width)).astype(np.float32)
            params["text.embed"] = np.concatenate([params["text.embed"], rows.astype(np.float32)])
            say(f"vocabulary: {base_cfg.vocab_size} → {len(vocabulary)} words (new: {', '.join(new_words)})")
    else:
        vocabulary = extend_vocabulary(DEFAULT_VOCABULARY, samples.instructions)
        stats = normalization_stats(samples.step_states, samples.step_actions)
        norm = Normalization(stats.state_mean, stats.state_std, stats.action_mean, stats.action_std)
        params = init_params(arch, len(vocabulary), opts.seed)
        new_words = ()

    steps = opts.steps or (DEFAULTS["finetune_steps"] if base_cfg is not None else DEFAULTS["steps"])
    warmup = opts.warmup if opts.warmup is not None else min(500, max(1, steps // 10))
    name = opts.name or opts.out.resolve().name
    config = ModelConfig(name=name, architecture=arch, vocabulary=vocabulary, normalization=norm, robot=robot,
                         control=Control(action_period))
    config.validate()

    # Normalised, device-resident data.
    tok = Tokenizer(vocabulary, arch.max_text_tokens)
    encoded = [tok.encode(text) for text in samples.instructions]
    s_mean, s_std = np.asarray(norm.state_mean, np.float32), np.asarray(norm.state_std, np.float32)
    a_mean, a_std = np.asarray(norm.action_mean, np.float32), np.asarray(norm.action_std, np.float32)
    data_np = {
        "images": samples.images,
        "tokens": np.stack([encoded[i][0] for i in samples.instruction]).astype(np.int32),
        "counts": np.asarray([encoded[i][1] for i in samples.instruction], np.int32),
        "states": ((samples.states - s_mean) / s_std).astype(np.float32),
        "targets": ((samples.targets - a_mean) / a_std).astype(np.float32),
    }
    object_names, episode_targets, episode_has = object_targets(samples.episode_objects)
    aux_weight = opts.aux_weight if object_names else 0.0
    data_np["objects"] = episode_targets[samples.episode]
    data_np["has_objects"] = episode_has[samples.episode]
    if aux_weight > 0:
        aux_rng = np.random.default_rng([opts.seed, 17])
        params["aux.weight"] = _aux_init(aux_rng, (episode_targets.shape[1], arch.width))
        params["aux.bias"] = np.zeros(episode_targets.shape[1], np.float32)
        if arch.keypoints:
            xy_targets = episode_targets.shape[1] // 2
            params["aux.kp.weight"] = _aux_init(aux_rng, (xy_targets, arch.keypoint_features))
            params["aux.kp.bias"] = np.zeros(xy_targets, np.float32)
        say(f"auxiliary loss (weight {aux_weight:g}): initial poses of {', '.join(object_names)} on "
            f"{int(episode_has.sum())}/{len(episode_has)} episodes")
    elif opts.aux_weight > 0:
        say("no auxiliary loss: the datasets record no object poses")
    held_episode = split_episodes(samples.tasks, opts.eval_fraction, opts.seed)
    held = held_episode[samples.episode]
    train_idx = np.flatnonzero(~held)
    held_idx = np.flatnonzero(held)
    if len(train_idx) == 0:
        raise TrainError("no training frames left after holding out episodes (lower --eval-fraction)")
    data = {k: jnp.asarray(v) for k, v in data_np.items()}
    bsz = opts.batch_size
    # Task-balanced sampling: each task is drawn equally often, frames uniformly within a task.
    task_of_frame = np.asarray([samples.tasks[e] for e in samples.episode[train_idx]])
    weights = np.zeros(len(train_idx))
    for t in set(task_of_frame.tolist()):
        m = task_of_frame == t
        weights[m] = 1.0 / m.sum()
    weights /= weights.sum()
    eval_batches: list[np.ndarray] = []
    if len(held_idx):
        chosen = held_idx[np.linspace(0, len(held_idx) - 1, min(len(held_idx), 8 * bsz)).astype(int)]
        chosen = np.unique(chosen)
        usable = (len(chosen) // bsz) * bsz or len(chosen)
        eval_batches = [chosen[i:i + bsz] for i in range(0, usable, bsz)]
    eval_every = opts.eval_every or max(50, steps // 20)

    optimizer = make_optimizer(opts.lr, steps, warmup, opts.weight_decay, opts.clip, params)
    dev_params = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    opt_state = optimizer.init(dev_params)
    train_step, eval_loss = make_steps(arch, optimizer, opts.augment, opts.state_noise, aux_weight,
                                       opts.state_dropout, opts.shift_pixels)
    root_key = jax.random.key(opts.seed)
    rng = np.random.default_rng([opts.seed, 3])
    n_params = parameter_count(arch, len(vocabulary))
    say(f"{len(train_idx)} training frames ({len(set(samples.episode[train_idx].tolist()))} episodes), "
        f"{len(held_idx)} held out; tasks {', '.join(sorted(set(samples.tasks)))}; {n_params / 1e6:.2f} M parameters; "
        f"{steps} steps of batch {bsz}")

    def heldout_loss(p: dict[str, jax.Array]) -> float | None:
        if not eval_batches:
            return None
        total = sum(float(eval_loss(p, data, jnp.asarray(b))) * len(b) for b in eval_batches)
        return total / sum(len(b) for b in eval_batches)

    progress = Progress(steps, stream)
    history: list[tuple[int, float]] = []
    held_history: list[tuple[int, float]] = []
    ema, ema_w = 0.0, 0.0
    aux_ema = 0.0
    last_held: float | None = None
    compile_seconds = 0.0
    loop_start = time.perf_counter()
    timed_from: float | None = None
    record_every = max(1, steps // 400)
    raw = float("nan")
    for step in range(1, steps + 1):
        idx = rng.choice(train_idx, size=bsz, p=weights)
        key = jax.random.fold_in(root_key, step)
        dev_params, opt_state, loss, aux_loss = train_step(dev_params, opt_state, data, jnp.asarray(idx), key)
        raw = float(loss)
        aux_ema = 0.98 * aux_ema + 0.02 * float(aux_loss)
        if not math.isfinite(raw):
            raise TrainError(f"step {step}: the loss is {raw}; lower --lr or check the data")
        if step == 1:
            compile_seconds = time.perf_counter() - loop_start
            timed_from = time.perf_counter()
        ema = 0.98 * ema + 0.02 * raw
        ema_w = 0.98 * ema_w + 0.02
        smooth = ema / ema_w
        if step % record_every == 0 or step == steps:
            history.append((step, smooth))
        if eval_batches and (step % eval_every == 0 or step == steps):
            last_held = heldout_loss(dev_params)
            held_history.append((step, last_held))
        rate = (step - 1) / (time.perf_counter() - timed_from) if timed_from and step > 1 else None
        progress.update(step, smooth, last_held, rate, final=step == steps)
    train_seconds = time.perf_counter() - loop_start
    seconds_per_step = (time.perf_counter() - timed_from) / max(1, steps - 1) if timed_from else float("nan")

    # The auxiliary head is a training device only: it is not part of the model.
    final_params = {k: np.asarray(v, np.float32) for k, v in dev_params.items() if not k.startswith("aux.")}
    # The final training loss over (up to) 8 un-augmented batches of training frames, comparable with held-out.
    probe = train_idx[np.linspace(0, len(train_idx) - 1, min(len(train_idx), 8 * bsz)).astype(int)]
    final_train = float(np.mean([float(eval_loss(dev_params, data, jnp.asarray(probe[i:i + bsz])))
                                 for i in range(0, len(probe), bsz)]))
    total_seconds = time.perf_counter() - t_start
    metrics = {
        "train_loss": round(final_train, 6),
        "heldout_loss": None if last_held is None else round(last_held, 6),
        "train_loss_smoothed": round(history[-1][1], 6) if history else None,
        "steps": steps,
        "batch_size": bsz,
        "seconds_per_step": round(seconds_per_step, 4),
        "training_seconds": round(train_seconds, 1),
        "parameters": n_params,
        "aux_weight": aux_weight,
        "aux_loss_smoothed": round(aux_ema / ema_w, 6) if aux_weight > 0 and ema_w else None,
    }
    result = TrainResult(config=config, params=final_params, train_loss=final_train, heldout_loss=last_held,
                         history=history, heldout_history=held_history, seconds=total_seconds,
                         seconds_per_step=seconds_per_step, compile_seconds=compile_seconds,
                         frames=len(train_idx), heldout_frames=len(held_idx), metrics=metrics)
    _write(opts, result, datasets, samples, held_idx, base_cfg, new_words, warmup, load_seconds, say)
    return result


def _write(opts: TrainOptions, result: TrainResult, datasets: list[Dataset], samples: Samples,
           held_idx: np.ndarray, base_cfg: ModelConfig | None, new_words: Sequence[str], warmup: int,
           load_seconds: float, say: Callable[[str], None]) -> None:
    from .folder import git_revision, utc_now

    config = result.config
    tasks = sorted(set(samples.tasks))
    digests = [ds.digest() for ds in datasets]
    import hashlib

    combined = hashlib.sha256("".join(f"{d}\n" for d in digests).encode()).hexdigest()
    data = {
        "tasks": tasks,
        "episodes": len(samples.tasks),
        "frames": len(samples),
        "sha256": combined if len(digests) > 1 else digests[0],
        "datasets": [{"path": str(ds.path.resolve()), "name": ds.name, "sha256": d,
                      "episodes": len(ds.episode_meta), "frames": ds.total_frames, "tasks": ds.tasks}
                     for ds, d in zip(datasets, digests, strict=True)],
        "selected_tasks": list(opts.tasks) if opts.tasks else None,
        "heldout_episodes": int(len(set(samples.episode[held_idx].tolist()))),
        "heldout_frames": int(len(held_idx)),
    }
    training = {
        "steps": result.metrics["steps"], "batch_size": opts.batch_size, "lr": opts.lr, "warmup": warmup,
        "schedule": "linear warm-up, cosine decay to 5 %", "optimizer": "AdamW", "weight_decay": opts.weight_decay,
        "grad_clip": opts.clip, "loss": "L1 on normalised action chunks",
        "augmentation": (f"shift ±{opts.shift_pixels} px (edge pad + crop), brightness ±{BRIGHTNESS:.0%}, contrast "
                         f"±{CONTRAST:.0%}, per sample and camera") if opts.augment else "none",
        "state_noise": opts.state_noise,
        "state_dropout": opts.state_dropout,
        "aux_weight": result.metrics["aux_weight"],
        "aux_loss": "L1 on the objects' initial x, y (standardised) and sin/cos 4·yaw, from the mean query row "
                    "(training only)" if result.metrics["aux_weight"] else None,
        "sampling": "task-balanced", "eval_fraction": opts.eval_fraction,
        "seconds": round(result.seconds, 1), "training_seconds": result.metrics["training_seconds"],
        "load_seconds": round(load_seconds, 1), "compile_seconds": round(result.compile_seconds, 1),
        "seconds_per_step": result.metrics["seconds_per_step"],
        "final_train_loss": result.metrics["train_loss"], "final_heldout_loss": result.metrics["heldout_loss"],
        "jax": jax.__version__, "device": str(jax.devices()[0].device_kind),
    }
    extra: dict[str, Any] = {"training": training}
    if base_cfg is not None:
        extra["base"] = {"path": str(opts.base.resolve()) if opts.base else None, "name": base_cfg.name,
                         "sha256": base_cfg.weights["fp32"].sha256, "new_words": list(new_words)}
    provenance = Provenance(tool=f"edgecell_policy {__version__}", command=opts.command, seed=opts.seed,
                            commit=git_revision(Path(__file__).resolve().parent,
                                                ("Tools/edgecell_policy", "Tools/pyproject.toml")),
                            created=utc_now(), data=data, extra=extra)
    config = replace(config, metrics=result.metrics)
    # Golden inputs: the standard cases, then a few real frames (held-out ones if there are).
    pool = held_idx if len(held_idx) else np.arange(len(samples))
    picks = pool[np.linspace(0, len(pool) - 1, min(GOLDEN_FRAMES, len(pool))).astype(int)]
    extra_cases = [GoldenCase(samples.instructions[samples.instruction[i]], samples.images[i],
                              samples.states[i].astype(np.float32)) for i in picks]
    opts.out.mkdir(parents=True, exist_ok=True)
    final = write_folder(opts.out, config, result.params, variants=("fp32",) + tuple(opts.variants),
                         provenance=provenance, golden_seed=opts.seed, log=say, extra_cases=extra_cases)
    result.config = final
    title = (f"{config.name}: {result.metrics['steps']} steps, batch {opts.batch_size}, "
             f"train {result.train_loss:.4f}"
             + (f", held-out {result.heldout_loss:.4f}" if result.heldout_loss is not None else ""))
    atomic_write_bytes(opts.out / "loss.svg", loss_svg(result.history, result.heldout_history, title).encode())
    say(f"wrote {opts.out / 'loss.svg'}")


def command_line(argv: Sequence[str]) -> str:
    """The command as typed, for provenance."""
    return "python -m edgecell_policy " + shlex.join(list(argv))


def bench_step(arch: Architecture, batch_size: int, steps: int = 20, vocab_size: int = 48, seed: int = 0,
               frames: int = 512) -> dict[str, float]:
    """Seconds per training step (median of `steps` after one compile step) of `arch` at `batch_size`, on
    synthetic data of the real shapes (augmentation included), with the parameter count and FLOPs."""
    from .model import flops

    rng = np.random.default_rng(seed)
    c, h, w = arch.num_cameras, arch.image_height, arch.image_width
    data = {"images": jnp.asarray(rng.integers(0, 256, (frames, c, h, w, 3), dtype=np.uint8)),
            "tokens": jnp.asarray(rng.integers(0, vocab_size, (frames, arch.max_text_tokens)), jnp.int32),
            "counts": jnp.asarray(rng.integers(1, arch.max_text_tokens + 1, frames), jnp.int32),
            "states": jnp.asarray(rng.normal(size=(frames, arch.state_dim)), jnp.float32),
            "targets": jnp.asarray(rng.normal(size=(frames, arch.horizon, arch.action_dim)), jnp.float32),
            "objects": jnp.zeros((frames, 0), jnp.float32), "has_objects": jnp.zeros(frames, bool)}
    params = {k: jnp.asarray(v) for k, v in init_params(arch, vocab_size, seed).items()}
    optimizer = make_optimizer(3e-4, 1000, 10, 1e-4, 1.0, params)
    opt_state = optimizer.init(params)
    train_step, _ = make_steps(arch, optimizer)
    key = jax.random.key(seed)
    times = []
    for i in range(steps + 1):
        idx = jnp.asarray(rng.integers(0, frames, batch_size))
        t0 = time.perf_counter()
        params, opt_state, loss, _ = train_step(params, opt_state, data, idx, jax.random.fold_in(key, i))
        loss.block_until_ready()
        times.append(time.perf_counter() - t0)
    step = float(np.median(times[1:]))
    fwd = flops(arch)
    return {"seconds_per_step": step, "compile_seconds": times[0], "parameters": parameter_count(arch, vocab_size),
            "forward_flops": fwd, "tokens": arch.sequence_length,
            "train_gflops_per_s": 3 * fwd * batch_size / step / 1e9}
