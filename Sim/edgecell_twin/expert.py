"""A scripted expert that solves every task of the cell from privileged state (the objects' true poses).

It is a phase state machine (``Expert.phase``):

    reach -> descend -> grasp -> lift -> move -> place -> release -> retreat -> done

Each moving phase is a straight Cartesian line of the TCP with a quintic (minimum-jerk) time profile,
the tool pointing straight down and turning about the vertical; every control step the expert solves
inverse kinematics (damped least squares on the robot's DH chain, warm-started from its previous
command) and commands joint positions. Grasps are aligned with the cube's faces (cube yaw modulo 90
degrees, the candidate nearest the current tool yaw). When placing, the expert uses where the cube
actually sits in the fingers (measured after lifting) so the cube, not the TCP, lands on the target.
A failed grasp (fingers closed on nothing, or the cube left behind) is retried from ``reach``.

The kinematics use only the ``RobotDescription`` (DH rows, base and tool poses, limits), as a client of
the twin would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import model
from .cell import Cell, Observation, RobotDescription
from .tasks import Task, get_task

PHASES: tuple[str, ...] = ("reach", "descend", "grasp", "lift", "move", "place", "release", "retreat", "done")

# Heights of the TCP (world z, m) and offsets.
HOVER_Z = 0.11  # above a cube before descending
CARRY_Z = 0.18  # while carrying: the cube's bottom clears the other cubes and the bin's rim
RETREAT_Z = 0.20
GRASP_Z_OFFSET = 0.004  # TCP this far above the cube's centre when grasping (fingertips clear the table)
BIN_RELEASE_Z = 0.13  # TCP height for dropping into the bin (cube bottom ~3 cm above the rim)
STACK_RELEASE_GAP = 0.003  # carried cube's bottom this far above the lower cube's top at release
# Motion speeds (average over a segment; the quintic peak is 1.875x) and timing.
CRUISE_SPEED = 0.25  # m/s
APPROACH_SPEED = 0.12  # m/s, descending onto a cube or a stack
YAW_RATE = 1.0  # rad/s
MIN_SEGMENT_TIME = 0.4  # s
SETTLE_TOLERANCE = 2e-3  # rad, measured vs commanded joints before the next phase
SETTLE_TIMEOUT = 0.5  # s
GRASP_TIME = (0.5, 1.5)  # s, min and max time closing
RELEASE_TIME = (0.25, 1.0)  # s
GRASP_MIN_APERTURE = 0.02  # m; closing to less means the fingers missed the cube
MAX_ATTEMPTS = 3
JOINT_LIMIT_SHARE = 0.5  # share of the joints' speed and acceleration limits a segment plans to use


def _quintic(s: float) -> float:
    s = min(1.0, max(0.0, s))
    return s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)


def _wrap(angle: float) -> float:
    """Angle wrapped to (-pi, pi]."""
    return math.atan2(math.sin(angle), math.cos(angle))


def _nearest_face_yaw(cube_yaw: float, reference: float) -> float:
    """The yaw cube_yaw + k*pi/2 closest to ``reference`` (not wrapped)."""
    k = round((reference - cube_yaw) / (math.pi / 2))
    return cube_yaw + k * math.pi / 2


def _yaw_of_quat(quat: np.ndarray) -> float:
    """Yaw (rotation about world z) of the body's x axis."""
    w, x, y, z = (float(v) for v in quat)
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def tool_down_rotation(yaw: float) -> np.ndarray:
    """Tool orientation pointing straight down, its x axis (the fingers' closing axis) at ``yaw``."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


class Kinematics:
    """Forward kinematics, geometric Jacobian and damped-least-squares IK of a DH chain (numpy)."""

    def __init__(self, description: RobotDescription) -> None:
        self.dh = np.array(description.dh, dtype=np.float64)
        self.base = model.pose_to_matrix(description.base_pose)
        self.tool = model.pose_to_matrix(description.tool_pose)
        self.lower = np.array([j.position_min for j in description.joints])
        self.upper = np.array([j.position_max for j in description.joints])

    def frames(self, q: np.ndarray) -> list[np.ndarray]:
        """World transforms of the base (frame 0), each DH frame 1..n, then the TCP."""
        t = self.base.copy()
        out = [t]
        for (a, d, alpha, offset), qi in zip(self.dh, q, strict=True):
            t = t @ model.dh_transform(a, d, alpha, float(qi) + offset)
            out.append(t)
        out.append(t @ self.tool)
        return out

    def forward(self, q: np.ndarray) -> np.ndarray:
        """World transform of the TCP."""
        return self.frames(q)[-1]

    def jacobian(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TCP transform and its 6xn geometric Jacobian (linear rows first), world frame."""
        frames = self.frames(q)
        tcp = frames[-1]
        p = tcp[:3, 3]
        jac = np.empty((6, len(q)))
        for i in range(len(q)):
            z = frames[i][:3, 2]
            jac[:3, i] = np.cross(z, p - frames[i][:3, 3])
            jac[3:, i] = z
        return tcp, jac

    def solve(
        self,
        position: np.ndarray,
        rotation: np.ndarray,
        seed: np.ndarray,
        *,
        iterations: int = 50,
        tolerance: float = 1e-9,
        damping: float = 1e-3,
    ) -> tuple[np.ndarray, float]:
        """Joint positions reaching the TCP pose, from ``seed``; returns (q, residual error norm).

        The result is clipped to the joint limits.
        """
        q = np.array(seed, dtype=np.float64)
        error = np.inf
        for _ in range(iterations):
            tcp, jac = self.jacobian(q)
            r = tcp[:3, :3]
            e = np.empty(6)
            e[:3] = position - tcp[:3, 3]
            e[3:] = 0.5 * (
                np.cross(r[:, 0], rotation[:, 0]) + np.cross(r[:, 1], rotation[:, 1]) + np.cross(r[:, 2], rotation[:, 2])
            )
            error = float(np.linalg.norm(e))
            if error < tolerance:
                break
            jjt = jac @ jac.T + (damping**2) * np.eye(6)
            q = np.clip(q + jac.T @ np.linalg.solve(jjt, e), self.lower, self.upper)
        return q, error


