"""Codec for the EdgeCell twin protocol, version 1 (`Sim/PROTOCOL.md`).

No I/O happens here. A message travels as a list of ZeroMQ frames: frame 0 holds the 24-byte header and the
payload, frames 1…k hold camera images. `encode` turns a message dataclass into frames, `decode` turns frames
into `(Header, message)` and raises `ProtocolError` with the error code of PROTOCOL.md §4.8 on any input it
cannot accept, in the order §3 prescribes. `validate_against` adds the checks of §6 once a `WELCOME` is known.
`to_json` / `from_json` give the canonical JSON form of §7.1 used by the test vectors.

Decoding never raises anything but `ProtocolError` for any sequence of byte strings: every read is bounds
checked, and a failure reports the first failing field in payload order, so the Swift codec, which follows
the same rules, reports the same code for the same bytes.
"""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass
from typing import Any, Iterable, Sequence, Union

import numpy as np

__all__ = [
    "MAGIC",
    "VERSION",
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "MAX_EXTRA_FRAMES",
    "MAX_STR",
    "MAX_IMAGE_SIDE",
    "FLAG_HOLDING",
    "FLAG_COLLISION",
    "MessageType",
    "ErrorCode",
    "Mode",
    "Encoding",
    "ProtocolError",
    "Header",
    "Pose",
    "Hello",
    "JointDescription",
    "DHRow",
    "CameraDescription",
    "ObjectDescription",
    "Welcome",
    "Reset",
    "ImageHeader",
    "Image",
    "ObservationBody",
    "Episode",
    "Step",
    "Observation",
    "Heartbeat",
    "Error",
    "Expert",
    "Advice",
    "Message",
    "encode",
    "decode",
    "decode_header",
    "validate_against",
    "to_json",
    "from_json",
    "message_type",
]

MAGIC = b"ECTW"
VERSION = 1
HEADER_SIZE = 24
MAX_PAYLOAD = 1_048_576
MAX_EXTRA_FRAMES = 16
MAX_STR = 4096
MAX_IMAGE_SIDE = 4096
U64_MAX = (1 << 64) - 1

FLAG_HOLDING = 0x01
"""`flags` bit 0: the twin holds the arm because commands stopped (real-time mode)."""
FLAG_COLLISION = 0x02
"""`flags` bit 1: the arm is in collision with the table or itself."""
_FLAGS_DEFINED = FLAG_HOLDING | FLAG_COLLISION

_HEADER = struct.Struct("<4sHHQIHH")
_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")


class MessageType(enum.IntEnum):
    """Message types, PROTOCOL.md §4."""

    HELLO = 1
    WELCOME = 2
    RESET = 3
    EPISODE = 4
    STEP = 5
    OBSERVATION = 6
    HEARTBEAT = 7
    ERROR = 8
    EXPERT = 9
    ADVICE = 10


class ErrorCode(enum.IntEnum):
    """Error codes, PROTOCOL.md §4.8."""

    BAD_MAGIC = 1
    UNSUPPORTED_VERSION = 2
    UNKNOWN_TYPE = 3
    TRUNCATED = 4
    TOO_LONG = 5
    INCONSISTENT = 6
    BAD_VALUE = 7
    BAD_STATE = 8
    UNKNOWN_TASK = 9
    INTERNAL = 10


class Mode(enum.IntEnum):
    """`WELCOME.mode`."""

    LOCKSTEP = 0
    REALTIME = 1


class Encoding(enum.IntEnum):
    """Camera and image `encoding`."""

    RGB8 = 1


class ProtocolError(ValueError):
    """A message that cannot be accepted (decoding, §6 checks) or cannot be put on the wire (encoding).

    `code` is the §4.8 error code, `offending_seq` the header `seq` of the message at fault (0 when the
    header could not be read, §3), `message` a sentence a person can act on.
    """

    def __init__(self, code: ErrorCode | int, message: str, offending_seq: int = 0) -> None:
        self.code = ErrorCode(code)
        self.message = message
        self.offending_seq = offending_seq
        super().__init__(f"{self.code.name}: {message} (seq {offending_seq})")


# --------------------------------------------------------------------------------------------------------
# Messages. Field names are those of PROTOCOL.md §4, so the canonical JSON keys (§7.1) are the field names.
# --------------------------------------------------------------------------------------------------------

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]


@dataclass(frozen=True)
class Header:
    """The 24-byte header at the start of frame 0 (§3)."""

    version: int
    type: int
    seq: int
    payload_length: int
    extra_frames: int
    reserved: int = 0


@dataclass(frozen=True)
class Pose:
    """`pose`: position (x, y, z) in metres, then orientation as a unit quaternion (w, x, y, z)."""

    position: Vec3 = (0.0, 0.0, 0.0)
    orientation: Quat = (1.0, 0.0, 0.0, 0.0)

    @classmethod
    def from_array(cls, values: Sequence[float] | np.ndarray) -> Pose:
        """Pose from 7 numbers `x y z qw qx qy qz` (the layout of the physics side)."""
        v = [float(x) for x in values]
        if len(v) != 7:
            raise ValueError(f"a pose needs 7 numbers (x y z qw qx qy qz), got {len(v)}")
        return cls((v[0], v[1], v[2]), (v[3], v[4], v[5], v[6]))

    def to_array(self) -> np.ndarray:
        """The 7 numbers `x y z qw qx qy qz` as float64."""
        return np.array(self.position + self.orientation, dtype=np.float64)


@dataclass(frozen=True)
class Hello:
    """`HELLO` (1), client → twin."""

    client_name: str
    client_version: str


@dataclass(frozen=True)
class JointDescription:
    """One arm joint of `WELCOME`: limits in rad, rad/s, rad/s², N·m."""

    name: str
    position_min: float
    position_max: float
    velocity_max: float
    acceleration_max: float
    effort_max: float


@dataclass(frozen=True)
class DHRow:
    """One standard Denavit–Hartenberg row; the joint angle is `q + theta_offset`."""

    a: float
    d: float
    alpha: float
    theta_offset: float


@dataclass(frozen=True)
class CameraDescription:
    """A camera the twin renders: name, size in pixels, encoding (1 = RGB8)."""

    name: str
    width: int
    height: int
    encoding: int = Encoding.RGB8


@dataclass(frozen=True)
class ObjectDescription:
    """A tracked object: name and the full extents of its bounding box (m)."""

    name: str
    size: Vec3


