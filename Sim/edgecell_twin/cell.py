"""The simulated robot cell: MuJoCo physics of the UR5e, its gripper, the cubes and the bin.

``Cell`` is what the twin server drives: reset to a task and seed, set joint and gripper targets, step
one control period, observe. The robot's description (``RobotDescription``) is what the server sends in
the protocol's WELCOME (Sim/PROTOCOL.md §4.2); observations fill OBSERVATION (§4.6).

Control: every arm joint has a position servo (stiffness and damping in ``model``, torque limited to the
joint's rated torque, gravity compensated within that limit). Targets arrive once per control period; within
the period the servo set-point moves linearly from the previous target to the new one, with the matching
velocity fed forward, so a trajectory sampled at 100 Hz is tracked without steps. The gripper's aperture
set-point moves towards its target at no more than the gripper's speed limit.

Deterministic: the same task, seed and sequence of targets give bit-identical observations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import mujoco
import numpy as np

from . import model
from .tasks import DEFAULT_TASK, TASK_NAMES, ObjectState, SceneState, Task, get_task


@dataclass(frozen=True)
class JointSpec:
    """One arm joint: limits in rad, rad/s, rad/s^2 and N m."""

    name: str
    position_min: float
    position_max: float
    velocity_max: float
    acceleration_max: float
    effort_max: float


@dataclass(frozen=True)
class CameraSpec:
    """A camera the cell renders, image size in pixels."""

    name: str
    width: int
    height: int


@dataclass(frozen=True)
class ObjectSpec:
    """A tracked object and the full extents of its bounding box, m."""

    name: str
    size: tuple[float, float, float]


@dataclass(frozen=True)
class RobotDescription:
    """The robot and the cell, as the protocol's WELCOME describes them (SI units, poses x y z qw qx qy qz)."""

    robot_name: str
    control_period: float
    physics_timestep: float
    joints: tuple[JointSpec, ...]
    base_pose: tuple[float, ...]
    dh: tuple[tuple[float, float, float, float], ...]
    tool_pose: tuple[float, ...]
    gripper_name: str
    gripper_aperture_min: float
    gripper_aperture_max: float
    gripper_force_max: float
    gripper_speed_max: float
    workspace_min: tuple[float, float, float]
    workspace_max: tuple[float, float, float]
    cameras: tuple[CameraSpec, ...]
    objects: tuple[ObjectSpec, ...]
    tasks: tuple[str, ...]


@dataclass
class Observation:
    """The cell's state after a reset or a step (world frame, SI units)."""

    step: int
    sim_time: float
    joint_positions: np.ndarray  # (6,) rad
    joint_velocities: np.ndarray  # (6,) rad/s
    gripper_aperture: float  # m, between the finger pads
    gripper_force: float  # N, grip force (0 unless both fingers press on something)
    tcp_pose: np.ndarray  # (7,) measured from the MuJoCo site
    object_poses: np.ndarray  # (len(objects), 7), in description order
    success: bool
    in_collision: bool  # arm or gripper touches the table, the bin, or another link of the arm
    images: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (camera index, HxWx3 uint8)


def describe(
    cameras: Sequence[str] = (),
    image_size: tuple[int, int] = (96, 96),
    control_period: float = 0.01,
    physics_timestep: float = 0.002,
) -> RobotDescription:
    """The description of the cell with the given cameras and timing (no MuJoCo needed)."""
    width, height = image_size
    joints = tuple(
        JointSpec(
            name,
            model.JOINT_POSITION_MIN[i],
            model.JOINT_POSITION_MAX[i],
            model.JOINT_VELOCITY_MAX[i],
            model.JOINT_ACCELERATION_MAX[i],
            model.JOINT_EFFORT_MAX[i],
        )
        for i, name in enumerate(model.JOINT_NAMES)
    )
    cube = (model.CUBE_SIZE,) * 3
    objects = tuple(ObjectSpec(name, cube) for name in model.CUBE_NAMES) + (
        ObjectSpec(model.BIN_NAME, model.BIN_OUTER),
    )
    return RobotDescription(
        robot_name=model.ROBOT_NAME,
        control_period=control_period,
        physics_timestep=physics_timestep,
        joints=joints,
        base_pose=model.BASE_POSE,
        dh=model.DH,
        tool_pose=model.TOOL_POSE,
        gripper_name=model.GRIPPER_NAME,
        gripper_aperture_min=model.GRIPPER_APERTURE_MIN,
        gripper_aperture_max=model.GRIPPER_APERTURE_MAX,
        gripper_force_max=model.GRIPPER_FORCE_MAX,
        gripper_speed_max=model.GRIPPER_SPEED_MAX,
        workspace_min=model.WORKSPACE_MIN,
        workspace_max=model.WORKSPACE_MAX,
        cameras=tuple(CameraSpec(name, width, height) for name in cameras),
        objects=objects,
        tasks=TASK_NAMES,
    )


