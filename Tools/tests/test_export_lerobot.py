"""LeRobotDataset v3 export: the layout, parquet columns and values (read back with pyarrow), the videos
(decoded with PyAV: frame count, size, timestamps, pixels close to the source), the metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_fixture_dataset
from edgecell_policy.__main__ import main
from edgecell_policy.dataset import DatasetError, open_dataset
from edgecell_policy.export_lerobot import export

av = pytest.importorskip("av")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fixture_dataset(tmp_path_factory.mktemp("lr") / "demo", {"bin-red": 2, "stack-blue-green": 1},
                                steps=30, cameras=("scene", "wrist"), size=(32, 24), frame_every=5)


@pytest.fixture(scope="module")
def exported(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lr-out") / "lerobot"
    export(source, out)
    return out


def decode(path: Path) -> tuple[list[np.ndarray], list[float]]:
    with av.open(str(path)) as c:
        frames, times = [], []
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(float(f.pts * f.time_base))
    return frames, times


def test_layout(exported: Path) -> None:
    files = sorted(str(p.relative_to(exported)) for p in exported.rglob("*") if p.is_file())
    assert files == ["data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet", "meta/info.json",
                     "meta/stats.json", "meta/tasks.parquet",
                     "videos/observation.images.scene/chunk-000/file-000.mp4",
                     "videos/observation.images.wrist/chunk-000/file-000.mp4"]
    assert not list(exported.parent.glob(".lerobot.tmp-*"))


def test_info(exported: Path) -> None:
    info = json.loads((exported / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 20  # frames every 5 steps of 0.01 s
    assert info["total_episodes"] == 3 and info["total_frames"] == 6 + 7 + 7 and info["total_tasks"] == 2
    assert info["robot_type"] == "UR5e" and info["splits"] == {"train": "0:3"}
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    f = info["features"]
    assert f["observation.state"] == {"dtype": "float32", "shape": [7], "names": [
        "shoulder_pan", "shoulder_lift", "elbow", "wrist_1", "wrist_2", "wrist_3", "gripper"]}
    assert f["action"]["shape"] == [7]
    cam = f["observation.images.wrist"]
    assert cam["dtype"] == "video" and cam["shape"] == [24, 32, 3] and cam["names"] == ["height", "width", "channels"]
    assert cam["info"]["video.fps"] == 20 and cam["info"]["video.codec"] == "h264"
    for key in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        assert f[key]["shape"] == [1]


def test_data_parquet_round_trip(exported: Path, source: Path) -> None:
    table = pq.read_table(exported / "data" / "chunk-000" / "file-000.parquet")
    assert table.column_names == ["observation.state", "action", "timestamp", "frame_index", "episode_index", "index",
                                  "task_index"]
    assert table.num_rows == 20
    d = table.to_pydict()
    assert d["index"] == list(range(20))
    assert d["episode_index"] == [0] * 6 + [1] * 7 + [2] * 7
    assert d["frame_index"][:8] == [0, 1, 2, 3, 4, 5, 0, 1]
    assert d["timestamp"][:3] == pytest.approx([0.0, 0.05, 0.1])
    assert d["task_index"] == [0] * 13 + [1] * 7
    ds = open_dataset(source)
    ep1 = ds.episode(1)
    state = np.asarray(d["observation.state"][6:13], np.float32)
    action = np.asarray(d["action"][6:13], np.float32)
    assert np.array_equal(state, ep1.states[ep1.frame_steps].astype(np.float32))  # sampled at the frame steps
    assert np.array_equal(action, ep1.actions[ep1.frame_steps].astype(np.float32))


def test_tasks_and_episodes_metadata(exported: Path) -> None:
    tasks = pq.read_table(exported / "meta" / "tasks.parquet")
    assert tasks.to_pydict() == {"task_index": [0, 1], "task": ["put the red cube in the bin",
                                                               "stack the blue cube on the green cube"]}
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    eps = pq.read_table(exported / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    assert [e["length"] for e in eps] == [6, 7, 7]
    assert [(e["dataset_from_index"], e["dataset_to_index"]) for e in eps] == [(0, 6), (6, 13), (13, 20)]
    assert eps[2]["tasks"] == ["stack the blue cube on the green cube"]
    assert eps[1]["videos/observation.images.scene/from_timestamp"] == pytest.approx(6 / 20)
    assert eps[1]["videos/observation.images.scene/to_timestamp"] == pytest.approx(13 / 20)
    assert eps[0]["stats/action/count"] == [6] and len(eps[0]["stats/observation.state/mean"]) == 7
    assert np.asarray(eps[0]["stats/observation.images.scene/mean"]).shape == (3, 1, 1)
    assert eps[2]["edgecell/task"] == "stack-blue-green"


def test_videos_decode(exported: Path, source: Path) -> None:
    ds = open_dataset(source)
    originals = np.concatenate([e.images for e in ds.episodes()])
    for c, cam in enumerate(("scene", "wrist")):
        frames, times = decode(exported / "videos" / f"observation.images.{cam}" / "chunk-000" / "file-000.mp4")
        assert len(frames) == 20 and frames[0].shape == (24, 32, 3)
        assert times == pytest.approx([k / 20 for k in range(20)], abs=1e-3)
        # Lossy (yuv420p halves the chroma resolution of the fixture's per-pixel noise), but the content is there:
        # 8×8 block means agree within a few grey levels (a little more at the red square's sharp edges).
        def blocks(img: np.ndarray) -> np.ndarray:
            return img.astype(float).reshape(3, 8, 4, 8, 3).mean(axis=(1, 3))

        err = np.asarray([np.abs(blocks(f) - blocks(originals[k, c])) for k, f in enumerate(frames)])
        assert err.mean() < 3 and err.max() < 12, (err.mean(), err.max())


def test_stats(exported: Path, source: Path) -> None:
    stats = json.loads((exported / "meta" / "stats.json").read_text())
    table = pq.read_table(exported / "data" / "chunk-000" / "file-000.parquet").to_pydict()
    state = np.asarray(table["observation.state"], np.float64)
    assert np.allclose(stats["observation.state"]["mean"], state.mean(0), atol=1e-5)
    assert np.allclose(stats["observation.state"]["std"], state.std(0), atol=1e-5)
    assert np.allclose(stats["observation.state"]["min"], state.min(0))
    assert stats["action"]["count"] == [20]
    assert np.asarray(stats["observation.images.wrist"]["mean"]).shape == (3, 1, 1)


def test_fps_subsampling_and_refusals(source: Path, tmp_path: Path) -> None:
    export(source, tmp_path / "ten", fps=10)  # every 2nd frame
    table = pq.read_table(tmp_path / "ten" / "data" / "chunk-000" / "file-000.parquet")
    assert table.num_rows == 3 + 4 + 4
    frames, _ = decode(tmp_path / "ten" / "videos" / "observation.images.scene" / "chunk-000" / "file-000.mp4")
    assert len(frames) == 11
    with pytest.raises(DatasetError, match="fps must divide it"):
        export(source, tmp_path / "bad", fps=15)
    assert not (tmp_path / "bad").exists()


def test_cli(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["export-lerobot", str(source), "--out", str(out), "--codec", "av1"]) == 0
    assert "3 episodes, 20 frames at 20 fps" in capsys.readouterr().out
    frames, _ = decode(out / "videos" / "observation.images.scene" / "chunk-000" / "file-000.mp4")
    assert len(frames) == 20
    assert main(["export-lerobot", str(source), "--out", str(out)]) == 2 and "exists" in capsys.readouterr().err
    assert main(["export-lerobot", str(source), "--out", str(out), "--force"]) == 0