@dataclass(frozen=True)
class Welcome:
    """`WELCOME` (2): the robot description, i.e. the handshake (§4.2)."""

    twin_name: str
    twin_version: str
    robot_name: str
    mode: int
    control_period: float
    physics_timestep: float
    joints: tuple[JointDescription, ...]
    base_pose: Pose
    dh: tuple[DHRow, ...]
    tool_pose: Pose
    gripper_name: str
    gripper_aperture_min: float
    gripper_aperture_max: float
    gripper_force_max: float
    gripper_speed_max: float
    workspace_min: Vec3
    workspace_max: Vec3
    cameras: tuple[CameraDescription, ...]
    objects: tuple[ObjectDescription, ...]
    tasks: tuple[str, ...]
    task: str
    instruction: str
    seed: int
    camera_period: float
    """Seconds of episode time between two observations that carry images (> 0); images come with step 0 and
    every `camera_period / control_period` steps after it. The control period when every observation does."""
    has_expert: bool
    """Whether the twin answers `EXPERT` (§4.9)."""


@dataclass(frozen=True)
class Reset:
    """`RESET` (3): start an episode of `task` (empty = keep the current task) with `seed`."""

    task: str
    seed: int


@dataclass(frozen=True)
class ImageHeader:
    """The per-image fields of the observation body: camera index, size, encoding."""

    camera: int
    width: int
    height: int
    encoding: int = Encoding.RGB8


@dataclass(frozen=True, eq=False)
class Image(ImageHeader):
    """An image header plus its pixels (`width × height × 3` bytes, RGB8, top row first).

    `data` is any bytes-like object or a C-contiguous `uint8` array of shape (height, width, 3). Decoded
    images hold `bytes`; `pixels()` views them as an array without copying.
    """

    data: bytes | bytearray | memoryview | np.ndarray = b""

    @property
    def header(self) -> ImageHeader:
        """The header alone (what the JSON form carries)."""
        return ImageHeader(self.camera, self.width, self.height, self.encoding)

    def pixels(self) -> np.ndarray:
        """The image as a read-only (height, width, 3) `uint8` array."""
        return np.frombuffer(_image_bytes(self.data), dtype=np.uint8).reshape(self.height, self.width, 3)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        return self.header == other.header and _image_bytes(self.data) == _image_bytes(other.data)

    def __hash__(self) -> int:
        return hash((self.header, _image_bytes(self.data)))

    def __repr__(self) -> str:
        return (
            f"Image(camera={self.camera}, width={self.width}, height={self.height}, "
            f"encoding={self.encoding}, data=<{len(_image_bytes(self.data))} bytes>)"
        )


@dataclass(frozen=True)
class ObservationBody:
    """The observation body shared by `EPISODE` and `OBSERVATION` (§4.6)."""

    episode: int
    step: int
    sim_time: float
    joint_positions: tuple[float, ...]
    joint_velocities: tuple[float, ...]
    gripper_aperture: float
    gripper_force: float
    tcp_pose: Pose
    objects: tuple[Pose, ...]
    success: bool
    flags: int
    images: tuple[Image, ...] = ()


@dataclass(frozen=True)
class Episode:
    """`EPISODE` (4): the answer to `RESET`, with the first observation (step 0)."""

    task: str
    instruction: str
    seed: int
    body: ObservationBody


@dataclass(frozen=True)
class Step:
    """`STEP` (5): joint position targets (rad) and the gripper aperture target (m)."""

    joint_targets: tuple[float, ...]
    gripper_target: float


@dataclass(frozen=True)
class Observation:
    """`OBSERVATION` (6)."""

    body: ObservationBody


@dataclass(frozen=True)
class Heartbeat:
    """`HEARTBEAT` (7): the sender's monotonic clock in seconds (informational)."""

    time: float


@dataclass(frozen=True)
class Error:
    """`ERROR` (8)."""

    code: int
    offending_seq: int
    message: str


@dataclass(frozen=True)
class Expert:
    """`EXPERT` (9), client → twin: what would the cell's scripted expert command now? (§4.9). No payload."""


@dataclass(frozen=True)
class Advice:
    """`ADVICE` (10), the answer to `EXPERT`: the expert's joint targets (rad) and gripper target (m), its task
    phase, and whether it has nothing more to do."""

    joint_targets: tuple[float, ...]
    gripper_target: float
    phase: str
    done: bool


Message = Union[Hello, Welcome, Reset, Episode, Step, Observation, Heartbeat, Error, Expert, Advice]

_TYPE_OF: dict[type, MessageType] = {
    Hello: MessageType.HELLO,
    Welcome: MessageType.WELCOME,
    Reset: MessageType.RESET,
    Episode: MessageType.EPISODE,
    Step: MessageType.STEP,
    Observation: MessageType.OBSERVATION,
    Heartbeat: MessageType.HEARTBEAT,
    Error: MessageType.ERROR,
    Expert: MessageType.EXPERT,
    Advice: MessageType.ADVICE,
}


def message_type(message: Message) -> MessageType:
    """The §4 type of a message dataclass."""
    try:
        return _TYPE_OF[type(message)]
    except KeyError:
        raise TypeError(f"not a protocol message: {type(message).__name__}") from None


def _image_bytes(data: Any) -> bytes | memoryview:
    if isinstance(data, bytes):
        return data
    if isinstance(data, np.ndarray):
        return memoryview(np.ascontiguousarray(data, dtype=np.uint8)).cast("B")
    return memoryview(data).cast("B")


# --------------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------------


