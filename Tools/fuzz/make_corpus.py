"""Writes the seed corpora of Tools/fuzz (small valid inputs the fuzzer mutates): safetensors files with the
dtypes and layouts the kernel reads, twin-protocol messages of every type a runtime decodes, and (when run
with the venv's Python, which has edgecell_policy) one-episode datasets in dataset_fuzz.py's input layout."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path


def safetensors(tensors: dict[str, tuple[str, list[int], bytes]], metadata: dict[str, str] | None = None) -> bytes:
    header: dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    blobs = []
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def main(root: Path) -> None:
    out = root / "safetensors"
    out.mkdir(parents=True, exist_ok=True)
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.25)
    seeds = {
        "empty.safetensors": safetensors({}),
        "f32.safetensors": safetensors({"a.weight": ("F32", [2, 2], f32)}, {"format": "pt"}),
        "mixed.safetensors": safetensors({
            "w": ("BF16", [2, 3], bytes(12)), "q": ("I8", [4], b"\x01\xff\x7f\x80"),
            "s": ("F32", [1], struct.pack("<f", 0.25)), "scalar": ("F32", [], struct.pack("<f", 7.0)),
        }, {"format": "edgecell-vla", "variant": "int8"}),
        "zero-dim.safetensors": safetensors({"z": ("F32", [0, 3], b"")}),
    }
    for name, data in seeds.items():
        (out / name).write_bytes(data)
    print(f"wrote {len(seeds)} seeds to {out}")

    # The protocol's cross-language test vectors (valid and invalid), in protocol_fuzz.swift's input layout:
    # byte 0 = frames after frame 0, their u16 sizes, then frame 0.
    vectors = json.loads((root.parent.parent.parent / "Sim/tests/vectors/vectors.json").read_text())["vectors"]
    out = root / "protocol"
    out.mkdir(parents=True, exist_ok=True)
    for vector in vectors:
        frames = [bytes.fromhex(f) for f in vector["frames"]]
        if not frames or len(frames) > 4 or len(frames[0]) > 8192:
            continue
        data = bytes([len(frames) - 1]) + b"".join(struct.pack("<H", min(len(f), 0xFFFF)) for f in frames[1:])
        (out / f"{vector['name']}.bin").write_bytes(data + frames[0])
    print(f"wrote {len(list(out.iterdir()))} seeds to {out}")

    # One-episode datasets written by the Python writer (the Swift writer's format), packed as dataset_fuzz.py
    # reads them: small frames so the fuzzer can mutate every byte.
    tools = root.parent.parent
    sys.path[:0] = [str(tools), str(tools / "tests"), str(root.parent)]
    try:
        from conftest import make_fixture_dataset  # the tests' dataset builder
        from dataset_fuzz import FILES, pack
    except ImportError as e:
        print(f"dataset seeds skipped ({e}): run with .venv/bin/python")
        return
    import tempfile

    out = root / "dataset"
    out.mkdir(parents=True, exist_ok=True)
    shapes = {
        "one-camera": dict(cameras=("scene",), size=(8, 6), steps=12, frame_every=4),
        "two-cameras-objects": dict(cameras=("scene", "wrist"), size=(4, 4), steps=9, frame_every=3, objects=True),
        "every-step-frames": dict(cameras=("scene",), size=(2, 2), steps=5, frame_every=1),
    }
    for name, kwargs in shapes.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = make_fixture_dataset(Path(tmp) / "ds", {"bin-red": 1}, **kwargs)  # type: ignore[arg-type]
            (out / f"{name}.bin").write_bytes(pack([(folder / f).read_bytes() for f in FILES]))
    print(f"wrote {len(shapes)} seeds to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "corpus")
