"""Our safetensors writer and strict reader, against the `safetensors` package."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import ml_dtypes  # noqa: F401  (lets safetensors' numpy API return bfloat16)
import numpy as np
import pytest
from safetensors import safe_open

from edgecell_policy import tensorfile
from edgecell_policy.quantize import bf16_bits
from edgecell_policy.tensorfile import TensorFileError, decode, encode


def sample() -> tuple[dict[str, np.ndarray], dict[str, str]]:
    rng = np.random.default_rng(0)
    tensors = {
        "a.f32": rng.standard_normal((3, 5)).astype(np.float32),
        "b.bf16": bf16_bits(rng.standard_normal((7,)).astype(np.float32)),
        "c.i8": rng.integers(-127, 128, (5, 3), dtype=np.int8),
        "d.u8": rng.integers(0, 256, (2, 3, 3), dtype=np.uint8),
        "e.i32": np.arange(5, dtype=np.int32),
        "f.scalar1": np.array([7], dtype=np.int32),
    }
    return tensors, {"b.bf16": "BF16"}


def test_round_trip_and_layout(tmp_path: Path) -> None:
    tensors, dtypes = sample()
    data = tensorfile.write(tmp_path / "x.safetensors", tensors, {"k": "v"}, dtypes)
    back, meta, kinds = tensorfile.read(tmp_path / "x.safetensors")
    assert meta == {"k": "v"}
    assert kinds == {"a.f32": "F32", "b.bf16": "BF16", "c.i8": "I8", "d.u8": "U8", "e.i32": "I32", "f.scalar1": "I32"}
    for name, value in tensors.items():
        assert back[name].dtype == value.dtype and np.array_equal(back[name], value)
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0
    header = json.loads(data[8 : 8 + n])
    for name, info in header.items():
        if name != "__metadata__":
            size = tensorfile.DTYPES[info["dtype"]].itemsize
            assert (8 + n + info["data_offsets"][0]) % size == 0, f"{name} is not aligned to its element size"
    assert encode(tensors, {"k": "v"}, dtypes) == data, "deterministic bytes"


def test_the_safetensors_package_reads_our_files(tmp_path: Path) -> None:
    tensors, dtypes = sample()
    tensorfile.write(tmp_path / "x.safetensors", tensors, {"k": "v"}, dtypes)
    with safe_open(str(tmp_path / "x.safetensors"), framework="numpy") as f:
        assert f.metadata() == {"k": "v"}
        assert set(f.keys()) == set(tensors)
        for name, value in tensors.items():
            theirs = f.get_tensor(name)
            if name == "b.bf16":
                theirs = theirs.view(np.uint16)
            assert np.array_equal(theirs, value)


def corrupt(data: bytes, edit: object) -> bytes:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    edit(header)  # type: ignore[operator]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n :]


def test_strict_reader_errors() -> None:
    tensors, dtypes = sample()
    data = encode(tensors, None, dtypes)
    with pytest.raises(TensorFileError, match="shorter than"):
        decode(data[:5])
    with pytest.raises(TensorFileError, match="runs past"):
        decode(struct.pack("<Q", 10**6) + data[8:])
    with pytest.raises(TensorFileError, match="not JSON"):
        decode(struct.pack("<Q", 4) + b"{abc" + data[8:])
    with pytest.raises(TensorFileError, match="after the last tensor"):
        decode(data + b"\0\0\0\0")

    def overlap(h: dict) -> None:
        h["e.i32"]["data_offsets"] = list(h["a.f32"]["data_offsets"][:1]) + [h["a.f32"]["data_offsets"][0] + 20]

    with pytest.raises(TensorFileError, match="gap or overlap"):
        decode(corrupt(data, overlap))

    def bad_shape(h: dict) -> None:
        h["a.f32"]["shape"] = [3, 4]

    with pytest.raises(TensorFileError, match="bytes for F32"):
        decode(corrupt(data, bad_shape))

    def bad_dtype(h: dict) -> None:
        h["a.f32"]["dtype"] = "F16"

    with pytest.raises(TensorFileError, match="not supported"):
        decode(corrupt(data, bad_dtype))

    def out_of_bounds(h: dict) -> None:
        h["d.u8"]["data_offsets"] = [10**6, 10**6 + 18]

    with pytest.raises(TensorFileError, match="outside"):
        decode(corrupt(data, out_of_bounds))
