"""Shared test helpers: small architectures, the repository's fixture folders, the C kernel library if built."""

from __future__ import annotations

import math

import os
from pathlib import Path

import pytest

from edgecell_policy.config import Architecture
from edgecell_policy.fixtures import FIXTURES

REPO = Path(__file__).resolve().parents[2]
FIXTURE_ROOT = REPO / "Tests" / "Fixtures" / "models"
FIXTURE_NAMES = [f.name for f in FIXTURES]


def small_arch(**overrides: object) -> Architecture:
    """A fast architecture (1 camera 32×32, d 32); `overrides` change any field."""
    base = dict(cameras=("scene",), image_width=32, image_height=32, patch_size=16, max_text_tokens=6, state_dim=7,
                action_dim=7, horizon=4, width=32, depth=2, heads=2, mlp_width=64)
    base.update(overrides)
    return Architecture(**base)  # type: ignore[arg-type]


def kernel_library() -> Path | None:
    """The C kernel's shared library: $EDGECELL_POLICY_LIB, else .build/bench/libpolicykernel.so, if present."""
    env = os.environ.get("EDGECELL_POLICY_LIB")
    path = Path(env) if env else REPO / ".build" / "bench" / "libpolicykernel.so"
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def fixture_root() -> Path:
    """Tests/Fixtures/models."""
    return FIXTURE_ROOT


# --- Fixture datasets (docs/DATASET.md) ---------------------------------------------------------------------

UR5E = {"name": "UR5e", "joints": ["shoulder_pan", "shoulder_lift", "elbow", "wrist_1", "wrist_2", "wrist_3"],
        "gripper": "parallel-2f85", "dh": [[0.0, 0.1625, 1.5708, 0.0]] * 6,
        "base_pose": [0, 0, 0, 1, 0, 0, 0], "tool_pose": [0, 0, 0.15, 1, 0, 0, 0]}
INSTRUCTIONS = {"bin-red": "put the red cube in the bin", "bin-green": "put the green cube in the bin",
                "stack-blue-green": "stack the blue cube on the green cube",
                "bin-purple": "put the purple cube in the bin"}


def fixture_episode(steps: int, seed: int, cameras: int, size: tuple[int, int], frame_every: int,
                    index_actions: bool = False) -> tuple[object, object]:
    """(structured steps, images) of a synthetic, learnable episode.

    With `index_actions`, action_joints[t] = t + j/10 and action_gripper[t] = 1000 + t, so targets name the step
    they come from. Otherwise the arm moves smoothly towards a goal drawn from `seed`, the goal is drawn as a
    bright square in the images, and the action is the next state (a policy can learn it from image + state)."""
    import numpy as np

    from edgecell_policy.dataset import frame_count, make_steps

    w, h = size
    rng = np.random.default_rng(seed)
    frames = frame_count(steps, frame_every, cameras)
    goal = rng.uniform(-1, 1, 7)
    goal[6] = rng.uniform(0.0, 0.08)
    t = np.arange(steps + 1)[:, None]
    start = np.array([0.0, -1.57, 1.57, -1.57, -1.57, 0.0, 0.085])
    states = start + (goal - start) * (1 - np.exp(-t / (steps / 3)))
    if index_actions:
        actions = np.concatenate([np.arange(steps)[:, None] + np.arange(6)[None, :] / 10,
                                  1000.0 + np.arange(steps)[:, None]], axis=1)
    else:
        actions = states[1:]
    st = make_steps(states[:steps], actions, control_period=0.01, frame_every=frame_every, cameras=cameras,
                    phase=(np.arange(steps) * 2 // steps).astype(np.uint8))
    images = np.zeros((frames, cameras, h, w, 3), np.uint8)
    images[:] = rng.integers(20, 60, (1, cameras, h, w, 3), dtype=np.uint8)
    gx = int((goal[0] + 1) / 2 * (w - 8))
    gy = int((goal[1] + 1) / 2 * (h - 8))
    images[:, :, gy:gy + 8, gx:gx + 8, 0] = 250
    for f in range(frames):  # something that changes with time as well
        images[f, :, 0:2, : 1 + (f * 3) % w, 1] = 200
    return st, images


def make_fixture_dataset(path: Path, tasks: dict[str, int], *, steps: int = 40, cameras: tuple[str, ...] = ("scene",),
                         size: tuple[int, int] = (32, 32), frame_every: int = 4, robot: dict | None = None,
                         seed: int = 0, index_actions: bool = False, control_period: float = 0.01,
                         objects: bool = False) -> Path:
    """A dataset of `tasks` {task: episodes} written by the Python writer (same format as Sources/Teach); with
    `objects`, each episode records initial poses of a red cube (moving from episode to episode) and a bin
    (fixed)."""
    from edgecell_policy.dataset import DatasetWriter

    writer = DatasetWriter(path, name=path.name, robot=robot or UR5E,
                           cell={"kind": "twin", "name": "edgecell-twin", "version": "0.1.0"},
                           control_period=control_period, frame_every=frame_every,
                           cameras=[(c, size[0], size[1]) for c in cameras])
    k = 0
    for task, count in tasks.items():
        for _ in range(count):
            st, images = fixture_episode(steps + (k % 3), seed * 1000 + k, len(cameras), size, frame_every,
                                         index_actions)
            poses = None
            if objects:
                yaw = 0.3 * k
                poses = {"red_cube": [0.4 + 0.01 * k, -0.1 + 0.02 * k, 0.02, math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)],
                         "bin": [0.46, 0.33, 0.035, 1, 0, 0, 0]}
            writer.add_episode(task=task, instruction=INSTRUCTIONS.get(task, task.replace("-", " ")), seed=k,
                               source="expert", success=True, steps=st, images=images, phases=["reach", "grasp"],
                               objects=poses)
            k += 1
    return path
