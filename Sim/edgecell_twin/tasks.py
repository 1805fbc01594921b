"""The cell's tasks: names, natural-language instructions, random initial poses and success predicates.

Every task starts from the same kind of scene: the three cubes lying on the table at random positions
(at least ``MIN_SEPARATION`` apart, random yaw) in a region the arm reaches with the tool pointing down,
and the bin fixed at ``model.BIN_POSITION``. Randomness comes only from the seed given
(``numpy.random.default_rng(seed)``).

Success predicates read a ``SceneState`` (poses, velocities, gripper contacts) that the cell computes
from the physics; they do not touch MuJoCo, so they can be tested with hand-made states.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from . import model

DEFAULT_TASK = "bin-red"
COLOURS: tuple[str, ...] = ("red", "green", "blue")

#: Table region the cube centres are sampled from (x, y), m.
SPAWN_MIN: tuple[float, float] = (0.32, -0.26)
SPAWN_MAX: tuple[float, float] = (0.62, 0.15)
#: Minimum distance between cube centres: an open gripper (finger to finger 0.125 m across) fits
#: between two cubes at any yaw.
MIN_SEPARATION = 0.10
_MAX_SAMPLING_ATTEMPTS = 10_000

#: "At rest": speeds below these.
REST_LINEAR_SPEED = 0.02  # m/s
REST_ANGULAR_SPEED = 0.5  # rad/s
#: Stacking tolerances: horizontal offset of the centres, and the height difference around a cube size.
STACK_XY_TOLERANCE = 0.015
STACK_Z_TOLERANCE = 0.006
#: A cube lying on the table has its centre at most this high.
ON_TABLE_MAX_Z = model.CUBE_SIZE / 2 + 0.005


class UnknownTaskError(ValueError):
    """A task name the cell does not have."""


@dataclass(frozen=True)
class ObjectState:
    """Physical state of one movable object, world frame."""

    position: np.ndarray  # (3,) m
    quaternion: np.ndarray  # (4,) w x y z
    linear_velocity: np.ndarray  # (3,) m/s
    angular_velocity: np.ndarray  # (3,) rad/s
    touched_by_gripper: bool  # a finger is in contact with it

    @property
    def at_rest(self) -> bool:
        """Both speeds below the rest thresholds."""
        return (
            float(np.linalg.norm(self.linear_velocity)) < REST_LINEAR_SPEED
            and float(np.linalg.norm(self.angular_velocity)) < REST_ANGULAR_SPEED
        )


@dataclass(frozen=True)
class SceneState:
    """What the success predicates look at: the cubes' states by object name."""

    objects: Mapping[str, ObjectState]


def cube_name(colour: str) -> str:
    """Object name of a colour's cube ("red" -> "red_cube")."""
    return f"{colour}_cube"


def _in_bin(cube: ObjectState) -> bool:
    bx, by = model.BIN_POSITION
    inner_half = model.BIN_OUTER[0] / 2 - model.BIN_WALL
    rim = model.BIN_OUTER[2]
    x, y, z = (float(v) for v in cube.position)
    return abs(x - bx) < inner_half and abs(y - by) < inner_half and 0.0 < z < rim


@dataclass(frozen=True)
class Task:
    """One task: ``kind`` "bin" (``cube`` into the bin) or "stack" (``cube`` onto ``support``)."""

    name: str
    instruction: str
    kind: str
    cube: str
    support: str | None = None

    def success(self, state: SceneState) -> bool:
        """Whether the task is done in ``state``: the objects placed, released and at rest."""
        cube = state.objects[self.cube]
        if cube.touched_by_gripper or not cube.at_rest:
            return False
        if self.kind == "bin":
            return _in_bin(cube)
        assert self.support is not None
        support = state.objects[self.support]
        if not support.at_rest or float(support.position[2]) > ON_TABLE_MAX_Z:
            return False
        offset = cube.position - support.position
        return (
            float(np.hypot(offset[0], offset[1])) <= STACK_XY_TOLERANCE
            and abs(float(offset[2]) - model.CUBE_SIZE) <= STACK_Z_TOLERANCE
        )

    def initial_cube_poses(self, seed: int) -> dict[str, np.ndarray]:
        """Random initial poses (x y z qw qx qy qz) of the cubes, from ``seed`` alone."""
        return sample_cube_poses(np.random.default_rng(seed))


def sample_cube_poses(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Cube poses on the table: centres in the spawn region, pairwise >= MIN_SEPARATION apart, random yaw."""
    lo, hi = np.asarray(SPAWN_MIN), np.asarray(SPAWN_MAX)
    for _ in range(_MAX_SAMPLING_ATTEMPTS):
        xy = rng.uniform(lo, hi, size=(len(model.CUBE_NAMES), 2))
        gaps = [np.linalg.norm(xy[i] - xy[j]) for i in range(len(xy)) for j in range(i)]
        if min(gaps) >= MIN_SEPARATION:
            break
    else:  # pragma: no cover - the region is large enough that this never happens
        raise RuntimeError("could not place the cubes apart; the spawn region is too small")
    yaws = rng.uniform(-math.pi, math.pi, size=len(model.CUBE_NAMES))
    poses = {}
    for name, (x, y), yaw in zip(model.CUBE_NAMES, xy, yaws, strict=True):
        poses[name] = np.array([x, y, model.CUBE_SIZE / 2, math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])
    return poses


def _build_registry() -> Mapping[str, Task]:
    tasks: dict[str, Task] = {}
    for colour in COLOURS:
        name = f"bin-{colour}"
        tasks[name] = Task(name, f"put the {colour} cube in the bin", "bin", cube_name(colour))
    for top in COLOURS:
        for bottom in COLOURS:
            if top != bottom:
                name = f"stack-{top}-{bottom}"
                tasks[name] = Task(
                    name, f"stack the {top} cube on the {bottom} cube", "stack", cube_name(top), cube_name(bottom)
                )
    return MappingProxyType(tasks)


#: All tasks by name (read-only).
TASKS: Mapping[str, Task] = _build_registry()
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(name: str) -> Task:
    """The task called ``name``.

    Raises:
        UnknownTaskError: no such task (the message lists the valid names).
    """
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise UnknownTaskError(f"unknown task {name!r}; valid tasks: {', '.join(TASK_NAMES)}") from None
