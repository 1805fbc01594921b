"""Unit and fuzz tests of the protocol codec (Sim/edgecell_twin/protocol.py)."""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgecell_twin import protocol as p
from edgecell_twin.protocol import ErrorCode as E

VECTORS = json.loads((Path(__file__).parent / "vectors" / "vectors.json").read_text(encoding="utf-8"))["vectors"]
VALID = [e for e in VECTORS if e["valid"]]
UR5E = p.from_json(next(e for e in VECTORS if e["name"] == "welcome_ur5e")["message"])[1]
assert isinstance(UR5E, p.Welcome)


def frames_of(entry: dict[str, Any]) -> list[bytes]:
    return [bytes.fromhex(f) for f in entry["frames"]]


def code_of(frames: list[bytes]) -> p.ErrorCode:
    with pytest.raises(p.ProtocolError) as info:
        p.decode(frames)
    return info.value.code


# ---------------------------------------------------------------- layout, written out by hand from §3/§4 ----


def test_hello_bytes_by_hand() -> None:
    expected = (
        b"ECTW" + b"\x01\x00" + b"\x01\x00" + b"\x02\x01\x00\x00\x00\x00\x00\x00"  # seq 258
        + b"\x07\x00\x00\x00" + b"\x00\x00" + b"\x00\x00"
        + b"\x02\x00ab" + b"\x01\x00c"
    )  # fmt: skip
    assert p.encode(p.Hello("ab", "c"), 258) == [expected]
    header, message = p.decode([expected])
    assert header == p.Header(1, 1, 258, 7, 0, 0)
    assert message == p.Hello("ab", "c")


def test_step_bytes_by_hand() -> None:
    payload = b"\x02\x00" + bytes.fromhex("000000000000f03f") + bytes.fromhex("000000000000f4bf") + bytes(8)
    frame = b"ECTW\x01\x00\x05\x00" + struct.pack("<Q", 3) + struct.pack("<IHH", len(payload), 0, 0) + payload
    assert p.encode(p.Step((1.0, -1.25), 0.0), 3) == [frame]
    assert p.decode([frame])[1] == p.Step((1.0, -1.25), 0.0)


def test_expert_and_advice_bytes_by_hand() -> None:
    expert = b"ECTW\x01\x00\x09\x00" + struct.pack("<Q", 7) + struct.pack("<IHH", 0, 0, 0)
    assert p.encode(p.Expert(), 7) == [expert]
    assert p.decode([expert]) == (p.Header(1, 9, 7, 0, 0, 0), p.Expert())
    payload = (
        b"\x01\x00" + bytes.fromhex("000000000000f4bf")  # one target, -1.25
        + bytes.fromhex("000000000000a03f")  # gripper 0.03125
        + b"\x04\x00lift" + b"\x01"
    )  # fmt: skip
    frame = b"ECTW\x01\x00\x0a\x00" + struct.pack("<Q", 8) + struct.pack("<IHH", len(payload), 0, 0) + payload
    advice = p.Advice((-1.25,), 0.03125, "lift", True)
    assert p.encode(advice, 8) == [frame]
    assert p.decode([frame])[1] == advice
    assert p.to_json(advice, 8) == {
        "type": "ADVICE", "seq": 8, "joint_targets": [-1.25], "gripper_target": 0.03125, "phase": "lift", "done": 1,
    }  # fmt: skip


def test_welcome_ends_with_camera_period_and_has_expert() -> None:
    import dataclasses

    frame0 = p.encode(UR5E, 1)[0]
    assert frame0[-9:] == struct.pack("<dB", UR5E.camera_period, int(UR5E.has_expert))
    no_expert = dataclasses.replace(UR5E, camera_period=0.25, has_expert=False)
    assert p.encode(no_expert, 1)[0][-9:] == struct.pack("<dB", 0.25, 0)
    assert list(p.to_json(UR5E, 1))[-2:] == ["camera_period", "has_expert"]


