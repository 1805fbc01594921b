"""The MuJoCo model reproduces the UR5e DH chain, its masses and limits; gripper geometry; kinematics vectors."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType

import mujoco
import numpy as np
import pytest

from edgecell_twin import model

SIM = Path(__file__).resolve().parent.parent
VECTORS = SIM / "tests" / "vectors" / "kinematics.json"


@pytest.fixture(scope="module")
def mj() -> tuple[mujoco.MjModel, mujoco.MjData]:
    m = model.load_model()
    return m, mujoco.MjData(m)


def _set_arm(m: mujoco.MjModel, d: mujoco.MjData, q: np.ndarray) -> None:
    for name, value in zip(model.JOINT_NAMES, q, strict=True):
        d.joint(name).qpos[0] = value
    mujoco.mj_forward(m, d)


def _random_configurations(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(model.JOINT_POSITION_MIN, model.JOINT_POSITION_MAX, size=(n, 6))


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_kinematics_vectors", SIM / "tools" / "make_kinematics_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_has_the_named_parts(mj: tuple[mujoco.MjModel, mujoco.MjData]) -> None:
    m, _ = mj
    for name in (*model.CUBE_NAMES, model.BIN_NAME, "base", "flange", *model.LINK_NAMES):
        assert m.body(name).id >= 0
    for name in model.CAMERA_NAMES:
        assert m.camera(name).id >= 0
    assert m.site(model.TCP_SITE).id >= 0
    assert m.opt.timestep == 0.002
    assert m.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC
    assert model.load_model(0.001).opt.timestep == 0.001


@pytest.mark.parametrize("bad", [0.0, -0.002, math.nan, math.inf])
def test_load_model_rejects_bad_timesteps(bad: float) -> None:
    with pytest.raises(ValueError, match="physics_timestep"):
        model.load_model(bad)


def test_dh_table_is_the_published_ur5e() -> None:
    assert [row[0] for row in model.DH] == [0.0, -0.425, -0.3922, 0.0, 0.0, 0.0]
    assert [row[1] for row in model.DH] == [0.1625, 0.0, 0.0, 0.1333, 0.0997, 0.0996]
    assert [row[2] for row in model.DH] == [math.pi / 2, 0.0, 0.0, math.pi / 2, -math.pi / 2, 0.0]
    assert all(row[3] == 0.0 for row in model.DH)


def test_mujoco_frames_follow_the_dh_chain(mj: tuple[mujoco.MjModel, mujoco.MjData]) -> None:
    """Each DH frame i is the next link body's frame before its joint turns it (the flange: frame 6)."""
    m, d = mj
    children = [*model.LINK_NAMES[1:], "flange"]
    for q in [np.array(model.HOME_Q), *_random_configurations(10, 1)]:
        _set_arm(m, d, q)
        t = model.pose_to_matrix(model.BASE_POSE)
        for i, row in enumerate(model.DH):
            t = t @ model.dh_transform(row[0], row[1], row[2], q[i] + row[3])
            body = m.body(children[i]).id
            turn = model.dh_transform(0.0, 0.0, 0.0, q[i + 1]) if i + 1 < len(q) else np.eye(4)
            assert np.allclose(d.xpos[body], t[:3, 3], atol=1e-12)
            assert np.allclose(d.xmat[body].reshape(3, 3), (t @ turn)[:3, :3], atol=1e-12)
        site = m.site(model.TCP_SITE).id
        tcp = model.dh_forward(q)
        assert np.allclose(d.site_xpos[site], tcp[:3, 3], atol=1e-12)
        assert np.allclose(d.site_xmat[site].reshape(3, 3), tcp[:3, :3], atol=1e-12)


def test_home_puts_the_tcp_over_the_table_pointing_down(mj: tuple[mujoco.MjModel, mujoco.MjData]) -> None:
    m, d = mj
    _set_arm(m, d, np.array(model.HOME_Q))
    site = m.site(model.TCP_SITE).id
    assert np.allclose(d.site_xpos[site], [0.4919, 0.1333, 0.3379], atol=1e-4)
    assert np.allclose(d.site_xmat[site].reshape(3, 3)[:, 2], [0, 0, -1], atol=1e-12)
    assert np.all(d.site_xpos[site] > model.WORKSPACE_MIN) and np.all(d.site_xpos[site] < model.WORKSPACE_MAX)


def test_link_masses_and_centres_of_mass(mj: tuple[mujoco.MjModel, mujoco.MjData]) -> None:
    """Masses are UR's; each COM sits where UR's table puts it in DH frame i."""
    m, d = mj
    q = _random_configurations(1, 2)[0]
    _set_arm(m, d, q)
    t = model.pose_to_matrix(model.BASE_POSE)
    for i, link in enumerate(model.LINK_NAMES):
        row = model.DH[i]
        t = t @ model.dh_transform(row[0], row[1], row[2], q[i] + row[3])
        body = m.body(link).id
        assert m.body_mass[body] == pytest.approx(model.LINK_MASSES[i], abs=1e-12)
        assert np.allclose(d.xipos[body], t[:3, :3] @ np.array(model.LINK_COMS[i]) + t[:3, 3], atol=1e-9)


