"""The Cell API: description, reset, targets, stepping, determinism, contacts and rendering."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from edgecell_twin import model, render
from edgecell_twin.cell import Cell, Observation, RobotDescription
from edgecell_twin.tasks import TASK_NAMES, UnknownTaskError

HOME = np.array(model.HOME_Q)


@pytest.fixture(scope="module")
def cell() -> Iterator[Cell]:
    c = Cell()
    yield c
    c.close()


def _quintic_targets(delta: np.ndarray, duration: float, period: float = 0.01) -> list[np.ndarray]:
    n = round(duration / period)
    out = []
    for k in range(1, n + 1):
        s = k / n
        out.append(HOME + (10 * s**3 - 15 * s**4 + 6 * s**5) * delta)
    return out


def _same(a: Observation, b: Observation) -> bool:
    return (
        a.step == b.step
        and a.sim_time == b.sim_time
        and np.array_equal(a.joint_positions, b.joint_positions)
        and np.array_equal(a.joint_velocities, b.joint_velocities)
        and a.gripper_aperture == b.gripper_aperture
        and a.gripper_force == b.gripper_force
        and np.array_equal(a.tcp_pose, b.tcp_pose)
        and np.array_equal(a.object_poses, b.object_poses)
        and a.success == b.success
        and a.in_collision == b.in_collision
    )


def test_description(cell: Cell) -> None:
    d = cell.description
    assert isinstance(d, RobotDescription)
    assert d.robot_name == "UR5e"
    assert (d.control_period, d.physics_timestep) == (0.01, 0.002)
    assert [j.name for j in d.joints] == list(model.JOINT_NAMES)
    assert all(j.velocity_max == math.pi for j in d.joints)
    assert [j.effort_max for j in d.joints] == [150, 150, 150, 28, 28, 28]
    assert len(d.dh) == 6 and all(len(row) == 4 for row in d.dh)
    assert len(d.base_pose) == 7 and len(d.tool_pose) == 7
    assert d.tool_pose[2] == pytest.approx(0.15)
    assert (d.gripper_aperture_min, d.gripper_aperture_max) == (0.0, 0.085)
    assert d.gripper_speed_max <= 0.15
    assert [o.name for o in d.objects] == ["red_cube", "green_cube", "blue_cube", "bin"]
    assert d.objects[0].size == (0.04, 0.04, 0.04)
    assert d.cameras == ()
    assert set(d.tasks) == set(TASK_NAMES)
    assert all(lo < hi for lo, hi in zip(d.workspace_min, d.workspace_max, strict=True))
    # The cell starts in a valid state: default task, seed 0.
    fresh = Cell()
    assert (fresh.task, fresh.seed) == ("bin-red", 0)
    assert fresh.instruction == "put the red cube in the bin"


def test_reset(cell: Cell) -> None:
    cell.reset("stack-blue-green", 3)
    assert (cell.task, cell.seed) == ("stack-blue-green", 3)
    assert cell.instruction == "stack the blue cube on the green cube"
    obs = cell.observe(render=False)
    assert obs.step == 0 and obs.sim_time == 0.0
    assert np.array_equal(obs.joint_positions, HOME)
    assert obs.gripper_aperture == pytest.approx(0.085)
    assert obs.gripper_force == 0.0
    assert obs.object_poses.shape == (4, 7)
    assert np.allclose(obs.object_poses[:3, 2], 0.02)
    assert np.allclose(obs.tcp_pose[:3], [0.4919, 0.1333, 0.3379], atol=1e-4)
    assert not obs.success and not obs.in_collision
    assert obs.images == []
    for _ in range(3):
        cell.step()
    assert cell.observe(render=False).step == 3
    cell.reset("stack-blue-green", 3)
    assert cell.observe(render=False).step == 0


def test_reset_rejects_unknown_tasks_and_bad_seeds(cell: Cell) -> None:
    with pytest.raises(UnknownTaskError, match="bin-red"):
        cell.reset("juggle", 0)
    with pytest.raises(ValueError, match="seed"):
        cell.reset("bin-red", -1)
    with pytest.raises(ValueError, match="seed"):
        cell.reset("bin-red", 2**64)
    cell.reset("bin-red", 2**64 - 1)  # the protocol's u64 range
    assert cell.seed == 2**64 - 1


@pytest.mark.parametrize(
    ("joints", "gripper", "message"),
    [
        (HOME[:5], 0.05, "6 values"),
        (np.where(np.arange(6) == 2, math.nan, HOME), 0.05, "elbow"),
        (np.where(np.arange(6) == 2, 3.5, HOME), 0.05, r"elbow\) = 3\.5"),
        (np.where(np.arange(6) == 5, -7.0, HOME), 0.05, "wrist_3"),
        (HOME, 0.09, "gripper"),
        (HOME, -0.001, "gripper"),
        (HOME, math.inf, "gripper"),
    ],
)
def test_set_targets_rejects_bad_values(cell: Cell, joints: np.ndarray, gripper: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cell.set_targets(joints, gripper)


def test_tracking_a_fast_trajectory(cell: Cell) -> None:
    """A quintic move at up to ~2.3 rad/s is tracked to within 1 cm-equivalent (10 mrad)."""
    cell.reset("bin-red", 0)
    delta = np.array([1.2, 0.6, -0.8, 1.0, 1.2, 1.5])
    worst = 0.0
    for target in _quintic_targets(delta, 1.2):
        cell.set_targets(target, 0.085)
        cell.step()
        worst = max(worst, float(np.abs(cell.observe(render=False).joint_positions - target).max()))
    for _ in range(50):
        cell.step()
    final = cell.observe(render=False)
    assert worst < 0.01
    assert np.abs(final.joint_positions - (HOME + delta)).max() < 1e-4
    assert np.abs(final.joint_velocities).max() < 1e-3


def test_hold_keeps_the_arm_where_it_is(cell: Cell) -> None:
    cell.reset("bin-red", 0)
    for target in _quintic_targets(np.array([0.5, 0.0, 0.0, 0.0, 0.0, 0.0]), 1.0)[:50]:
        cell.set_targets(target, 0.085)
        cell.step()
    cell.hold()
    here = cell.observe(render=False).joint_positions.copy()
    for _ in range(100):
        cell.step()
    after = cell.observe(render=False)
    assert np.abs(after.joint_positions - here).max() < 0.05  # it brakes from ~1 rad/s
    assert np.abs(after.joint_velocities).max() < 1e-3


def test_gripper_respects_its_speed_limit(cell: Cell) -> None:
    cell.reset("bin-red", 0)
    apertures = [cell.observe(render=False).gripper_aperture]
    for _ in range(100):
        cell.set_targets(HOME, 0.0)
        cell.step()
        obs = cell.observe(render=False)
        apertures.append(obs.gripper_aperture)
        assert obs.gripper_force == 0.0  # closing on nothing
    speeds = -np.diff(apertures) / 0.01
    assert speeds.max() <= model.GRIPPER_SPEED_MAX * 1.05
    assert apertures[-1] < 0.002  # closed after 1 s
    assert apertures[40] > 0.02  # but not within 0.4 s


def test_driving_the_arm_into_the_table_is_a_collision(cell: Cell) -> None:
    cell.reset("bin-green", 11)
    q = HOME.copy()
    flagged = False
    for k in range(150):
        q[1] = HOME[1] + min(1.2, 0.01 * k)  # shoulder down: the gripper meets the table
        cell.set_targets(q, 0.085)
        cell.step()
        flagged = flagged or cell.observe(render=False).in_collision
    assert flagged


def test_determinism() -> None:
    """Same task, seed and targets give bit-identical observations, in a new cell and after a reset."""
    targets = _quintic_targets(np.array([0.3, 0.4, -0.2, 0.1, 0.0, 0.5]), 0.6)
    runs = []
    for cell in (Cell(), Cell()):
        for _ in range(2):
            cell.reset("stack-red-blue", 42)
            trace = [cell.observe(render=False)]
            for i, target in enumerate(targets):
                cell.set_targets(target, 0.085 if i < 30 else 0.02)
                cell.step()
                trace.append(cell.observe(render=False))
            runs.append(trace)
    for other in runs[1:]:
        assert all(_same(a, b) for a, b in zip(runs[0], other, strict=True))
    different = Cell()
    different.reset("stack-red-blue", 43)
    assert not np.array_equal(different.observe(render=False).object_poses, runs[0][0].object_poses)


def test_timing_options() -> None:
    slow = Cell(control_period=0.02, physics_timestep=0.001)
    assert (slow.description.control_period, slow.description.physics_timestep) == (0.02, 0.001)
    slow.step()
    assert slow.observe(render=False).sim_time == pytest.approx(0.02)
    with pytest.raises(ValueError, match="multiple"):
        Cell(control_period=0.01, physics_timestep=0.003)
    with pytest.raises(ValueError, match="control_period"):
        Cell(control_period=0.0)


def test_camera_options_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown camera"):
        Cell(cameras=("top",))
    with pytest.raises(ValueError, match="twice"):
        Cell(cameras=("scene", "scene"))
    with pytest.raises(ValueError, match="image_size"):
        Cell(cameras=("scene",), image_size=(0, 96))
    described = Cell(cameras=("wrist", "scene"), image_size=(64, 48)).description
    assert [(c.name, c.width, c.height) for c in described.cameras] == [("wrist", 64, 48), ("scene", 64, 48)]


def test_render_both_cameras() -> None:
    """One small render per camera: right shape, not blank, and the two views differ."""
    try:
        render.select_backend()
    except render.RenderBackendError as error:
        pytest.skip(str(error))
    with Cell(cameras=("scene", "wrist"), image_size=(64, 48)) as cell:
        cell.reset("bin-red", 0)
        assert cell.observe(render=False).images == []
        images = cell.observe(render=True).images
        assert cell.renderer_backend in ("egl", "osmesa", "glfw")
    assert [index for index, _ in images] == [0, 1]
    for _, image in images:
        assert image.shape == (48, 64, 3) and image.dtype == np.uint8
        assert image.std() > 10  # not blank
    assert np.abs(images[0][1].astype(int) - images[1][1].astype(int)).mean() > 10


def test_backend_error_names_both_failures_and_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(render, "_probe", lambda backend: f"{backend} is broken")
    with pytest.raises(render.RenderBackendError) as info:
        render.select_backend.__wrapped__()
    message = str(info.value)
    assert "egl is broken" in message and "osmesa is broken" in message
    assert "libegl1 libegl-mesa0 libgl1-mesa-dri" in message and "libosmesa6" in message
    monkeypatch.setattr(render, "_probe", lambda backend: None if backend == "osmesa" else "no")
    assert render.select_backend.__wrapped__() == "osmesa"
    monkeypatch.setenv("MUJOCO_GL", "egl")
    assert render.select_backend.__wrapped__() == "egl"