class _Reader:
    """Bounds-checked little-endian reads from the payload; every failure is a ProtocolError."""

    __slots__ = ("buf", "pos", "end", "seq", "what")

    def __init__(self, buf: memoryview, start: int, end: int, seq: int, what: str) -> None:
        self.buf = buf
        self.pos = start
        self.end = end
        self.seq = seq
        self.what = what

    def fail(self, code: ErrorCode, text: str) -> ProtocolError:
        return ProtocolError(code, f"{self.what}: {text}", self.seq)

    def _take(self, size: int, name: str) -> int:
        pos = self.pos
        if self.end - pos < size:
            raise self.fail(
                ErrorCode.TRUNCATED,
                f"{name} needs {size} bytes at payload offset {pos - HEADER_SIZE}, {self.end - pos} left",
            )
        self.pos = pos + size
        return pos

    def u8(self, name: str) -> int:
        return self.buf[self._take(1, name)]

    def u16(self, name: str) -> int:
        return _U16.unpack_from(self.buf, self._take(2, name))[0]

    def u32(self, name: str) -> int:
        return _U32.unpack_from(self.buf, self._take(4, name))[0]

    def u64(self, name: str) -> int:
        return _U64.unpack_from(self.buf, self._take(8, name))[0]

    def f64(self, name: str) -> float:
        value = _F64.unpack_from(self.buf, self._take(8, name))[0]
        if not math.isfinite(value):
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {value}, must be finite")
        return value

    def f64s(self, count: int, name: str) -> tuple[float, ...]:
        """`count` f64s, checked in order: a non-finite value before the bytes run out is BAD_VALUE."""
        available = min(count, (self.end - self.pos) // 8)
        values = struct.unpack_from(f"<{available}d", self.buf, self.pos) if available else ()
        for i, value in enumerate(values):
            if not math.isfinite(value):
                raise self.fail(ErrorCode.BAD_VALUE, f"{name}[{i}] is {value}, must be finite")
        if available < count:
            self.pos += available * 8
            self._take(8, f"{name}[{available}] (of {count})")
        self.pos += count * 8
        return values

    def vec3(self, name: str) -> Vec3:
        return self.f64s(3, name)  # type: ignore[return-value]

    def pose(self, name: str) -> Pose:
        v = self.f64s(7, name)
        return Pose((v[0], v[1], v[2]), (v[3], v[4], v[5], v[6]))

    def text(self, name: str) -> str:
        length = self.u16(f"{name} length")
        if length > MAX_STR:
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {length} bytes long, at most {MAX_STR} allowed")
        pos = self._take(length, f"{name} ({length} bytes)")
        try:
            return str(self.buf[pos : pos + length], "utf-8")
        except UnicodeDecodeError as e:
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is not valid UTF-8 (byte {e.start})") from None

    def enum(self, value: int, allowed: Iterable[int], name: str) -> int:
        if value not in allowed:
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {value}, expected one of {sorted(allowed)}")
        return value

    def side(self, name: str) -> int:
        value = self.u16(name)
        if not 1 <= value <= MAX_IMAGE_SIDE:
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {value}, must be 1…{MAX_IMAGE_SIDE}")
        return value


def decode_header(frames: Sequence[bytes]) -> Header:
    """Run the header checks 1–7 of §3 on `frames` and return the header."""
    if not frames:
        raise ProtocolError(ErrorCode.TRUNCATED, "no frames: a message needs at least frame 0", 0)
    frame0 = memoryview(frames[0]).cast("B")
    if len(frame0) < HEADER_SIZE:
        raise ProtocolError(
            ErrorCode.TRUNCATED, f"frame 0 is {len(frame0)} bytes, shorter than the {HEADER_SIZE}-byte header", 0
        )
    magic, version, type_, seq, payload_length, extra_frames, reserved = _HEADER.unpack_from(frame0, 0)
    if magic != MAGIC:
        raise ProtocolError(ErrorCode.BAD_MAGIC, f"magic is {bytes(magic)!r}, expected {MAGIC!r}", 0)
    if version != VERSION:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION, f"protocol version {version}, this side speaks {VERSION}", 0
        )
    if type_ not in _TYPES:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"message type {type_} is not defined in version 1", seq)
    name = MessageType(type_).name
    if payload_length > MAX_PAYLOAD:
        raise ProtocolError(
            ErrorCode.TOO_LONG, f"{name}: payload_length {payload_length} exceeds {MAX_PAYLOAD}", seq
        )
    expected = HEADER_SIZE + payload_length
    if len(frame0) < expected:
        raise ProtocolError(
            ErrorCode.TRUNCATED, f"{name}: frame 0 is {len(frame0)} bytes, header announces {expected}", seq
        )
    if len(frame0) > expected:
        raise ProtocolError(
            ErrorCode.TOO_LONG, f"{name}: frame 0 is {len(frame0)} bytes, header announces {expected}", seq
        )
    received = len(frames) - 1
    if extra_frames > MAX_EXTRA_FRAMES:
        raise ProtocolError(
            ErrorCode.INCONSISTENT, f"{name}: extra_frames {extra_frames} exceeds {MAX_EXTRA_FRAMES}", seq
        )
    if extra_frames != received:
        raise ProtocolError(
            ErrorCode.INCONSISTENT,
            f"{name}: header announces {extra_frames} extra frames, {received} received",
            seq,
        )
    if reserved != 0:
        raise ProtocolError(ErrorCode.INCONSISTENT, f"{name}: reserved header field is {reserved}, must be 0", seq)
    return Header(version, type_, seq, payload_length, extra_frames, reserved)


_TYPES = frozenset(int(t) for t in MessageType)


def decode(frames: Sequence[bytes]) -> tuple[Header, Message]:
    """Decode one multipart message (frames without the ROUTER identity) per §3 and §4.

    Raises `ProtocolError` (and nothing else) for any byte content; a non-bytes-like frame is a `TypeError`.
    """
    header = decode_header(frames)
    frame0 = memoryview(frames[0]).cast("B")
    mtype = MessageType(header.type)
    r = _Reader(frame0, HEADER_SIZE, len(frame0), header.seq, mtype.name)
    message: Message
    if mtype is MessageType.HELLO:
        message = Hello(r.text("client_name"), r.text("client_version"))
    elif mtype is MessageType.WELCOME:
        message = _read_welcome(r)
    elif mtype is MessageType.RESET:
        message = Reset(r.text("task"), r.u64("seed"))
    elif mtype is MessageType.EPISODE:
        task, instruction, seed = r.text("task"), r.text("instruction"), r.u64("seed")
        body, image_headers = _read_body(r)
        message = Episode(task, instruction, seed, body)
    elif mtype is MessageType.STEP:
        n = r.u16("joint_targets count")
        message = Step(r.f64s(n, "joint_targets"), r.f64("gripper_target"))
    elif mtype is MessageType.OBSERVATION:
        body, image_headers = _read_body(r)
        message = Observation(body)
    elif mtype is MessageType.HEARTBEAT:
        message = Heartbeat(r.f64("time"))
    elif mtype is MessageType.ERROR:
        code = r.enum(r.u16("code"), _ERROR_CODES, "code")
        message = Error(code, r.u64("offending_seq"), r.text("message"))
    elif mtype is MessageType.EXPERT:
        message = Expert()
    else:
        n = r.u16("joint_targets count")
        targets, gripper = r.f64s(n, "joint_targets"), r.f64("gripper_target")
        phase = r.text("phase")
        message = Advice(targets, gripper, phase, bool(r.enum(r.u8("done"), (0, 1), "done")))
    if r.pos != r.end:
        raise r.fail(
            ErrorCode.TOO_LONG, f"{r.end - r.pos} bytes left after the last field (payload {header.payload_length})"
        )
    if mtype is MessageType.EPISODE or mtype is MessageType.OBSERVATION:
        k = len(image_headers)
        if k != header.extra_frames:
            raise r.fail(ErrorCode.INCONSISTENT, f"{k} images in the payload, {header.extra_frames} extra frames")
        images = []
        for j, ih in enumerate(image_headers):
            data = frames[j + 1]
            size = len(memoryview(data).cast("B"))
            if size != ih.width * ih.height * 3:
                raise r.fail(
                    ErrorCode.INCONSISTENT,
                    f"image {j} is {ih.width}×{ih.height} RGB8 ({ih.width * ih.height * 3} bytes), "
                    f"frame {j + 1} holds {size} bytes",
                )
            images.append(Image(ih.camera, ih.width, ih.height, ih.encoding, bytes(data)))
        body = _replace_images(body, tuple(images))
        message = Episode(task, instruction, seed, body) if mtype is MessageType.EPISODE else Observation(body)
    elif header.extra_frames != 0:
        raise r.fail(ErrorCode.INCONSISTENT, f"{header.extra_frames} extra frames, {mtype.name} carries none")
    return header, message


