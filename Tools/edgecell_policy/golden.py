"""Golden vectors (Models/README.md §5): deterministic inputs and the JAX reference outputs.

The K = 6 cases cover: 0 a task instruction on random images near home; 1 the empty instruction on a
rendered-looking scene at home; 2 upper case, punctuation and an unknown word; 3 an instruction longer than
`max_text_tokens`; 4 non-ASCII characters on mixed images ("STAC\u212a": the Kelvin sign is a separator, so
the word is the unknown "stac", not "stack" as Unicode lower-casing would give; then a dash and an accented
letter); 5 an upper-case two-word instruction between separators (0 < n < L) on black and white images at
extreme states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import ModelConfig
from .model import denormalize_actions, make_forward_batch, normalize_state, to_device
from .tokenizer import Tokenizer

INSTRUCTIONS: tuple[str, ...] = (
    "put the red cube in the bin",
    "",
    "Stack the BLUE cube on the green cube, please!",
    "pick up the red cube and then put it into the bin next to the green block on the left of the table",
    "STAC\u212a the red cube \u2014 caf\u00e9 2x",
    " RED, cube?! ",
)
#: Joint range used for random states, rad; gripper aperture range, m.
_JOINT_RANGE = math.pi
_GRIPPER_MAX = 0.085


@dataclass(frozen=True)
class GoldenCase:
    """Inputs of one case (raw state, before normalisation)."""

    instruction: str
    images: np.ndarray  # uint8 [C, H, W, 3]
    state: np.ndarray  # float32 [S]


def rendered_scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A synthetic frame that looks rendered: a lit wall over a table, shaded cubes, a bin outline.
    uint8 [height, width, 3]."""
    y = np.linspace(0, 1, height, dtype=np.float64)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float64)[None, :]
    horizon = 0.35 + 0.1 * rng.uniform()
    full = np.zeros((height, width))

    def planes(*channels: np.ndarray) -> np.ndarray:
        return np.stack([ch + full for ch in channels], axis=-1)

    wall = planes(0.55 + 0.25 * y + 0.05 * x, 0.6 + 0.2 * y, 0.7 + 0.1 * y - 0.05 * x)
    table = planes(0.45 + 0.2 * (y - horizon) + 0.1 * x, 0.33 + 0.15 * y, 0.22 + 0.05 * y)
    img = np.where((y < horizon)[..., None] + np.zeros((height, width, 1), bool), wall, table)
    colours = ((0.85, 0.12, 0.1), (0.1, 0.7, 0.2), (0.12, 0.2, 0.85))
    for colour in colours:
        size = max(2, int(min(height, width) * rng.uniform(0.08, 0.16)))
        cy = int(rng.uniform(horizon * height + 1, height - size - 1)) if height > size + 2 else 0
        cx = int(rng.uniform(0, max(1, width - size)))
        shade = np.linspace(1.1, 0.75, size)[:, None, None]
        img[cy : cy + size, cx : cx + size] = np.asarray(colour) * shade
    bx = int(rng.uniform(0, max(1, width - 6)))
    img[int(horizon * height) :, bx : bx + 2] *= 0.5
    img += rng.normal(0, 0.01, img.shape)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def make_cases(config: ModelConfig, seed: int) -> list[GoldenCase]:
    """The §5 inputs for `config`, deterministic for `seed` (drawn from `default_rng([seed, 5])`)."""
    a = config.architecture
    rng = np.random.default_rng([seed, 5])
    c, h, w, s = a.num_cameras, a.image_height, a.image_width, a.state_dim
    home = np.asarray(config.normalization.state_mean, dtype=np.float64)

    def random_images() -> np.ndarray:
        return rng.integers(0, 256, size=(c, h, w, 3), dtype=np.uint8)

    def scene_images() -> np.ndarray:
        return np.stack([rendered_scene(rng, h, w) for _ in range(c)])

    def random_state() -> np.ndarray:
        st = rng.uniform(-_JOINT_RANGE, _JOINT_RANGE, size=s)
        st[-1] = rng.uniform(0, _GRIPPER_MAX)
        return st

    def mixed_images() -> np.ndarray:
        return np.stack([rendered_scene(rng, h, w) if i % 2 == 0 else rng.integers(0, 256, (h, w, 3), np.uint8)
                         for i in range(c)])

    extremes = np.stack([np.full((h, w, 3), 0 if i % 2 == 0 else 255, np.uint8) for i in range(c)])
    extreme_state = np.where(np.arange(s) % 2 == 0, _JOINT_RANGE, -_JOINT_RANGE)
    extreme_state[-1] = _GRIPPER_MAX
    images: list[np.ndarray] = []
    states: list[np.ndarray] = []
    # Drawn case by case, images then state, so adding a case later leaves the earlier ones unchanged.
    for make_images, make_state in (
        (random_images, lambda: home + rng.normal(0, 0.05, s)),
        (scene_images, home.copy),
        (scene_images, random_state),
        (random_images, random_state),
        (mixed_images, random_state),
        (lambda: extremes, extreme_state.copy),
    ):
        images.append(make_images())
        states.append(make_state())
    return [GoldenCase(text, img, np.asarray(st, dtype=np.float32))
            for text, img, st in zip(INSTRUCTIONS, images, states, strict=True)]


