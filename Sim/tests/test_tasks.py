"""Task registry, seeded initial poses and success predicates (on hand-made states, no physics)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from edgecell_twin import model, tasks
from edgecell_twin.tasks import ObjectState, SceneState


def _cube(x: float, y: float, z: float = model.CUBE_SIZE / 2, *, moving: bool = False, touched: bool = False) -> ObjectState:
    return ObjectState(
        position=np.array([x, y, z]),
        quaternion=np.array([1.0, 0.0, 0.0, 0.0]),
        linear_velocity=np.array([0.0, 0.0, -0.2 if moving else 0.0]),
        angular_velocity=np.zeros(3),
        touched_by_gripper=touched,
    )


def _scene(**cubes: ObjectState) -> SceneState:
    objects = {"red_cube": _cube(0.40, -0.20), "green_cube": _cube(0.50, 0.00), "blue_cube": _cube(0.60, -0.10)}
    objects.update({f"{k}_cube": v for k, v in cubes.items()})
    return SceneState(objects)


def test_registry_names_and_instructions() -> None:
    assert tasks.DEFAULT_TASK == "bin-red"
    expected = {f"bin-{c}" for c in tasks.COLOURS} | {
        f"stack-{a}-{b}" for a, b in itertools.permutations(tasks.COLOURS, 2)
    }
    assert set(tasks.TASK_NAMES) == expected
    assert tasks.get_task("bin-green").instruction == "put the green cube in the bin"
    stack = tasks.get_task("stack-blue-green")
    assert stack.instruction == "stack the blue cube on the green cube"
    assert (stack.cube, stack.support) == ("blue_cube", "green_cube")
    with pytest.raises(TypeError):
        tasks.TASKS["new"] = stack  # type: ignore[index]


@pytest.mark.parametrize("name", ["", "bin-purple", "stack-red-red", "BIN-RED", None])
def test_unknown_task_lists_the_valid_ones(name: object) -> None:
    with pytest.raises(tasks.UnknownTaskError) as info:
        tasks.get_task(name)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert "bin-red" in str(info.value) and "stack-green-blue" in str(info.value)


def test_initial_poses_are_seeded_and_independent_of_global_state() -> None:
    task = tasks.get_task("bin-red")
    first = task.initial_cube_poses(7)
    np.random.seed(123)  # global state must not matter
    _ = np.random.uniform(size=10)
    again = task.initial_cube_poses(7)
    for name in model.CUBE_NAMES:
        assert np.array_equal(first[name], again[name])
    other = task.initial_cube_poses(8)
    assert not np.array_equal(first["red_cube"], other["red_cube"])
    # The scene does not depend on the task, only on the seed.
    assert np.array_equal(tasks.get_task("stack-blue-green").initial_cube_poses(7)["red_cube"], first["red_cube"])


def test_initial_poses_lie_flat_in_the_region_and_apart() -> None:
    yaws = []
    for seed in range(200):
        poses = tasks.sample_cube_poses(np.random.default_rng(seed))
        assert list(poses) == list(model.CUBE_NAMES)
        xy = np.array([p[:2] for p in poses.values()])
        assert np.all(xy >= tasks.SPAWN_MIN) and np.all(xy <= tasks.SPAWN_MAX)
        for i, j in itertools.combinations(range(3), 2):
            assert np.linalg.norm(xy[i] - xy[j]) >= tasks.MIN_SEPARATION
        for pose in poses.values():
            assert pose[2] == model.CUBE_SIZE / 2
            assert np.linalg.norm(pose[3:]) == pytest.approx(1.0)
            assert pose[4] == 0.0 and pose[5] == 0.0  # yaw only
            yaws.append(2 * math.atan2(pose[6], pose[3]))
        # Clear of the bin with room for the open fingers.
        bx, by = model.BIN_POSITION
        assert np.all(np.abs(xy[:, 1] - by) > model.BIN_OUTER[1] / 2 + 0.05)
    assert np.ptp(yaws) > 5.0  # yaw covers the circle


def test_bin_success() -> None:
    task = tasks.get_task("bin-red")
    bx, by = model.BIN_POSITION
    inside_z = model.BIN_FLOOR + model.CUBE_SIZE / 2
    assert task.success(_scene(red=_cube(bx + 0.03, by - 0.02, inside_z)))
    assert not task.success(_scene())  # on the table
    assert not task.success(_scene(red=_cube(bx, by, inside_z, moving=True)))
    assert not task.success(_scene(red=_cube(bx, by, inside_z, touched=True)))
    assert not task.success(_scene(red=_cube(bx + 0.075, by, inside_z)))  # outside the inner footprint
    assert not task.success(_scene(red=_cube(bx, by, model.BIN_OUTER[2] + 0.03)))  # above the rim
    assert not task.success(_scene(green=_cube(bx, by, inside_z)))  # the wrong cube


def test_stack_success() -> None:
    task = tasks.get_task("stack-blue-green")
    gx, gy = 0.50, 0.00
    on_top = model.CUBE_SIZE * 1.5
    assert task.success(_scene(blue=_cube(gx + 0.005, gy - 0.005, on_top)))
    assert not task.success(_scene(blue=_cube(gx + 0.02, gy, on_top)))  # off centre
    assert not task.success(_scene(blue=_cube(gx, gy, on_top + 0.01)))  # floating / wrong height
    assert not task.success(_scene(blue=_cube(gx, gy, on_top, touched=True)))  # still held
    assert not task.success(_scene(blue=_cube(gx, gy, on_top, moving=True)))
    assert not task.success(_scene(blue=_cube(gx, gy, on_top), green=_cube(gx, gy, 0.02, moving=True)))
    lifted = _scene(blue=_cube(gx, gy, on_top + 0.05), green=_cube(gx, gy, model.CUBE_SIZE / 2 + 0.05))
    assert not task.success(lifted)  # the lower cube must stand on the table
    assert not tasks.get_task("stack-green-blue").success(_scene(blue=_cube(gx, gy, on_top)))  # reversed
