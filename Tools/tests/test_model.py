"""The JAX network against the independent numpy reference; masking; batching; init; FLOP count."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import small_arch
from edgecell_policy.config import Architecture
from edgecell_policy.folder import expected_tensors, new_config
from edgecell_policy.model import (
    flops,
    init_params,
    make_forward,
    make_forward_batch,
    param_shapes,
    parameter_count,
    to_device,
)
from edgecell_policy.reference import reference_forward

VOCAB = 12
ARCHS = {
    "tiny": small_arch(),
    "keypoints-two-cameras": small_arch(cameras=("scene", "wrist"), image_width=32, image_height=16, keypoints=3),
    "two-cameras-non-square-3-heads": small_arch(cameras=("scene", "wrist"), image_width=48, image_height=32,
                                                 width=48, heads=3, mlp_width=96, horizon=5, max_text_tokens=8),
    "patch-8-depth-3": small_arch(patch_size=8, image_width=16, image_height=24, depth=3, heads=4, horizon=3,
                                  state_dim=5, action_dim=3),
}


def inputs(arch: Architecture, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (arch.num_cameras, arch.image_height, arch.image_width, 3), dtype=np.uint8)
    tokens = rng.integers(0, VOCAB, arch.max_text_tokens).astype(np.int32)
    state = rng.standard_normal(arch.state_dim).astype(np.float32)
    return images, tokens, state


@pytest.mark.parametrize("scheme", ["standard", "conformance"])
@pytest.mark.parametrize("name", list(ARCHS))
def test_jax_matches_numpy_reference(name: str, scheme: str) -> None:
    arch = ARCHS[name]
    params = init_params(arch, VOCAB, seed=11, scheme=scheme)
    f = make_forward(arch)
    p = to_device(params)
    images, tokens, state = inputs(arch, 3)
    for n in sorted({0, 1, arch.max_text_tokens // 2, arch.max_text_tokens}):
        ours = np.asarray(f(p, images, tokens, np.int32(n), state))
        ref = reference_forward(arch, params, images, tokens, n, state)
        assert ours.shape == (arch.horizon, arch.action_dim) and ours.dtype == np.float32
        assert np.abs(ours - ref).max() <= 1e-5, f"n={n}"


@pytest.mark.parametrize("name", list(ARCHS))
def test_padding_tokens_change_nothing(name: str) -> None:
    arch = ARCHS[name]
    params = to_device(init_params(arch, VOCAB, seed=5, scheme="conformance"))
    f = make_forward(arch)
    images, tokens, state = inputs(arch, 4)
    rng = np.random.default_rng(9)
    for n in range(arch.max_text_tokens):
        base = np.asarray(f(params, images, tokens, np.int32(n), state))
        other = tokens.copy()
        other[n:] = rng.integers(0, VOCAB, arch.max_text_tokens - n)
        assert np.array_equal(np.asarray(f(params, images, other, np.int32(n), state)), base)
        # ... while a visible token does matter
        if n > 0:
            changed = tokens.copy()
            changed[0] = (tokens[0] + 1) % VOCAB
            assert not np.allclose(np.asarray(f(params, images, changed, np.int32(n), state)), base)


def test_batched_equals_single() -> None:
    arch = ARCHS["two-cameras-non-square-3-heads"]
    params = to_device(init_params(arch, VOCAB, seed=2, scheme="conformance"))
    batch = [inputs(arch, s) for s in range(3)]
    counts = np.array([0, 3, arch.max_text_tokens], np.int32)
    fb = make_forward_batch(arch)
    out = np.asarray(fb(params, np.stack([b[0] for b in batch]), np.stack([b[1] for b in batch]), counts,
                        np.stack([b[2] for b in batch])))
    f = make_forward(arch)
    for i, (images, tokens, state) in enumerate(batch):
        assert np.abs(out[i] - np.asarray(f(params, images, tokens, counts[i], state))).max() <= 1e-6


def test_forward_is_differentiable() -> None:
    arch = ARCHS["tiny"]
    params = to_device(init_params(arch, VOCAB, seed=0))
    images, tokens, state = inputs(arch, 0)
    from edgecell_policy.model import forward

    grad = jax.grad(lambda p: forward(arch, p, images, tokens, np.int32(2), state).sum())(params)
    assert set(grad) == set(params)
    assert all(np.isfinite(np.asarray(g)).all() for g in grad.values())


def test_init_is_deterministic_and_standard() -> None:
    arch = ARCHS["tiny"]
    a = init_params(arch, VOCAB, seed=7)
    b = init_params(arch, VOCAB, seed=7)
    c = init_params(arch, VOCAB, seed=8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["patch.weight"], c["patch.weight"])
    assert list(a) == list(param_shapes(arch, VOCAB))
    for name, value in a.items():
        assert value.dtype == np.float32 and value.shape == param_shapes(arch, VOCAB)[name]
        if ".ln" in name or name.startswith("final_ln"):
            assert np.all(value == (1.0 if name.endswith("weight") else 0.0))
        elif name.endswith("bias"):
            assert np.all(value == 0)
        else:
            assert np.abs(value).max() <= 0.04 + 1e-7 and 0.015 < value.std() < 0.02
    with pytest.raises(ValueError):
        init_params(arch, VOCAB, seed=0, scheme="xavier")


def test_param_shapes_match_the_fp32_file_spec() -> None:
    config = new_config("t", ARCHS["tiny"])
    spec = expected_tensors(config, "fp32")
    assert {k: s for k, (_, s) in spec.items()} == param_shapes(config.architecture, config.vocab_size)


def test_flop_count_by_hand_on_the_tiny_model() -> None:
    # tiny: C=1, Np=(32/16)^2=4, P·P·3=768, d=32, S=7, L=6, H=4, T=4+6+1+4=15, m=64, depth 2, heads 2, A=7.
    patch = 4 * 768 * 32  # 98304 multiply-adds
    state = 7 * 32  # 224
    qkv = 15 * 32 * 96  # 46080
    scores = 2 * 15 * 15 * 16  # heads × T × T × dh = 7200
    weighted = 2 * 15 * 15 * 16  # 7200
    out = 15 * 32 * 32  # 15360
    mlp = 15 * 32 * 64 + 15 * 64 * 32  # 61440
    head = 4 * 32 * 7  # 896
    macs = patch + state + 2 * (qkv + scores + weighted + out + mlp) + head
    assert macs == 373_984
    assert flops(ARCHS["tiny"]) == 2 * macs == 747_968


def test_flops_and_parameters_of_the_default_model() -> None:
    from edgecell_policy.folder import default_architecture

    arch = default_architecture()
    t, d, m = 109, 256, 1024
    assert arch.sequence_length == t
    expected = 2 * (72 * 768 * d + 7 * d + 4 * (4 * t * d * d + 2 * t * t * d + 2 * t * d * m) + 20 * d * 7)
    assert flops(arch) == expected == 762_820_096
    n = parameter_count(arch, 44)
    assert n == sum(math.prod(s) for s in param_shapes(arch, 44).values())


def test_keypoint_stem_finds_a_red_spot() -> None:
    """A convolution that scores "red in the centre tap" puts the keypoint on the red spot, in pixel-centre
    coordinates (x right, y down, both in (−1, 1)); a flat image puts it at the centre."""
    from edgecell_policy.model import keypoint_features

    arch = Architecture(cameras=("scene", "wrist"), image_width=32, image_height=16, patch_size=16,
                        max_text_tokens=4, state_dim=7, action_dim=7, horizon=2, width=16, depth=1, heads=2,
                        mlp_width=16, keypoints=1)
    weight = np.zeros((1, 27), np.float32)
    weight[0, 4 * 3 + 0] = 40.0  # centre tap (dy = dx = 1), red channel
    weight[0, 4 * 3 + 1] = -40.0  # minus green: white is not red
    images = np.full((2, 16, 32, 3), 128, np.uint8)
    images[0, 12, 5] = (255, 0, 0)  # camera 0: red pixel at row 12, column 5
    pixels = jnp.asarray(images, jnp.float32) / 127.5 - 1
    points = np.asarray(keypoint_features(arch, jnp.asarray(weight), pixels))
    assert points.shape == (4,)
    assert points[0] == pytest.approx((2 * 5 + 1) / 32 - 1, abs=1e-3)
    assert points[1] == pytest.approx((2 * 12 + 1) / 16 - 1, abs=1e-3)
    assert points[2:] == pytest.approx([0.0, 0.0], abs=1e-5)  # camera 1: uniform grey, the centre
