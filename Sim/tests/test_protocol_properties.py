"""Property-based tests of the twin's protocol decoder (hypothesis): whatever bytes arrive, `decode` either
returns a message or raises `ProtocolError` — never another exception — and what it accepts re-encodes to a
message that decodes to the same thing. Malformed frames are made three ways: random bytes, valid messages
with bytes flipped, cut or appended, and valid messages with header fields replaced."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecell_twin import protocol as p

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e6, max_value=1e6)
text = st.text(max_size=40)


def observation(seed: int) -> p.Observation:
    rng = np.random.default_rng(seed)
    body = p.ObservationBody(
        episode=1, step=3, sim_time=0.03, joint_positions=tuple(rng.normal(size=6)),
        joint_velocities=tuple(rng.normal(size=6)), gripper_aperture=0.04, gripper_force=0.0,
        tcp_pose=p.Pose.from_array(np.array([0.5, 0, 0.3, 1, 0, 0, 0])), objects=(p.Pose(),) * 2,
        success=False, flags=0,
        images=(p.Image(0, 4, 3, 1, rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)),),
    )  # fmt: skip
    return p.Observation(body)


messages = st.one_of(
    st.builds(p.Hello, text, text),
    st.builds(p.Reset, text, st.integers(0, 2**64 - 1)),
    st.builds(p.Step, st.lists(finite, min_size=1, max_size=8).map(tuple), finite),
    st.builds(p.Heartbeat, finite),
    st.just(p.Expert()),
    st.integers(0, 1000).map(observation),
)
seqs = st.integers(0, 2**64 - 1)


def decodes_or_refuses(frames: list[bytes]) -> None:
    try:
        header, message = p.decode(frames)
    except p.ProtocolError as e:
        assert isinstance(e.code, p.ErrorCode) and e.message
        return
    # Accepted: it must survive a round trip unchanged.
    again = p.decode(p.encode(message, header.seq))
    assert again[1] == message


@SETTINGS
@given(st.lists(st.binary(max_size=96), min_size=0, max_size=4))
def test_random_frames_decode_or_are_refused(frames: list[bytes]) -> None:
    decodes_or_refuses(frames)


@SETTINGS
@given(messages, seqs)
def test_valid_messages_round_trip(message: p.Message, seq: int) -> None:
    header, decoded = p.decode(p.encode(message, seq))
    assert header.seq == seq and decoded == message


@SETTINGS
@given(messages, seqs, st.data())
def test_mutated_messages_decode_or_are_refused(message: p.Message, seq: int, data: st.DataObject) -> None:
    frames = [bytearray(f) for f in p.encode(message, seq)]
    k = data.draw(st.integers(0, len(frames) - 1), label="frame")
    frame = frames[k]
    action = data.draw(st.sampled_from(["flip", "cut", "append", "drop-frame", "add-frame"]), label="action")
    if action == "flip" and frame:
        i = data.draw(st.integers(0, len(frame) - 1), label="byte")
        frame[i] ^= data.draw(st.integers(1, 255), label="mask")
    elif action == "cut":
        frames[k] = frame[: data.draw(st.integers(0, max(len(frame) - 1, 0)), label="keep")]
    elif action == "append":
        frames[k] = frame + data.draw(st.binary(min_size=1, max_size=16), label="tail")
    elif action == "drop-frame" and len(frames) > 1:
        del frames[k]
    elif action == "add-frame":
        frames.append(bytearray(data.draw(st.binary(max_size=32), label="extra")))
    decodes_or_refuses([bytes(f) for f in frames])


@SETTINGS
@given(messages, seqs, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1), st.integers(0, 0xFFFF))
def test_header_fields_replaced(message: p.Message, seq: int, version: int, type_: int, length: int,
                                extra: int) -> None:
    frames = p.encode(message, seq)
    frame0 = bytearray(frames[0])
    magic, _v, _t, s, _len, _extra, reserved = p._HEADER.unpack_from(frame0, 0)
    p._HEADER.pack_into(frame0, 0, magic, version, type_, s, length, extra, reserved)
    decodes_or_refuses([bytes(frame0), *frames[1:]])


def test_a_refusal_names_the_problem() -> None:
    frames = p.encode(p.Step((0.1, 0.2), 0.0), 9)
    cut = frames[0][:-3]
    try:
        p.decode([cut])
    except p.ProtocolError as e:
        assert e.offending_seq == 9 and e.code in (p.ErrorCode.TRUNCATED, p.ErrorCode.INCONSISTENT), e
    else:
        raise AssertionError("a truncated STEP was accepted")
