"""libFuzzer target (atheris) for the Python dataset reader the trainer uses (Tools/edgecell_policy/dataset.py).

One input is a whole one-episode dataset: four little-endian uint32 lengths, then dataset.json, episode.json,
steps.bin and frames.bin back to back (a length past the end takes what is left). The harness writes the four
files into a scratch folder and, when episode.json is an object with a `files` table, rewrites the recorded
sizes and SHA-256 of steps.bin and frames.bin to the actual ones (a checksum fix-up, so mutations reach the
parsers behind the hash check). Then it opens the dataset with verification and reads episode 0 with frames.
The reader must accept the data or raise `DatasetError`; any other exception, a hang or a crash is a finding.

    Tools/fuzz/run dataset        (installs atheris into .venv on first use)
    Tools/fuzz/make_corpus.py     (writes the seeds, Tools/fuzz/corpus/dataset)
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from edgecell_policy.dataset import DatasetError, open_dataset

FILES = ("dataset.json", "episodes/000000/episode.json", "episodes/000000/steps.bin", "episodes/000000/frames.bin")
SCRATCH = Path(tempfile.mkdtemp(prefix="edgecell-dataset-fuzz-"))
atexit.register(shutil.rmtree, SCRATCH, True)


def pack(parts: list[bytes]) -> bytes:
    """The input format: the four files' lengths, then their bytes."""
    return struct.pack("<4I", *(len(p) for p in parts)) + b"".join(parts)


def unpack(data: bytes) -> list[bytes]:
    if len(data) < 16:
        return [data, b"", b"", b""]
    lengths = struct.unpack("<4I", data[:16])
    parts, at = [], 16
    for n in lengths:
        parts.append(data[at : at + n])
        at += n
    return parts


def fix_up(episode_json: bytes, steps: bytes, frames: bytes) -> bytes:
    try:
        meta = json.loads(episode_json)
    except (ValueError, RecursionError):
        return episode_json
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        return episode_json
    for name, content in (("steps.bin", steps), ("frames.bin", frames)):
        entry = meta["files"].get(name)
        if isinstance(entry, dict):
            entry["bytes"] = len(content)
            entry["sha256"] = hashlib.sha256(content).hexdigest()
    return json.dumps(meta).encode()


def one_input(data: bytes) -> None:
    index, episode, steps, frames = unpack(data)
    episode = fix_up(episode, steps, frames)
    shutil.rmtree(SCRATCH / "episodes", ignore_errors=True)
    (SCRATCH / "episodes" / "000000").mkdir(parents=True)
    for name, content in zip(FILES, (index, episode, steps, frames), strict=True):
        (SCRATCH / name).write_bytes(content)
    try:
        ds = open_dataset(SCRATCH, verify=True)
        if ds.episode_meta:
            ds.episode(0, load_frames=True)
    except DatasetError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    main()