def test_observation_with_numpy_images_round_trips() -> None:
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    wrist = rng.integers(0, 256, (2, 3, 3), dtype=np.uint8)
    body = p.ObservationBody(
        episode=2, step=5, sim_time=np.float64(0.05), joint_positions=tuple(np.linspace(-1, 1, 6)),
        joint_velocities=tuple(np.zeros(6)), gripper_aperture=0.02, gripper_force=1.5,
        tcp_pose=p.Pose.from_array(np.array([0.5, 0, 1, 1, 0, 0, 0])), objects=(p.Pose(),) * 4,
        success=False, flags=p.FLAG_HOLDING,
        images=(p.Image(0, 4, 3, 1, scene), p.Image(1, 3, 2, 1, wrist)),
    )  # fmt: skip
    frames = p.encode(p.Observation(body), 11)
    assert len(frames) == 3 and frames[1] == scene.tobytes() and frames[2] == wrist.tobytes()
    header, message = p.decode(frames)
    assert header.extra_frames == 2 and message == p.Observation(body)
    assert isinstance(message, p.Observation)
    np.testing.assert_array_equal(message.body.images[0].pixels(), scene)
    p.validate_against(UR5E, message, frames)
    p.validate_against(UR5E, message)  # sizes taken from the images' own data


def test_decode_accepts_any_bytes_like_frames() -> None:
    frames = frames_of(next(e for e in VECTORS if e["name"] == "observation_ur5e_images"))
    as_views = [memoryview(bytearray(f)) for f in frames]
    assert p.decode(as_views)[1] == p.decode(frames)[1]


# ---------------------------------------------------------------- encoder refuses what the decoder refuses --


@pytest.mark.parametrize(
    "message, code",
    [
        (p.Heartbeat(math.nan), E.BAD_VALUE),
        (p.Heartbeat(math.inf), E.BAD_VALUE),
        (p.Step((0.0, math.nan), 0.0), E.BAD_VALUE),
        (p.Hello("x" * 4097, ""), E.BAD_VALUE),
        (p.Hello("\ud800", ""), E.BAD_VALUE),
        (p.Hello(b"bytes", ""), E.BAD_VALUE),  # type: ignore[arg-type]
        (p.Reset("t", -1), E.BAD_VALUE),
        (p.Reset("t", 1 << 64), E.BAD_VALUE),
        (p.Error(11, 0, ""), E.BAD_VALUE),
        (p.Step(tuple([0.0] * 65536), 0.0), E.BAD_VALUE),
        (p.Advice((0.0,), math.nan, "reach", False), E.BAD_VALUE),
        (p.Advice((0.0,), 0.0, "reach", 2), E.BAD_VALUE),  # type: ignore[arg-type]
        (p.Advice((0.0,), 0.0, "x" * 4097, False), E.BAD_VALUE),
    ],
)
def test_encode_rejects(message: p.Message, code: p.ErrorCode) -> None:
    with pytest.raises(p.ProtocolError) as info:
        p.encode(message, 1)
    assert info.value.code == code


def test_encode_rejects_inconsistent_sizes() -> None:
    import dataclasses

    with pytest.raises(p.ProtocolError) as info:
        p.encode(dataclasses.replace(UR5E, dh=UR5E.dh[:5]), 1)
    assert info.value.code == E.INCONSISTENT
    with pytest.raises(p.ProtocolError) as info:
        p.encode(dataclasses.replace(UR5E, mode=2), 1)
    assert info.value.code == E.BAD_VALUE
    body = p.ObservationBody(1, 0, 0.0, (0.0,), (0.0,), 0.0, 0.0, p.Pose(), (), False, 0, (p.Image(0, 2, 2, 1, b"123"),))
    with pytest.raises(p.ProtocolError) as info:
        p.encode(p.Observation(body), 1)
    assert info.value.code == E.INCONSISTENT
    with pytest.raises(p.ProtocolError) as info:
        p.encode(p.Observation(dataclasses.replace(body, images=(), joint_velocities=())), 1)
    assert info.value.code == E.INCONSISTENT
    with pytest.raises(p.ProtocolError) as info:
        p.encode(p.Observation(dataclasses.replace(body, images=(), flags=4)), 1)
    assert info.value.code == E.BAD_VALUE
    with pytest.raises(p.ProtocolError) as info:
        p.encode(p.Hello("", ""), -1)
    assert info.value.code == E.BAD_VALUE
    for changes in ({"camera_period": 0.0}, {"camera_period": -0.01}, {"camera_period": math.nan}, {"has_expert": 2}):
        with pytest.raises(p.ProtocolError) as info:
            p.encode(dataclasses.replace(UR5E, **changes), 1)
        assert info.value.code == E.BAD_VALUE, changes


