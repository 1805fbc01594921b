"""Demonstration datasets (docs/DATASET.md, format version 1): a full validating reader, training samples and
normalisation statistics, and a writer (for test fixtures and the Tools-side recorder).

The reader makes the same checks as `Sources/Teach` (§6) and refuses a dataset with a `DatasetError` whose
message names the file and the problem: the format and version; every episode listed exists and every episode
folder is listed; the index's entries agree with each `episode.json`; counts add up; each file's size and
SHA-256; the headers; `steps.bin` length = header + steps × record size; every f64 finite; phase indices and
success flags; each step's `frame` index; frame records in bounds, at steps 0, `frame_every`, …, decompressed
sizes = width × height × 3.

Training samples (§7): one per frame. A frame at step *t* gives the images and the state at *t*; row *i* of
its target chunk is the action commanded at step `t + (i+1)·s − 1` with `s = action_period / control_period`,
the last action repeated past the episode's end.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "edgecell-dataset"
FORMAT_VERSION = 1
STEPS_MAGIC = b"ECSTEPS1"
FRAMES_MAGIC = b"ECFRAME1"
HEADER_SIZE = 16
ENCODING_RAW = 1
ENCODING_ZLIB = 2
SOURCES = ("expert", "keyboard", "program")
INDEX_FILE = "dataset.json"
EPISODE_FILE = "episode.json"
STEPS_FILE = "steps.bin"
FRAMES_FILE = "frames.bin"
_FOLDER = re.compile(r"[0-9]{6}\Z")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")

#: Floors of the normalisation stds (see `normalization_stats`): rad for joints, m for the gripper aperture.
JOINT_STD_FLOOR = 0.02
GRIPPER_STD_FLOOR = 0.005


class DatasetError(ValueError):
    """A dataset that breaks docs/DATASET.md; the message names the file and the problem."""


def record_size(joints: int) -> int:
    """Bytes of one `steps.bin` record: time, 3n + 3 more f64, then phase, success, flags, frame (§4)."""
    return 8 * (3 * joints + 4) + 8


def step_dtype(joints: int) -> np.dtype:
    """The numpy structured dtype of one `steps.bin` record (packed, little-endian)."""
    n = joints
    dt = np.dtype([
        ("time", "<f8"),
        ("joint_positions", "<f8", (n,)),
        ("joint_velocities", "<f8", (n,)),
        ("gripper_aperture", "<f8"),
        ("gripper_force", "<f8"),
        ("action_joints", "<f8", (n,)),
        ("action_gripper", "<f8"),
        ("phase", "u1"),
        ("success", "u1"),
        ("flags", "<u2"),
        ("frame", "<i4"),
    ])
    assert dt.itemsize == record_size(n)
    return dt


def frame_count(steps: int, frame_every: int, cameras: int) -> int:
    """Frames an episode of `steps` steps has: one at steps 0, frame_every, … (none without cameras)."""
    return (steps + frame_every - 1) // frame_every if cameras > 0 else 0


def expected_frames(steps: int, frame_every: int, cameras: int) -> np.ndarray:
    """int32 [steps]: each step's `frame` field (t / frame_every at frame steps, else −1)."""
    t = np.arange(steps)
    if cameras == 0:
        return np.full(steps, -1, np.int32)
    return np.where(t % frame_every == 0, t // frame_every, -1).astype(np.int32)


# --- The index and the episodes' metadata ------------------------------------------------------------------


@dataclass(frozen=True)
class Camera:
    """A camera of the dataset (frames hold its images in this order)."""

    name: str
    width: int
    height: int

    @property
    def image_bytes(self) -> int:
        """width × height × 3."""
        return self.width * self.height * 3


@dataclass(frozen=True)
class RobotInfo:
    """`dataset.json` `robot`: what the cell's handshake said."""

    name: str
    joints: tuple[str, ...]
    gripper: str
    dh: tuple[tuple[float, ...], ...]
    base_pose: tuple[float, ...]
    tool_pose: tuple[float, ...]


@dataclass(frozen=True)
class EpisodeMeta:
    """One `episode.json`."""

    index: int
    task: str
    instruction: str
    seed: int
    source: str
    success: bool
    steps: int
    frames: int
    duration: float
    phases: tuple[str, ...]
    provenance: dict[str, Any]
    files: dict[str, tuple[int, str]]  # name -> (bytes, sha256)
    objects: dict[str, tuple[float, ...]] | None = None  # initial object poses (x y z qw qx qy qz), if recorded


@dataclass(frozen=True)
class Episode:
    """An episode's metadata and contents: step records (structured array) and frames."""

    meta: EpisodeMeta
    steps: np.ndarray  # structured, step_dtype(n), [steps]
    frame_steps: np.ndarray  # int64 [frames]
    images: np.ndarray | None  # uint8 [frames, cameras, height, width, 3] (None when frames were not loaded)

    @property
    def states(self) -> np.ndarray:
        """float64 [steps, n+1]: joint positions then gripper aperture (the policy's state)."""
        return np.concatenate([self.steps["joint_positions"], self.steps["gripper_aperture"][:, None]], axis=1)

    @property
    def actions(self) -> np.ndarray:
        """float64 [steps, n+1]: joint targets then gripper target (the policy's actions)."""
        return np.concatenate([self.steps["action_joints"], self.steps["action_gripper"][:, None]], axis=1)


@dataclass
class Dataset:
    """A validated dataset: its index and every episode's metadata. Episode contents are read (and their
    files hashed and parsed) by `episode` / `episodes`; `open_dataset(verify=True)` does that for every
    episode up front."""

    path: Path
    name: str
    robot: RobotInfo
    cell: dict[str, Any]
    control_period: float
    frame_every: int
    cameras: tuple[Camera, ...]
    episode_meta: list[EpisodeMeta]
    index: dict[str, Any] = field(repr=False)

    @property
    def tasks(self) -> list[str]:
        """Task names, sorted."""
        return sorted({m.task for m in self.episode_meta})

    @property
    def total_steps(self) -> int:
        """Steps of all episodes."""
        return sum(m.steps for m in self.episode_meta)

    @property
    def total_frames(self) -> int:
        """Frames of all episodes."""
        return sum(m.frames for m in self.episode_meta)

    @property
    def frame_period(self) -> float:
        """Seconds between two frames."""
        return self.control_period * self.frame_every

    def digest(self) -> str:
        """SHA-256 (hex) over the episodes' file hashes: of the lines `<index> <steps.bin sha256> <frames.bin
        sha256>\\n`, in episode order. Identifies the data a model was trained on."""
        h = hashlib.sha256()
        for m in self.episode_meta:
            h.update(f"{m.index} {m.files[STEPS_FILE][1]} {m.files[FRAMES_FILE][1]}\n".encode())
        return h.hexdigest()

    def episode(self, index: int, load_frames: bool = True) -> Episode:
        """Reads, hashes and validates one episode's files."""
        if not 0 <= index < len(self.episode_meta):
            raise DatasetError(f"{self.path}: no episode {index}; the dataset has {len(self.episode_meta)}")
        meta = self.episode_meta[index]
        folder = self.path / "episodes" / f"{index:06d}"
        steps = _read_steps(folder / STEPS_FILE, meta, len(self.robot.joints), self.frame_every, len(self.cameras))
        frame_steps, images = _read_frames(folder / FRAMES_FILE, meta, self.cameras, self.frame_every,
                                           decode=load_frames)
        return Episode(meta, steps, frame_steps, images)

    def episodes(self, load_frames: bool = True) -> Iterable[Episode]:
        """Every episode, in order."""
        for i in range(len(self.episode_meta)):
            yield self.episode(i, load_frames)


def _fail(path: Path | str, message: str) -> DatasetError:
    return DatasetError(f"{path}: {message}")


def _get(obj: Any, key: str, kinds: type | tuple[type, ...], path: Path, where: str = "") -> Any:
    name = f"{where}.{key}" if where else key
    if not isinstance(obj, dict):
        raise _fail(path, f"{where or 'top level'} is not an object")
    if key not in obj:
        raise _fail(path, f"{name} is missing")
    value = obj[key]
    kinds_t = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool) and bool not in kinds_t:
        raise _fail(path, f"{name} is {value!r}, of the wrong type")
    if not isinstance(value, kinds_t):
        raise _fail(path, f"{name} is {value!r}, of the wrong type")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(path, f"{name} is {value!r}, not a finite number")
    return value


