"""Export a demonstration dataset (docs/DATASET.md) as a LeRobotDataset v3 (codebase_version "v3.0").

```
OUT/
  meta/info.json                                   codebase_version, fps, features, path templates, totals
  meta/stats.json                                  per-feature min/max/mean/std/count and quantiles
  meta/tasks.parquet                               task (the index) → task_index
  meta/episodes/chunk-000/file-000.parquet         one row per episode: length, tasks, data/video locations, stats
  data/chunk-000/file-000.parquet                  one row per frame: observation.state, action, timestamp,
                                                   frame_index, episode_index, index, task_index
  videos/observation.images.<camera>/chunk-000/file-000.mp4   every episode's frames back to back
```

LeRobot rows are frames: the export runs at the dataset's frame rate (1 / (control_period · frame_every), 10 Hz
for the twin's defaults), or a whole divisor of it (`fps`, every k-th frame). `observation.state` and `action`
are sampled at the frame steps: the state observed at step t and the action commanded at step t (the joint
targets for one control period later); the control-rate steps between frames are not exported. A LeRobot
"task" is the episode's natural-language instruction. Videos are H.264 (libx264, yuv420p, GOP 2, CRF 18) or
AV1 (libsvtav1) through PyAV, one file per camera with every episode's frames in order; an episode's frames sit
at [from_timestamp, to_timestamp) in it. The folder is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Dataset, DatasetError, open_dataset

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 500
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
TASKS_PATH = "meta/tasks.parquet"
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
CODECS = {"h264": ("libx264", {"crf": "18", "g": "2", "preset": "medium"}),
          "av1": ("libsvtav1", {"crf": "30", "g": "2", "preset": "8"})}


def export_fps(ds: Dataset, fps: int | None) -> tuple[int, int]:
    """(fps, k): the export's frame rate and the stride over the dataset's frames (every k-th frame)."""
    rate = 1.0 / ds.frame_period
    if fps is None:
        if abs(rate - round(rate)) > 1e-6 * rate or round(rate) < 1:
            raise DatasetError(f"{ds.path}: frames come at {rate:g} Hz, not a whole number; give --fps (a whole "
                               "divisor of it)")
        return round(rate), 1
    k = rate / fps
    if fps < 1 or abs(k - round(k)) > 1e-6 * k or round(k) < 1:
        raise DatasetError(f"--fps {fps}: the dataset has frames at {rate:g} Hz; the export can take every k-th frame "
                           f"(fps = {rate:g}/k), so fps must divide it")
    return fps, round(k)


def _stats(values: np.ndarray) -> dict[str, Any]:
    """LeRobot feature statistics over axis 0 (values [N, ...])."""
    v = np.asarray(values, np.float64)
    out: dict[str, Any] = {"min": v.min(0), "max": v.max(0), "mean": v.mean(0), "std": v.std(0),
                           "count": np.asarray([len(v)])}
    for q in QUANTILES:
        out[f"q{round(q * 100):02d}"] = np.quantile(v, q, axis=0)
    return out


def _image_stats(images: np.ndarray) -> dict[str, Any]:
    """Per-channel statistics of uint8 images [N, H, W, 3] scaled to 0…1, shaped [3, 1, 1] as LeRobot keeps them."""
    x = images.reshape(-1, 3).astype(np.float64) / 255.0
    out: dict[str, Any] = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0)}
    out = {k: v.reshape(3, 1, 1) for k, v in out.items()}
    out["count"] = np.asarray([len(images)])
    for q in QUANTILES:
        out[f"q{round(q * 100):02d}"] = np.quantile(x, q, axis=0).reshape(3, 1, 1)
    return out


def _aggregate(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Whole-dataset statistics from per-episode ones (means and variances weighted by counts; quantiles as the
    count-weighted mean of the episodes', as LeRobot aggregates them)."""
    counts = np.asarray([p["count"][0] for p in parts], np.float64)
    w = counts / counts.sum()

    def weighted(key: str) -> np.ndarray:
        return sum(wi * np.asarray(p[key], np.float64) for wi, p in zip(w, parts, strict=True))

    mean = weighted("mean")
    var = sum(wi * (np.asarray(p["std"], np.float64) ** 2 + (np.asarray(p["mean"]) - mean) ** 2)
              for wi, p in zip(w, parts, strict=True))
    out = {"min": np.min([p["min"] for p in parts], axis=0), "max": np.max([p["max"] for p in parts], axis=0),
           "mean": mean, "std": np.sqrt(var), "count": np.asarray([int(counts.sum())])}
    for key in parts[0]:
        if key.startswith("q"):
            out[key] = weighted(key)
    return out