def compute_golden(
    config: ModelConfig, params_by_variant: dict[str, dict[str, np.ndarray]], cases: list[GoldenCase]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of `golden.safetensors`: the inputs and, per variant in `params_by_variant`
    (fp32 dequantised parameters), the JAX outputs."""
    a = config.architecture
    norm = config.normalization
    tok = Tokenizer(config.vocabulary, a.max_text_tokens)
    encoded = [tok.encode(case.instruction) for case in cases]
    tokens = np.stack([t for t, _ in encoded]).astype(np.int32)
    counts = np.asarray([n for _, n in encoded], dtype=np.int32)
    states_n = np.stack([normalize_state(case.state, norm.state_mean, norm.state_std) for case in cases])
    images = np.stack([case.images for case in cases])
    f = make_forward_batch(a)
    outputs = {v: np.asarray(f(to_device(p), images, tokens, counts, states_n), dtype=np.float32)
               for v, p in params_by_variant.items()}
    tensors: dict[str, np.ndarray] = {}
    metadata = {"format": "edgecell-vla-golden", "format_version": "1", "cases": str(len(cases))}
    for k, case in enumerate(cases):
        p = f"case.{k}."
        metadata[f"instruction.{k}"] = case.instruction
        tensors[p + "images"] = np.ascontiguousarray(case.images, dtype=np.uint8)
        tensors[p + "tokens"] = tokens[k]
        tensors[p + "token_count"] = counts[k : k + 1]
        tensors[p + "state"] = case.state.astype(np.float32)
        tensors[p + "state_normalized"] = states_n[k]
        tensors[p + "actions_normalized"] = outputs["fp32"][k]
        for v in ("bf16", "int8"):
            if v in outputs:
                tensors[p + f"actions_normalized.{v}"] = outputs[v][k]
        tensors[p + "actions"] = denormalize_actions(outputs["fp32"][k], norm.action_mean, norm.action_std)
    return tensors, metadata


def max_variant_error(golden: dict[str, np.ndarray], variant: str) -> float:
    """max |actions_normalized.<variant> − actions_normalized| over every case of a golden file."""
    worst = 0.0
    k = 0
    while f"case.{k}.actions_normalized" in golden:
        key = f"case.{k}.actions_normalized.{variant}"
        if key not in golden:
            raise KeyError(f"golden vectors have no {variant} outputs")
        worst = max(worst, float(np.max(np.abs(golden[key] - golden[f"case.{k}.actions_normalized"]))))
        k += 1
    return worst
