"""The physical model of the EdgeCell robot cell: a UR5e arm with a parallel gripper on a table.

This module owns every physical constant of the cell (kinematics, masses, limits, geometry of the
gripper, the cubes, the bin and the table) and builds the MuJoCo MJCF from them, so that the robot
description sent in the handshake and the simulated robot can never disagree.

Source of the arm's kinematics and masses: Universal Robots, support article "DH parameters for
calculations of kinematics and dynamics" (UR5e table: a, d, alpha, link masses, centres of mass).
Speed and torque limits: UR5e technical specifications (180 deg/s on every joint; 150/150/150/28/28/28
N m are the rated joint torques of the size 3 and size 1 joints).

World frame: x away from the robot over the table, z up, z = 0 the table top. The base stands on the
table at the origin, turned by pi about z (``BASE_POSE``), so at ``HOME_Q`` the arm reaches towards +x.

Also here: numpy helpers for poses and the standard-DH forward kinematics (``dh_forward``), used by
the expert's inverse kinematics and the conformance vectors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

ROBOT_NAME = "UR5e"
GRIPPER_NAME = "parallel-2f85"
MODEL_SOURCE = (
    "Universal Robots, 'DH parameters for calculations of kinematics and dynamics' (UR5e row); "
    "UR5e technical specifications"
)

# --- Arm -------------------------------------------------------------------------------------

JOINT_NAMES: tuple[str, ...] = (
    "shoulder_pan",
    "shoulder_lift",
    "elbow",
    "wrist_1",
    "wrist_2",
    "wrist_3",
)
LINK_NAMES: tuple[str, ...] = (
    "shoulder_link",
    "upper_arm_link",
    "forearm_link",
    "wrist_1_link",
    "wrist_2_link",
    "wrist_3_link",
)

#: Standard DH rows (a, d, alpha, theta_offset), m and rad, UR5e.
DH: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.1625, math.pi / 2, 0.0),
    (-0.425, 0.0, 0.0, 0.0),
    (-0.3922, 0.0, 0.0, 0.0),
    (0.0, 0.1333, math.pi / 2, 0.0),
    (0.0, 0.0997, -math.pi / 2, 0.0),
    (0.0, 0.0996, 0.0, 0.0),
)
#: Link masses, kg (UR article).
LINK_MASSES: tuple[float, ...] = (3.761, 8.058, 2.846, 1.37, 1.3, 0.365)
#: Centres of mass in the DH frame *i* (the frame after row *i*), m (UR article).
LINK_COMS: tuple[tuple[float, float, float], ...] = (
    (0.0, -0.02561, 0.00193),
    (0.2125, 0.0, 0.11336),
    (0.15, 0.0, 0.0265),
    (0.0, -0.0018, 0.01634),
    (0.0, 0.0018, 0.01634),
    (0.0, 0.0, -0.001159),
)
#: Rough radii and lengths of each link for an inertia estimate (the UR article gives none for the
#: UR5e and calls it negligible); (radius, length, axis in the DH frame i: 0 = x, 2 = z).
_LINK_INERTIA_SHAPES: tuple[tuple[float, float, int], ...] = (
    (0.06, 0.15, 2),
    (0.06, 0.50, 0),
    (0.045, 0.45, 0),
    (0.045, 0.12, 2),
    (0.045, 0.12, 2),
    (0.04, 0.05, 2),
)

#: Cell joint limits, rad. The UR5e allows +-2 pi on every joint; the cell narrows the elbow to
#: +-pi because beyond that the forearm folds through the upper arm (the same choice as the
#: manufacturer's ROS description), and keeps +-2 pi elsewhere.
JOINT_POSITION_MIN: tuple[float, ...] = (-2 * math.pi, -2 * math.pi, -math.pi, -2 * math.pi, -2 * math.pi, -2 * math.pi)
JOINT_POSITION_MAX: tuple[float, ...] = (2 * math.pi, 2 * math.pi, math.pi, 2 * math.pi, 2 * math.pi, 2 * math.pi)
#: 180 deg/s on every joint (UR5e specification).
JOINT_VELOCITY_MAX: tuple[float, ...] = (math.pi,) * 6
#: Acceleration limit the cell declares for its motion planning; the UR controller's default
#: joint acceleration for moves is far lower (1.4 rad/s^2), 8 rad/s^2 leaves headroom for
#: teleoperation and policies while staying well inside what the torque limits deliver.
JOINT_ACCELERATION_MAX: tuple[float, ...] = (8.0,) * 6
#: Rated joint torques, N m.
JOINT_EFFORT_MAX: tuple[float, ...] = (150.0, 150.0, 150.0, 28.0, 28.0, 28.0)
#: Reflected rotor inertia of the geared joints, kg m^2 (estimate: harmonic drive 1:101).
JOINT_ARMATURE: tuple[float, ...] = (0.2, 0.2, 0.2, 0.05, 0.05, 0.05)
#: Position-servo gains: stiffness (N m / rad) and damping (N m s / rad); tuned for about 8-10 Hz
#: bandwidth at the arm's typical inertia (ROBOT.md gives the measured tracking error).
JOINT_KP: tuple[float, ...] = (8000.0, 8000.0, 5000.0, 800.0, 800.0, 500.0)
JOINT_KV: tuple[float, ...] = (400.0, 400.0, 250.0, 25.0, 25.0, 15.0)

#: Reset posture: arm up, tool pointing straight down.
HOME_Q: tuple[float, ...] = (0.0, -math.pi / 2, math.pi / 2, -math.pi / 2, -math.pi / 2, 0.0)
#: Robot base in the world: on the table at the origin, yaw pi (x y z qw qx qy qz).
BASE_POSE: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)

# --- Gripper (Robotiq 2F-85 style) ------------------------------------------------------------

GRIPPER_APERTURE_MIN = 0.0
GRIPPER_APERTURE_MAX = 0.085
#: Grip force limit, N (the 2F-85 spans 20-235 N; 100 N holds every object of the cell).
GRIPPER_FORCE_MAX = 100.0
#: Finger speed limit, m/s (2F-85: 20-150 mm/s); the aperture target is rate limited to it.
GRIPPER_SPEED_MAX = 0.15
#: Aperture servo: stiffness (N/m on the aperture) and damping (N s/m).
GRIPPER_KP = 2000.0
GRIPPER_KV = 60.0
GRIPPER_MASS = 0.9  # kg, housing (the 2F-85 weighs 0.925 kg in all)
FINGER_MASS = 0.03  # kg each
#: Finger pad: half extents (thickness along the closing axis, width, length along the tool axis).
PAD_HALF = (0.004, 0.011, 0.0175)
#: Distance from the flange to the centre of the finger pads along flange z: the TCP.
TCP_OFFSET = 0.15
#: TCP in the flange frame (x y z qw qx qy qz).
TOOL_POSE: tuple[float, ...] = (0.0, 0.0, TCP_OFFSET, 1.0, 0.0, 0.0, 0.0)
FINGER_JOINTS: tuple[str, str] = ("finger_left", "finger_right")

# --- Objects and the cell ---------------------------------------------------------------------

CUBE_SIZE = 0.04
CUBE_MASS = 0.065
CUBE_NAMES: tuple[str, ...] = ("red_cube", "green_cube", "blue_cube")
CUBE_COLORS: dict[str, tuple[float, float, float]] = {
    "red_cube": (0.85, 0.12, 0.10),
    "green_cube": (0.15, 0.70, 0.20),
    "blue_cube": (0.12, 0.30, 0.85),
}
BIN_NAME = "bin"
#: Bin centre on the table (fixed), outer extents and wall thickness, m.
BIN_POSITION: tuple[float, float] = (0.46, 0.33)
BIN_OUTER: tuple[float, float, float] = (0.16, 0.16, 0.07)
BIN_WALL = 0.01
BIN_FLOOR = 0.008
#: Table top: x, y extents (the top surface is z = 0).
TABLE_MIN: tuple[float, float] = (-0.25, -0.65)
TABLE_MAX: tuple[float, float] = (0.95, 0.65)
TABLE_THICKNESS = 0.04

#: Box the TCP must stay in (world frame): the table area the tasks use, from just above the
#: table (a grasp puts the TCP ~2.4 cm up) to well above home.
WORKSPACE_MIN: tuple[float, float, float] = (0.15, -0.45, 0.01)
WORKSPACE_MAX: tuple[float, float, float] = (0.80, 0.50, 0.65)

CAMERA_NAMES: tuple[str, ...] = ("scene", "wrist")
TCP_SITE = "tcp"


@dataclass(frozen=True)
class PhysicsOptions:
    """Contact and solver settings of the cell (chosen for reliable grasps)."""

    timestep: float = 0.002
    cone: str = "elliptic"
    impratio: float = 10.0
    iterations: int = 50


# --- Pose helpers -----------------------------------------------------------------------------


def quat_to_matrix(quat: Sequence[float]) -> np.ndarray:
    """Rotation matrix of a unit quaternion (w, x, y, z)."""
    w, x, y, z = (float(v) for v in quat)
    n = math.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) with w >= 0 of a rotation matrix (MuJoCo's conversion)."""
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rot, dtype=np.float64).reshape(9))
    if quat[0] < 0:
        quat = -quat
    return quat