def test_encode_rejects_oversized_payload() -> None:
    import dataclasses

    p.encode(p.Step(tuple([0.0] * 65535), 0.0), 1)  # 524 kB: fine
    with pytest.raises(p.ProtocolError) as info:
        p.encode(dataclasses.replace(UR5E, tasks=("x" * 4096,) * 300), 1)  # 1.2 MB
    assert info.value.code == E.TOO_LONG


def test_validate_against_offending_seq_and_messages() -> None:
    frames = p.encode(p.Step((0.0,) * 5, 0.0), 42)
    with pytest.raises(p.ProtocolError) as info:
        p.validate_against(UR5E, p.decode(frames)[1], frames)
    assert (info.value.code, info.value.offending_seq) == (E.INCONSISTENT, 42)
    assert "5 joint targets" in info.value.message
    frames = p.encode(p.Advice((0.0,) * 7, 0.0, "reach", False), 43)
    with pytest.raises(p.ProtocolError) as info:
        p.validate_against(UR5E, p.decode(frames)[1], frames)
    assert (info.value.code, info.value.offending_seq) == (E.INCONSISTENT, 43)
    assert "7 joint targets" in info.value.message
    # ADVICE targets are not checked against the limits (§6 checks only STEP's).
    p.validate_against(UR5E, p.Advice((100.0,) * 6, -1.0, "reach", False))
    # Messages without §6 checks pass.
    for message in (p.Hello("", ""), p.Reset("", 0), p.Heartbeat(0.0), p.Error(1, 0, ""), p.Expert(), UR5E):
        p.validate_against(UR5E, message)


# ---------------------------------------------------------------- canonical JSON --------------------------


def test_from_json_rejects_malformed_objects() -> None:
    for bad in ({}, {"type": "NOPE", "seq": 1}, {"type": "HELLO", "seq": 1}, {"type": "HEARTBEAT", "seq": 1, "time": "x"},
                {"type": "RESET", "seq": 1, "task": "", "seed": 1.5}, {"type": "HEARTBEAT", "seq": True, "time": 0}):  # fmt: skip
        with pytest.raises(ValueError):
            p.from_json(bad)


def test_json_integral_floats_are_accepted() -> None:
    assert p.from_json({"type": "HEARTBEAT", "seq": 1, "time": 3}) == (1, p.Heartbeat(3.0))


# ---------------------------------------------------------------- random well-formed messages round-trip --


def _rand_f64(rng: random.Random) -> float:
    while True:
        kind = rng.random()
        if kind < 0.5:
            value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        elif kind < 0.8:
            value = rng.uniform(-10, 10)
        else:
            value = rng.choice([0.0, -0.0, 5e-324, 1.7976931348623157e308, -1.0, 0.5])
        if math.isfinite(value):
            return value


def _rand_str(rng: random.Random) -> str:
    alphabet = "abc xyz-_.0é€😀\u0000\u07ff\uffff\U0010ffff"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))


def _rand_pose(rng: random.Random) -> p.Pose:
    return p.Pose(tuple(_rand_f64(rng) for _ in range(3)), tuple(_rand_f64(rng) for _ in range(4)))  # type: ignore[arg-type]


