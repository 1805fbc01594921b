"""Weight-only variants (Models/README.md §4): bf16 and per-row symmetric int8, and their dequantisation.

Only the seven kinds of weight matrix are quantised (`quantized_names`); everything else stays fp32.

Error bounds. `BF16_BOUND` / `INT8_BOUND` bound max |actions_normalized(variant) − actions_normalized(fp32)|
(absolute, over every H × A number of every golden case) for the random-init models we build: the fixtures
and the default and d=512 architectures, "standard" and "conformance" init, several seeds. Measured maxima:
bf16 1.3e-2 (standard init 5.8e-3), int8 3.6e-2 (standard init 2.2e-2); the bounds keep a ≥ 2× margin and
are asserted by the tests. The C kernel must match each variant's own golden output within 1e-4 and the fp32
golden output within these bounds. A trained model's errors are in its golden file
(`python -m edgecell_policy info DIR` prints them); re-check them against these bounds after training.
"""

from __future__ import annotations

import numpy as np

#: Max |actions_normalized(variant) − actions_normalized(fp32)|, stated and tested (see above).
BF16_BOUND = 0.03
INT8_BOUND = 0.08


def quantized_names(depth: int) -> list[str]:
    """The names of the weight matrices a variant stores as BF16 or I8."""
    names = ["patch.weight", "state.weight"]
    for layer in range(depth):
        for part in ("attn.qkv", "attn.out", "mlp.fc1", "mlp.fc2"):
            names.append(f"blocks.{layer}.{part}.weight")
    names.append("head.weight")
    return names


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """The bf16 bit patterns (uint16) of fp32 `x`: the upper 16 bits, rounded to nearest, ties to even.
    NaN stays a (quiet) NaN; values that round past the largest bf16 become ±inf, as in IEEE."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    out = rounded.astype(np.uint16)
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    if nan.any():
        out[nan] = ((bits[nan] >> 16) | 0x0040).astype(np.uint16)
    return out


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """fp32 values of bf16 bit patterns (exact)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def quantize_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q int8 [rows, cols], scale float32 [rows]) of a [out, in] matrix: `scale[r] = max_c |W[r, c]| / 127`
    (1 if the row is all zero), `q = round_half_even(W / scale)` clamped to −127…127, all in fp32."""
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"int8 quantisation needs a matrix, got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("int8 quantisation of non-finite weights")
    peak = np.max(np.abs(w), axis=1) if w.shape[1] else np.zeros(w.shape[0], np.float32)
    scale = (peak / np.float32(127)).astype(np.float32)
    scale[peak == 0] = np.float32(1)
    q = np.rint(w / scale[:, None]).astype(np.float32)  # rint: round half to even
    q = np.clip(q, -127, 127).astype(np.int8)
    return q, scale


def dequantize_int8(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """`q · scale[r]` in fp32."""
    return (np.asarray(q, dtype=np.int8).astype(np.float32) * np.asarray(scale, dtype=np.float32)[:, None]).astype(
        np.float32
    )


def to_variant(params: dict[str, np.ndarray], depth: int, variant: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, safetensors dtype names) of the `variant` ("fp32", "bf16", "int8") file for fp32 `params`."""
    tensors = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    dtypes = {k: "F32" for k in tensors}
    if variant == "fp32":
        return tensors, dtypes
    for name in quantized_names(depth):
        if variant == "bf16":
            tensors[name] = bf16_bits(params[name])
            dtypes[name] = "BF16"
        elif variant == "int8":
            q, s = quantize_int8(params[name])
            tensors[name] = q
            dtypes[name] = "I8"
            tensors[f"{name}.scale"] = s
            dtypes[f"{name}.scale"] = "F32"
        else:
            raise ValueError(f"unknown variant {variant!r}; expected fp32, bf16 or int8")
    return tensors, dtypes


def from_variant(tensors: dict[str, np.ndarray], dtypes: dict[str, str], depth: int) -> dict[str, np.ndarray]:
    """fp32 parameters (dequantised) of a variant file's tensors."""
    params: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        if name.endswith(".scale"):
            continue
        kind = dtypes[name]
        if kind == "F32":
            params[name] = np.asarray(value, dtype=np.float32)
        elif kind == "BF16":
            params[name] = bf16_to_f32(value)
        elif kind == "I8":
            params[name] = dequantize_int8(value, tensors[f"{name}.scale"])
        else:
            raise ValueError(f"tensor {name!r}: unexpected dtype {kind}")
    return params


def dequantized(params: dict[str, np.ndarray], depth: int, variant: str) -> dict[str, np.ndarray]:
    """The fp32 weights a `variant` file stands for (fp32 round trip through the variant)."""
    tensors, dtypes = to_variant(params, depth, variant)
    return from_variant(tensors, dtypes, depth)