_ERROR_CODES = frozenset(int(c) for c in ErrorCode)
_MODES = frozenset(int(m) for m in Mode)
_ENCODINGS = frozenset(int(e) for e in Encoding)


def _read_welcome(r: _Reader) -> Welcome:
    twin_name, twin_version, robot_name = r.text("twin_name"), r.text("twin_version"), r.text("robot_name")
    mode = r.enum(r.u8("mode"), _MODES, "mode")
    control_period, physics_timestep = r.f64("control_period"), r.f64("physics_timestep")
    n = r.u16("joints count")
    joints = []
    for i in range(n):
        p = f"joints[{i}]"
        name = r.text(f"{p}.name")
        limits = r.f64s(5, f"{p} limits")
        joints.append(JointDescription(name, *limits))
    base_pose = r.pose("base_pose")
    dh = [DHRow(*r.f64s(4, f"dh[{i}]")) for i in range(n)]
    tool_pose = r.pose("tool_pose")
    gripper_name = r.text("gripper_name")
    gripper = r.f64s(4, "gripper limits")
    workspace_min, workspace_max = r.vec3("workspace_min"), r.vec3("workspace_max")
    c = r.u8("cameras count")
    cameras = []
    for i in range(c):
        p = f"cameras[{i}]"
        name = r.text(f"{p}.name")
        width, height = r.side(f"{p}.width"), r.side(f"{p}.height")
        encoding = r.enum(r.u8(f"{p}.encoding"), _ENCODINGS, f"{p}.encoding")
        cameras.append(CameraDescription(name, width, height, encoding))
    m = r.u16("objects count")
    objects = [ObjectDescription(r.text(f"objects[{i}].name"), r.vec3(f"objects[{i}].size")) for i in range(m)]
    t = r.u16("tasks count")
    tasks = tuple(r.text(f"tasks[{i}]") for i in range(t))
    task, instruction, seed = r.text("task"), r.text("instruction"), r.u64("seed")
    camera_period = r.f64("camera_period")
    if not camera_period > 0.0:
        raise r.fail(ErrorCode.BAD_VALUE, f"camera_period is {camera_period}, must be > 0")
    has_expert = r.enum(r.u8("has_expert"), (0, 1), "has_expert")
    return Welcome(
        twin_name, twin_version, robot_name, mode, control_period, physics_timestep, tuple(joints),
        base_pose, tuple(dh), tool_pose, gripper_name, gripper[0], gripper[1], gripper[2], gripper[3],
        workspace_min, workspace_max, tuple(cameras), tuple(objects), tasks, task, instruction, seed,
        camera_period, bool(has_expert),
    )  # fmt: skip


def _read_body(r: _Reader) -> tuple[ObservationBody, list[ImageHeader]]:
    episode, step, sim_time = r.u32("episode"), r.u64("step"), r.f64("sim_time")
    n = r.u16("joint_positions count")
    joint_positions = r.f64s(n, "joint_positions")
    joint_velocities = r.f64s(n, "joint_velocities")
    gripper_aperture, gripper_force = r.f64("gripper_aperture"), r.f64("gripper_force")
    tcp_pose = r.pose("tcp_pose")
    m = r.u16("objects count")
    objects = tuple(r.pose(f"objects[{i}]") for i in range(m))
    success = r.enum(r.u8("success"), (0, 1), "success")
    flags = r.u8("flags")
    if flags & ~_FLAGS_DEFINED:
        raise r.fail(ErrorCode.BAD_VALUE, f"flags is 0x{flags:02x}, only bits 0 and 1 are defined")
    k = r.u8("images count")
    headers = []
    for j in range(k):
        p = f"images[{j}]"
        camera = r.u8(f"{p}.camera")
        width, height = r.side(f"{p}.width"), r.side(f"{p}.height")
        encoding = r.enum(r.u8(f"{p}.encoding"), _ENCODINGS, f"{p}.encoding")
        headers.append(ImageHeader(camera, width, height, encoding))
    body = ObservationBody(
        episode, step, sim_time, joint_positions, joint_velocities, gripper_aperture, gripper_force, tcp_pose,
        objects, bool(success), flags, (),
    )  # fmt: skip
    return body, headers