def _numbers(obj: Any, key: str, path: Path, where: str, count: int | None = None) -> tuple[float, ...]:
    values = _get(obj, key, list, path, where)
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _fail(path, f"{where}.{key}[{i}] is {v!r}, not a finite number")
        out.append(float(v))
    if count is not None and len(out) != count:
        raise _fail(path, f"{where}.{key} holds {len(out)} numbers, expected {count}")
    return tuple(out)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "missing") from None
    except OSError as e:
        raise _fail(path, f"cannot read: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _fail(path, f"not valid JSON: {e}") from None


def _parse_index(path: Path) -> tuple[dict[str, Any], RobotInfo, tuple[Camera, ...]]:
    obj = _read_json(path)
    if not isinstance(obj, dict):
        raise _fail(path, "is not a JSON object")
    fmt, version = obj.get("format"), obj.get("format_version")
    if fmt != FORMAT:
        raise _fail(path, f"format is {fmt!r}, expected {FORMAT!r}")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise _fail(path, f"format_version {version!r} is not supported (this reader knows version {FORMAT_VERSION})")
    _get(obj, "name", str, path)
    r = _get(obj, "robot", dict, path)
    joints = _get(r, "joints", list, path, "robot")
    if not 1 <= len(joints) <= 8 or not all(isinstance(j, str) and j for j in joints):
        raise _fail(path, f"robot.joints is {joints!r}; 1…8 non-empty names are supported")
    dh_rows = _get(r, "dh", list, path, "robot")
    if len(dh_rows) != len(joints) or not all(isinstance(row, list) and len(row) == 4 for row in dh_rows):
        raise _fail(path, f"robot.dh must hold {len(joints)} rows of 4 numbers (a, d, alpha, theta_offset)")
    dh = tuple(_numbers({"row": row}, "row", path, f"robot.dh[{i}]") for i, row in enumerate(dh_rows))
    robot = RobotInfo(name=_get(r, "name", str, path, "robot"), joints=tuple(joints),
                      gripper=_get(r, "gripper", str, path, "robot"), dh=dh,
                      base_pose=_numbers(r, "base_pose", path, "robot", 7),
                      tool_pose=_numbers(r, "tool_pose", path, "robot", 7))
    _get(obj, "cell", dict, path)
    period = _get(obj, "control_period", (int, float), path)
    if not period > 0:
        raise _fail(path, f"control_period {period!r} is not a positive number of seconds")
    every = _get(obj, "frame_every", int, path)
    if every < 1:
        raise _fail(path, f"frame_every {every} must be at least 1")
    cams = []
    for c, cam in enumerate(_get(obj, "cameras", list, path)):
        where = f"cameras[{c}]"
        name = _get(cam, "name", str, path, where)
        w, h = _get(cam, "width", int, path, where), _get(cam, "height", int, path, where)
        if not (1 <= w <= 4096 and 1 <= h <= 4096):
            raise _fail(path, f"{where} {name!r} is {w}×{h}; sides are 1…4096")
        if any(x.name == name for x in cams):
            raise _fail(path, f"camera {name!r} is listed twice")
        cams.append(Camera(name, w, h))
    entries = _get(obj, "episodes", list, path)
    for pos, e in enumerate(entries):
        where = f"episodes[{pos}]"
        idx = _get(e, "index", int, path, where)
        if idx != pos:
            raise _fail(path, f"{where} has index {idx}; episodes are numbered from 0 without gaps")
        _get(e, "task", str, path, where)
        if _get(e, "source", str, path, where) not in SOURCES:
            raise _fail(path, f"{where}.source is {e['source']!r}, expected one of {', '.join(SOURCES)}")
        _get(e, "success", bool, path, where)
        steps, frames = _get(e, "steps", int, path, where), _get(e, "frames", int, path, where)
        if steps < 1 or frames < 0:
            raise _fail(path, f"episode {idx} has {steps} steps and {frames} frames")
    counts = _get(obj, "counts", dict, path)
    want = _counts(entries)
    got = {k: counts.get(k) for k in want}
    if got != want:
        raise _fail(path, f"counts ({_describe_counts(got)}) do not add up from the episodes listed "
                          f"({_describe_counts(want)})")
    return obj, robot, tuple(cams)


def _counts(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    by_task: dict[str, int] = {}
    for e in entries:
        by_task[e["task"]] = by_task.get(e["task"], 0) + 1
    return {"episodes": len(entries), "successes": sum(1 for e in entries if e["success"]),
            "steps": sum(e["steps"] for e in entries), "frames": sum(e["frames"] for e in entries),
            "by_task": by_task}


def _describe_counts(c: dict[str, Any]) -> str:
    by_task = c.get("by_task")
    tasks = ", ".join(f"{k} {v}" for k, v in sorted(by_task.items())) if isinstance(by_task, dict) else repr(by_task)
    return (f"{c.get('episodes')} episodes, {c.get('successes')} successes, {c.get('steps')} steps, "
            f"{c.get('frames')} frames, by task {tasks}")


def _parse_episode(path: Path, folder_index: int, frame_every: int, cameras: int) -> EpisodeMeta:
    obj = _read_json(path)
    if not isinstance(obj, dict):
        raise _fail(path, "is not a JSON object")
    idx = _get(obj, "index", int, path)
    if idx != folder_index:
        raise _fail(path, f"index is {idx}, but the folder is {folder_index:06d}")
    steps = _get(obj, "steps", int, path)
    if steps < 1:
        raise _fail(path, f"steps is {steps}; an episode has at least one")
    frames = _get(obj, "frames", int, path)
    want = frame_count(steps, frame_every, cameras)
    if frames != want:
        raise _fail(path, f"frames is {frames}; {steps} steps with a frame every {frame_every} steps and "
                          f"{cameras} camera(s) make {want}")
    duration = _get(obj, "duration", (int, float), path)
    if duration < 0:
        raise _fail(path, f"duration {duration} is not a finite, non-negative number of seconds")
    phases = _get(obj, "phases", list, path)
    if not 1 <= len(phases) <= 256 or not all(isinstance(p, str) for p in phases):
        raise _fail(path, f"phases has {len(phases)} labels; 1…256 strings are allowed")
    source = _get(obj, "source", str, path)
    if source not in SOURCES:
        raise _fail(path, f"source is {source!r}, expected one of {', '.join(SOURCES)}")
    seed = _get(obj, "seed", int, path)
    if not 0 <= seed < 2**64:
        raise _fail(path, f"seed {seed} is not in 0…2^64−1")
    files_obj = _get(obj, "files", dict, path)
    files: dict[str, tuple[int, str]] = {}
    extra = sorted(set(files_obj) - {STEPS_FILE, FRAMES_FILE})
    if extra:
        raise _fail(path, f"files lists {', '.join(extra)}; it has exactly the entries steps.bin and frames.bin")
    for name in (STEPS_FILE, FRAMES_FILE):
        if name not in files_obj:
            raise _fail(path, f"files has no entry for {name}")
        size = _get(files_obj[name], "bytes", int, path, f"files.{name}")
        digest = _get(files_obj[name], "sha256", str, path, f"files.{name}").lower()
        if not _SHA256.match(digest):
            raise _fail(path, f"files.{name}.sha256 {digest!r} is not 64 hex digits")
        files[name] = (size, digest)
    provenance = obj.get("provenance", {})
    objects = None
    if "objects" in obj:
        objects_obj = _get(obj, "objects", dict, path)
        objects = {}
        for name in objects_obj:
            objects[name] = _numbers(objects_obj, name, path, "objects", 7)
    return EpisodeMeta(index=idx, task=_get(obj, "task", str, path), instruction=_get(obj, "instruction", str, path),
                       seed=seed, source=source, success=_get(obj, "success", bool, path), steps=steps,
                       frames=frames, duration=float(duration), phases=tuple(phases),
                       provenance=provenance if isinstance(provenance, dict) else {}, files=files,
                       objects=objects)


def _load_file(path: Path, meta: EpisodeMeta, name: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "missing (episode.json lists it)") from None
    except OSError as e:
        raise _fail(path, f"cannot read: {e.strerror or e}") from None
    size, digest = meta.files[name]
    if len(data) != size:
        raise _fail(path, f"is {len(data)} bytes, episode.json says {size} (truncated or changed after it was "
                          "written)")
    got = hashlib.sha256(data).hexdigest()
    if got != digest:
        raise _fail(path, f"SHA-256 mismatch: the file hashes to {got}, episode.json says {digest} (it changed "
                          "after it was written)")
    return data


def _read_steps(path: Path, meta: EpisodeMeta, joints: int, frame_every: int, cameras: int) -> np.ndarray:
    data = _load_file(path, meta, STEPS_FILE)
    if len(data) < HEADER_SIZE or data[:8] != STEPS_MAGIC:
        raise _fail(path, "does not start with the ECSTEPS1 header")
    n, size = np.frombuffer(data, "<u4", 2, 8)
    if n != joints:
        raise _fail(path, f"header says {n} joints; the robot has {joints}")
    if size != record_size(joints):
        raise _fail(path, f"header says records of {size} bytes; {joints} joints make {record_size(joints)}")
    expected = HEADER_SIZE + meta.steps * int(size)
    if len(data) != expected:
        raise _fail(path, f"is {len(data)} bytes; a header and {meta.steps} records of {size} bytes make {expected}")
    steps = np.frombuffer(data, step_dtype(joints), meta.steps, HEADER_SIZE)
    for name in ("time", "joint_positions", "joint_velocities", "gripper_aperture", "gripper_force",
                 "action_joints", "action_gripper"):
        values = steps[name].reshape(meta.steps, -1)
        bad = ~np.isfinite(values)
        if bad.any():
            t, j = (int(v) for v in np.argwhere(bad)[0])
            label = name if values.shape[1] == 1 and steps[name].ndim == 1 else f"{name}[{j}]"
            raise _fail(path, f"step {t}: {label} is {values[t, j]}; every number must be finite")
    bad = np.flatnonzero(steps["phase"] >= len(meta.phases))
    if bad.size:
        t = int(bad[0])
        raise _fail(path, f"step {t}: phase {steps['phase'][t]}, but episode.json lists {len(meta.phases)} phases")
    bad = np.flatnonzero(steps["success"] > 1)
    if bad.size:
        raise _fail(path, f"step {int(bad[0])}: success is {steps['success'][bad[0]]}, expected 0 or 1")
    want = expected_frames(meta.steps, frame_every, cameras)
    bad = np.flatnonzero(steps["frame"] != want)
    if bad.size:
        t = int(bad[0])
        raise _fail(path, f"step {t}: frame is {steps['frame'][t]}, expected {want[t]}")
    return steps


def _inflate(data: bytes, expected: int) -> bytes | str:
    """The image, or what is wrong with the data."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, expected + 1)
    except zlib.error:
        return "is not valid zlib data"
    if len(out) > expected:
        return f"decompresses to more than {expected} bytes"
    if not d.eof:
        return f"is cut short (decompresses to {len(out)} bytes of {expected} and the stream does not end)"
    if d.unused_data:
        return f"has {len(d.unused_data)} bytes after the end of the zlib stream"
    if len(out) != expected:
        return f"decompresses to {len(out)} bytes, expected {expected}"
    return out


def _read_frames(path: Path, meta: EpisodeMeta, cameras: Sequence[Camera], frame_every: int,
                 decode: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    data = _load_file(path, meta, FRAMES_FILE)
    if len(data) < HEADER_SIZE or data[:8] != FRAMES_MAGIC:
        raise _fail(path, "does not start with the ECFRAME1 header")
    count, reserved = (int(v) for v in np.frombuffer(data, "<u4", 2, 8))
    if count != len(cameras):
        raise _fail(path, f"header says {count} cameras; dataset.json lists {len(cameras)}")
    if reserved != 0:
        raise _fail(path, f"header's reserved field is {reserved}, not 0")
    images = None
    if decode and cameras:
        shape = {(c.height, c.width) for c in cameras}
        if len(shape) != 1:
            raise _fail(path, "cameras of different sizes are not supported by the trainer "
                              f"({', '.join(f'{c.name} {c.width}×{c.height}' for c in cameras)})")
        (h, w), = shape
        images = np.empty((meta.frames, len(cameras), h, w, 3), np.uint8)
    steps = np.empty(meta.frames, np.int64)
    offset = HEADER_SIZE
    previous = -1
    view = memoryview(data)
    for f in range(meta.frames):
        if offset + 4 > len(data):
            raise _fail(path, f"ends in frame {f} of {meta.frames}")
        step = int.from_bytes(view[offset:offset + 4], "little")
        offset += 4
        if step <= previous:
            raise _fail(path, f"frame {f} is at step {step}, not after step {previous}")
        if step >= meta.steps or step != f * frame_every:
            raise _fail(path, f"frame {f} is at step {step}; expected step {f * frame_every} of {meta.steps}")
        previous = step
        steps[f] = step
        for c, cam in enumerate(cameras):
            if offset + 5 > len(data):
                raise _fail(path, f"ends in frame {f}, camera {cam.name!r}")
            encoding = data[offset]
            length = int.from_bytes(view[offset + 1:offset + 5], "little")
            offset += 5
            if length > len(data) - offset:
                raise _fail(path, f"frame {f}, camera {cam.name!r}: {length} bytes announced, "
                                  f"{len(data) - offset} left")
            chunk = view[offset:offset + length]
            offset += length
            if encoding == ENCODING_RAW:
                if length != cam.image_bytes:
                    raise _fail(path, f"frame {f}, camera {cam.name!r}: {length} bytes of raw RGB8; "
                                      f"{cam.width}×{cam.height} makes {cam.image_bytes}")
                pixels: bytes | str = bytes(chunk) if images is not None else b""
            elif encoding == ENCODING_ZLIB:
                pixels = _inflate(bytes(chunk), cam.image_bytes)
                if isinstance(pixels, str):
                    raise _fail(path, f"frame {f}, camera {cam.name!r}: the image {pixels}")
            else:
                raise _fail(path, f"frame {f}, camera {cam.name!r}: encoding {encoding} (1 = raw, 2 = zlib)")
            if images is not None:
                images[f, c] = np.frombuffer(pixels, np.uint8).reshape(cam.height, cam.width, 3)
    if offset != len(data):
        raise _fail(path, f"{len(data) - offset} bytes follow the last of {meta.frames} frames")
    return steps, images


def open_dataset(path: str | os.PathLike[str], verify: bool = True) -> Dataset:
    """Opens and validates a dataset (§6). With `verify`, every episode's files are also hashed and parsed
    (frames decompressed) here; without it only the JSON files, the folder listing and file sizes are checked,
    and `Dataset.episode` validates each episode as it reads it."""
    path = Path(path)
    index_path = path / INDEX_FILE
    if not index_path.is_file():
        raise _fail(path, f"not a dataset: {index_path} does not exist")
    obj, robot, cameras = _parse_index(index_path)
    entries = obj["episodes"]
    episodes_dir = path / "episodes"
    present: set[int] = set()
    if episodes_dir.is_dir():
        for entry in os.listdir(episodes_dir):
            if not _FOLDER.match(entry) or not (episodes_dir / entry).is_dir():
                raise _fail(episodes_dir, f"unexpected entry {entry!r}: episodes/ holds only episode folders "
                                          "named with six digits")
            present.add(int(entry))
    for index in sorted(present):
        if index >= len(entries):
            raise _fail(path, f"episodes/{index:06d} is not listed in dataset.json (a recording interrupted "
                              "between its two renames? the next `edgecell teach record` adopts it)")
    metas: list[EpisodeMeta] = []
    for e in entries:
        i = e["index"]
        if i not in present:
            raise _fail(path, f"episode {i:06d} is listed in dataset.json, but its folder episodes/{i:06d} is "
                              "missing")
        folder = episodes_dir / f"{i:06d}"
        meta = _parse_episode(folder / EPISODE_FILE, i, obj["frame_every"], len(cameras))
        mine = {"task": meta.task, "source": meta.source, "success": meta.success, "steps": meta.steps,
                "frames": meta.frames}
        listed = {k: e[k] for k in mine}
        if mine != listed:
            raise _fail(index_path, f"episode {i:06d}: dataset.json lists {_describe_entry(listed)}, its "
                                    f"episode.json says {_describe_entry(mine)}")
        for name in (STEPS_FILE, FRAMES_FILE):
            file = folder / name
            if not file.is_file():
                raise _fail(file, "missing (episode.json lists it)")
            size = file.stat().st_size
            if size != meta.files[name][0]:
                raise _fail(file, f"is {size} bytes, episode.json says {meta.files[name][0]} (truncated or changed "
                                  "after it was written)")
        metas.append(meta)
    dataset = Dataset(path=path, name=obj["name"], robot=robot, cell=obj["cell"],
                      control_period=float(obj["control_period"]), frame_every=obj["frame_every"], cameras=cameras,
                      episode_meta=metas, index=obj)
    if verify:
        for i in range(len(metas)):
            dataset.episode(i, load_frames=True)
    return dataset


def _describe_entry(e: dict[str, Any]) -> str:
    return f"task {e['task']}, source {e['source']}, success {e['success']}, {e['steps']} steps, {e['frames']} frames"


# --- Training samples ----------------------------------------------------------------------------------------


def action_stride(action_period: float, control_period: float) -> int:
    """s = action_period / control_period, which must be a whole number (§7)."""
    s = action_period / control_period
    k = round(s)
    if k < 1 or abs(s - k) > 1e-6 * max(1.0, s):
        raise DatasetError(f"action_period {action_period} s is not a whole multiple of the dataset's control_period "
                           f"{control_period} s")
    return k


def chunk_steps(frame_steps: np.ndarray, steps: int, stride: int, horizon: int) -> np.ndarray:
    """int64 [frames, horizon]: the step whose action is row i of the frame at step t: t + (i+1)·s − 1, clamped
    to the last step (the last action repeats past the episode's end)."""
    t = np.asarray(frame_steps, np.int64)[:, None]
    rows = t + (np.arange(horizon, dtype=np.int64)[None, :] + 1) * stride - 1
    return np.minimum(rows, steps - 1)


@dataclass
class Samples:
    """Training samples of one or more datasets, one per frame, held in RAM."""

    images: np.ndarray  # uint8 [N, C, H, W, 3]
    states: np.ndarray  # float32 [N, S], raw
    targets: np.ndarray  # float32 [N, horizon, A], raw
    episode: np.ndarray  # int64 [N]: global episode number (over all datasets)
    instruction: np.ndarray  # int64 [N]: index into `instructions`
    instructions: list[str]
    tasks: list[str]  # per global episode
    frame_step: np.ndarray  # int64 [N]
    step_states: np.ndarray  # float64 [all steps, S]: every step's state (normalisation statistics)
    step_actions: np.ndarray  # float64 [all steps, A]: every step's action
    episode_objects: list[dict[str, tuple[float, ...]] | None] = field(default_factory=list)  # per global episode

    def __len__(self) -> int:
        return int(self.states.shape[0])


def make_samples(datasets: Sequence[Dataset], action_period: float, horizon: int,
                 tasks: Sequence[str] | None = None, log: Any = None) -> Samples:
    """One sample per frame of every episode (of `tasks`, if given) of `datasets` (§7)."""
    say = log if callable(log) else (lambda _m: None)
    selected = []
    for ds in datasets:
        for m in ds.episode_meta:
            if tasks is None or m.task in tasks:
                selected.append((ds, m))
    if not selected:
        raise DatasetError(f"no episodes of tasks {', '.join(tasks or [])} in "
                           f"{', '.join(str(d.path) for d in datasets)}")
    total = sum(m.frames for _, m in selected)
    if total == 0:
        raise DatasetError("the selected episodes hold no frames (a dataset without cameras cannot train a policy)")
    first = datasets[0]
    c, h, w = len(first.cameras), first.cameras[0].height, first.cameras[0].width
    dim = len(first.robot.joints) + 1
    images = np.empty((total, c, h, w, 3), np.uint8)
    states = np.empty((total, dim), np.float32)
    targets = np.empty((total, horizon, dim), np.float32)
    episode = np.empty(total, np.int64)
    instruction = np.empty(total, np.int64)
    frame_step = np.empty(total, np.int64)
    instructions: list[str] = []
    task_of: list[str] = []
    objects_of: list[dict[str, tuple[float, ...]] | None] = []
    step_states, step_actions = [], []
    at = 0
    for g, (ds, m) in enumerate(selected):
        stride = action_stride(action_period, ds.control_period)
        ep = ds.episode(m.index, load_frames=True)
        assert ep.images is not None
        n = m.frames
        images[at:at + n] = ep.images
        states[at:at + n] = ep.states[ep.frame_steps]
        targets[at:at + n] = ep.actions[chunk_steps(ep.frame_steps, m.steps, stride, horizon)]
        episode[at:at + n] = g
        if m.instruction not in instructions:
            instructions.append(m.instruction)
        instruction[at:at + n] = instructions.index(m.instruction)
        frame_step[at:at + n] = ep.frame_steps
        task_of.append(m.task)
        objects_of.append(m.objects)
        step_states.append(ep.states)
        step_actions.append(ep.actions)
        at += n
        if (g + 1) % 50 == 0:
            say(f"loaded {g + 1}/{len(selected)} episodes ({at} frames)")
    return Samples(images=images, states=states, targets=targets, episode=episode, instruction=instruction,
                   instructions=instructions, tasks=task_of, frame_step=frame_step,
                   step_states=np.concatenate(step_states), step_actions=np.concatenate(step_actions),
                   episode_objects=objects_of)


@dataclass(frozen=True)
class Stats:
    """Normalisation statistics (Models/README.md §1 `normalization`)."""

    state_mean: tuple[float, ...]
    state_std: tuple[float, ...]
    action_mean: tuple[float, ...]
    action_std: tuple[float, ...]


def std_floors(dim: int) -> np.ndarray:
    """Per-dimension std floors: `JOINT_STD_FLOOR` for joints, `GRIPPER_STD_FLOOR` for the last (gripper)."""
    floors = np.full(dim, JOINT_STD_FLOOR)
    floors[-1] = GRIPPER_STD_FLOOR
    return floors


def normalization_stats(step_states: np.ndarray, step_actions: np.ndarray) -> Stats:
    """Mean and std of the state and the action over every step (`Samples.step_states`, `.step_actions`), stds
    floored by `std_floors` (a joint that barely moves, or a gripper that is nearly always open, would otherwise
    blow up its normalised inputs and dominate the L1 loss)."""
    s, a = np.asarray(step_states, np.float64), np.asarray(step_actions, np.float64)
    if not len(s):
        raise DatasetError("no steps to compute normalisation statistics from")
    floors = std_floors(s.shape[1])
    return Stats(state_mean=tuple(float(v) for v in s.mean(0)),
                 state_std=tuple(float(v) for v in np.maximum(s.std(0), floors)),
                 action_mean=tuple(float(v) for v in a.mean(0)),
                 action_std=tuple(float(v) for v in np.maximum(a.std(0), floors)))


# --- Writing (test fixtures, the Tools-side recorder) ---------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> tuple[int, str]:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return len(data), hashlib.sha256(data).hexdigest()


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def encode_steps(steps: np.ndarray, joints: int) -> bytes:
    """`steps.bin` bytes of a structured array of `step_dtype(joints)` records."""
    header = STEPS_MAGIC + np.asarray([joints, record_size(joints)], "<u4").tobytes()
    return header + np.ascontiguousarray(steps, step_dtype(joints)).tobytes()


def encode_frames(frame_steps: Sequence[int], images: np.ndarray, encoding: int = ENCODING_ZLIB,
                  level: int = 1) -> bytes:
    """`frames.bin` bytes: images uint8 [frames, cameras, H, W, 3]."""
    images = np.asarray(images, np.uint8)
    cams = images.shape[1] if images.ndim == 5 else 0
    parts = [FRAMES_MAGIC, np.asarray([cams, 0], "<u4").tobytes()]
    for f, step in enumerate(frame_steps):
        parts.append(int(step).to_bytes(4, "little"))
        for c in range(cams):
            raw = np.ascontiguousarray(images[f, c]).tobytes()
            data = zlib.compress(raw, level) if encoding == ENCODING_ZLIB else raw
            parts.append(bytes([encoding]) + len(data).to_bytes(4, "little") + data)
    return b"".join(parts)


class DatasetWriter:
    """Writes a dataset as docs/DATASET.md §1 says: each episode into `.tmp-<pid>-<index>/`, files fsynced,
    renamed to `episodes/<index>`, then `dataset.json` replaced atomically. Appends to an existing dataset
    (refusing a different robot, cameras or timing)."""

    def __init__(self, path: str | os.PathLike[str], *, name: str, robot: dict[str, Any], cell: dict[str, Any],
                 control_period: float, frame_every: int, cameras: Sequence[tuple[str, int, int]]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "episodes").mkdir(exist_ok=True)
        for entry in os.listdir(self.path):
            if entry.startswith(".tmp-"):
                import shutil

                shutil.rmtree(self.path / entry, ignore_errors=True)
        now = _utc_now()
        header = {"robot": robot, "control_period": control_period, "frame_every": frame_every,
                  "cameras": [{"name": n, "width": w, "height": h} for n, w, h in cameras]}
        index_path = self.path / INDEX_FILE
        if index_path.is_file():
            index = json.loads(index_path.read_text())
            for key, value in header.items():
                if index.get(key) != json.loads(json.dumps(value)):
                    raise DatasetError(f"{index_path}: {key} differs from the recording's ({index.get(key)!r} vs "
                                       f"{value!r}); refusing to append")
            self.index = index
        else:
            self.index = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "robot": robot,
                          "cell": cell, "control_period": control_period, "frame_every": frame_every,
                          "cameras": header["cameras"], "episodes": [], "counts": _counts([]), "created": now,
                          "updated": now}
        self.joints = len(robot["joints"])
        self.cameras = list(cameras)
        self.frame_every = frame_every
        self.control_period = control_period

    def add_episode(self, *, task: str, instruction: str, seed: int, source: str, success: bool,
                    steps: np.ndarray, images: np.ndarray | None, phases: Sequence[str],
                    provenance: dict[str, Any] | None = None, encoding: int = ENCODING_ZLIB,
                    objects: dict[str, Sequence[float]] | None = None) -> int:
        """Writes one episode (steps: structured `step_dtype`; images uint8 [frames, C, H, W, 3] at steps 0,
        frame_every, …; objects: the tracked objects' poses at the first step, name → x y z qw qx qy qz);
        returns its index."""
        index = len(self.index["episodes"])
        n = len(steps)
        frames = frame_count(n, self.frame_every, len(self.cameras))
        frame_steps = np.arange(frames) * self.frame_every
        if images is None:
            images = np.zeros((frames, len(self.cameras), 0, 0, 3), np.uint8)
        if len(images) != frames:
            raise ValueError(f"{n} steps need {frames} frames, got {len(images)}")
        tmp = self.path / f".tmp-{os.getpid()}-{index}"
        tmp.mkdir()
        files = {}
        size, digest = _write_file(tmp / STEPS_FILE, encode_steps(steps, self.joints))
        files[STEPS_FILE] = {"bytes": size, "sha256": digest}
        size, digest = _write_file(tmp / FRAMES_FILE, encode_frames(frame_steps, images, encoding))
        files[FRAMES_FILE] = {"bytes": size, "sha256": digest}
        meta = {"index": index, "task": task, "instruction": instruction, "seed": int(seed), "source": source,
                "success": bool(success), "steps": n, "frames": frames,
                "duration": float(n * self.control_period), "phases": list(phases),
                "provenance": provenance or {"cell": "twin", "cell_name": "edgecell-twin", "cell_version": "0.1.0",
                                             "recorder": "edgecell_policy", "recorded_at": _utc_now(),
                                             "operator": None},
                "files": files}
        if objects is not None:
            meta["objects"] = {name: [float(v) for v in pose] for name, pose in objects.items()}
        _write_file(tmp / EPISODE_FILE, _json_bytes(meta))
        _fsync_dir(tmp)
        os.rename(tmp, self.path / "episodes" / f"{index:06d}")
        _fsync_dir(self.path / "episodes")
        self.index["episodes"].append({"index": index, "task": task, "source": source, "success": bool(success),
                                       "steps": n, "frames": frames})
        self.index["counts"] = _counts(self.index["episodes"])
        self.index["updated"] = _utc_now()
        tmp_index = self.path / (INDEX_FILE + ".tmp")
        _write_file(tmp_index, _json_bytes(self.index))
        os.replace(tmp_index, self.path / INDEX_FILE)
        _fsync_dir(self.path)
        return index


def make_steps(joint_positions: np.ndarray, actions: np.ndarray, *, control_period: float, frame_every: int,
               cameras: int, joint_velocities: np.ndarray | None = None, gripper_force: np.ndarray | None = None,
               phase: np.ndarray | None = None, success: np.ndarray | None = None,
               flags: np.ndarray | None = None) -> np.ndarray:
    """A structured `steps.bin` array from states [T, n+1] (joints then aperture) and actions [T, n+1]."""
    states = np.asarray(joint_positions, np.float64)
    actions = np.asarray(actions, np.float64)
    t, dim = states.shape
    n = dim - 1
    out = np.zeros(t, step_dtype(n))
    out["time"] = np.arange(t) * control_period
    out["joint_positions"] = states[:, :n]
    out["gripper_aperture"] = states[:, n]
    out["joint_velocities"] = 0 if joint_velocities is None else joint_velocities
    out["gripper_force"] = 0 if gripper_force is None else gripper_force
    out["action_joints"] = actions[:, :n]
    out["action_gripper"] = actions[:, n]
    out["phase"] = 0 if phase is None else phase
    out["success"] = 0 if success is None else success
    out["flags"] = 0 if flags is None else flags
    out["frame"] = expected_frames(t, frame_every, cameras)
    return out


def _utc_now() -> str:
    import datetime as _dt

    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
