#!/usr/bin/env python3
"""Write the twin protocol's test vectors, `Sim/tests/vectors/vectors.json` (PROTOCOL.md §7).

Usage (from the repository root, with the Sim venv):
    python Sim/tools/make_vectors.py            # (re)write the file
    python Sim/tools/make_vectors.py --check    # exit 1 if the committed file differs from a fresh generation

The output is deterministic: same code, same bytes (UTF-8, ASCII only, 2-space indent, "\\n" at the end).

File format (format_version 1)
------------------------------
A JSON object:
    "format": "edgecell-twin-test-vectors", "format_version": 1, "protocol_version": 1,
    "generator": this file, "notes": [free text],
    "vectors": [entry, ...]                 (order is stable; names are unique)
Each entry:
    "name":        unique identifier, snake_case
    "description": what the entry exercises, for a person
    "valid":       true or false
    "context":     null, or the name of a valid WELCOME entry: the handshake to check against (§6)
    "frames":      the ZeroMQ frames of the message (no routing identity), each as lower-case hex; may be []
  valid == true:
    "message":     the canonical JSON form (§7.1). Decoding "frames" gives it; encoding it (with the image
                   pixels taken from frames[1:], since JSON carries none) gives exactly "frames". With a
                   context, the message also passes the checks of §6 against it.
  valid == false:
    "error":          the §4.8 code name ("TRUNCATED", ...) that decoding, then (with a context) the §6
                      checks, must fail with
    "offending_seq":  the seq the error reports: 0 when the failure is in header checks 1–3, else the header seq

Numbers: integers are exact (seeds and seqs may exceed 2^53: parse them as u64, not as doubles). f64 values
are printed in shortest round-trip form; almost all are dyadic (exactly representable, e.g. 0.5, -1.25), but
the UR5e DH twists are ±π/2 and `heartbeat_pi`/`heartbeat_one_tenth` deliberately need a correctly rounded
parser; `heartbeat_negative_zero` checks that the sign of -0.0 survives.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgecell_twin import protocol as p
from edgecell_twin.protocol import (
    Advice,
    CameraDescription,
    DHRow,
    Episode,
    Error,
    Expert,
    Heartbeat,
    Hello,
    Image,
    JointDescription,
    ObjectDescription,
    Observation,
    ObservationBody,
    Pose,
    Reset,
    Step,
    Welcome,
)

OUTPUT = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "vectors.json"
FORMAT = "edgecell-twin-test-vectors"
FORMAT_VERSION = 1

HALF_PI = math.pi / 2
U64_MAX = (1 << 64) - 1
SENTINEL = 98765.4375  # a dyadic value patched into NaN/Inf after encoding (encode() refuses non-finite f64s)
SENTINEL_BYTES = struct.pack("<d", SENTINEL)

# ------------------------------------------------------------------ messages -------------------------------

WELCOME_UR5E = Welcome(
    twin_name="edgecell-twin",
    twin_version="0.1.0",
    robot_name="UR5e",
    mode=p.Mode.LOCKSTEP,
    control_period=0.0078125,  # 1/128 s: dyadic, close to the twin's 100 Hz
    physics_timestep=0.001953125,  # 1/512 s
    joints=tuple(
        JointDescription(name, lo, hi, 3.125, 8.0, effort)
        for name, lo, hi, effort in (
            ("shoulder_pan_joint", -6.25, 6.25, 150.0),
            ("shoulder_lift_joint", -6.25, 6.25, 150.0),
            ("elbow_joint", -3.125, 3.125, 150.0),
            ("wrist_1_joint", -6.25, 6.25, 28.0),
            ("wrist_2_joint", -6.25, 6.25, 28.0),
            ("wrist_3_joint", -6.25, 6.25, 28.0),
        )
    ),
    base_pose=Pose((0.0, 0.0, 0.75), (1.0, 0.0, 0.0, 0.0)),
    # The UR5e DH table with lengths rounded to multiples of 1/256 m (exact in binary); the twists are ±π/2.
    dh=(
        DHRow(0.0, 0.16015625, HALF_PI, 0.0),
        DHRow(-0.42578125, 0.0, 0.0, 0.0),
        DHRow(-0.390625, 0.0, 0.0, 0.0),
        DHRow(0.0, 0.1328125, HALF_PI, 0.0),
        DHRow(0.0, 0.09765625, -HALF_PI, 0.0),
        DHRow(0.0, 0.09765625, 0.0, 0.0),
    ),
    tool_pose=Pose((0.0, 0.0, 0.15625), (1.0, 0.0, 0.0, 0.0)),
    gripper_name="robotiq-2f85",
    gripper_aperture_min=0.0,
    gripper_aperture_max=0.0859375,
    gripper_force_max=100.0,
    gripper_speed_max=0.125,
    workspace_min=(-0.25, -0.75, 0.75),
    workspace_max=(1.0, 0.75, 1.5),
    cameras=(CameraDescription("scene", 4, 3), CameraDescription("wrist", 3, 2)),
    objects=(
        ObjectDescription("red_cube", (0.03125, 0.03125, 0.03125)),
        ObjectDescription("green_cube", (0.03125, 0.03125, 0.03125)),
        ObjectDescription("blue_cube", (0.03125, 0.03125, 0.03125)),
        ObjectDescription("bin", (0.25, 0.1875, 0.0625)),
    ),
    tasks=("bin-red", "bin-green", "bin-blue", "stack-red-on-blue"),
    task="bin-red",
    instruction="put the red cube in the bin",
    seed=7,
    camera_period=0.078125,  # images every 10th step
    has_expert=True,
)
WELCOME_MINIMAL = Welcome(
    twin_name="",
    twin_version="",
    robot_name="",
    mode=p.Mode.REALTIME,
    control_period=0.5,
    physics_timestep=0.25,
    joints=(),
    base_pose=Pose(),
    dh=(),
    tool_pose=Pose(),
    gripper_name="",
    gripper_aperture_min=0.0,
    gripper_aperture_max=0.0,
    gripper_force_max=0.0,
    gripper_speed_max=0.0,
    workspace_min=(-1.0, -1.0, -1.0),
    workspace_max=(1.0, 1.0, 1.0),
    cameras=(),
    objects=(),
    tasks=(),
    task="",
    instruction="",
    seed=0,
    camera_period=0.5,  # the control period: images with every observation
    has_expert=False,
)

UTF8_INSTRUCTION = "lege den roten Würfel in die Kiste — 赤い立方体を箱へ 🤖"

Q_HOME = (0.0, -1.5, 1.5, -1.5, -1.5, 0.0)


def pixels(width: int, height: int, salt: int) -> bytes:
    """A deterministic test pattern, `width × height × 3` bytes."""
    return bytes((i * 37 + salt * 101) % 256 for i in range(width * height * 3))


def scene_image(w: int = 4, h: int = 3) -> Image:
    return Image(0, w, h, p.Encoding.RGB8, pixels(w, h, 0))


def wrist_image(w: int = 3, h: int = 2) -> Image:
    return Image(1, w, h, p.Encoding.RGB8, pixels(w, h, 1))


def body(
    *,
    episode: int = 1,
    step: int = 1,
    sim_time: float = 0.0078125,
    joints: int = 6,
    objects: int = 4,
    success: bool = False,
    flags: int = 0,
    images: tuple[Image, ...] = (),
    sim_time_override: float | None = None,
) -> ObservationBody:
    q = (Q_HOME + (0.25, 0.5, 0.75))[:joints]
    poses = (
        Pose((0.5, -0.125, 0.765625), (1.0, 0.0, 0.0, 0.0)),
        Pose((0.5, 0.0, 0.765625), (0.5, 0.5, 0.5, 0.5)),
        Pose((0.5, 0.125, 0.765625), (0.0, 0.0, 0.0, 1.0)),
        Pose((0.25, 0.375, 0.75), (1.0, 0.0, 0.0, 0.0)),
        Pose((0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0)),
    )
    return ObservationBody(
        episode=episode,
        step=step,
        sim_time=sim_time if sim_time_override is None else sim_time_override,
        joint_positions=q,
        joint_velocities=tuple(0.125 * (i + 1) * (-1) ** i for i in range(joints)),
        gripper_aperture=0.0625,
        gripper_force=0.0 if not flags & p.FLAG_COLLISION else 12.5,
        tcp_pose=Pose((0.5, 0.0, 1.0), (0.0, 1.0, 0.0, 0.0)),
        objects=poses[:objects],
        success=success,
        flags=flags,
        images=images,
    )


def step_msg(targets: tuple[float, ...] = (0.0, -1.25, 1.5, -1.75, -1.5, 0.5), gripper: float = 0.03125) -> Step:
    return Step(targets, gripper)


def advice_msg(
    targets: tuple[float, ...] = (0.0, -1.25, 1.5, -1.75, -1.5, 0.5),
    gripper: float = 0.0859375,
    phase: str = "reach",
    done: bool = False,
) -> Advice:
    return Advice(targets, gripper, phase, done)


# ------------------------------------------------------------------ byte surgery ---------------------------


def header(
    mtype: int,
    seq: int,
    payload_length: int,
    extra_frames: int = 0,
    *,
    magic: bytes = p.MAGIC,
    version: int = p.VERSION,
    reserved: int = 0,
) -> bytes:
    """A raw 24-byte header, any field value allowed."""
    return struct.pack("<4sHHQIHH", magic, version, mtype, seq, payload_length, extra_frames, reserved)


def payload_of(message: p.Message) -> bytes:
    return p.encode(message, 1)[0][p.HEADER_SIZE :]


def with_payload(frame0: bytes, payload: bytes) -> bytes:
    """Replace the payload of `frame0` and fix `payload_length` to match, keeping every other header field."""
    return frame0[:16] + struct.pack("<I", len(payload)) + frame0[20:24] + payload


def patch_once(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the single occurrence of `old` (asserted unique) by `new` of the same length."""
    assert len(old) == len(new) and data.count(old) == 1, (old, data.count(old))
    return data.replace(old, new)