def _rand_message(rng: random.Random) -> p.Message:
    t = rng.randrange(1, 11)
    f, s, u = (lambda: _rand_f64(rng)), (lambda: _rand_str(rng)), (lambda bits: rng.getrandbits(bits))
    if t == 1:
        return p.Hello(s(), s())
    if t == 2:
        n = rng.randrange(0, 8)
        return p.Welcome(
            s(), s(), s(), rng.randrange(2), f(), f(),
            tuple(p.JointDescription(s(), f(), f(), f(), f(), f()) for _ in range(n)), _rand_pose(rng),
            tuple(p.DHRow(f(), f(), f(), f()) for _ in range(n)), _rand_pose(rng), s(), f(), f(), f(), f(),
            (f(), f(), f()), (f(), f(), f()),
            tuple(p.CameraDescription(s(), rng.randint(1, 4096), rng.randint(1, 4096)) for _ in range(rng.randrange(4))),
            tuple(p.ObjectDescription(s(), (f(), f(), f())) for _ in range(rng.randrange(5))),
            tuple(s() for _ in range(rng.randrange(4))), s(), s(), u(64), abs(f()) or 0.5, bool(rng.randrange(2)),
        )  # fmt: skip
    if t == 3:
        return p.Reset(s(), u(64))
    if t == 5:
        return p.Step(tuple(f() for _ in range(rng.randrange(0, 9))), f())
    if t == 7:
        return p.Heartbeat(f())
    if t == 8:
        return p.Error(rng.randint(1, 10), u(64), s())
    if t == 9:
        return p.Expert()
    if t == 10:
        return p.Advice(tuple(f() for _ in range(rng.randrange(0, 9))), f(), s(), bool(rng.randrange(2)))
    n = rng.randrange(0, 8)
    images = []
    for _ in range(rng.randrange(0, 4)):
        w, h = rng.randint(1, 5), rng.randint(1, 5)
        images.append(p.Image(rng.randrange(256), w, h, 1, rng.randbytes(w * h * 3)))
    body = p.ObservationBody(
        u(32), u(64), f(), tuple(f() for _ in range(n)), tuple(f() for _ in range(n)), f(), f(), _rand_pose(rng),
        tuple(_rand_pose(rng) for _ in range(rng.randrange(5))), bool(rng.randrange(2)), rng.randrange(4), tuple(images),
    )  # fmt: skip
    return p.Episode(s(), s(), u(64), body) if t == 4 else p.Observation(body)


def test_random_messages_round_trip() -> None:
    rng = random.Random(1234)
    for _ in range(600):
        message = _rand_message(rng)
        seq = rng.getrandbits(64)
        frames = p.encode(message, seq)
        header, decoded = p.decode(frames)
        assert header.seq == seq and decoded == message
        text = json.dumps(p.to_json(decoded, seq))
        assert p.from_json(json.loads(text), frames[1:]) == (seq, message)


# ---------------------------------------------------------------- fuzz: nothing but ProtocolError ---------


def _decode_or_error(frames: list[bytes]) -> p.ProtocolError | None:
    """Decode; on success the message must re-encode to the same frames (the encoding is canonical)."""
    try:
        header, message = p.decode(frames)
    except p.ProtocolError as e:
        assert isinstance(e.code, p.ErrorCode)
        return e
    assert p.encode(message, header.seq) == [bytes(f) for f in frames]
    try:
        p.validate_against(UR5E, message, frames)
    except p.ProtocolError:
        pass
    return None


def test_fuzz_random_bytes() -> None:
    rng = random.Random(1)
    for _ in range(3000):
        _decode_or_error([rng.randbytes(rng.randrange(0, 64))])
    # Random payloads behind a well-formed header reach the payload decoders.
    for _ in range(6000):
        t = rng.randrange(1, 11)
        payload = rng.randbytes(rng.randrange(0, 120))
        extra = rng.choice([0, 0, 0, 1, 2])
        frame0 = struct.pack("<4sHHQIHH", b"ECTW", 1, t, rng.getrandbits(64), len(payload), extra, 0) + payload
        _decode_or_error([frame0] + [rng.randbytes(rng.randrange(0, 40)) for _ in range(extra)])


@pytest.mark.parametrize("entry", VALID, ids=lambda e: e["name"])
def test_fuzz_truncations(entry: dict[str, Any]) -> None:
    frames = frames_of(entry)
    frame0, rest = frames[0], frames[1:]
    payload_length = len(frame0) - p.HEADER_SIZE
    for cut in range(len(frame0)):
        # The header left alone: frame 0 is shorter than it announces.
        e = _decode_or_error([frame0[:cut]] + rest)
        assert e is not None and e.code == E.TRUNCATED
        assert e.offending_seq == (0 if cut < p.HEADER_SIZE else entry["message"]["seq"])
    for keep in range(payload_length):
        # payload_length fixed to match: the payload itself runs out.
        fixed = frame0[:16] + struct.pack("<I", keep) + frame0[20:24] + frame0[24 : 24 + keep]
        e = _decode_or_error([fixed] + rest)
        assert e is not None and e.code == E.TRUNCATED, (keep, e)
    if rest:
        e = _decode_or_error([frame0] + rest[:-1])
        assert e is not None and e.code == E.INCONSISTENT
        e = _decode_or_error([frame0] + rest[:-1] + [rest[-1][:-1]])
        assert e is not None and e.code == E.INCONSISTENT