def _replace_images(body: ObservationBody, images: tuple[Image, ...]) -> ObservationBody:
    return ObservationBody(
        body.episode, body.step, body.sim_time, body.joint_positions, body.joint_velocities,
        body.gripper_aperture, body.gripper_force, body.tcp_pose, body.objects, body.success, body.flags, images,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------------------


class _Writer:
    """Collects payload parts; checks every value the way the decoder will, with the same codes."""

    __slots__ = ("parts", "seq", "what")

    def __init__(self, seq: int, what: str) -> None:
        self.parts: list[bytes] = []
        self.seq = seq
        self.what = what

    def fail(self, code: ErrorCode, text: str) -> ProtocolError:
        return ProtocolError(code, f"{self.what}: {text}", self.seq)

    def _int(self, value: Any, bits: int, name: str) -> int:
        try:
            v = int(value)
        except (TypeError, ValueError):
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {value!r}, not an integer") from None
        if v != value or not 0 <= v < (1 << bits):
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {value!r}, not a u{bits}")
        return v

    def u8(self, value: Any, name: str) -> None:
        self.parts.append(_U8.pack(self._int(value, 8, name)))

    def u16(self, value: Any, name: str) -> None:
        self.parts.append(_U16.pack(self._int(value, 16, name)))

    def u32(self, value: Any, name: str) -> None:
        self.parts.append(_U32.pack(self._int(value, 32, name)))

    def u64(self, value: Any, name: str) -> None:
        self.parts.append(_U64.pack(self._int(value, 64, name)))

    def f64s(self, values: Any, name: str, count: int | None = None) -> None:
        try:
            floats = [float(v) for v in values]
        except (TypeError, ValueError):
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {values!r}, not a list of numbers") from None
        if count is not None and len(floats) != count:
            raise self.fail(ErrorCode.INCONSISTENT, f"{name} has {len(floats)} values, expected {count}")
        for i, v in enumerate(floats):
            if not math.isfinite(v):
                raise self.fail(ErrorCode.BAD_VALUE, f"{name}[{i}] is {v}, must be finite")
        self.parts.append(struct.pack(f"<{len(floats)}d", *floats))

    def f64(self, value: Any, name: str) -> None:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {value!r}, not a number") from None
        if not math.isfinite(v):
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {v}, must be finite")
        self.parts.append(_F64.pack(v))

    def pose(self, pose: Pose, name: str) -> None:
        self.f64s(pose.position, f"{name}.position", 3)
        self.f64s(pose.orientation, f"{name}.orientation", 4)

    def text(self, value: Any, name: str) -> None:
        if not isinstance(value, str):
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {value!r}, not a string")
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} cannot be encoded as UTF-8") from None
        if len(raw) > MAX_STR:
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {len(raw)} bytes long, at most {MAX_STR} allowed")
        self.parts.append(_U16.pack(len(raw)))
        self.parts.append(raw)

    def enum(self, value: Any, allowed: Iterable[int], bits: int, name: str) -> None:
        v = self._int(value, bits, name)
        if v not in allowed:
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {v}, expected one of {sorted(allowed)}")
        (self.u8 if bits == 8 else self.u16)(v, name)

    def side(self, value: Any, name: str) -> None:
        v = self._int(value, 16, name)
        if not 1 <= v <= MAX_IMAGE_SIDE:
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} is {v}, must be 1…{MAX_IMAGE_SIDE}")
        self.u16(v, name)

    def count(self, items: Sequence[Any], bits: int, name: str) -> None:
        if len(items) >= (1 << bits):
            raise self.fail(ErrorCode.BAD_VALUE, f"{name} has {len(items)} items, at most {(1 << bits) - 1}")
        (self.u8 if bits == 8 else self.u16)(len(items), f"{name} count")


def encode(message: Message, seq: int) -> list[bytes]:
    """Encode `message` with header `seq` into frames: frame 0, then one frame per image.

    Checks everything the decoder checks (finite f64s, string lengths, enums, counts, image sizes) and raises
    `ProtocolError` with the code the decoder would give, so nothing undecodable ever leaves this side.
    """
    mtype = message_type(message)
    w = _Writer(seq, mtype.name)
    if not isinstance(seq, (int, np.integer)) or not 0 <= int(seq) <= U64_MAX:
        raise ProtocolError(ErrorCode.BAD_VALUE, f"{mtype.name}: seq {seq!r} is not a u64", 0)
    images: tuple[Image, ...] = ()
    if isinstance(message, Hello):
        w.text(message.client_name, "client_name")
        w.text(message.client_version, "client_version")
    elif isinstance(message, Welcome):
        _write_welcome(w, message)
    elif isinstance(message, Reset):
        w.text(message.task, "task")
        w.u64(message.seed, "seed")
    elif isinstance(message, Episode):
        w.text(message.task, "task")
        w.text(message.instruction, "instruction")
        w.u64(message.seed, "seed")
        images = _write_body(w, message.body)
    elif isinstance(message, Step):
        w.count(message.joint_targets, 16, "joint_targets")
        w.f64s(message.joint_targets, "joint_targets")
        w.f64(message.gripper_target, "gripper_target")
    elif isinstance(message, Observation):
        images = _write_body(w, message.body)
    elif isinstance(message, Heartbeat):
        w.f64(message.time, "time")
    elif isinstance(message, Error):
        w.enum(message.code, _ERROR_CODES, 16, "code")
        w.u64(message.offending_seq, "offending_seq")
        w.text(message.message, "message")
    elif isinstance(message, Advice):
        w.count(message.joint_targets, 16, "joint_targets")
        w.f64s(message.joint_targets, "joint_targets")
        w.f64(message.gripper_target, "gripper_target")
        w.text(message.phase, "phase")
        w.enum(_flag(message.done), (0, 1), 8, "done")
    else:
        assert isinstance(message, Expert)
    payload = b"".join(w.parts)
    if len(payload) > MAX_PAYLOAD:
        raise w.fail(ErrorCode.TOO_LONG, f"payload is {len(payload)} bytes, at most {MAX_PAYLOAD}")
    if len(images) > MAX_EXTRA_FRAMES:
        raise w.fail(ErrorCode.INCONSISTENT, f"{len(images)} images, at most {MAX_EXTRA_FRAMES} extra frames")
    frames = [_HEADER.pack(MAGIC, VERSION, mtype, int(seq), len(payload), len(images), 0) + payload]
    for j, image in enumerate(images):
        data = _image_bytes(image.data)
        if len(data) != image.width * image.height * 3:
            raise w.fail(
                ErrorCode.INCONSISTENT,
                f"image {j} is {image.width}×{image.height} RGB8 but holds {len(data)} bytes",
            )
        frames.append(data if isinstance(data, bytes) else bytes(data))
    return frames


_BODY_HEAD = struct.Struct("<IQdH")
_BODY_TAIL = struct.Struct("<BBB")
_IMAGE_HEADER = struct.Struct("<BHHB")


