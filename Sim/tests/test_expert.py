"""The scripted expert: its kinematics, and its success rate on seeded episodes (no rendering)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from edgecell_twin import model
from edgecell_twin.cell import Cell
from edgecell_twin.expert import PHASES, Expert, Kinematics, run_expert_episode, tool_down_rotation
from edgecell_twin.tasks import TASK_NAMES

SEEDS = range(20)
MAX_TIME = 15.0


@dataclass
class EpisodeRecord:
    success: bool
    phases: list[str] = field(default_factory=list)
    max_velocity_ratio: float = 0.0  # commanded joint speed / limit
    max_acceleration_ratio: float = 0.0
    left_workspace: bool = False
    collided: bool = False


def _episode(cell: Cell, task: str, seed: int) -> EpisodeRecord:
    """run_expert_episode, recording phases and checking commands against the description's limits."""
    d = cell.description
    vmax = np.array([j.velocity_max for j in d.joints])
    amax = np.array([j.acceleration_max for j in d.joints])
    lo, hi = np.array(d.workspace_min), np.array(d.workspace_max)
    cell.reset(task, seed)
    obs = cell.observe(render=False)
    expert = Expert(d)
    expert.reset(task, obs)
    record = EpisodeRecord(success=False)
    previous, velocity = obs.joint_positions.copy(), np.zeros(6)
    while obs.sim_time < MAX_TIME:
        joints, gripper = expert.act(obs)
        if not record.phases or record.phases[-1] != expert.phase:
            record.phases.append(expert.phase)
        new_velocity = (joints - previous) / d.control_period
        record.max_velocity_ratio = max(record.max_velocity_ratio, float(np.max(np.abs(new_velocity) / vmax)))
        accel = (new_velocity - velocity) / d.control_period
        record.max_acceleration_ratio = max(record.max_acceleration_ratio, float(np.max(np.abs(accel) / amax)))
        previous, velocity = joints, new_velocity
        cell.set_targets(joints, gripper)
        cell.step()
        obs = cell.observe(render=False)
        tcp = obs.tcp_pose[:3]
        record.left_workspace |= bool(np.any(tcp < lo) or np.any(tcp > hi))
        record.collided |= obs.in_collision
        if obs.success:
            record.success = True
            break
    return record


@pytest.fixture(scope="module")
def cell() -> Cell:
    return Cell()


def test_kinematics_match_the_model() -> None:
    kin = Kinematics(Cell().description)
    rng = np.random.default_rng(5)
    for q in rng.uniform(-3, 3, size=(5, 6)):
        assert np.allclose(kin.forward(q), model.dh_forward(q), atol=1e-12)
        tcp, jac = kin.jacobian(q)
        eps = 1e-6
        for i in range(6):
            dq = np.zeros(6)
            dq[i] = eps
            plus, minus = kin.forward(q + dq), kin.forward(q - dq)
            assert np.allclose((plus[:3, 3] - minus[:3, 3]) / (2 * eps), jac[:3, i], atol=1e-6)
            omega = (plus[:3, :3] - minus[:3, :3]) / (2 * eps) @ tcp[:3, :3].T
            assert np.allclose([omega[2, 1], omega[0, 2], omega[1, 0]], jac[3:, i], atol=1e-6)


def test_inverse_kinematics_round_trip() -> None:
    kin = Kinematics(Cell().description)
    rng = np.random.default_rng(9)
    home = np.array(model.HOME_Q)
    for _ in range(20):
        position = rng.uniform([0.3, -0.3, 0.03], [0.65, 0.35, 0.3])
        yaw = rng.uniform(-2.5, 0.5)
        q, error = kin.solve(position, tool_down_rotation(yaw), home, iterations=100)
        assert error < 1e-9
        tcp = kin.forward(q)
        assert np.allclose(tcp[:3, 3], position, atol=1e-9)
        assert np.allclose(tcp[:3, :3], tool_down_rotation(yaw), atol=1e-9)


def test_act_before_reset_is_an_error(cell: Cell) -> None:
    with pytest.raises(RuntimeError, match="reset"):
        Expert(cell.description).act(cell.observe(render=False))


@pytest.mark.parametrize("task", ["bin-red", "stack-blue-green"])
def test_expert_success_rate(cell: Cell, task: str) -> None:
    """>= 19 of 20 seeded episodes succeed within 15 s, with commands inside the robot's limits."""
    records = {seed: _episode(cell, task, seed) for seed in SEEDS}
    failures = [seed for seed, r in records.items() if not r.success]
    assert len(failures) <= 1, f"{task}: failed seeds {failures}"
    for seed, r in records.items():
        assert r.max_velocity_ratio <= 1.0, f"seed {seed}: joint speed {r.max_velocity_ratio:.2f} x limit"
        assert r.max_acceleration_ratio <= 1.0, f"seed {seed}: joint acceleration {r.max_acceleration_ratio:.2f} x limit"
        assert not r.left_workspace, f"seed {seed}: TCP left the workspace box"
        assert not r.collided, f"seed {seed}: arm collided with the table or the bin"
        assert set(r.phases) <= set(PHASES)
    clean = records[next(s for s in SEEDS if records[s].success)].phases
    assert clean[:7] == ["reach", "descend", "grasp", "lift", "move", "place", "release"]


@pytest.mark.parametrize("task", [t for t in TASK_NAMES if t not in ("bin-red", "stack-blue-green")])
def test_expert_solves_every_other_task(cell: Cell, task: str) -> None:
    assert [run_expert_episode(cell, task, seed, MAX_TIME) for seed in (0, 1)] == [True, True]
