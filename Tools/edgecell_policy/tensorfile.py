"""A strict reader and a deterministic writer for safetensors files (Models/README.md §4).

We write the format ourselves (it is an 8-byte little-endian header length, a JSON header, the data) rather
than through the `safetensors` package so that the bytes are fully determined by the tensors: the header is
compact JSON with sorted keys, padded with spaces to a multiple of 8; tensors are laid out by decreasing
element size then name, back to back, so every tensor starts at a multiple of its element size (the C kernel
memory-maps the file). The tests check that the `safetensors` package reads our files identically.

BF16 tensors are held in numpy as `uint16` arrays of the raw bits (see `quantize`), tagged with the dtype
name in the `dtypes` map returned by `read`/accepted by `write`.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .config import atomic_write_bytes

# safetensors dtype name -> (numpy dtype, element size)
DTYPES: dict[str, np.dtype] = {
    "F32": np.dtype("<f4"),
    "BF16": np.dtype("<u2"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
}
_NUMPY_TO_NAME = {np.dtype("<f4"): "F32", np.dtype("<i4"): "I32", np.dtype("<i8"): "I64", np.dtype("i1"): "I8",
                  np.dtype("u1"): "U8"}
MAX_HEADER = 100 * 1024 * 1024


class TensorFileError(ValueError):
    """A file that is not a valid safetensors file; the message names the file and the problem."""


def _dtype_name(name: str, array: np.ndarray, dtypes: Mapping[str, str] | None) -> str:
    if dtypes and name in dtypes:
        dt = dtypes[name]
        if dt not in DTYPES or DTYPES[dt] != array.dtype.newbyteorder("<"):
            raise ValueError(f"tensor {name!r}: dtype {dt} does not match numpy {array.dtype}")
        return dt
    try:
        return _NUMPY_TO_NAME[array.dtype.newbyteorder("<")]
    except KeyError:
        raise ValueError(f"tensor {name!r}: numpy dtype {array.dtype} has no safetensors name here") from None


def encode(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None,
           dtypes: Mapping[str, str] | None = None) -> bytes:
    """The bytes of a safetensors file holding `tensors` (and string `metadata`)."""
    names = list(tensors)
    kinds = {n: _dtype_name(n, np.asarray(tensors[n]), dtypes) for n in names}
    order = sorted(names, key=lambda n: (-DTYPES[kinds[n]].itemsize, n))
    header: dict[str, object] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(v, str):
                raise ValueError(f"metadata {k!r}: {v!r} is not a string")
        header["__metadata__"] = dict(sorted(metadata.items()))
    chunks: list[bytes] = []
    offset = 0
    for n in order:
        a = np.ascontiguousarray(np.asarray(tensors[n]), dtype=DTYPES[kinds[n]])
        data = a.tobytes()
        header[n] = {"dtype": kinds[n], "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def write(path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None,
          dtypes: Mapping[str, str] | None = None) -> bytes:
    """Writes a safetensors file atomically; returns its bytes (for hashing)."""
    data = encode(tensors, metadata, dtypes)
    atomic_write_bytes(path, data)
    return data


def decode(data: bytes, source: str = "<bytes>") -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """(tensors, metadata, dtype names) of a safetensors file's bytes, validating the layout strictly: header
    length within the file, JSON object, known dtypes, shapes matching byte counts, offsets in bounds and
    covering the data exactly (no gaps or overlaps)."""
    if len(data) < 8:
        raise TensorFileError(f"{source}: {len(data)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise TensorFileError(f"{source}: header length {n} runs past the end of the {len(data)}-byte file")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TensorFileError(f"{source}: header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise TensorFileError(f"{source}: header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise TensorFileError(f"{source}: __metadata__ must map names to strings")
    body = memoryview(data)[8 + n :]
    spans: list[tuple[int, int, str]] = []
    tensors: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for name, info in header.items():
        if not isinstance(info, dict):
            raise TensorFileError(f"{source}: tensor {name!r}: entry is not an object")
        dt, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dt not in DTYPES:
            raise TensorFileError(f"{source}: tensor {name!r}: dtype {dt!r} is not supported")
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                  for s in shape):
            raise TensorFileError(f"{source}: tensor {name!r}: bad shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise TensorFileError(f"{source}: tensor {name!r}: bad data_offsets {offsets!r}")
        begin, end = offsets
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not 0 <= begin <= end <= len(body):
            raise TensorFileError(
                f"{source}: tensor {name!r}: data_offsets {offsets} outside the {len(body)}-byte data"
            )
        want = count * DTYPES[dt].itemsize
        if end - begin != want:
            raise TensorFileError(f"{source}: tensor {name!r}: {end - begin} bytes for {dt} {shape} ({want} expected)")
        spans.append((begin, end, name))
        tensors[name] = np.frombuffer(body[begin:end], dtype=DTYPES[dt]).reshape(shape).copy()
        kinds[name] = dt
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise TensorFileError(f"{source}: tensor {name!r} starts at {begin}, expected {position} (gap or overlap)")
        position = end
    if position != len(body):
        raise TensorFileError(f"{source}: {len(body) - position} bytes after the last tensor")
    return tensors, dict(metadata), kinds


def read(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """`decode` of a file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TensorFileError(f"{path}: cannot read: {e.strerror or e}") from None
    return decode(data, str(path))