def encode_observation_fast(
    seq: int,
    episode: int,
    step: int,
    sim_time: float,
    joint_positions: np.ndarray,
    joint_velocities: np.ndarray,
    gripper_aperture: float,
    gripper_force: float,
    tcp_pose: np.ndarray,
    object_poses: np.ndarray,
    success: bool,
    flags: int,
    images: Sequence[tuple[int, np.ndarray]] = (),
) -> list[bytes]:
    """`encode(Observation(body), seq)` for the twin's per-step hot path, straight from numpy arrays.

    Builds the same bytes as the general encoder (a test holds them equal) without building the dataclasses:
    one finiteness check over every float, then packed slices. Anything unusual (a non-finite value, counts
    out of range, odd image shapes) is handed to the general encoder, which raises the precise error.
    """
    q = np.asarray(joint_positions, dtype=np.float64).ravel()
    qd = np.asarray(joint_velocities, dtype=np.float64).ravel()
    tcp = np.asarray(tcp_pose, dtype=np.float64).ravel()
    objects = np.asarray(object_poses, dtype=np.float64).reshape(-1, 7)
    n, m, k = q.size, objects.shape[0], len(images)
    # The payload's float runs, in wire order: q, qd, aperture, force, tcp | objects.
    run = np.concatenate((q, qd, (gripper_aperture, gripper_force), tcp)) if qd.size == n and tcp.size == 7 else None
    plain = (
        run is not None
        and n < 1 << 16
        and m < 1 << 16
        and k <= MAX_EXTRA_FRAMES
        and 0 <= episode < 1 << 32
        and 0 <= step <= U64_MAX
        and 0 <= seq <= U64_MAX
        and not flags & ~_FLAGS_DEFINED
        and math.isfinite(sim_time)
        and bool(np.isfinite(run).all())
        and (m == 0 or bool(np.isfinite(objects).all()))
        and all(
            0 <= camera < 256 and im.ndim == 3 and im.shape[2] == 3 and im.dtype == np.uint8
            and 1 <= im.shape[0] <= MAX_IMAGE_SIDE and 1 <= im.shape[1] <= MAX_IMAGE_SIDE
            for camera, im in images
        )
    )  # fmt: skip

    def general() -> list[bytes]:
        body = ObservationBody(
            episode=episode, step=step, sim_time=float(sim_time),
            joint_positions=tuple(q.tolist()), joint_velocities=tuple(qd.tolist()),
            gripper_aperture=float(gripper_aperture), gripper_force=float(gripper_force),
            tcp_pose=Pose.from_array(tcp), objects=tuple(Pose.from_array(row) for row in objects),
            success=bool(success), flags=flags,
            images=tuple(Image(int(c), int(im.shape[1]), int(im.shape[0]), Encoding.RGB8, im) for c, im in images),
        )  # fmt: skip
        return encode(Observation(body), seq)

    if not plain:
        return general()
    assert run is not None
    parts = [
        _BODY_HEAD.pack(episode, step, sim_time, n),
        run.astype("<f8", copy=False).tobytes(),
        _U16.pack(m),
        objects.astype("<f8", copy=False).tobytes(),
        _BODY_TAIL.pack(1 if success else 0, flags, k),
    ]
    parts.extend(_IMAGE_HEADER.pack(c, im.shape[1], im.shape[0], Encoding.RGB8) for c, im in images)
    payload = b"".join(parts)
    if len(payload) > MAX_PAYLOAD:
        return general()
    frames = [_HEADER.pack(MAGIC, VERSION, MessageType.OBSERVATION, seq, len(payload), k, 0) + payload]
    frames.extend(np.ascontiguousarray(im).tobytes() for _, im in images)
    return frames


def _write_welcome(w: _Writer, m: Welcome) -> None:
    w.text(m.twin_name, "twin_name")
    w.text(m.twin_version, "twin_version")
    w.text(m.robot_name, "robot_name")
    w.enum(m.mode, _MODES, 8, "mode")
    w.f64(m.control_period, "control_period")
    w.f64(m.physics_timestep, "physics_timestep")
    w.count(m.joints, 16, "joints")
    for i, j in enumerate(m.joints):
        w.text(j.name, f"joints[{i}].name")
        w.f64s((j.position_min, j.position_max, j.velocity_max, j.acceleration_max, j.effort_max), f"joints[{i}]")
    w.pose(m.base_pose, "base_pose")
    if len(m.dh) != len(m.joints):
        raise w.fail(ErrorCode.INCONSISTENT, f"{len(m.dh)} DH rows for {len(m.joints)} joints")
    for i, row in enumerate(m.dh):
        w.f64s((row.a, row.d, row.alpha, row.theta_offset), f"dh[{i}]")
    w.pose(m.tool_pose, "tool_pose")
    w.text(m.gripper_name, "gripper_name")
    w.f64s(
        (m.gripper_aperture_min, m.gripper_aperture_max, m.gripper_force_max, m.gripper_speed_max), "gripper"
    )
    w.f64s(m.workspace_min, "workspace_min", 3)
    w.f64s(m.workspace_max, "workspace_max", 3)
    w.count(m.cameras, 8, "cameras")
    for i, c in enumerate(m.cameras):
        w.text(c.name, f"cameras[{i}].name")
        w.side(c.width, f"cameras[{i}].width")
        w.side(c.height, f"cameras[{i}].height")
        w.enum(c.encoding, _ENCODINGS, 8, f"cameras[{i}].encoding")
    w.count(m.objects, 16, "objects")
    for i, o in enumerate(m.objects):
        w.text(o.name, f"objects[{i}].name")
        w.f64s(o.size, f"objects[{i}].size", 3)
    w.count(m.tasks, 16, "tasks")
    for i, t in enumerate(m.tasks):
        w.text(t, f"tasks[{i}]")
    w.text(m.task, "task")
    w.text(m.instruction, "instruction")
    w.u64(m.seed, "seed")
    w.f64(m.camera_period, "camera_period")
    if not float(m.camera_period) > 0.0:
        raise w.fail(ErrorCode.BAD_VALUE, f"camera_period is {m.camera_period}, must be > 0")
    w.enum(_flag(m.has_expert), (0, 1), 8, "has_expert")


def _flag(value: Any) -> Any:
    """A `u8` 0/1 field from a bool (numpy's too); anything else goes to the writer's checks unchanged."""
    return int(value) if isinstance(value, (bool, np.bool_)) else value


def _write_body(w: _Writer, b: ObservationBody) -> tuple[Image, ...]:
    w.u32(b.episode, "episode")
    w.u64(b.step, "step")
    w.f64(b.sim_time, "sim_time")
    w.count(b.joint_positions, 16, "joint_positions")
    w.f64s(b.joint_positions, "joint_positions")
    w.f64s(b.joint_velocities, "joint_velocities", len(b.joint_positions))
    w.f64(b.gripper_aperture, "gripper_aperture")
    w.f64(b.gripper_force, "gripper_force")
    w.pose(b.tcp_pose, "tcp_pose")
    w.count(b.objects, 16, "objects")
    for i, p in enumerate(b.objects):
        w.pose(p, f"objects[{i}]")
    w.enum(int(b.success), (0, 1), 8, "success")
    flags = w._int(b.flags, 8, "flags")
    if flags & ~_FLAGS_DEFINED:
        raise w.fail(ErrorCode.BAD_VALUE, f"flags is 0x{flags:02x}, only bits 0 and 1 are defined")
    w.u8(flags, "flags")
    w.count(b.images, 8, "images")
    for j, im in enumerate(b.images):
        w.u8(im.camera, f"images[{j}].camera")
        w.side(im.width, f"images[{j}].width")
        w.side(im.height, f"images[{j}].height")
        w.enum(im.encoding, _ENCODINGS, 8, f"images[{j}].encoding")
    return tuple(b.images)