def pose_to_matrix(pose: Sequence[float]) -> np.ndarray:
    """4x4 homogeneous transform of a pose (x, y, z, qw, qx, qy, qz)."""
    t = np.eye(4)
    t[:3, :3] = quat_to_matrix(pose[3:7])
    t[:3, 3] = pose[:3]
    return t


def matrix_to_pose(t: np.ndarray) -> np.ndarray:
    """Pose (x, y, z, qw, qx, qy, qz), w >= 0, of a 4x4 homogeneous transform."""
    return np.concatenate([t[:3, 3], matrix_to_quat(t[:3, :3])])


def dh_transform(a: float, d: float, alpha: float, theta: float) -> np.ndarray:
    """Standard DH link transform Rz(theta) Tz(d) Tx(a) Rx(alpha)."""
    ct, st = math.cos(theta), math.sin(theta)
    ca, sa = math.cos(alpha), math.sin(alpha)
    return np.array(
        [
            [ct, -st * ca, st * sa, a * ct],
            [st, ct * ca, -ct * sa, a * st],
            [0.0, sa, ca, d],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def dh_forward(
    q: Sequence[float],
    dh: Sequence[Sequence[float]] = DH,
    base_pose: Sequence[float] = BASE_POSE,
    tool_pose: Sequence[float] = TOOL_POSE,
) -> np.ndarray:
    """World transform of the TCP: base_pose * prod_i DH_i(q_i + theta_offset_i) * tool_pose."""
    t = pose_to_matrix(base_pose)
    for (a, d, alpha, offset), qi in zip(dh, q, strict=True):
        t = t @ dh_transform(a, d, alpha, float(qi) + offset)
    return t @ pose_to_matrix(tool_pose)


# --- MJCF -------------------------------------------------------------------------------------


def _f(*values: float) -> str:
    """Format numbers for MJCF exactly (repr round-trips a float64)."""
    return " ".join(repr(float(v)) for v in values)


def _rx_quat(alpha: float) -> tuple[float, float, float, float]:
    return (math.cos(alpha / 2), math.sin(alpha / 2), 0.0, 0.0)


def _cylinder_inertia(mass: float, radius: float, length: float, axis: int) -> tuple[float, float, float]:
    along = mass * radius**2 / 2
    across = mass * (3 * radius**2 + length**2) / 12
    diag = [across, across, across]
    diag[axis] = along
    return (diag[0], diag[1], diag[2])


def _look_at(position: Sequence[float], target: Sequence[float], up: Sequence[float]) -> str:
    """MJCF ``xyaxes`` for a camera at ``position`` looking at ``target`` (camera looks along -z)."""
    forward = np.asarray(target, float) - np.asarray(position, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, float))
    right /= np.linalg.norm(right)
    cam_up = np.cross(right, forward)
    return _f(*right, *cam_up)


def _link_geoms(index: int) -> str:
    """Simple capsule/cylinder geometry of link ``index`` in its MuJoCo body frame.

    The body frame of link i is DH frame i-1 turned by q_i; the next joint sits at (a_i, 0, d_i).
    The UR's real housings are offset along the joint axes (the DH chain folds those offsets into
    d4); the tubes are placed where the real ones are, so the geometry looks and collides sensibly.
    """
    cls = 'class="arm"'
    if index == 0:  # shoulder: column on joint 1
        return f'<geom {cls} name="shoulder_column" type="cylinder" size="0.06 0.068" pos="0 0 0.154"/>'
    if index == 1:  # upper arm: shoulder housing on joint 2, tube offset 0.138 along the axis
        return "\n".join(
            [
                f'<geom {cls} name="shoulder_housing" type="cylinder" size="0.06 0.0625" pos="0 0 0.1275"/>',
                f'<geom {cls} name="upper_arm_tube" type="capsule" size="0.045" fromto="-0.06 0 0.138 -0.37 0 0.138"/>',
                f'<geom {cls} name="elbow_housing_upper" type="cylinder" size="0.05 0.045" pos="-0.425 0 0.115"/>',
            ]
        )
    if index == 2:  # forearm: tube in the plane 0.007, elbow housing on joint 3
        return "\n".join(
            [
                f'<geom {cls} name="elbow_housing" type="cylinder" size="0.045 0.035" pos="0 0 0.035"/>',
                f'<geom {cls} name="forearm_tube" type="capsule" size="0.038" fromto="-0.05 0 0.01 -0.35 0 0.01"/>',
            ]
        )
    if index == 3:  # wrist 1 housing along joint 4, up to the wrist 2 axis
        return f'<geom {cls} name="wrist_1_housing" type="cylinder" size="0.042 0.0745" pos="0 0 0.0585"/>'
    if index == 4:  # wrist 2 housing along joint 5
        return f'<geom {cls} name="wrist_2_housing" type="cylinder" size="0.042 0.045" pos="0 0 0.052"/>'
    # wrist 3 housing along joint 6, ending at the flange
    return f'<geom {cls} name="wrist_3_housing" type="cylinder" size="0.04 0.03" pos="0 0 0.068"/>'


def _link_inertial(index: int) -> str:
    a, d, alpha, _ = DH[index]
    c = np.asarray(LINK_COMS[index])
    rx = quat_to_matrix(_rx_quat(alpha))
    com = np.array([a, 0.0, d]) + rx @ c  # COM given in DH frame i, body frame is DH frame i-1 turned
    radius, length, axis = _LINK_INERTIA_SHAPES[index]
    diag = _cylinder_inertia(LINK_MASSES[index], radius, length, axis)
    return (
        f'<inertial pos="{_f(*com)}" quat="{_f(*_rx_quat(alpha))}" mass="{LINK_MASSES[index]!r}" '
        f'diaginertia="{_f(*diag)}"/>'
    )


def _gripper_xml(pos: Sequence[float], quat: Sequence[float]) -> str:
    """Flange, 2F-85-style gripper (two coupled fingers on slide joints along flange x), TCP, wrist camera."""
    px, py, pz = PAD_HALF
    finger_half = (0.006, py, 0.034)
    finger_z = TCP_OFFSET + pz - finger_half[2]  # finger and pad end together at the fingertip
    wrist_cam_pos = (0.0, -0.05, 0.105)
    wrist_cam = _look_at(wrist_cam_pos, (0.0, 0.0, 0.24), (1.0, 0.0, 0.0))
    fingers = []
    for side, sign in (("left", 1.0), ("right", -1.0)):
        fingers.append(
            f"""
          <body name="finger_{side}_link" gravcomp="1">
            <joint name="finger_{side}" type="slide" axis="{_f(sign, 0, 0)}" range="0 {GRIPPER_APERTURE_MAX / 2!r}"
                   damping="2" armature="0.01"/>
            <inertial pos="{_f(sign * 0.01, 0, finger_z)}" mass="{FINGER_MASS!r}" diaginertia="1e-5 1e-5 5e-6"/>
            <geom class="gripper" name="finger_{side}_body" type="box" size="{_f(*finger_half)}"
                  pos="{_f(sign * (2 * px + finger_half[0]), 0, finger_z)}"/>
            <geom class="pad" name="finger_{side}_pad" type="box" size="{_f(px, py, pz)}"
                  pos="{_f(sign * px, 0, TCP_OFFSET)}"/>
          </body>"""
        )
    return f"""
        <body name="flange" pos="{_f(*pos)}" quat="{_f(*quat)}" gravcomp="1">
          <inertial pos="0 0 0.06" mass="{GRIPPER_MASS!r}" diaginertia="0.0025 0.0025 0.0012"/>
          <geom class="gripper" name="gripper_coupling" type="cylinder" size="0.0375 0.006" pos="0 0 0.006"/>
          <geom class="gripper" name="gripper_housing" type="box" size="0.046 0.03 0.04" pos="0 0 0.052"/>
          <geom class="gripper" name="gripper_rail" type="box" size="0.064 0.014 0.007" pos="0 0 0.099"/>
          <site name="{TCP_SITE}" pos="0 0 {TCP_OFFSET!r}" size="0.004" rgba="1 0.5 0 0.6" group="4"/>
          <camera name="wrist" pos="{_f(*wrist_cam_pos)}" xyaxes="{wrist_cam}" fovy="75"/>
          {"".join(fingers)}
        </body>"""


def _arm_xml() -> str:
    """Nested link bodies reproducing the DH chain: child body at (a, 0, d) turned by Rx(alpha)."""
    base_pos, base_quat = BASE_POSE[:3], BASE_POSE[3:]
    opening = [
        f'<body name="base" pos="{_f(*base_pos)}" quat="{_f(*base_quat)}">',
        '<geom class="arm" name="base_mount" type="cylinder" size="0.075 0.043" pos="0 0 0.043"/>',
    ]
    closing = ["</body>"]
    parent_pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    parent_quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    for i, (link, joint) in enumerate(zip(LINK_NAMES, JOINT_NAMES, strict=True)):
        opening += [
            f'<body name="{link}" pos="{_f(*parent_pos)}" quat="{_f(*parent_quat)}" gravcomp="1">',
            f'<joint name="{joint}" class="arm" range="{_f(JOINT_POSITION_MIN[i], JOINT_POSITION_MAX[i])}" '
            f'armature="{JOINT_ARMATURE[i]!r}" actuatorfrcrange="{_f(-JOINT_EFFORT_MAX[i], JOINT_EFFORT_MAX[i])}"/>',
            _link_inertial(i),
            _link_geoms(i),
        ]
        closing.append("</body>")
        a, d, alpha, _ = DH[i]
        parent_pos, parent_quat = (a, 0.0, d), _rx_quat(alpha)
    # The flange frame is DH frame 6: last row's (a, d, alpha) from wrist_3_link's body frame.
    return "\n".join(opening) + _gripper_xml(parent_pos, parent_quat) + "\n" + "\n".join(reversed(closing))


def _cube_xml(name: str, index: int) -> str:
    r, g, b = CUBE_COLORS[name]
    h = CUBE_SIZE / 2
    return f"""
    <body name="{name}" pos="{_f(0.4, -0.2 + 0.1 * index, h)}">
      <freejoint name="{name}_joint"/>
      <geom class="object" name="{name}_geom" type="box" size="{_f(h, h, h)}" mass="{CUBE_MASS!r}"
            rgba="{_f(r, g, b, 1)}"/>
    </body>"""


def _bin_xml() -> str:
    ox, oy, oz = (v / 2 for v in BIN_OUTER)
    w, f = BIN_WALL / 2, BIN_FLOOR / 2
    x, y = BIN_POSITION
    walls = [
        ("bin_floor", (ox, oy, f), (0, 0, -oz + f)),
        ("bin_wall_px", (w, oy, oz), (ox - w, 0, 0)),
        ("bin_wall_nx", (w, oy, oz), (-ox + w, 0, 0)),
        ("bin_wall_py", (ox - 2 * w, w, oz), (0, oy - w, 0)),
        ("bin_wall_ny", (ox - 2 * w, w, oz), (0, -oy + w, 0)),
    ]
    geoms = "\n".join(
        f'      <geom class="fixture" name="{n}" type="box" size="{_f(*s)}" pos="{_f(*p)}"/>' for n, s, p in walls
    )
    return f'    <body name="{BIN_NAME}" pos="{_f(x, y, oz)}">\n{geoms}\n    </body>'


def build_mjcf(options: PhysicsOptions = PhysicsOptions()) -> str:
    """The cell's MJCF document."""
    tx0, ty0 = TABLE_MIN
    tx1, ty1 = TABLE_MAX
    table_half = ((tx1 - tx0) / 2, (ty1 - ty0) / 2, TABLE_THICKNESS / 2)
    table_pos = ((tx1 + tx0) / 2, (ty1 + ty0) / 2, -TABLE_THICKNESS / 2)
    # Looks down on the cube spawn region and the bin from the far side of the table, framed tightly
    # enough that a 4 cm cube covers about 5×5 pixels of a 96×96 image (a policy must find it).
    scene_cam_pos = (1.0, 0.07, 0.95)
    scene_cam = _look_at(scene_cam_pos, (0.45, 0.07, 0.0), (0.0, 0.0, 1.0))
    actuators = "\n".join(
        f'    <position name="{j}_servo" joint="{j}" kp="{JOINT_KP[i]!r}" kv="{JOINT_KV[i]!r}" '
        f'ctrllimited="false" forcerange="{_f(-JOINT_EFFORT_MAX[i], JOINT_EFFORT_MAX[i])}"/>'
        for i, j in enumerate(JOINT_NAMES)
    )
    cubes = "".join(_cube_xml(n, i) for i, n in enumerate(CUBE_NAMES))
    return f"""<mujoco model="edgecell-ur5e-cell">
  <!-- UR5e kinematics and masses: {MODEL_SOURCE}. Generated by edgecell_twin/model.py. -->
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{options.timestep!r}" integrator="implicitfast" cone="{options.cone}"
          impratio="{options.impratio!r}" iterations="{options.iterations}"/>
  <size memory="4M"/>
  <visual>
    <global offwidth="640" offheight="480"/>
    <quality shadowsize="1024"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.5 0.5 0.5" specular="0.1 0.1 0.1"/>
  </visual>
  <asset>
    <texture name="floor_tex" type="2d" builtin="checker" rgb1="0.25 0.27 0.30" rgb2="0.30 0.32 0.35"
             width="256" height="256"/>
    <material name="floor_mat" texture="floor_tex" texrepeat="6 6"/>
  </asset>
  <default>
    <default class="arm">
      <joint axis="0 0 1" damping="0.5" actuatorgravcomp="true"/>
      <geom contype="2" conaffinity="7" rgba="0.62 0.68 0.74 1" group="1"/>
    </default>
    <default class="gripper">
      <geom contype="2" conaffinity="7" rgba="0.18 0.18 0.2 1" group="1"/>
    </default>
    <default class="pad">
      <geom contype="2" conaffinity="7" rgba="0.35 0.35 0.38 1" group="1" condim="4"
            friction="1.5 0.02 0.0005" solref="0.01 1" solimp="0.95 0.99 0.001"/>
    </default>
    <default class="object">
      <geom contype="4" conaffinity="7" condim="4" friction="1.0 0.01 0.0005"/>
    </default>
    <default class="fixture">
      <geom contype="1" conaffinity="6" rgba="0.55 0.50 0.42 1"/>
    </default>
  </default>
  <worldbody>
    <light name="top" pos="0.4 0 2.0" dir="0 0 -1" diffuse="0.6 0.6 0.6" castshadow="false"/>
    <geom name="floor" type="plane" size="3 3 0.1" pos="0 0 -0.75" material="floor_mat" contype="0" conaffinity="0"/>
    <geom name="table" class="fixture" type="box" size="{_f(*table_half)}" pos="{_f(*table_pos)}" rgba="0.78 0.72 0.60 1"/>
    <camera name="scene" pos="{_f(*scene_cam_pos)}" xyaxes="{scene_cam}" fovy="45"/>
{_arm_xml()}
{_bin_xml()}
{cubes}
  </worldbody>
  <tendon>
    <fixed name="aperture">
      <joint joint="finger_left" coef="1"/>
      <joint joint="finger_right" coef="1"/>
    </fixed>
  </tendon>
  <equality>
    <joint name="finger_coupling" joint1="finger_right" joint2="finger_left" polycoef="0 1 0 0 0"
           solref="0.005 1"/>
  </equality>
  <contact>
    <exclude body1="finger_left_link" body2="finger_right_link"/>
  </contact>
  <actuator>
{actuators}
    <position name="gripper_servo" tendon="aperture" kp="{GRIPPER_KP!r}" kv="{GRIPPER_KV!r}"
              ctrlrange="{_f(GRIPPER_APERTURE_MIN, GRIPPER_APERTURE_MAX)}"
              forcerange="{_f(-GRIPPER_FORCE_MAX, GRIPPER_FORCE_MAX)}"/>
  </actuator>
</mujoco>
"""


def load_model(physics_timestep: float = 0.002) -> mujoco.MjModel:
    """Compile the cell's MJCF into a MuJoCo model with the given physics timestep (s)."""
    if not (math.isfinite(physics_timestep) and physics_timestep > 0):
        raise ValueError(f"physics_timestep must be a positive number of seconds, got {physics_timestep!r}")
    return mujoco.MjModel.from_xml_string(build_mjcf(PhysicsOptions(timestep=physics_timestep)))
