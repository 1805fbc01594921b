"""docs/DATASET.md: the reader refuses every §6 corruption with a message naming the file and the problem; the
writer's output reads back; training samples follow §7 (hand-checked indices, end padding); statistics."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conftest import make_fixture_dataset
from edgecell_policy.dataset import (
    FRAMES_FILE,
    STEPS_FILE,
    DatasetError,
    action_stride,
    chunk_steps,
    make_samples,
    normalization_stats,
    open_dataset,
    record_size,
    step_dtype,
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fixture_dataset(tmp_path_factory.mktemp("ds") / "pristine", {"bin-red": 2, "bin-green": 1},
                                steps=10, cameras=("scene", "wrist"), size=(16, 8), frame_every=3,
                                index_actions=True)


@pytest.fixture()
def ds(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ds"
    shutil.copytree(pristine, copy)
    return copy


def ep(root: Path, i: int = 0) -> Path:
    return root / "episodes" / f"{i:06d}"


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


def rewrite(root: Path, name: str, data: bytes, episode: int = 0) -> None:
    """Replaces a binary file and updates episode.json's size and hash, so only the content is wrong."""
    (ep(root, episode) / name).write_bytes(data)
    edit_json(ep(root, episode) / "episode.json",
              lambda o: o["files"].__setitem__(name, {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}))