def test_joint_limits_and_actuators(mj: tuple[mujoco.MjModel, mujoco.MjData]) -> None:
    m, _ = mj
    for i, name in enumerate(model.JOINT_NAMES):
        joint = m.joint(name)
        assert tuple(joint.range) == (model.JOINT_POSITION_MIN[i], model.JOINT_POSITION_MAX[i])
        actuator = m.actuator(f"{name}_servo")
        assert tuple(actuator.forcerange) == (-model.JOINT_EFFORT_MAX[i], model.JOINT_EFFORT_MAX[i])
        assert tuple(m.jnt_actfrcrange[joint.id]) == (-model.JOINT_EFFORT_MAX[i], model.JOINT_EFFORT_MAX[i])
    assert model.JOINT_POSITION_MIN[2] == -math.pi and model.JOINT_POSITION_MAX[2] == math.pi
    gripper = m.actuator("gripper_servo")
    assert tuple(gripper.ctrlrange) == (model.GRIPPER_APERTURE_MIN, model.GRIPPER_APERTURE_MAX)
    assert tuple(gripper.forcerange) == (-model.GRIPPER_FORCE_MAX, model.GRIPPER_FORCE_MAX)


@pytest.mark.parametrize("aperture", [0.0, 0.04, 0.085])
def test_gripper_aperture_is_the_pad_gap_and_tcp_is_between_the_pads(
    mj: tuple[mujoco.MjModel, mujoco.MjData], aperture: float
) -> None:
    m, d = mj
    _set_arm(m, d, np.array(model.HOME_Q))
    for joint in model.FINGER_JOINTS:
        d.joint(joint).qpos[0] = aperture / 2
    mujoco.mj_forward(m, d)
    flange = m.body("flange").id
    rot, origin = d.xmat[flange].reshape(3, 3), d.xpos[flange]
    left = rot.T @ (d.geom("finger_left_pad").xpos - origin)
    right = rot.T @ (d.geom("finger_right_pad").xpos - origin)
    half_thickness = model.PAD_HALF[0]
    gap = (left[0] - half_thickness) - (right[0] + half_thickness)
    assert gap == pytest.approx(aperture, abs=1e-12)
    assert d.ten_length[m.tendon("aperture").id] == pytest.approx(aperture, abs=1e-12)
    assert np.allclose((left + right) / 2, model.TOOL_POSE[:3], atol=1e-12)


def test_no_contact_between_robot_and_world_at_home(mj: tuple[mujoco.MjModel, mujoco.MjData]) -> None:
    m, d = mj
    mujoco.mj_resetData(m, d)
    _set_arm(m, d, np.array(model.HOME_Q))
    names = {m.geom(int(c.geom1)).name for c in d.contact[: d.ncon]} | {
        m.geom(int(c.geom2)).name for c in d.contact[: d.ncon]
    }
    assert names <= {"table", *(f"{n}_geom" for n in model.CUBE_NAMES)}


def test_pose_helpers_round_trip() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        quat = rng.normal(size=4)
        quat /= np.linalg.norm(quat)
        quat *= np.sign(quat[0])
        pose = np.concatenate([rng.normal(size=3), quat])
        assert np.allclose(model.matrix_to_pose(model.pose_to_matrix(pose)), pose, atol=1e-12)


def test_kinematics_vectors_are_up_to_date() -> None:
    tool = _load_tool()
    committed = json.loads(VECTORS.read_text(encoding="ascii"))
    stale = tool.differences(tool.build_vectors(), committed)
    assert not stale, f"{VECTORS} is stale ({stale[:3]}): run python Sim/tools/make_kinematics_vectors.py"
    assert committed["version"] == 1
    assert len(committed["samples"]) >= 20


def test_numpy_dh_matches_the_twin_vectors() -> None:
    document = json.loads(VECTORS.read_text(encoding="ascii"))
    dh = [(r["a"], r["d"], r["alpha"], r["theta_offset"]) for r in document["dh"]]
    base = document["base_pose"]["position"] + document["base_pose"]["orientation"]
    tool = document["tool_pose"]["position"] + document["tool_pose"]["orientation"]
    for sample in document["samples"]:
        pose = model.matrix_to_pose(model.dh_forward(sample["q"], dh, base, tool))
        expected = np.array(sample["tcp_pose"]["position"] + sample["tcp_pose"]["orientation"])
        assert np.abs(pose - expected).max() < 1e-9, sample["name"]


def test_differences_notices_a_changed_number() -> None:
    tool = _load_tool()
    document = json.loads(VECTORS.read_text(encoding="ascii"))
    document["samples"][3]["tcp_pose"]["position"][1] += 1e-9
    assert tool.differences(json.loads(VECTORS.read_text(encoding="ascii")), document)