def _listify(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: np.asarray(v).tolist() for k, v in stats.items()}


def _encode_video(path: Path, frames: np.ndarray, fps: int, codec: str) -> None:
    import av

    name, options = CODECS[codec]
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        raise DatasetError(f"images are {w}×{h}; yuv420p video needs even sizes")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(name, rate=fps, options=dict(options))
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _hf_features(features: dict[str, Any]) -> dict[str, Any]:
    """The Hugging Face `datasets` schema of the parquet columns (kept in the file's metadata)."""
    out: dict[str, Any] = {}
    for key, ft in features.items():
        if ft["dtype"] == "video":
            continue
        value = {"dtype": ft["dtype"], "_type": "Value"}
        out[key] = value if ft["shape"] == [1] else {"feature": value, "length": ft["shape"][0], "_type": "Sequence"}
    return out


def export(dataset: str | os.PathLike[str], out: str | os.PathLike[str], *, fps: int | None = None,
           codec: str = "h264", force: bool = False, log: Callable[[str], None] | None = None) -> str:
    """Writes the LeRobotDataset v3 export of `dataset` to `out`; returns a one-line summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    say = log or (lambda _m: None)
    if codec not in CODECS:
        raise DatasetError(f"unknown codec {codec!r}; choose from {', '.join(CODECS)}")
    ds = open_dataset(dataset, verify=False)
    if not ds.cameras:
        raise DatasetError(f"{ds.path}: has no cameras; a LeRobot export needs frames")
    fps, k = export_fps(ds, fps)
    out = Path(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        summary = _export(ds, tmp, fps, k, codec, say, pa, pq)
        if out.exists():
            if not force:
                raise DatasetError(f"{out}: exists")
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary.replace(str(tmp), str(out))


def _export(ds: Dataset, root: Path, fps: int, k: int, codec: str, say: Callable[[str], None], pa: Any,
            pq: Any) -> str:
    joints = list(ds.robot.joints)
    names = joints + ["gripper"]
    dim = len(names)
    video_keys = [f"observation.images.{c.name}" for c in ds.cameras]
    tasks: list[str] = []
    columns: dict[str, list[Any]] = {"observation.state": [], "action": [], "timestamp": [], "frame_index": [],
                                     "episode_index": [], "index": [], "task_index": []}
    episode_rows: list[dict[str, Any]] = []
    ep_stats: list[dict[str, dict[str, Any]]] = []
    videos: dict[str, list[np.ndarray]] = {key: [] for key in video_keys}
    total = 0
    for e, ep in enumerate(ds.episodes(load_frames=True)):
        assert ep.images is not None
        picks = np.arange(0, len(ep.frame_steps), k)
        steps = ep.frame_steps[picks]
        n = len(picks)
        if ep.meta.instruction not in tasks:
            tasks.append(ep.meta.instruction)
        task_index = tasks.index(ep.meta.instruction)
        state = ep.states[steps].astype(np.float32)
        action = ep.actions[steps].astype(np.float32)
        frame_index = np.arange(n, dtype=np.int64)
        timestamp = (frame_index / fps).astype(np.float32)
        index = np.arange(total, total + n, dtype=np.int64)
        columns["observation.state"].append(state)
        columns["action"].append(action)
        columns["timestamp"].append(timestamp)
        columns["frame_index"].append(frame_index)
        columns["episode_index"].append(np.full(n, e, np.int64))
        columns["index"].append(index)
        columns["task_index"].append(np.full(n, task_index, np.int64))
        start = sum(len(v) for v in videos[video_keys[0]])
        stats = {"observation.state": _stats(state), "action": _stats(action), "timestamp": _stats(timestamp),
                 "frame_index": _stats(frame_index), "episode_index": _stats(np.full(n, e)),
                 "index": _stats(index), "task_index": _stats(np.full(n, task_index))}
        row: dict[str, Any] = {"episode_index": e, "tasks": [ep.meta.instruction], "length": n,
                               "data/chunk_index": 0, "data/file_index": 0, "dataset_from_index": total,
                               "dataset_to_index": total + n}
        for c, key in enumerate(video_keys):
            frames = ep.images[picks, c]
            videos[key].append(frames)
            stats[key] = _image_stats(frames)
            row[f"videos/{key}/chunk_index"] = 0
            row[f"videos/{key}/file_index"] = 0
            row[f"videos/{key}/from_timestamp"] = start / fps
            row[f"videos/{key}/to_timestamp"] = (start + n) / fps
        row["meta/episodes/chunk_index"] = 0
        row["meta/episodes/file_index"] = 0
        for feature, st in stats.items():
            for name, value in st.items():
                row[f"stats/{feature}/{name}"] = np.asarray(value).tolist()
        row["edgecell/task"] = ep.meta.task
        row["edgecell/seed"] = ep.meta.seed
        row["edgecell/source"] = ep.meta.source
        row["edgecell/success"] = ep.meta.success
        episode_rows.append(row)
        ep_stats.append(stats)
        total += n
        if (e + 1) % 50 == 0:
            say(f"read {e + 1}/{len(ds.episode_meta)} episodes")

    c0 = ds.cameras[0]
    features: dict[str, Any] = {
        "observation.state": {"dtype": "float32", "shape": [dim], "names": names},
        "action": {"dtype": "float32", "shape": [dim], "names": names},
    }
    for cam, key in zip(ds.cameras, video_keys, strict=True):
        features[key] = {"dtype": "video", "shape": [cam.height, cam.width, 3],
                         "names": ["height", "width", "channels"],
                         "info": {"video.height": cam.height, "video.width": cam.width,
                                  "video.codec": codec, "video.pix_fmt": "yuv420p", "video.is_depth_map": False,
                                  "video.fps": fps, "video.channels": 3, "has_audio": False}}
    for key, dtype in (("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"),
                       ("index", "int64"), ("task_index", "int64")):
        features[key] = {"dtype": dtype, "shape": [1], "names": None}

    # data/
    vec = pa.list_(pa.float32(), dim)
    arrays = {
        "observation.state": pa.FixedSizeListArray.from_arrays(
            pa.array(np.concatenate(columns["observation.state"]).reshape(-1)), dim),
        "action": pa.FixedSizeListArray.from_arrays(pa.array(np.concatenate(columns["action"]).reshape(-1)), dim),
    }
    for key in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        arrays[key] = pa.array(np.concatenate(columns[key]))
    assert arrays["action"].type == vec
    hf_meta = json.dumps({"info": {"features": _hf_features(features)}})
    table = pa.table(arrays).replace_schema_metadata({"huggingface": hf_meta})
    path = root / DATA_PATH.format(chunk_index=0, file_index=0)
    path.parent.mkdir(parents=True)
    pq.write_table(table, path, compression="snappy")

    # videos/
    for key in video_keys:
        _encode_video(root / VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0),
                      np.concatenate(videos[key]), fps, codec)
        say(f"encoded {key} ({total} frames, {codec})")

    # meta/tasks.parquet: the task string is the (pandas) index, as LeRobot writes it.
    pandas_meta = {"index_columns": ["task"], "column_indexes": [],
                   "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                                "numpy_type": "int64", "metadata": None},
                               {"name": "task", "field_name": "task", "pandas_type": "unicode",
                                "numpy_type": "object", "metadata": None}],
                   "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.3"}
    tasks_table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks)})
    tasks_table = tasks_table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)})
    (root / "meta").mkdir(exist_ok=True)
    pq.write_table(tasks_table, root / TASKS_PATH)

    # meta/episodes/
    path = root / EPISODES_PATH.format(chunk_index=0, file_index=0)
    path.parent.mkdir(parents=True)
    ep_table = pa.Table.from_pylist(episode_rows)
    pq.write_table(ep_table, path, compression="snappy")

    # meta/stats.json, meta/info.json
    stats_all = {feature: _listify(_aggregate([s[feature] for s in ep_stats])) for feature in ep_stats[0]}
    (root / "meta" / "stats.json").write_text(json.dumps(stats_all, indent=4) + "\n")
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": ds.robot.name, "total_episodes": len(episode_rows),
            "total_frames": total, "total_tasks": len(tasks), "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB, "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB,
            "fps": fps, "splits": {"train": f"0:{len(episode_rows)}"}, "data_path": DATA_PATH,
            "video_path": VIDEO_PATH, "features": features}
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=4) + "\n")
    return (f"exported {ds.path} to {root}: {len(episode_rows)} episodes, {total} frames at {fps} fps "
            f"({c0.width}×{c0.height}, {len(video_keys)} camera(s), {codec}), {len(tasks)} task(s)")