@dataclass
class _Segment:
    """A straight TCP line with a quintic time profile, yaw interpolated alongside."""

    start: np.ndarray
    start_yaw: float
    goal: np.ndarray
    goal_yaw: float
    t0: float
    duration: float

    def at(self, t: float) -> tuple[np.ndarray, float]:
        s = _quintic((t - self.t0) / self.duration)
        return self.start + s * (self.goal - self.start), self.start_yaw + s * (self.goal_yaw - self.start_yaw)

    def finished(self, t: float) -> bool:
        return t >= self.t0 + self.duration - 1e-9


class Expert:
    """Scripted pick-and-place expert; ``phase`` names what it is doing (see ``PHASES``)."""

    def __init__(self, description: RobotDescription) -> None:
        self.description = description
        self.kinematics = Kinematics(description)
        self._objects = {o.name: i for i, o in enumerate(description.objects)}
        self._vmax = np.array([j.velocity_max for j in description.joints])
        self._amax = np.array([j.acceleration_max for j in description.joints])
        self._open = float(description.gripper_aperture_max)
        self._closed = float(description.gripper_aperture_min)
        self.phase: str = "done"
        self.attempts = 0
        self._task: Task | None = None
        self._q = np.zeros(len(description.joints))
        self._yaw = 0.0
        self._gripper = self._open
        self._segment: _Segment | None = None
        self._phase_start = 0.0
        self._after_retreat = "done"
        self._held_offset = np.zeros(3)  # cube centre in the tool frame, measured after lifting
        self._held_yaw = 0.0  # cube yaw minus tool yaw, measured after lifting
        self._grasp_yaw = 0.0
        self._last_aperture = math.inf

    # --- public -----------------------------------------------------------------------------

    def reset(self, task: str, observation: Observation) -> None:
        """Start solving ``task`` from ``observation`` (the episode's first observation)."""
        self._task = get_task(task)
        self._q = np.array(observation.joint_positions, dtype=np.float64)
        tcp = self.kinematics.forward(self._q)
        self._yaw = math.atan2(tcp[1, 0], tcp[0, 0])
        self._gripper = self._open
        self.attempts = 0
        self._after_retreat = "done"
        self._start_reach(observation)

    def act(self, observation: Observation) -> tuple[np.ndarray, float]:
        """Joint targets (rad) and gripper aperture target (m) for the next control period."""
        if self._task is None:
            raise RuntimeError("Expert.act called before reset")
        t = observation.sim_time
        if self._segment is not None:
            position, yaw = self._segment.at(t)
            self._q, _ = self.kinematics.solve(position, tool_down_rotation(yaw), self._q, iterations=8)
            self._yaw = yaw
            if self._segment.finished(t) and self._settled(observation, t):
                self._segment = None
                self._next_after_motion(observation)
        elif self.phase == "grasp":
            self._grasp_step(observation, t)
        elif self.phase == "release":
            self._release_step(observation, t)
        return self._q.copy(), self._gripper

    # --- phases -----------------------------------------------------------------------------

    def _tcp(self) -> np.ndarray:
        return self.kinematics.forward(self._q)[:3, 3]

    def _object(self, observation: Observation, name: str) -> np.ndarray:
        return np.asarray(observation.object_poses[self._objects[name]], dtype=np.float64)

    def _move(self, phase: str, t: float, goal: np.ndarray, goal_yaw: float, speed: float) -> None:
        start = self._tcp()
        distance = float(np.linalg.norm(goal - start))
        # Joint-space bound: a quintic over T peaks at 1.875 dq/T and 5.77 dq/T^2; the Cartesian line
        # bends the joint profiles, so only a fraction of each limit is planned for.
        # The joint motion is measured along the line (IK warm-started waypoint to waypoint, as the
        # execution does), so the distance is that of the branch actually followed.
        goal = np.asarray(goal, float)
        q, dq = self._q, np.zeros_like(self._q)
        for s in np.linspace(0.0, 1.0, 11)[1:]:
            yaw = self._yaw + s * (goal_yaw - self._yaw)
            q_next, _ = self.kinematics.solve(start + s * (goal - start), tool_down_rotation(yaw), q, iterations=20)
            dq += np.abs(q_next - q)
            q = q_next
        duration = max(
            MIN_SEGMENT_TIME,
            distance / speed,
            abs(goal_yaw - self._yaw) / YAW_RATE,
            float(np.max(1.875 * dq / (JOINT_LIMIT_SHARE * self._vmax))),
            float(np.max(np.sqrt(5.774 * dq / (JOINT_LIMIT_SHARE * self._amax)))),
        )
        self._segment = _Segment(start, self._yaw, goal, goal_yaw, t, duration)
        self.phase = phase
        self._phase_start = t

    def _settled(self, observation: Observation, t: float) -> bool:
        assert self._segment is not None
        error = float(np.max(np.abs(observation.joint_positions - self._q)))
        return error < SETTLE_TOLERANCE or t > self._segment.t0 + self._segment.duration + SETTLE_TIMEOUT

    def _start_reach(self, observation: Observation) -> None:
        assert self._task is not None
        self.attempts += 1
        cube = self._object(observation, self._task.cube)
        self._grasp_yaw = _nearest_face_yaw(_yaw_of_quat(cube[3:]), self._yaw)
        self._gripper = self._open
        goal = np.array([cube[0], cube[1], HOVER_Z])
        self._move("reach", observation.sim_time, goal, self._grasp_yaw, CRUISE_SPEED)

    def _next_after_motion(self, observation: Observation) -> None:
        assert self._task is not None
        t = observation.sim_time
        if self.phase == "reach":
            cube = self._object(observation, self._task.cube)
            goal = np.array([cube[0], cube[1], cube[2] + GRASP_Z_OFFSET])
            self._move("descend", t, goal, self._grasp_yaw, APPROACH_SPEED)
        elif self.phase == "descend":
            self.phase, self._phase_start = "grasp", t
            self._gripper = self._closed
            self._last_aperture = math.inf
        elif self.phase == "lift":
            if not self._holding(observation):
                self._retry(observation)
                return
            self._measure_hold(observation)
            goal, goal_yaw = self._place_goal(observation, CARRY_Z)
            self._move("move", t, goal, goal_yaw, CRUISE_SPEED)
        elif self.phase == "move":
            release_z = BIN_RELEASE_Z if self._task.kind == "bin" else None
            goal, goal_yaw = self._place_goal(observation, release_z)
            self._move("place", t, goal, goal_yaw, APPROACH_SPEED)
        elif self.phase == "place":
            self.phase, self._phase_start = "release", t
            self._gripper = self._open
        elif self.phase == "retreat":
            if self._after_retreat == "reach" and self.attempts < MAX_ATTEMPTS:
                self._after_retreat = "done"
                self._start_reach(observation)
            else:
                self.phase = "done"

    def _grasp_step(self, observation: Observation, t: float) -> None:
        elapsed = t - self._phase_start
        still = abs(float(observation.gripper_aperture) - self._last_aperture) < 2e-5
        self._last_aperture = float(observation.gripper_aperture)
        if elapsed < GRASP_TIME[0] or (not still and elapsed < GRASP_TIME[1]):
            return
        if observation.gripper_aperture < GRASP_MIN_APERTURE:
            self._retry(observation)
            return
        tcp = self._tcp()
        self._move("lift", t, np.array([tcp[0], tcp[1], CARRY_Z]), self._yaw, APPROACH_SPEED)

    def _release_step(self, observation: Observation, t: float) -> None:
        elapsed = t - self._phase_start
        opened = observation.gripper_aperture > model.CUBE_SIZE + 0.02
        if elapsed < RELEASE_TIME[0] or (not opened and elapsed < RELEASE_TIME[1]):
            return
        tcp = self._tcp()
        self._move("retreat", t, np.array([tcp[0], tcp[1], max(RETREAT_Z, tcp[2])]), self._yaw, APPROACH_SPEED)

    def _retry(self, observation: Observation) -> None:
        """Open, back off upwards, then reach again for the cube where it now lies."""
        self._after_retreat = "reach"
        self.phase, self._phase_start = "release", observation.sim_time
        self._gripper = self._open

    def _holding(self, observation: Observation) -> bool:
        assert self._task is not None
        cube = self._object(observation, self._task.cube)[:3]
        tcp = np.asarray(observation.tcp_pose[:3])
        return (
            observation.gripper_aperture >= GRASP_MIN_APERTURE
            and float(np.linalg.norm(cube - tcp)) < model.CUBE_SIZE
            and cube[2] > model.CUBE_SIZE
        )

    def _measure_hold(self, observation: Observation) -> None:
        """Where the cube sits in the fingers: centre in the tool frame and yaw relative to the tool."""
        assert self._task is not None
        cube = self._object(observation, self._task.cube)
        tool = model.pose_to_matrix(observation.tcp_pose)
        self._held_offset = tool[:3, :3].T @ (cube[:3] - tool[:3, 3])
        tool_yaw = math.atan2(tool[1, 0], tool[0, 0])
        self._held_yaw = _wrap(_yaw_of_quat(cube[3:]) - tool_yaw)

    def _place_goal(self, observation: Observation, z: float | None) -> tuple[np.ndarray, float]:
        """TCP goal (and yaw) that puts the held cube's centre over the target, TCP at height ``z``.

        ``z`` None means the stacking release height over the lower cube.
        """
        assert self._task is not None
        if self._task.kind == "bin":
            target = np.array([*model.BIN_POSITION, 0.0])
            goal_yaw = self._yaw
        else:
            assert self._task.support is not None
            support = self._object(observation, self._task.support)
            target = support[:3].copy()
            desired_cube_yaw = _nearest_face_yaw(_yaw_of_quat(support[3:]), self._yaw + self._held_yaw)
            goal_yaw = desired_cube_yaw - self._held_yaw
        offset = tool_down_rotation(goal_yaw) @ self._held_offset
        if z is None:
            cube_z = target[2] + model.CUBE_SIZE + STACK_RELEASE_GAP
            z = cube_z - offset[2]
        goal = np.array([target[0] - offset[0], target[1] - offset[1], z])
        return goal, goal_yaw


def run_expert_episode(cell: Cell, task: str, seed: int, max_time: float = 15.0) -> bool:
    """Run the expert on ``cell`` for one episode (no rendering); True once the task's success holds.

    Stops at the first observation with ``success`` or after ``max_time`` simulated seconds.
    """
    cell.reset(task, seed)
    observation = cell.observe(render=False)
    expert = Expert(cell.description)
    expert.reset(task, observation)
    while observation.sim_time < max_time:
        joints, gripper = expert.act(observation)
        cell.set_targets(joints, gripper)
        cell.step()
        observation = cell.observe(render=False)
        if observation.success:
            return True
    return False
