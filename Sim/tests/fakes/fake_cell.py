"""A deterministic stand-in for `edgecell_twin.cell.Cell` with the same API and no MuJoCo.

Joints move a fixed fraction of the way to their targets per control period; object poses come from the
seed; images are a pattern that depends on the step. Enough to test the server's protocol behaviour fast.
Serve it with `python -m edgecell_twin --cell fakes.fake_cell:FakeCell` (with Sim/tests on PYTHONPATH).
"""

from __future__ import annotations

import numpy as np

# The physics side's data types, so the fake cannot drift from them (importing them loads MuJoCo's module,
# but no model is built).
from edgecell_twin.cell import CameraSpec, JointSpec, ObjectSpec, Observation, RobotDescription


class UnknownTaskError(ValueError):
    """Same name as tasks.UnknownTaskError, which the server recognises."""


TASKS = {"bin-red": "put the red cube in the bin", "bin-green": "put the green cube in the bin"}
HOME = np.array([0.0, -1.5, 1.5, -1.5, -1.5, 0.0])
KNOWN_CAMERAS = ("scene", "wrist")


class FakeCell:
    def __init__(self, *, cameras=(), image_size=(96, 96), control_period=0.01, physics_timestep=0.002) -> None:
        for name in cameras:
            if name not in KNOWN_CAMERAS:
                raise ValueError(f"unknown camera {name!r}; cameras: {', '.join(KNOWN_CAMERAS)}")
        width, height = image_size
        self.description = RobotDescription(
            robot_name="FakeArm",
            control_period=control_period,
            physics_timestep=physics_timestep,
            joints=tuple(JointSpec(f"j{i}", -6.25, 6.25, 3.125, 8.0, 100.0) for i in range(6)),
            base_pose=(0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0),
            dh=tuple((0.0, 0.125, 0.0, 0.0) for _ in range(6)),
            tool_pose=(0.0, 0.0, 0.125, 1.0, 0.0, 0.0, 0.0),
            gripper_name="fake-gripper",
            gripper_aperture_min=0.0,
            gripper_aperture_max=0.085,
            gripper_force_max=100.0,
            gripper_speed_max=0.15,
            workspace_min=(-1.0, -1.0, 0.0),
            workspace_max=(1.0, 1.0, 1.0),
            cameras=tuple(CameraSpec(name, width, height) for name in cameras),
            objects=tuple(ObjectSpec(n, (0.04, 0.04, 0.04)) for n in ("red_cube", "green_cube", "blue_cube", "bin")),
            tasks=tuple(TASKS),
        )
        self.task, self.instruction, self.seed = "bin-red", TASKS["bin-red"], 0
        self.closed = False
        self.holds = 0
        self.reset(self.task, 0)

    def reset(self, task: str, seed: int) -> None:
        if task not in TASKS:
            raise UnknownTaskError(f"unknown task {task!r}")
        self.task, self.instruction, self.seed = task, TASKS[task], seed
        rng = np.random.default_rng(seed)
        self.q = HOME + rng.uniform(-0.1, 0.1, 6)
        self.dq = np.zeros(6)
        self.target = self.q.copy()
        self.gripper = 0.085
        self.gripper_target = 0.085
        self.objects = np.tile(np.array([0.5, 0.0, 0.02, 1.0, 0.0, 0.0, 0.0]), (4, 1))
        self.objects[:, :2] += rng.uniform(-0.1, 0.1, (4, 2))
        self.steps = 0

    def set_targets(self, joint_targets: np.ndarray, gripper_target: float) -> None:
        joint_targets = np.asarray(joint_targets, dtype=np.float64)
        if joint_targets.shape != (6,) or not np.all(np.isfinite(joint_targets)) or not np.isfinite(gripper_target):
            raise ValueError("bad targets")
        self.target = joint_targets.copy()
        self.gripper_target = float(gripper_target)

    def step(self) -> None:
        period = self.description.control_period
        new_q = self.q + 0.2 * (self.target - self.q)
        self.dq = (new_q - self.q) / period
        self.q = new_q
        self.gripper += 0.2 * (self.gripper_target - self.gripper)
        self.steps += 1

    def hold(self) -> None:
        self.holds += 1
        self.target = self.q.copy()

    def observe(self, render: bool = True) -> Observation:
        images = []
        if render:
            for index, cam in enumerate(self.description.cameras):
                pattern = (np.arange(cam.height * cam.width * 3) + 7 * self.steps + 50 * index) % 256
                images.append((index, pattern.astype(np.uint8).reshape(cam.height, cam.width, 3)))
        return Observation(
            step=self.steps,
            sim_time=self.steps * self.description.control_period,
            joint_positions=self.q.copy(),
            joint_velocities=self.dq.copy(),
            gripper_aperture=self.gripper,
            gripper_force=0.0,
            tcp_pose=np.array([0.5, 0.0, 0.5, 0.0, 1.0, 0.0, 0.0]),
            object_poses=self.objects.copy(),
            success=False,
            in_collision=False,
            images=images,
        )

    def close(self) -> None:
        self.closed = True