def set_byte(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1 :]


def f64_bits(bits: int) -> bytes:
    return struct.pack("<Q", bits)


NAN = f64_bits(0x7FF8000000000000)
SNAN = f64_bits(0x7FF0000000000001)
NEG_NAN = f64_bits(0xFFF8000000000000)
INF = f64_bits(0x7FF0000000000000)
NEG_INF = f64_bits(0xFFF0000000000000)


def raw_str(data: bytes, declared: int | None = None) -> bytes:
    return struct.pack("<H", len(data) if declared is None else declared) + data


# ------------------------------------------------------------------ the vectors ----------------------------


class Builder:
    """Collects entries and checks each one against the Python codec as it goes."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.welcomes: dict[str, Welcome] = {}

    def _add(self, entry: dict[str, Any]) -> None:
        assert all(e["name"] != entry["name"] for e in self.entries), entry["name"]
        self.entries.append(entry)

    def valid(self, name: str, description: str, message: p.Message, seq: int, context: str | None = None) -> None:
        frames = p.encode(message, seq)
        header_, decoded = p.decode(frames)
        assert decoded == message, name
        if context is not None:
            p.validate_against(self.welcomes[context], decoded, frames)
        if isinstance(message, Welcome):
            self.welcomes[name] = message
        self._add(
            {
                "name": name,
                "description": description,
                "valid": True,
                "context": context,
                "frames": [bytes(f).hex() for f in frames],
                "message": p.to_json(message, seq),
            }
        )

    def invalid(
        self,
        name: str,
        description: str,
        frames: list[bytes],
        error: p.ErrorCode,
        offending_seq: int,
        context: str | None = None,
    ) -> None:
        try:
            _, decoded = p.decode(frames)
            if context is not None:
                p.validate_against(self.welcomes[context], decoded, frames)
        except p.ProtocolError as e:
            assert (e.code, e.offending_seq) == (error, offending_seq), (name, e)
        else:
            raise AssertionError(f"{name}: expected {error.name}, but the message is accepted")
        self._add(
            {
                "name": name,
                "description": description,
                "valid": False,
                "context": context,
                "frames": [bytes(f).hex() for f in frames],
                "error": error.name,
                "offending_seq": offending_seq,
            }
        )


def build() -> list[dict[str, Any]]:
    """All vectors, valid ones first, in a fixed order."""
    b = Builder()
    E = p.ErrorCode
    T = p.MessageType
    ur5e = "welcome_ur5e"

    # ---- valid ----
    b.valid("hello_basic", "HELLO with typical names", Hello("edgecell-runtime", "0.1.0"), 1)
    b.valid("hello_empty_strings", "HELLO with two empty strings", Hello("", ""), 1)
    b.valid("hello_nul_in_string", "a NUL byte is valid UTF-8 inside a str", Hello("a\u0000b", "0.1.0"), 1)
    b.valid("hello_max_string", "a 4096-byte str, the longest allowed", Hello("a" * 4096, "é" * 2048), 1)
    b.valid("welcome_ur5e", "the UR5e handshake: 6 joints, 2 cameras (4×3, 3×2), 4 objects, 4 tasks", WELCOME_UR5E, 1)
    b.valid("welcome_minimal", "real-time WELCOME with no joints, cameras, objects or tasks", WELCOME_MINIMAL, 1)
    b.valid("reset_basic", "RESET to a named task", Reset("bin-red", 42), 2, ur5e)
    b.valid("reset_keep_task", "RESET with an empty task keeps the current one", Reset("", 0), 2, ur5e)
    b.valid("reset_max_seed", "seed and seq at the u64 maximum", Reset("bin-blue", U64_MAX), U64_MAX, ur5e)
    b.valid(
        "episode_ur5e_images",
        "EPISODE with the initial observation and one image per camera",
        Episode("bin-red", "put the red cube in the bin", 42, body(step=0, sim_time=0.0, images=(scene_image(), wrist_image()))),
        2,
        ur5e,
    )
    b.valid(
        "episode_ur5e_no_images",
        "EPISODE without images and with a non-ASCII UTF-8 instruction",
        Episode("bin-green", UTF8_INSTRUCTION, 3, body(step=0, sim_time=0.0)),
        2,
        ur5e,
    )
    b.valid("step_ur5e", "STEP with 6 joint targets inside the limits", step_msg(), 3, ur5e)
    b.valid(
        "step_ur5e_at_limits",
        "targets exactly at the limits are accepted (closed intervals)",
        step_msg((-6.25, 6.25, -3.125, 3.125, 6.25, -6.25), 0.0859375),
        4,
        ur5e,
    )
    b.valid("step_two_joints", "without a handshake, any joint count decodes", Step((0.5, -1.25), 0.04), 3)
    b.valid("observation_ur5e_no_images", "OBSERVATION of step 1, no images", Observation(body()), 3, ur5e)
    b.valid(
        "observation_ur5e_images",
        "OBSERVATION with both images, success, hold and collision flags",
        Observation(body(step=17, sim_time=0.1328125, success=True, flags=3, images=(scene_image(), wrist_image()))),
        19,
        ur5e,
    )
    b.valid(
        "observation_ur5e_wrist_only",
        "OBSERVATION with only the wrist camera's image (camera 1)",
        Observation(body(step=2, sim_time=0.015625, images=(wrist_image(),))),
        4,
        ur5e,
    )
    b.valid("heartbeat_basic", "HEARTBEAT", Heartbeat(12.5), 5)
    b.valid("heartbeat_max_seq", "seq at the u64 maximum", Heartbeat(0.0), U64_MAX)
    b.valid("heartbeat_pi", "an f64 that needs all 17 significant digits", Heartbeat(math.pi), 6)
    b.valid("heartbeat_one_tenth", "0.1 is not dyadic: needs a correctly rounded parser", Heartbeat(0.1), 7)
    b.valid("heartbeat_negative_zero", "-0.0 keeps its sign bit", Heartbeat(-0.0), 8)
    b.valid(
        "error_bad_value",
        "ERROR as the twin sends it",
        Error(p.ErrorCode.BAD_VALUE, 9, "STEP: joint_targets[2] (elbow_joint) is 4.0, outside [-3.125, 3.125]"),
        9,
    )
    b.valid("error_internal_empty", "ERROR INTERNAL with an empty message and offending_seq 0", Error(10, 0, ""), 0)
    b.valid("expert_basic", "EXPERT: an empty payload", Expert(), 5)
    b.valid("expert_ur5e", "EXPERT passes the checks against a handshake", Expert(), 6, ur5e)
    b.valid("advice_ur5e", "ADVICE with 6 joint targets, phase reach", advice_msg(), 5, ur5e)
    b.valid(
        "advice_ur5e_done",
        "ADVICE once the expert is done: gripper open, phase done, done 1",
        advice_msg((0.25, -1.5, 1.75, -1.75, -1.5, 0.5), 0.0859375, "done", True),
        7,
        ur5e,
    )
    b.valid(
        "advice_ur5e_outside_limits",
        "ADVICE targets are not checked against the limits (only STEP's are, §6)",
        advice_msg((9.0, -1.25, 1.5, -1.75, -1.5, 0.5), -0.015625, "grasp"),
        8,
        ur5e,
    )
    b.valid("advice_two_joints", "without a handshake, any joint count decodes", advice_msg((0.5, -1.25), 0.0, "lift"), 5)
    b.valid("advice_no_joints", "ADVICE with no joint targets and an empty phase", Advice((), 0.0, "", False), 5)
    b.valid("advice_utf8_phase", "a non-ASCII phase name", advice_msg(phase="platzieren — 置く"), 5, ur5e)

    # ---- invalid: header (§3 checks 1–7) ----
    hb = p.encode(Heartbeat(0.5), 9)[0]
    b.invalid("no_frames", "no frame at all", [], E.TRUNCATED, 0)
    b.invalid("frame0_empty", "frame 0 is empty", [b""], E.TRUNCATED, 0)
    b.invalid("header_short", "frame 0 is 23 bytes, one short of a header", [hb[:23]], E.TRUNCATED, 0)
    b.invalid("bad_magic", "magic ECTX", [b"ECTX" + hb[4:]], E.BAD_MAGIC, 0)
    b.invalid("bad_magic_lower_case", "magic ectw", [b"ectw" + hb[4:]], E.BAD_MAGIC, 0)
    b.invalid("version_2", "protocol version 2", [header(T.HEARTBEAT, 9, 8, version=2) + hb[24:]], E.UNSUPPORTED_VERSION, 0)
    b.invalid("version_0", "protocol version 0", [header(T.HEARTBEAT, 9, 8, version=0) + hb[24:]], E.UNSUPPORTED_VERSION, 0)
    b.invalid("unknown_type_99", "type 99", [header(99, 9, 8) + hb[24:]], E.UNKNOWN_TYPE, 9)
    b.invalid("unknown_type_0", "type 0", [header(0, 9, 8) + hb[24:]], E.UNKNOWN_TYPE, 9)
    b.invalid("unknown_type_11", "type 11, one past ADVICE", [header(11, 9, 8) + hb[24:]], E.UNKNOWN_TYPE, 9)
    b.invalid(
        "payload_length_over_limit",
        "payload_length 1048577 (frame 0 holds just the header)",
        [header(T.HEARTBEAT, 9, p.MAX_PAYLOAD + 1)],
        E.TOO_LONG,
        9,
    )
    b.invalid("frame0_shorter_than_announced", "payload_length 8, 7 payload bytes", [hb[:-1]], E.TRUNCATED, 9)
    b.invalid("frame0_longer_than_announced", "payload_length 8, 9 payload bytes", [hb + b"\x00"], E.TOO_LONG, 9)
    b.invalid(
        "extra_frames_missing", "header announces 1 extra frame, none sent",
        [header(T.HEARTBEAT, 9, 8, 1) + hb[24:]], E.INCONSISTENT, 9,
    )  # fmt: skip
    b.invalid("extra_frames_unannounced", "an extra frame the header does not announce", [hb, b"\x00"], E.INCONSISTENT, 9)
    b.invalid(
        "extra_frames_17", "17 extra frames, announced, over the limit of 16",
        [header(T.HEARTBEAT, 9, 8, 17) + hb[24:]] + [b""] * 17, E.INCONSISTENT, 9,
    )  # fmt: skip
    b.invalid("reserved_nonzero", "reserved = 1", [header(T.HEARTBEAT, 9, 8, reserved=1) + hb[24:]], E.INCONSISTENT, 9)
    b.invalid(
        "order_magic_before_version", "bad magic and version 2: magic is checked first",
        [header(T.HEARTBEAT, 9, 8, magic=b"XXXX", version=2) + hb[24:]], E.BAD_MAGIC, 0,
    )  # fmt: skip
    b.invalid(
        "order_version_before_type", "version 2 and type 99: version first",
        [header(99, 9, 8, version=2) + hb[24:]], E.UNSUPPORTED_VERSION, 0,
    )  # fmt: skip
    b.invalid(
        "order_type_before_length", "type 99 and payload_length over the limit: type first",
        [header(99, 9, p.MAX_PAYLOAD + 1)], E.UNKNOWN_TYPE, 9,
    )  # fmt: skip
    b.invalid(
        "order_length_before_frame_size", "payload_length over the limit, frame 0 short: TOO_LONG first",
        [header(T.HEARTBEAT, 9, p.MAX_PAYLOAD + 1, reserved=3) + b"\x00" * 8], E.TOO_LONG, 9,
    )  # fmt: skip
    b.invalid(
        "order_frame_size_before_frames", "frame 0 short and reserved ≠ 0: TRUNCATED before INCONSISTENT",
        [header(T.HEARTBEAT, 9, 8, 2, reserved=1) + b"\x00" * 4], E.TRUNCATED, 9,
    )  # fmt: skip

    # ---- invalid: payload (§3 check 8, §4) ----
    hello = p.encode(Hello("edgecell-runtime", "0.1.0"), 1)[0]
    hello_payload = hello[24:]
    first_str = 2 + len("edgecell-runtime")
    b.invalid(
        "hello_truncated_at_field_boundary", "payload ends after client_name, before client_version",
        [with_payload(hello, hello_payload[:first_str])], E.TRUNCATED, 1,
    )  # fmt: skip
    b.invalid(
        "hello_truncated_in_length", "payload ends inside client_version's u16 length",
        [with_payload(hello, hello_payload[: first_str + 1])], E.TRUNCATED, 1,
    )  # fmt: skip
    b.invalid(
        "hello_truncated_mid_string", "payload ends inside client_name's bytes",
        [with_payload(hello, hello_payload[:7])], E.TRUNCATED, 1,
    )  # fmt: skip
    b.invalid("hello_empty_payload", "HELLO with no payload", [with_payload(hello, b"")], E.TRUNCATED, 1)
    b.invalid(
        "hello_trailing_byte", "one byte after the last field",
        [with_payload(hello, hello_payload + b"\x00")], E.TOO_LONG, 1,
    )  # fmt: skip
    step = p.encode(step_msg(), 3)[0]
    b.invalid(
        "step_truncated_mid_f64", "payload ends 3 bytes into joint_targets[2]",
        [with_payload(step, step[24 : 24 + 2 + 16 + 3])], E.TRUNCATED, 3,
    )  # fmt: skip
    b.invalid(
        "step_truncated_before_gripper", "payload ends after the joint targets",
        [with_payload(step, step[24:-8])], E.TRUNCATED, 3,
    )  # fmt: skip
    b.invalid(
        "step_count_exceeds_payload", "joint count 1000 with 6 targets and a gripper target",
        [with_payload(step, struct.pack("<H", 1000) + step[26:])], E.TRUNCATED, 3,
    )  # fmt: skip
    b.invalid(
        "heartbeat_empty_payload", "HEARTBEAT without its f64",
        [header(T.HEARTBEAT, 5, 0)], E.TRUNCATED, 5,
    )  # fmt: skip
    welcome = p.encode(WELCOME_UR5E, 1)[0]
    b.invalid(
        "welcome_truncated_mid_joints", "WELCOME cut 100 bytes into its payload (inside the joints)",
        [with_payload(welcome, welcome[24:124])], E.TRUNCATED, 1,
    )  # fmt: skip
    b.invalid(
        "welcome_without_camera_period", "a WELCOME that ends after seed (camera_period and has_expert missing)",
        [with_payload(welcome, welcome[24:-9])], E.TRUNCATED, 1,
    )  # fmt: skip
    b.invalid(
        "welcome_without_has_expert", "a WELCOME that ends after camera_period",
        [with_payload(welcome, welcome[24:-1])], E.TRUNCATED, 1,
    )  # fmt: skip
    advice = p.encode(advice_msg(), 5)[0]
    b.invalid(
        "advice_truncated_mid_phase", "payload ends inside phase's bytes",
        [with_payload(advice, advice[24:-3])], E.TRUNCATED, 5,
    )  # fmt: skip
    b.invalid(
        "advice_truncated_before_done", "payload ends after phase, before done",
        [with_payload(advice, advice[24:-1])], E.TRUNCATED, 5,
    )  # fmt: skip
    b.invalid(
        "advice_truncated_before_gripper", "payload ends after the joint targets",
        [with_payload(advice, advice[24 : 24 + 2 + 6 * 8])], E.TRUNCATED, 5,
    )  # fmt: skip
    b.invalid("advice_empty_payload", "ADVICE with no payload", [header(T.ADVICE, 5, 0)], E.TRUNCATED, 5)
    b.invalid(
        "advice_trailing_byte", "one byte after done",
        [with_payload(advice, advice[24:] + b"\x00")], E.TOO_LONG, 5,
    )  # fmt: skip
    b.invalid("expert_payload_byte", "EXPERT with a 1-byte payload", [header(T.EXPERT, 6, 1) + b"\x00"], E.TOO_LONG, 6)
    b.invalid(
        "expert_with_extra_frame", "EXPERT announcing and carrying one extra frame",
        [header(T.EXPERT, 6, 0, 1), b"\x00"], E.INCONSISTENT, 6,
    )  # fmt: skip
    obs_frames = p.encode(Observation(body(images=(scene_image(), wrist_image()))), 3)
    b.invalid(
        "observation_truncated_in_image_headers", "payload ends inside the second image header",
        [with_payload(obs_frames[0], obs_frames[0][24:-2])] + obs_frames[1:], E.TRUNCATED, 3,
    )  # fmt: skip

    for label, bits in (("nan", NAN), ("signaling_nan", SNAN), ("negative_nan", NEG_NAN), ("inf", INF), ("negative_inf", NEG_INF)):
        b.invalid(
            f"heartbeat_{label}", f"HEARTBEAT time is {label.replace('_', ' ')}",
            [header(T.HEARTBEAT, 5, 8) + bits], E.BAD_VALUE, 5,
        )  # fmt: skip
    step_sentinel = p.encode(step_msg((0.0, -1.25, SENTINEL, -1.75, -1.5, 0.5)), 3)[0]
    b.invalid(
        "step_nan_target", "joint_targets[2] is NaN",
        [patch_once(step_sentinel, SENTINEL_BYTES, NAN)], E.BAD_VALUE, 3, ur5e,
    )  # fmt: skip
    step_g = p.encode(step_msg(gripper=SENTINEL), 3)[0]
    b.invalid("step_inf_gripper", "gripper_target is +Inf", [patch_once(step_g, SENTINEL_BYTES, INF)], E.BAD_VALUE, 3)
    w_nan = p.encode(
        _replace(WELCOME_UR5E, joints=WELCOME_UR5E.joints[:3] + (_replace(WELCOME_UR5E.joints[3], effort_max=SENTINEL),) + WELCOME_UR5E.joints[4:]), 1
    )[0]
    b.invalid("welcome_nan_effort", "joints[3].effort_max is NaN", [patch_once(w_nan, SENTINEL_BYTES, NAN)], E.BAD_VALUE, 1)
    obs_inf = p.encode(Observation(_replace(body(), tcp_pose=Pose((0.5, 0.0, SENTINEL), (0.0, 1.0, 0.0, 0.0)))), 3)[0]
    b.invalid("observation_neg_inf_tcp", "tcp_pose z is -Inf", [patch_once(obs_inf, SENTINEL_BYTES, NEG_INF)], E.BAD_VALUE, 3, ur5e)
    b.invalid(
        "order_bad_value_before_truncated", "joint_targets[0] is NaN and the payload is cut later: BAD_VALUE",
        [with_payload(step, struct.pack("<H", 6) + NAN + step[34:50])], E.BAD_VALUE, 3,
    )  # fmt: skip
    b.invalid(
        "order_truncated_before_bad_value", "the payload is cut before a NaN could be read: TRUNCATED",
        [with_payload(step, struct.pack("<H", 6) + step[26:34] + NAN[:5])], E.TRUNCATED, 3,
    )  # fmt: skip

    def hello_raw(first: bytes, second: bytes = raw_str(b"0.1.0")) -> list[bytes]:
        payload = first + second
        return [header(T.HELLO, 1, len(payload)) + payload]

    for label, data, what in (
        ("ff", b"edge\xffcell", "a 0xFF byte"),
        ("overlong", b"\xc0\xaf", "an overlong encoding of '/'"),
        ("surrogate", b"\xed\xa0\x80", "an encoded UTF-16 surrogate (U+D800)"),
        ("truncated_sequence", b"abc\xe2\x82", "a 3-byte sequence cut after 2 bytes"),
        ("above_max", b"\xf4\x90\x80\x80", "a code point above U+10FFFF"),
        ("lone_continuation", b"\x80", "a lone continuation byte"),
    ):
        b.invalid(f"hello_utf8_{label}", f"client_name holds {what}", hello_raw(raw_str(data)), E.BAD_VALUE, 1)
    b.invalid(
        "hello_string_4097", "client_name is 4097 bytes, one over the limit",
        hello_raw(raw_str(b"a" * 4097)), E.BAD_VALUE, 1,
    )  # fmt: skip
    b.invalid(
        "order_string_length_before_bytes", "str length 5000 with only 3 bytes present: BAD_VALUE, not TRUNCATED",
        hello_raw(raw_str(b"abc", declared=5000), b""), E.BAD_VALUE, 1,
    )  # fmt: skip

    mode_at = 24 + welcome[24:].index(b"UR5e") + 4
    b.invalid("welcome_mode_2", "mode 2", [set_byte(welcome, mode_at, 2)], E.BAD_VALUE, 1)
    scene_at = welcome.index(raw_str(b"scene")) + 7  # width u16, height u16, encoding u8
    b.invalid("welcome_camera_encoding_0", "cameras[0].encoding 0", [set_byte(welcome, scene_at + 4, 0)], E.BAD_VALUE, 1)
    b.invalid("welcome_camera_encoding_2", "cameras[0].encoding 2", [set_byte(welcome, scene_at + 4, 2)], E.BAD_VALUE, 1)
    b.invalid("welcome_camera_width_0", "cameras[0].width 0", [set_byte(welcome, scene_at, 0)], E.BAD_VALUE, 1)
    b.invalid(
        "welcome_camera_height_4097", "cameras[0].height 4097",
        [welcome[: scene_at + 2] + struct.pack("<H", 4097) + welcome[scene_at + 4 :]], E.BAD_VALUE, 1,
    )  # fmt: skip
    period_at = len(welcome) - 9  # camera_period f64, then has_expert u8: the last fields
    assert welcome[period_at : period_at + 8] == struct.pack("<d", WELCOME_UR5E.camera_period)
    for label, bits, what in (
        ("0", struct.pack("<d", 0.0), "0"),
        ("negative_zero", struct.pack("<d", -0.0), "-0.0 (not > 0)"),
        ("negative", struct.pack("<d", -0.078125), "-0.078125"),
        ("nan", NAN, "NaN"),
        ("inf", INF, "+Inf"),
    ):
        b.invalid(
            f"welcome_camera_period_{label}", f"camera_period is {what}",
            [welcome[:period_at] + bits + welcome[period_at + 8 :]], E.BAD_VALUE, 1,
        )  # fmt: skip
    b.invalid("welcome_has_expert_2", "has_expert 2", [set_byte(welcome, len(welcome) - 1, 2)], E.BAD_VALUE, 1)
    b.invalid(
        "order_camera_period_before_has_expert", "camera_period 0 and has_expert 2: camera_period first",
        [set_byte(welcome[:period_at] + bytes(8) + welcome[period_at + 8 :], len(welcome) - 1, 2)], E.BAD_VALUE, 1,
    )  # fmt: skip
    b.invalid("advice_done_2", "done 2", [set_byte(advice, len(advice) - 1, 2)], E.BAD_VALUE, 5, ur5e)
    advice_sentinel = p.encode(advice_msg((0.0, -1.25, 1.5, SENTINEL, -1.5, 0.5)), 5)[0]
    b.invalid(
        "advice_nan_target", "joint_targets[3] is NaN",
        [patch_once(advice_sentinel, SENTINEL_BYTES, NAN)], E.BAD_VALUE, 5, ur5e,
    )  # fmt: skip
    b.invalid(
        "advice_phase_utf8_ff", "phase holds a 0xFF byte",
        [patch_once(advice, b"reach", b"re\xffch")], E.BAD_VALUE, 5,
    )  # fmt: skip

    obs = p.encode(Observation(body()), 3)[0]  # ends with success, flags, image count
    b.invalid("observation_success_2", "success 2", [set_byte(obs, len(obs) - 3, 2)], E.BAD_VALUE, 3)
    b.invalid("observation_flags_bit_2", "flags 0x04, an undefined bit", [set_byte(obs, len(obs) - 2, 4)], E.BAD_VALUE, 3)
    b.invalid("observation_flags_bit_7", "flags 0x81", [set_byte(obs, len(obs) - 2, 0x81)], E.BAD_VALUE, 3)
    img = obs_frames[0]  # ..., k = 2, then (camera u8, width u16, height u16, encoding u8) × 2
    b.invalid(
        "observation_image_encoding_2", "images[1].encoding 2",
        [set_byte(img, len(img) - 1, 2)] + obs_frames[1:], E.BAD_VALUE, 3,
    )  # fmt: skip
    b.invalid(
        "observation_image_width_0", "images[0].width 0 (with a 0-byte frame)",
        [img[:-11] + struct.pack("<H", 0) + img[-9:], b""] + obs_frames[2:], E.BAD_VALUE, 3,
    )  # fmt: skip
    err = p.encode(Error(7, 3, "x"), 3)[0]
    b.invalid("error_code_0", "ERROR code 0", [err[:24] + struct.pack("<H", 0) + err[26:]], E.BAD_VALUE, 3)
    b.invalid("error_code_11", "ERROR code 11", [err[:24] + struct.pack("<H", 11) + err[26:]], E.BAD_VALUE, 3)

    # ---- invalid: frames against the payload (§3 check 8) ----
    b.invalid(
        "hello_with_extra_frame", "HELLO announcing and carrying one extra frame",
        [header(T.HELLO, 1, len(hello_payload), 1) + hello_payload, b"\x00\x00\x00"], E.INCONSISTENT, 1,
    )  # fmt: skip
    b.invalid(
        "observation_image_count_vs_frames", "2 images in the payload, 1 extra frame announced and sent",
        [img[:20] + struct.pack("<H", 1) + img[22:], obs_frames[1]], E.INCONSISTENT, 3,
    )  # fmt: skip
    b.invalid(
        "observation_image_frame_wrong_bytes", "image 0 is 4×3 RGB8 (36 bytes), its frame holds 35",
        [obs_frames[0], obs_frames[1][:-1], obs_frames[2]], E.INCONSISTENT, 3, ur5e,
    )  # fmt: skip
    nan_obs = p.encode(Observation(body(sim_time_override=SENTINEL, images=(scene_image(),))), 3)
    b.invalid(
        "order_payload_before_frames", "sim_time NaN and a wrong-size image frame: BAD_VALUE first",
        [patch_once(nan_obs[0], SENTINEL_BYTES, NAN), nan_obs[1] + b"\x00"], E.BAD_VALUE, 3,
    )  # fmt: skip
    b.invalid(
        "order_trailing_before_frames", "a trailing byte and an unexpected extra frame: TOO_LONG first",
        [header(T.HELLO, 1, len(hello_payload) + 1, 1) + hello_payload + b"\x00", b""], E.TOO_LONG, 1,
    )  # fmt: skip

    # ---- invalid: against the handshake (§6) ----
    b.invalid(
        "step_five_joints", "5 joint targets for a 6-joint arm",
        p.encode(Step((0.0, -1.25, 1.5, -1.75, -1.5), 0.03125), 3), E.INCONSISTENT, 3, ur5e,
    )  # fmt: skip
    b.invalid(
        "step_seven_joints", "7 joint targets for a 6-joint arm",
        p.encode(Step((0.0, -1.25, 1.5, -1.75, -1.5, 0.5, 0.25), 0.03125), 3), E.INCONSISTENT, 3, ur5e,
    )  # fmt: skip
    b.invalid(
        "step_target_above_limit", "joint_targets[2] 3.25 > elbow position_max 3.125",
        p.encode(step_msg((0.0, -1.25, 3.25, -1.75, -1.5, 0.5)), 3), E.BAD_VALUE, 3, ur5e,
    )  # fmt: skip
    b.invalid(
        "step_target_below_limit", "joint_targets[0] -6.5 < position_min -6.25",
        p.encode(step_msg((-6.5, -1.25, 1.5, -1.75, -1.5, 0.5)), 3), E.BAD_VALUE, 3, ur5e,
    )  # fmt: skip
    b.invalid(
        "step_gripper_above_range", "gripper_target 0.09375 > aperture max 0.0859375",
        p.encode(step_msg(gripper=0.09375), 3), E.BAD_VALUE, 3, ur5e,
    )  # fmt: skip
    b.invalid(
        "step_gripper_below_range", "gripper_target -0.0078125 < aperture min 0",
        p.encode(step_msg(gripper=-0.0078125), 3), E.BAD_VALUE, 3, ur5e,
    )  # fmt: skip
    b.invalid(
        "order_joint_count_before_limits", "5 targets, one out of limits: INCONSISTENT first",
        p.encode(Step((9.0, -1.25, 1.5, -1.75, -1.5), 0.03125), 3), E.INCONSISTENT, 3, ur5e,
    )  # fmt: skip
    b.invalid(
        "advice_five_joints", "ADVICE with 5 joint targets for a 6-joint arm",
        p.encode(advice_msg((0.0, -1.25, 1.5, -1.75, -1.5)), 5), E.INCONSISTENT, 5, ur5e,
    )  # fmt: skip
    b.invalid(
        "advice_seven_joints", "ADVICE with 7 joint targets for a 6-joint arm",
        p.encode(advice_msg((0.0, -1.25, 1.5, -1.75, -1.5, 0.5, 0.25)), 5), E.INCONSISTENT, 5, ur5e,
    )  # fmt: skip
    five = p.encode(advice_msg((0.0, -1.25, 1.5, -1.75, -1.5)), 5)[0]
    b.invalid(
        "order_advice_payload_before_joint_count", "5 joint targets and done 2: BAD_VALUE (decoding) first",
        [set_byte(five, len(five) - 1, 2)], E.BAD_VALUE, 5, ur5e,
    )  # fmt: skip
    b.invalid(
        "observation_wrong_joint_count", "OBSERVATION with 5 joints",
        p.encode(Observation(body(joints=5)), 3), E.INCONSISTENT, 3, ur5e,
    )  # fmt: skip
    b.invalid(
        "observation_wrong_object_count", "OBSERVATION with 3 objects, the handshake has 4",
        p.encode(Observation(body(objects=3)), 3), E.INCONSISTENT, 3, ur5e,
    )  # fmt: skip
    b.invalid(
        "episode_wrong_object_count", "EPISODE with 5 objects",
        p.encode(Episode("bin-red", "put the red cube in the bin", 1, body(step=0, objects=5)), 2), E.INCONSISTENT, 2, ur5e,
    )  # fmt: skip
    b.invalid(
        "episode_image_wrong_size", "camera 0 (scene) is 4×3, the image is 3×4 (frame size matches 3×4)",
        p.encode(Episode("bin-red", "x", 1, body(step=0, images=(Image(0, 3, 4, 1, pixels(3, 4, 0)),))), 2),
        E.INCONSISTENT, 2, ur5e,
    )  # fmt: skip
    b.invalid(
        "observation_camera_index_out_of_range", "image names camera 2, the handshake has 2 cameras",
        p.encode(Observation(body(images=(Image(2, 4, 3, 1, pixels(4, 3, 2)),))), 3), E.INCONSISTENT, 3, ur5e,
    )  # fmt: skip
    return b.entries


def _replace(obj: Any, **changes: Any) -> Any:
    return dataclasses.replace(obj, **changes)


def generate() -> dict[str, Any]:
    """The whole document, ready for `json.dumps`."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "protocol_version": p.VERSION,
        "generator": "Sim/tools/make_vectors.py",
        "notes": [
            "Entry format: see the docstring of Sim/tools/make_vectors.py; semantics: Sim/PROTOCOL.md section 7.",
            "frames are lower-case hex; valid entries carry the canonical JSON message, invalid ones error and "
            "offending_seq.",
            "Integers may exceed 2^53 (u64 seeds and seqs): parse them exactly.",
            "f64 values are shortest round-trip decimals; parse with a correctly rounded parser.",
        ],
        "vectors": build(),
    }


def render(document: dict[str, Any] | None = None) -> str:
    """The file's exact text."""
    return json.dumps(generate() if document is None else document, indent=2, ensure_ascii=True) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Temp file in the same directory, fsync, rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"file to write (default {OUTPUT})")
    parser.add_argument("--check", action="store_true", help="only compare with the existing file; exit 1 if it differs")
    args = parser.parse_args(argv)
    document = generate()
    text = render(document)
    if args.check:
        try:
            current = args.output.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{args.output} is out of date: run python Sim/tools/make_vectors.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    write_atomically(args.output, text)
    print(f"wrote {args.output} ({len(document['vectors'])} vectors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