def _substeps(control_period: float, physics_timestep: float) -> int:
    for name, value in (("control_period", control_period), ("physics_timestep", physics_timestep)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    n = round(control_period / physics_timestep)
    if n < 1 or abs(n * physics_timestep - control_period) > 1e-9 * control_period:
        raise ValueError(
            f"control_period {control_period!r} s must be a whole multiple of physics_timestep {physics_timestep!r} s"
        )
    return n


class Cell:
    """The MuJoCo robot cell. Not thread safe: drive it from one thread."""

    def __init__(
        self,
        *,
        cameras: Sequence[str] = (),
        image_size: tuple[int, int] = (96, 96),
        control_period: float = 0.01,
        physics_timestep: float = 0.002,
    ) -> None:
        """Build the cell and reset it to the default task with seed 0.

        ``image_size`` is (width, height) in pixels, shared by all cameras; cameras are named from
        ``model.CAMERA_NAMES`` ("scene", "wrist"). No OpenGL context is created until the first
        ``observe(render=True)`` with cameras.

        Raises:
            ValueError: unknown camera, bad image size, or a control period that is not a whole number
                of physics timesteps.
        """
        cameras = tuple(cameras)
        for name in cameras:
            if name not in model.CAMERA_NAMES:
                raise ValueError(f"unknown camera {name!r}; cameras: {', '.join(model.CAMERA_NAMES)}")
        if len(set(cameras)) != len(cameras):
            raise ValueError(f"camera listed twice in {cameras!r}")
        width, height = (int(v) for v in image_size)
        if not (1 <= width <= 4096 and 1 <= height <= 4096):
            raise ValueError(f"image_size must be 1..4096 pixels each way, got {image_size!r}")
        self._substeps = _substeps(control_period, physics_timestep)
        self.description: RobotDescription = describe(cameras, (width, height), control_period, physics_timestep)
        self._control_period = float(control_period)
        self._model = model.load_model(physics_timestep)
        self._data = mujoco.MjData(self._model)
        self._renderer: object | None = None
        self._index_model()

        n = len(model.JOINT_NAMES)
        self._lower = np.array(model.JOINT_POSITION_MIN)
        self._upper = np.array(model.JOINT_POSITION_MAX)
        self._feedforward_gain = np.array(model.JOINT_KV) / np.array(model.JOINT_KP)
        self._previous_targets = np.zeros(n)
        self._targets = np.zeros(n)
        self._gripper_target = model.GRIPPER_APERTURE_MAX
        self._gripper_setpoint = model.GRIPPER_APERTURE_MAX
        self._step = 0
        self._task: Task = get_task(DEFAULT_TASK)
        self.seed: int = 0
        self.reset(DEFAULT_TASK, 0)

    # --- model bookkeeping ------------------------------------------------------------------

    def _id(self, kind: mujoco.mjtObj, name: str) -> int:
        index = mujoco.mj_name2id(self._model, kind, name)
        if index < 0:  # pragma: no cover - the model is generated with these names
            raise RuntimeError(f"model has no {kind.name} named {name!r}")
        return index

    def _index_model(self) -> None:
        m = self._model
        joints = [self._id(mujoco.mjtObj.mjOBJ_JOINT, j) for j in model.JOINT_NAMES]
        self._arm_qpos = np.array([m.jnt_qposadr[j] for j in joints])
        self._arm_dof = np.array([m.jnt_dofadr[j] for j in joints])
        self._arm_act = np.array([self._id(mujoco.mjtObj.mjOBJ_ACTUATOR, f"{j}_servo") for j in model.JOINT_NAMES])
        self._gripper_act = self._id(mujoco.mjtObj.mjOBJ_ACTUATOR, "gripper_servo")
        fingers = [self._id(mujoco.mjtObj.mjOBJ_JOINT, j) for j in model.FINGER_JOINTS]
        self._finger_qpos = np.array([m.jnt_qposadr[j] for j in fingers])
        self._tcp_site = self._id(mujoco.mjtObj.mjOBJ_SITE, model.TCP_SITE)
        self._object_bodies = [self._id(mujoco.mjtObj.mjOBJ_BODY, o.name) for o in self.description.objects]
        self._cube_qpos = {}
        self._cube_dof = {}
        for name in model.CUBE_NAMES:
            joint = self._id(mujoco.mjtObj.mjOBJ_JOINT, f"{name}_joint")
            self._cube_qpos[name] = int(m.jnt_qposadr[joint])
            self._cube_dof[name] = int(m.jnt_dofadr[joint])

        # Geom classes for contact bookkeeping.
        base = self._id(mujoco.mjtObj.mjOBJ_BODY, "base")
        in_robot = np.zeros(m.nbody, dtype=bool)
        for b in range(m.nbody):
            a = b
            while a > 0 and a != base:
                a = m.body_parentid[a]
            in_robot[b] = a == base
        bin_body = self._id(mujoco.mjtObj.mjOBJ_BODY, model.BIN_NAME)
        table = self._id(mujoco.mjtObj.mjOBJ_GEOM, "table")
        self._robot_geom = in_robot[m.geom_bodyid]
        self._fixture_geom = (m.geom_bodyid == bin_body) | (np.arange(m.ngeom) == table)
        left = self._id(mujoco.mjtObj.mjOBJ_BODY, "finger_left_link")
        right = self._id(mujoco.mjtObj.mjOBJ_BODY, "finger_right_link")
        self._finger_side = np.where(m.geom_bodyid == left, 1, np.where(m.geom_bodyid == right, 2, 0))
        self._cube_of_geom: dict[int, str] = {
            self._id(mujoco.mjtObj.mjOBJ_GEOM, f"{name}_geom"): name for name in model.CUBE_NAMES
        }

    # --- public API -------------------------------------------------------------------------

    @property
    def task(self) -> str:
        """Name of the current task."""
        return self._task.name

    @property
    def instruction(self) -> str:
        """Natural-language instruction of the current task."""
        return self._task.instruction

    @property
    def model(self) -> mujoco.MjModel:
        """The MuJoCo model (read it; changing it breaks the description's promises)."""
        return self._model

    @property
    def data(self) -> mujoco.MjData:
        """The MuJoCo data (read it; write only through the Cell's methods)."""
        return self._data

    @property
    def renderer_backend(self) -> str:
        """OpenGL backend used for the cameras ("none" without cameras)."""
        if not self.description.cameras:
            return "none"
        from .render import select_backend

        return select_backend()

    def reset(self, task: str, seed: int) -> None:
        """Start an episode: arm at home, gripper open, cubes at the seed's random poses, step 0.

        Raises:
            UnknownTaskError: ``task`` is not a task of the cell.
            ValueError: ``seed`` is not an integer in 0..2**64-1.
        """
        spec = get_task(task)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**64:
            raise ValueError(f"seed must be an integer in 0..2**64-1, got {seed!r}")
        m, d = self._model, self._data
        mujoco.mj_resetData(m, d)
        home = np.array(model.HOME_Q)
        d.qpos[self._arm_qpos] = home
        d.qpos[self._finger_qpos] = model.GRIPPER_APERTURE_MAX / 2
        for name, pose in spec.initial_cube_poses(int(seed)).items():
            d.qpos[self._cube_qpos[name] : self._cube_qpos[name] + 7] = pose
        self._previous_targets = home.copy()
        self._targets = home.copy()
        self._gripper_target = model.GRIPPER_APERTURE_MAX
        self._gripper_setpoint = model.GRIPPER_APERTURE_MAX
        d.ctrl[self._arm_act] = home
        d.ctrl[self._gripper_act] = self._gripper_setpoint
        mujoco.mj_forward(m, d)
        self._task = spec
        self.seed = int(seed)
        self._step = 0

    def set_targets(self, joint_targets: np.ndarray, gripper_target: float) -> None:
        """Joint position targets (rad) and gripper aperture target (m) for the next step.

        Raises:
            ValueError: wrong joint count, a non-finite value, or a value outside the joint limits or the
                gripper's aperture range (the message names the joint and the value). Nothing is clamped.
        """
        targets = np.asarray(joint_targets, dtype=np.float64)
        n = len(model.JOINT_NAMES)
        if targets.shape != (n,):
            raise ValueError(f"joint_targets must hold {n} values, got shape {targets.shape}")
        for i, (name, value) in enumerate(zip(model.JOINT_NAMES, targets.tolist(), strict=True)):
            if not math.isfinite(value):
                raise ValueError(f"joint target {i} ({name}) is not finite: {value!r}")
            if not self._lower[i] <= value <= self._upper[i]:
                raise ValueError(
                    f"joint target {i} ({name}) = {value!r} rad is outside its limits "
                    f"[{float(self._lower[i])!r}, {float(self._upper[i])!r}]"
                )
        gripper = float(gripper_target)
        if not math.isfinite(gripper):
            raise ValueError(f"gripper target is not finite: {gripper!r}")
        if not model.GRIPPER_APERTURE_MIN <= gripper <= model.GRIPPER_APERTURE_MAX:
            raise ValueError(
                f"gripper target {gripper!r} m is outside the aperture range "
                f"[{model.GRIPPER_APERTURE_MIN!r}, {model.GRIPPER_APERTURE_MAX!r}]"
            )
        self._targets = targets.copy()
        self._gripper_target = gripper

    def step(self) -> None:
        """Advance one control period of physics towards the current targets."""
        m, d = self._model, self._data
        start, end = self._previous_targets, self._targets
        velocity = (end - start) / self._control_period
        feedforward = self._feedforward_gain * velocity
        gripper_step = model.GRIPPER_SPEED_MAX * m.opt.timestep
        for k in range(1, self._substeps + 1):
            d.ctrl[self._arm_act] = start + (k / self._substeps) * (end - start) + feedforward
            error = self._gripper_target - self._gripper_setpoint
            self._gripper_setpoint += max(-gripper_step, min(gripper_step, error))
            d.ctrl[self._gripper_act] = self._gripper_setpoint
            mujoco.mj_step(m, d)
        # Servo at rest on the target until the next set_targets.
        d.ctrl[self._arm_act] = end
        self._previous_targets = end.copy()
        # Make positions, contacts and the TCP site agree for observe().
        mujoco.mj_forward(m, d)
        self._step += 1

    def hold(self) -> None:
        """Hold the arm where it is: targets := current joint positions (the gripper target is kept)."""
        here = self._data.qpos[self._arm_qpos].copy()
        self._targets = here
        self._previous_targets = here.copy()

    def observe(self, render: bool = True) -> Observation:
        """The current state; images of the configured cameras only if ``render``."""
        m, d = self._model, self._data
        tcp = np.empty(7)
        tcp[:3] = d.site_xpos[self._tcp_site]
        tcp[3:] = model.matrix_to_quat(d.site_xmat[self._tcp_site].reshape(3, 3))
        poses = np.empty((len(self._object_bodies), 7))
        for row, body in enumerate(self._object_bodies):
            poses[row, :3] = d.xpos[body]
            poses[row, 3:] = d.xquat[body]
        grip, touched, collision = self._contacts()
        images: list[tuple[int, np.ndarray]] = []
        if render and self.description.cameras:
            images = list(enumerate(self._render()))
        return Observation(
            step=self._step,
            sim_time=float(d.time),
            joint_positions=d.qpos[self._arm_qpos].copy(),
            joint_velocities=d.qvel[self._arm_dof].copy(),
            gripper_aperture=float(d.qpos[self._finger_qpos].sum()),
            gripper_force=grip,
            tcp_pose=tcp,
            object_poses=poses,
            success=self._task.success(self._scene_state(touched)),
            in_collision=collision,
            images=images,
        )

    def close(self) -> None:
        """Free the renderer (idempotent). The cell can still step without cameras afterwards."""
        if self._renderer is not None:
            self._renderer.close()  # type: ignore[attr-defined]
            self._renderer = None

    def __enter__(self) -> Cell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ---------------------------------------------------------------------------

    def _contacts(self) -> tuple[float, set[str], bool]:
        """Grip force, cubes a finger touches, and whether the arm is in collision."""
        m, d = self._model, self._data
        finger_force = [0.0, 0.0, 0.0]
        touched: set[str] = set()
        collision = False
        wrench = np.zeros(6)
        for i in range(d.ncon):
            contact = d.contact[i]
            g1, g2 = int(contact.geom1), int(contact.geom2)
            r1, r2 = self._robot_geom[g1], self._robot_geom[g2]
            if not (r1 or r2):
                continue
            if (r1 and r2) or (r1 and self._fixture_geom[g2]) or (r2 and self._fixture_geom[g1]):
                collision = True
            for finger, other in ((g1, g2), (g2, g1)):
                side = self._finger_side[finger]
                if side and not self._robot_geom[other]:
                    mujoco.mj_contactForce(m, d, i, wrench)
                    finger_force[side] += abs(float(wrench[0]))
                    if other in self._cube_of_geom:
                        touched.add(self._cube_of_geom[other])
        return min(finger_force[1], finger_force[2]), touched, collision

    def _scene_state(self, touched: set[str]) -> SceneState:
        d = self._data
        objects = {}
        for name in model.CUBE_NAMES:
            q, v = self._cube_qpos[name], self._cube_dof[name]
            objects[name] = ObjectState(
                position=d.qpos[q : q + 3].copy(),
                quaternion=d.qpos[q + 3 : q + 7].copy(),
                linear_velocity=d.qvel[v : v + 3].copy(),
                angular_velocity=d.qvel[v + 3 : v + 6].copy(),
                touched_by_gripper=name in touched,
            )
        return SceneState(objects)

    def _render(self) -> list[np.ndarray]:
        if self._renderer is None:
            from .render import OffscreenRenderer

            cams = self.description.cameras
            self._renderer = OffscreenRenderer(self._model, [c.name for c in cams], cams[0].width, cams[0].height)
        return self._renderer.render(self._data)  # type: ignore[attr-defined]