def refused(root: Path, *fragments: str) -> str:
    with pytest.raises(DatasetError) as e:
        open_dataset(root)
    message = str(e.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_record_layout_matches_the_swift_writer() -> None:
    assert record_size(6) == 8 * (3 * 6 + 4) + 8 == 184
    assert step_dtype(6).itemsize == 184
    assert step_dtype(6).fields["frame"][1] == 36 + 24 * 6  # Sources/Teach EpisodeFiles.Layout.frame


def test_pristine_reads(pristine: Path) -> None:
    d = open_dataset(pristine)
    assert d.name == "pristine" and d.tasks == ["bin-green", "bin-red"] and len(d.episode_meta) == 3
    assert [c.name for c in d.cameras] == ["scene", "wrist"] and d.frame_every == 3
    e = d.episode(1)
    assert e.images is not None and e.images.shape == (4, 2, 8, 16, 3)  # 11 steps, frames at 0, 3, 6, 9
    assert list(e.frame_steps) == [0, 3, 6, 9]
    assert e.states.shape == (11, 7) and e.actions[5, 6] == 1005.0
    assert len(d.digest()) == 64 and d.digest() == open_dataset(pristine).digest()


def test_tmp_folders_are_ignored(ds: Path) -> None:
    (ds / ".tmp-123-3").mkdir()
    (ds / ".tmp-123-3" / "steps.bin").write_bytes(b"junk")
    open_dataset(ds)


def test_object_poses_round_trip(tmp_path: Path) -> None:
    path = make_fixture_dataset(tmp_path / "objects", {"bin-red": 2}, objects=True)
    metas = open_dataset(path).episode_meta
    assert metas[1].objects is not None
    assert metas[1].objects["red_cube"][:3] == pytest.approx((0.41, -0.08, 0.02), abs=1e-12)
    assert metas[1].objects["bin"] == (0.46, 0.33, 0.035, 1.0, 0.0, 0.0, 0.0)
    # Episodes recorded without them (a real cell without object tracking) read as None.
    assert open_dataset(make_fixture_dataset(tmp_path / "plain", {"bin-red": 1})).episode_meta[0].objects is None


@pytest.mark.parametrize("value, fragments", [
    ({"red_cube": [0.4, 0.1, 0.02, 1, 0, 0]}, ["objects.red_cube holds 6 numbers, expected 7"]),
    ({"red_cube": [0.4, "x", 0.02, 1, 0, 0, 0]}, ["objects.red_cube[1] is 'x', not a finite number"]),
    ([1, 2], ["objects"]),
])
def test_object_pose_corruptions(tmp_path: Path, value: object, fragments: list[str]) -> None:
    path = make_fixture_dataset(tmp_path / "objects", {"bin-red": 1}, objects=True)
    edit_json(ep(path) / "episode.json", lambda o: o.__setitem__("objects", value))
    refused(path, "000000/episode.json", *fragments)


@pytest.mark.parametrize("corrupt, fragments", [
    (lambda d: edit_json(d / "dataset.json", lambda o: o.__setitem__("format", "other")),
     ["dataset.json", "format is 'other'"]),
    (lambda d: edit_json(d / "dataset.json", lambda o: o.__setitem__("format_version", 2)),
     ["dataset.json", "format_version 2 is not supported"]),
    (lambda d: (d / "dataset.json").write_text("{not json"), ["dataset.json", "not valid JSON"]),
    (lambda d: edit_json(d / "dataset.json", lambda o: o.pop("frame_every")), ["frame_every is missing"]),
    (lambda d: shutil.rmtree(ep(d, 1)), ["episode 000001 is listed in dataset.json", "missing"]),
    (lambda d: shutil.copytree(ep(d, 2), ep(d, 3)), ["episodes/000003 is not listed"]),
    (lambda d: (d / "episodes" / "notes.txt").write_text("x"), ["unexpected entry 'notes.txt'"]),
    (lambda d: edit_json(d / "dataset.json", lambda o: o["episodes"][0].__setitem__("source", "keyboard")),
     ["dataset.json", "episode 000000: dataset.json lists task bin-red, source keyboard",
      "episode.json says task bin-red, source expert"]),
    (lambda d: edit_json(d / "dataset.json", lambda o: o["counts"].__setitem__("steps", 1)),
     ["counts", "do not add up"]),
    (lambda d: edit_json(d / "dataset.json", lambda o: o["episodes"][1].__setitem__("index", 5)),
     ["episodes[1] has index 5"]),
    (lambda d: edit_json(ep(d) / "episode.json", lambda o: o.__setitem__("frames", 3)),
     ["000000/episode.json", "frames is 3; 10 steps with a frame every 3 steps and 2 camera(s) make 4"]),
    (lambda d: edit_json(ep(d) / "episode.json", lambda o: o.__setitem__("index", 1)),
     ["index is 1, but the folder is 000000"]),
    (lambda d: edit_json(ep(d) / "episode.json", lambda o: o["files"].pop("frames.bin")),
     ["files has no entry for frames.bin"]),
    (lambda d: edit_json(ep(d) / "episode.json", lambda o: o["files"].__setitem__("notes.txt", {})),
     ["files lists notes.txt; it has exactly the entries steps.bin and frames.bin"]),
    (lambda d: (ep(d) / STEPS_FILE).unlink(), ["000000/steps.bin", "missing"]),
    (lambda d: (ep(d) / STEPS_FILE).write_bytes((ep(d) / STEPS_FILE).read_bytes()[:-3]),
     ["000000/steps.bin", "episode.json says", "truncated"]),
])
def test_index_and_metadata_corruptions(ds: Path, corrupt: Callable[[Path], None], fragments: list[str]) -> None:
    corrupt(ds)
    refused(ds, *fragments)


def test_sha256_mismatch(ds: Path) -> None:
    data = bytearray((ep(ds) / FRAMES_FILE).read_bytes())
    data[-1] ^= 0xFF
    (ep(ds) / FRAMES_FILE).write_bytes(bytes(data))
    refused(ds, "000000/frames.bin", "SHA-256 mismatch")


def steps_bytes(root: Path) -> bytes:
    return (ep(root) / STEPS_FILE).read_bytes()


def records(root: Path) -> np.ndarray:
    return np.frombuffer(steps_bytes(root), step_dtype(6), offset=16).copy()


def with_records(root: Path, recs: np.ndarray) -> None:
    rewrite(root, STEPS_FILE, steps_bytes(root)[:16] + recs.tobytes())


def test_steps_header(ds: Path) -> None:
    rewrite(ds, STEPS_FILE, b"ECSTEPS2" + steps_bytes(ds)[8:])
    refused(ds, "steps.bin", "does not start with the ECSTEPS1 header")


def test_steps_joint_count(ds: Path) -> None:
    b = bytearray(steps_bytes(ds))
    b[8:12] = (5).to_bytes(4, "little")
    rewrite(ds, STEPS_FILE, bytes(b))
    refused(ds, "steps.bin", "header says 5 joints; the robot has 6")


def test_steps_record_size(ds: Path) -> None:
    b = bytearray(steps_bytes(ds))
    b[12:16] = (192).to_bytes(4, "little")
    rewrite(ds, STEPS_FILE, bytes(b))
    refused(ds, "steps.bin", "header says records of 192 bytes; 6 joints make 184")


def test_steps_length(ds: Path) -> None:
    rewrite(ds, STEPS_FILE, steps_bytes(ds) + bytes(184))
    refused(ds, "steps.bin", "a header and 10 records of 184 bytes make 1856")


def test_non_finite_number(ds: Path) -> None:
    r = records(ds)
    r["joint_velocities"][4, 2] = math.inf
    with_records(ds, r)
    refused(ds, "steps.bin", "step 4: joint_velocities[2] is inf; every number must be finite")
    r["joint_velocities"][4, 2] = 0
    r["time"][7] = math.nan
    with_records(ds, r)
    refused(ds, "step 7: time is nan")


def test_phase_index(ds: Path) -> None:
    r = records(ds)
    r["phase"][3] = 2
    with_records(ds, r)
    refused(ds, "steps.bin", "step 3: phase 2, but episode.json lists 2 phases")


def test_success_flag(ds: Path) -> None:
    r = records(ds)
    r["success"][1] = 7
    with_records(ds, r)
    refused(ds, "step 1: success is 7")


def test_frame_index_of_a_step(ds: Path) -> None:
    r = records(ds)
    r["frame"][3] = -1
    with_records(ds, r)
    refused(ds, "steps.bin", "step 3: frame is -1, expected 1")


def frames_bytes(root: Path) -> bytes:
    return (ep(root) / FRAMES_FILE).read_bytes()


def frame_record(step: int, images: list[tuple[int, bytes]]) -> bytes:
    out = step.to_bytes(4, "little")
    for encoding, data in images:
        out += bytes([encoding]) + len(data).to_bytes(4, "little") + data
    return out


def four_frames(parts: list[bytes]) -> bytes:
    return b"ECFRAME1" + (2).to_bytes(4, "little") + bytes(4) + b"".join(parts)


RAW = bytes(16 * 8 * 3)


def good_frames() -> list[bytes]:
    return [frame_record(s, [(1, RAW), (2, zlib.compress(RAW))]) for s in (0, 3, 6, 9)]


def test_frames_rewritten_good_frames_read(ds: Path) -> None:
    rewrite(ds, FRAMES_FILE, four_frames(good_frames()))  # raw and zlib encodings both read
    open_dataset(ds)


@pytest.mark.parametrize("make, fragments", [
    (lambda: b"ECFRAME0" + four_frames(good_frames())[8:], ["does not start with the ECFRAME1 header"]),
    (lambda: b"ECFRAME1" + (3).to_bytes(4, "little") + four_frames(good_frames())[12:],
     ["header says 3 cameras; dataset.json lists 2"]),
    (lambda: four_frames(good_frames())[:12] + (1).to_bytes(4, "little") + four_frames(good_frames())[16:],
     ["reserved field is 1"]),
    (lambda: four_frames(good_frames()[:3]), ["ends in frame 3 of 4"]),
    (lambda: four_frames(good_frames() + [b"x"]), ["1 bytes follow the last of 4 frames"]),
    (lambda: four_frames([good_frames()[0], good_frames()[0]] + good_frames()[2:]),
     ["frame 1 is at step 0, not after step 0"]),
    (lambda: four_frames(good_frames()[:3] + [frame_record(8, [(1, RAW), (1, RAW)])]),
     ["frame 3 is at step 8; expected step 9 of 10"]),
    (lambda: four_frames(good_frames()[:1] + [frame_record(3, [(1, RAW[:-1]), (1, RAW)])] + good_frames()[2:]),
     ["frame 1, camera 'scene': 383 bytes of raw RGB8; 16×8 makes 384"]),
    (lambda: four_frames(good_frames()[:2] + [frame_record(6, [(1, RAW), (2, zlib.compress(RAW[:-6]))])]
                         + good_frames()[3:]),
     ["frame 2, camera 'wrist': the image", "378 bytes, expected 384"]),
    (lambda: four_frames(good_frames()[:2] + [frame_record(6, [(1, RAW), (2, zlib.compress(RAW + b"x"))])]
                         + good_frames()[3:]),
     ["frame 2, camera 'wrist': the image decompresses to more than 384 bytes"]),
    (lambda: four_frames([frame_record(0, [(2, b"not zlib at all"), (1, RAW)])] + good_frames()[1:]),
     ["frame 0, camera 'scene': the image is not valid zlib data"]),
    (lambda: four_frames([frame_record(0, [(3, RAW), (1, RAW)])] + good_frames()[1:]),
     ["frame 0, camera 'scene': encoding 3 (1 = raw, 2 = zlib)"]),
    (lambda: four_frames(good_frames()[:3] + [frame_record(9, [(1, RAW)]) + bytes([1]) + (999).to_bytes(4, "little")]),
     ["frame 3, camera 'wrist': 999 bytes announced, 0 left"]),
])
def test_frames_corruptions(ds: Path, make: Callable[[], bytes], fragments: list[str]) -> None:
    rewrite(ds, FRAMES_FILE, make())
    refused(ds, "000000/frames.bin", *fragments)


def test_lazy_open_validates_each_episode_when_read(ds: Path) -> None:
    r = records(ds)
    r["phase"][0] = 9
    with_records(ds, r)
    d = open_dataset(ds, verify=False)  # sizes and JSON only
    d.episode(1)
    with pytest.raises(DatasetError, match="phase 9"):
        d.episode(0)


# --- §7 samples -----------------------------------------------------------------------------------------------


def test_action_stride() -> None:
    assert action_stride(0.05, 0.01) == 5 and action_stride(0.01, 0.01) == 1 and action_stride(0.02, 0.01) == 2
    with pytest.raises(DatasetError, match="not a whole multiple"):
        action_stride(0.015, 0.01)
    with pytest.raises(DatasetError):
        action_stride(0.005, 0.01)


def test_chunk_rows_hand_checked() -> None:
    # 10 steps, frames every 3 (t = 0, 3, 6, 9), s = 2, H = 3: row i of frame t is step t + 2(i+1) − 1.
    rows = chunk_steps(np.array([0, 3, 6, 9]), steps=10, stride=2, horizon=3)
    assert rows.tolist() == [[1, 3, 5], [4, 6, 8], [7, 9, 9], [9, 9, 9]]  # past the end: the last action again
    # s = 1: row 0 is the action commanded at the observation's own step.
    assert chunk_steps(np.array([0, 8]), steps=10, stride=1, horizon=3).tolist() == [[0, 1, 2], [8, 9, 9]]


def test_samples_follow_section_7(pristine: Path) -> None:
    d = open_dataset(pristine)
    s = make_samples([d], action_period=0.02, horizon=3)
    assert len(s) == 4 + 4 + 4  # 10, 11, 12 steps with a frame every 3 steps
    assert s.images.dtype == np.uint8 and s.images.shape == (12, 2, 8, 16, 3)
    first = d.episode(0)
    assert np.array_equal(s.images[:4], first.images)
    assert np.allclose(s.states[1], first.states[3])
    # Actions were written as action_joints[t] = t + j/10 and action_gripper[t] = 1000 + t.
    assert s.targets[:4, :, 6].tolist() == [[1001, 1003, 1005], [1004, 1006, 1008], [1007, 1009, 1009],
                                            [1009, 1009, 1009]]
    assert np.allclose(s.targets[2, 0, :6], 7 + np.arange(6) / 10)
    # Episode 1 has 11 steps: frame 3 (step 9) → steps 10, 10, 10.
    assert s.targets[7, :, 6].tolist() == [1010, 1010, 1010]
    assert s.instructions == ["put the red cube in the bin", "put the green cube in the bin"]
    assert s.instruction.tolist() == [0] * 8 + [1] * 4 and s.tasks == ["bin-red", "bin-red", "bin-green"]
    only = make_samples([d], action_period=0.01, horizon=2, tasks=["bin-green"])
    assert len(only) == 4 and only.targets[0, :, 6].tolist() == [1000, 1001]


def test_normalization_stats_floor_constant_dimensions() -> None:
    states = np.zeros((50, 7))
    states[:, 0] = np.linspace(-1, 1, 50)
    states[:, 6] = 0.085  # a gripper that never closes
    stats = normalization_stats(states, states)
    assert stats.state_std[0] == pytest.approx(np.std(np.linspace(-1, 1, 50)))
    assert stats.state_std[1] == 0.02 and stats.state_std[6] == 0.005
    assert stats.state_mean[6] == pytest.approx(0.085)
