"""§4 weight-only variants: bf16 rounding, int8 per-row quantisation, what changes and what does not."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from conftest import small_arch
from edgecell_policy.model import init_params
from edgecell_policy.quantize import (
    bf16_bits,
    bf16_to_f32,
    dequantize_int8,
    from_variant,
    quantize_int8,
    quantized_names,
    to_variant,
)


def f32(bits: int) -> np.ndarray:
    return np.array([bits], dtype=np.uint32).view(np.float32)


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (0x3F800000, 0x3F80),  # 1.0 exact
        (0x3F808000, 0x3F80),  # tie, even stays
        (0x3F818000, 0x3F82),  # tie, odd rounds up to even
        (0x3F808001, 0x3F81),  # above the tie
        (0x3F807FFF, 0x3F80),  # below the tie
        (0xBF818000, 0xBF82),  # negative tie
        (0x7F7FFFFF, 0x7F80),  # largest float rounds to +inf
        (0x7F800000, 0x7F80),  # +inf
        (0x00000001, 0x0000),  # smallest subnormal rounds to 0
    ],
)
def test_bf16_round_to_nearest_even(bits: int, expected: int) -> None:
    assert int(bf16_bits(f32(bits))[0]) == expected


def test_bf16_nan_stays_nan() -> None:
    out = bf16_to_f32(bf16_bits(np.array([np.nan, -np.nan], np.float32)))
    assert np.isnan(out).all()


def test_bf16_matches_ml_dtypes() -> None:
    rng = np.random.default_rng(0)
    scaled = (rng.standard_normal(100_000) * 10.0 ** rng.integers(-40, 38, 100_000)).astype(np.float32)
    any_bits = rng.integers(0, 2**32, 100_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = np.concatenate([scaled, any_bits])
    x = x[np.isfinite(x)]
    ours = bf16_bits(x)
    theirs = x.astype(ml_dtypes.bfloat16).view(np.uint16)
    assert np.array_equal(ours, theirs)
    assert np.array_equal(bf16_to_f32(ours), theirs.astype(np.uint32).__lshift__(16).view(np.float32))


def test_int8_rules() -> None:
    w = np.array([[2.5, -2.5, 1.5, 127.0, 0.5],  # scale 1: half-even rounding
                  [0.0, 0.0, 0.0, 0.0, 0.0],  # all zero: scale 1
                  [-3.0, 1.0, 0.0, 0.25, 2.0]], dtype=np.float32)
    q, scale = quantize_int8(w)
    assert q.dtype == np.int8 and scale.dtype == np.float32
    assert scale.tolist() == [1.0, 1.0, np.float32(3.0) / np.float32(127)]
    assert q[0].tolist() == [2, -2, 2, 127, 0]
    assert q[1].tolist() == [0, 0, 0, 0, 0]
    assert q[2].tolist() == [-127, 42, 0, 11, 85]  # 1/s = 42.33, 0.25/s = 10.58, 2/s = 84.67
    assert np.array_equal(dequantize_int8(q, scale), q.astype(np.float32) * scale[:, None])


def test_int8_error_is_at_most_half_a_step() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((64, 200)).astype(np.float32)
    q, scale = quantize_int8(w)
    assert np.abs(q).max() == 127 and q.min() >= -127
    err = np.abs(dequantize_int8(q, scale) - w)
    assert (err <= scale[:, None] * 0.5 * (1 + 1e-5)).all()


def test_int8_refuses_non_finite() -> None:
    with pytest.raises(ValueError):
        quantize_int8(np.array([[1.0, np.inf]], np.float32))


@pytest.mark.parametrize("variant", ["bf16", "int8"])
def test_variants_change_only_the_seven_matrices(variant: str) -> None:
    arch = small_arch(depth=3)
    params = init_params(arch, 12, seed=4, scheme="conformance")
    tensors, dtypes = to_variant(params, arch.depth, variant)
    names = set(quantized_names(arch.depth))
    assert len(names) == 2 + 4 * arch.depth + 1
    for name, value in params.items():
        if name in names:
            assert dtypes[name] == ("BF16" if variant == "bf16" else "I8")
        else:
            assert dtypes[name] == "F32" and np.array_equal(tensors[name], value)
    scales = {n for n in tensors if n.endswith(".scale")}
    assert scales == ({f"{n}.scale" for n in names} if variant == "int8" else set())
    back = from_variant(tensors, dtypes, arch.depth)
    assert set(back) == set(params)
    for name in names:
        rel = np.abs(back[name] - params[name]).max() / np.abs(params[name]).max()
        assert 0 < rel < (2**-8 if variant == "bf16" else 1 / 254 + 1e-6)