# --------------------------------------------------------------------------------------------------------
# Checks against the handshake (§6)
# --------------------------------------------------------------------------------------------------------


def validate_against(welcome: Welcome, message: Message, frames: Sequence[bytes] | None = None) -> None:
    """Check a decoded `message` against the handshake `welcome` (§6), in the order §6 lists.

    `frames` (the message's frames) supply the offending `seq` and the image frame sizes; without them the
    images' own `data` is measured and the offending `seq` is 0. Raises `ProtocolError`.
    """
    seq = 0
    if frames:
        try:
            seq = decode_header(frames).seq
        except ProtocolError:
            seq = 0
    what = message_type(message).name

    def fail(code: ErrorCode, text: str) -> ProtocolError:
        return ProtocolError(code, f"{what}: {text}", seq)

    n = len(welcome.joints)
    if isinstance(message, Advice):
        if len(message.joint_targets) != n:
            raise fail(ErrorCode.INCONSISTENT, f"{len(message.joint_targets)} joint targets, the arm has {n} joints")
        return
    if isinstance(message, Step):
        if len(message.joint_targets) != n:
            raise fail(ErrorCode.INCONSISTENT, f"{len(message.joint_targets)} joint targets, the arm has {n} joints")
        for i, (q, j) in enumerate(zip(message.joint_targets, welcome.joints)):
            if not j.position_min <= q <= j.position_max:
                raise fail(
                    ErrorCode.BAD_VALUE,
                    f"joint_targets[{i}] ({j.name}) is {q}, outside [{j.position_min}, {j.position_max}]",
                )
        g = message.gripper_target
        if not welcome.gripper_aperture_min <= g <= welcome.gripper_aperture_max:
            raise fail(
                ErrorCode.BAD_VALUE,
                f"gripper_target is {g}, outside [{welcome.gripper_aperture_min}, {welcome.gripper_aperture_max}]",
            )
        return
    if isinstance(message, (Episode, Observation)):
        body = message.body
        if len(body.joint_positions) != n or len(body.joint_velocities) != n:
            raise fail(ErrorCode.INCONSISTENT, f"{len(body.joint_positions)} joints, the handshake has {n}")
        if len(body.objects) != len(welcome.objects):
            raise fail(
                ErrorCode.INCONSISTENT, f"{len(body.objects)} objects, the handshake has {len(welcome.objects)}"
            )
        for j, im in enumerate(body.images):
            if im.camera >= len(welcome.cameras):
                raise fail(
                    ErrorCode.INCONSISTENT,
                    f"images[{j}] names camera {im.camera}, the handshake has {len(welcome.cameras)} cameras",
                )
            cam = welcome.cameras[im.camera]
            if (im.width, im.height, im.encoding) != (cam.width, cam.height, cam.encoding):
                raise fail(
                    ErrorCode.INCONSISTENT,
                    f"images[{j}] is {im.width}×{im.height} encoding {im.encoding}, camera {im.camera} "
                    f"({cam.name}) is {cam.width}×{cam.height} encoding {cam.encoding}",
                )
            size = len(memoryview(frames[j + 1]).cast("B")) if frames else len(_image_bytes(im.data))
            if size != im.width * im.height * 3:
                raise fail(
                    ErrorCode.INCONSISTENT, f"images[{j}] frame holds {size} bytes, {im.width * im.height * 3} expected"
                )


# --------------------------------------------------------------------------------------------------------
# Canonical JSON form (§7.1)
# --------------------------------------------------------------------------------------------------------


def _pose_json(p: Pose) -> dict[str, Any]:
    return {"position": [float(x) for x in p.position], "orientation": [float(x) for x in p.orientation]}


def _body_json(b: ObservationBody) -> dict[str, Any]:
    return {
        "episode": int(b.episode),
        "step": int(b.step),
        "sim_time": float(b.sim_time),
        "joint_positions": [float(x) for x in b.joint_positions],
        "joint_velocities": [float(x) for x in b.joint_velocities],
        "gripper_aperture": float(b.gripper_aperture),
        "gripper_force": float(b.gripper_force),
        "tcp_pose": _pose_json(b.tcp_pose),
        "objects": [_pose_json(p) for p in b.objects],
        "success": int(b.success),
        "flags": int(b.flags),
        "images": [
            {"camera": int(i.camera), "width": int(i.width), "height": int(i.height), "encoding": int(i.encoding)}
            for i in b.images
        ],
    }


def to_json(message: Message, seq: int) -> dict[str, Any]:
    """The canonical JSON form (§7.1) as a dict with keys in protocol order (`json.dumps` keeps it)."""
    mtype = message_type(message)
    out: dict[str, Any] = {"type": mtype.name, "seq": int(seq)}
    if isinstance(message, Hello):
        out |= {"client_name": message.client_name, "client_version": message.client_version}
    elif isinstance(message, Welcome):
        m = message
        out |= {
            "twin_name": m.twin_name,
            "twin_version": m.twin_version,
            "robot_name": m.robot_name,
            "mode": int(m.mode),
            "control_period": float(m.control_period),
            "physics_timestep": float(m.physics_timestep),
            "joints": [
                {
                    "name": j.name,
                    "position_min": float(j.position_min),
                    "position_max": float(j.position_max),
                    "velocity_max": float(j.velocity_max),
                    "acceleration_max": float(j.acceleration_max),
                    "effort_max": float(j.effort_max),
                }
                for j in m.joints
            ],
            "base_pose": _pose_json(m.base_pose),
            "dh": [
                {"a": float(r.a), "d": float(r.d), "alpha": float(r.alpha), "theta_offset": float(r.theta_offset)}
                for r in m.dh
            ],
            "tool_pose": _pose_json(m.tool_pose),
            "gripper_name": m.gripper_name,
            "gripper_aperture_min": float(m.gripper_aperture_min),
            "gripper_aperture_max": float(m.gripper_aperture_max),
            "gripper_force_max": float(m.gripper_force_max),
            "gripper_speed_max": float(m.gripper_speed_max),
            "workspace_min": [float(x) for x in m.workspace_min],
            "workspace_max": [float(x) for x in m.workspace_max],
            "cameras": [
                {"name": c.name, "width": int(c.width), "height": int(c.height), "encoding": int(c.encoding)}
                for c in m.cameras
            ],
            "objects": [{"name": o.name, "size": [float(x) for x in o.size]} for o in m.objects],
            "tasks": list(m.tasks),
            "task": m.task,
            "instruction": m.instruction,
            "seed": int(m.seed),
            "camera_period": float(m.camera_period),
            "has_expert": int(m.has_expert),
        }
    elif isinstance(message, Reset):
        out |= {"task": message.task, "seed": int(message.seed)}
    elif isinstance(message, Episode):
        out |= {"task": message.task, "instruction": message.instruction, "seed": int(message.seed)}
        out |= _body_json(message.body)
    elif isinstance(message, Step):
        out |= {
            "joint_targets": [float(x) for x in message.joint_targets],
            "gripper_target": float(message.gripper_target),
        }
    elif isinstance(message, Observation):
        out |= _body_json(message.body)
    elif isinstance(message, Heartbeat):
        out |= {"time": float(message.time)}
    elif isinstance(message, Error):
        out |= {"code": int(message.code), "offending_seq": int(message.offending_seq), "message": message.message}
    elif isinstance(message, Advice):
        out |= {
            "joint_targets": [float(x) for x in message.joint_targets],
            "gripper_target": float(message.gripper_target),
            "phase": message.phase,
            "done": int(message.done),
        }
    else:
        assert isinstance(message, Expert)
    return out