@pytest.mark.parametrize("entry", VALID, ids=lambda e: e["name"])
def test_fuzz_bit_flips_and_byte_changes(entry: dict[str, Any]) -> None:
    frames = frames_of(entry)
    rng = random.Random(entry["name"])
    frame0 = frames[0]
    positions = range(len(frame0)) if len(frame0) <= 400 else rng.sample(range(len(frame0)), 400)
    for pos in positions:
        for bit in range(8):
            flipped = bytearray(frame0)
            flipped[pos] ^= 1 << bit
            _decode_or_error([bytes(flipped)] + frames[1:])
    for _ in range(300):
        mutated = bytearray(frame0)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(3)
            pos = rng.randrange(len(mutated) + 1)
            if op == 0 and pos < len(mutated):
                mutated[pos] = rng.randrange(256)
            elif op == 1:
                mutated[pos:pos] = rng.randbytes(rng.randint(1, 4))
            else:
                del mutated[pos : pos + rng.randint(1, 4)]
        _decode_or_error([bytes(mutated)] + frames[1:])


def test_no_frames_and_huge_counts() -> None:
    assert code_of([]) == E.TRUNCATED
    # A count of 65535 joint targets in an 8-byte payload fails fast, without reading past the end.
    step = struct.pack("<4sHHQIHH", b"ECTW", 1, 5, 1, 8, 0, 0) + struct.pack("<H", 65535) + bytes(6)
    assert code_of([step]) == E.TRUNCATED


# ------------------------------------------------------------------ fast OBSERVATION encoder ----------------


def _random_observation_args(rng: "np.random.Generator", images: bool) -> dict:
    import numpy as np

    n = int(rng.integers(1, 9))
    m = int(rng.integers(0, 6))
    pics = []
    if images:
        for camera in range(int(rng.integers(1, 3))):
            h, w = int(rng.integers(1, 5)), int(rng.integers(1, 5))
            pics.append((camera, rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)))
    return dict(
        seq=int(rng.integers(0, 2**63)),
        episode=int(rng.integers(0, 2**32)),
        step=int(rng.integers(0, 2**63)),
        sim_time=float(rng.normal()),
        joint_positions=rng.normal(size=n),
        joint_velocities=rng.normal(size=n),
        gripper_aperture=float(rng.uniform(0, 0.085)),
        gripper_force=float(rng.uniform(0, 100)),
        tcp_pose=rng.normal(size=7),
        object_poses=rng.normal(size=(m, 7)),
        success=bool(rng.integers(0, 2)),
        flags=int(rng.integers(0, 4)),
        images=pics,
    )


def _general(args: dict) -> list[bytes]:
    body = p.ObservationBody(
        episode=args["episode"], step=args["step"], sim_time=args["sim_time"],
        joint_positions=tuple(args["joint_positions"].tolist()),
        joint_velocities=tuple(args["joint_velocities"].tolist()),
        gripper_aperture=args["gripper_aperture"], gripper_force=args["gripper_force"],
        tcp_pose=p.Pose.from_array(args["tcp_pose"]),
        objects=tuple(p.Pose.from_array(row) for row in args["object_poses"]),
        success=args["success"], flags=args["flags"],
        images=tuple(p.Image(c, im.shape[1], im.shape[0], p.Encoding.RGB8, im) for c, im in args["images"]),
    )  # fmt: skip
    return p.encode(p.Observation(body), args["seq"])


def test_fast_observation_encoder_matches_the_general_one() -> None:
    import numpy as np

    rng = np.random.default_rng(42)
    for trial in range(500):
        args = _random_observation_args(rng, images=trial % 3 == 0)
        fast = [bytes(f) for f in p.encode_observation_fast(**args)]
        assert fast == _general(args), f"trial {trial}"
        header, message = p.decode(fast)
        assert header.type == p.MessageType.OBSERVATION


def test_fast_observation_encoder_rejects_what_the_general_one_rejects() -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    args = _random_observation_args(rng, images=False)
    args["joint_velocities"] = args["joint_velocities"].copy()
    args["joint_velocities"][0] = np.nan
    with pytest.raises(p.ProtocolError) as info:
        p.encode_observation_fast(**args)
    assert info.value.code == p.ErrorCode.BAD_VALUE
    args = _random_observation_args(rng, images=False)
    args["flags"] = 8
    with pytest.raises(p.ProtocolError) as info:
        p.encode_observation_fast(**args)
    assert info.value.code == p.ErrorCode.BAD_VALUE