def _f(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"expected a number, got {v!r}")
    return float(v)


def _i(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"expected an integer, got {v!r}")
    return v


def _s(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {v!r}")
    return v


def _fs(v: Any, count: int | None = None) -> tuple[float, ...]:
    if not isinstance(v, list) or (count is not None and len(v) != count):
        raise ValueError(f"expected a list of {count if count is not None else 'n'} numbers, got {v!r}")
    return tuple(_f(x) for x in v)


def _pose_from(v: Any) -> Pose:
    return Pose(_fs(v["position"], 3), _fs(v["orientation"], 4))  # type: ignore[arg-type]


def _body_from(d: dict[str, Any], image_data: Sequence[Any]) -> ObservationBody:
    headers = d["images"]
    if len(image_data) not in (0, len(headers)):
        raise ValueError(f"{len(headers)} images in the JSON, {len(image_data)} image frames given")
    images = tuple(
        Image(
            _i(h["camera"]),
            _i(h["width"]),
            _i(h["height"]),
            _i(h["encoding"]),
            image_data[j] if image_data else b"",
        )
        for j, h in enumerate(headers)
    )
    return ObservationBody(
        episode=_i(d["episode"]),
        step=_i(d["step"]),
        sim_time=_f(d["sim_time"]),
        joint_positions=_fs(d["joint_positions"]),
        joint_velocities=_fs(d["joint_velocities"]),
        gripper_aperture=_f(d["gripper_aperture"]),
        gripper_force=_f(d["gripper_force"]),
        tcp_pose=_pose_from(d["tcp_pose"]),
        objects=tuple(_pose_from(p) for p in d["objects"]),
        success=bool(_i(d["success"])),
        flags=_i(d["flags"]),
        images=images,
    )


def from_json(obj: dict[str, Any], image_data: Sequence[Any] = ()) -> tuple[int, Message]:
    """Parse the canonical JSON form back into `(seq, message)`.

    JSON carries no pixels: `image_data` supplies one bytes-like per image (the extra frames), or nothing
    (images then hold no data). Raises `ValueError` on a malformed object.
    """
    try:
        name = _s(obj["type"])
        seq = _i(obj["seq"])
        try:
            mtype = MessageType[name]
        except KeyError:
            raise ValueError(f"unknown message type {name!r}") from None
        o = obj
        message: Message
        if mtype is MessageType.HELLO:
            message = Hello(_s(o["client_name"]), _s(o["client_version"]))
        elif mtype is MessageType.WELCOME:
            message = Welcome(
                twin_name=_s(o["twin_name"]),
                twin_version=_s(o["twin_version"]),
                robot_name=_s(o["robot_name"]),
                mode=_i(o["mode"]),
                control_period=_f(o["control_period"]),
                physics_timestep=_f(o["physics_timestep"]),
                joints=tuple(
                    JointDescription(
                        _s(j["name"]),
                        _f(j["position_min"]),
                        _f(j["position_max"]),
                        _f(j["velocity_max"]),
                        _f(j["acceleration_max"]),
                        _f(j["effort_max"]),
                    )
                    for j in o["joints"]
                ),
                base_pose=_pose_from(o["base_pose"]),
                dh=tuple(DHRow(_f(r["a"]), _f(r["d"]), _f(r["alpha"]), _f(r["theta_offset"])) for r in o["dh"]),
                tool_pose=_pose_from(o["tool_pose"]),
                gripper_name=_s(o["gripper_name"]),
                gripper_aperture_min=_f(o["gripper_aperture_min"]),
                gripper_aperture_max=_f(o["gripper_aperture_max"]),
                gripper_force_max=_f(o["gripper_force_max"]),
                gripper_speed_max=_f(o["gripper_speed_max"]),
                workspace_min=_fs(o["workspace_min"], 3),  # type: ignore[arg-type]
                workspace_max=_fs(o["workspace_max"], 3),  # type: ignore[arg-type]
                cameras=tuple(
                    CameraDescription(_s(c["name"]), _i(c["width"]), _i(c["height"]), _i(c["encoding"]))
                    for c in o["cameras"]
                ),
                objects=tuple(ObjectDescription(_s(x["name"]), _fs(x["size"], 3)) for x in o["objects"]),  # type: ignore[arg-type]
                tasks=tuple(_s(t) for t in o["tasks"]),
                task=_s(o["task"]),
                instruction=_s(o["instruction"]),
                seed=_i(o["seed"]),
                camera_period=_f(o["camera_period"]),
                has_expert=bool(_i(o["has_expert"])),
            )
        elif mtype is MessageType.RESET:
            message = Reset(_s(o["task"]), _i(o["seed"]))
        elif mtype is MessageType.EPISODE:
            message = Episode(_s(o["task"]), _s(o["instruction"]), _i(o["seed"]), _body_from(o, image_data))
        elif mtype is MessageType.STEP:
            message = Step(_fs(o["joint_targets"]), _f(o["gripper_target"]))
        elif mtype is MessageType.OBSERVATION:
            message = Observation(_body_from(o, image_data))
        elif mtype is MessageType.HEARTBEAT:
            message = Heartbeat(_f(o["time"]))
        elif mtype is MessageType.ERROR:
            message = Error(_i(o["code"]), _i(o["offending_seq"]), _s(o["message"]))
        elif mtype is MessageType.EXPERT:
            message = Expert()
        else:
            message = Advice(_fs(o["joint_targets"]), _f(o["gripper_target"]), _s(o["phase"]), bool(_i(o["done"])))
        return seq, message
    except (KeyError, TypeError) as e:
        raise ValueError(f"malformed canonical JSON message: {e!r}") from None
