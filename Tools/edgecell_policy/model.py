"""The policy network in JAX, exactly Models/README.md §3 (fp32 throughout).

Parameters are a flat `dict[str, array]` keyed by the §4 tensor names, weights stored [out, in]. `forward`
takes one observation and is jit-able; `make_forward_batch` is its `vmap`, and `forward_batched` the same
network written batch-first for training (tested equal). `init_params` draws the
parameters with numpy from an explicit seed, so they do not depend on the JAX version or device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .config import Architecture

_HIGHEST = jax.lax.Precision.HIGHEST
KEYPOINT_TAPS = 27  # a 3×3 convolution over 3 colour channels, flattened [dy][dx][channel]
KEYPOINT_CONV_STD = 1.0  # initial std of the keypoint convolution: logits that already vary across pixels
INIT_SCHEMES: tuple[str, ...] = ("standard", "conformance")


def param_shapes(arch: Architecture, vocab_size: int) -> dict[str, tuple[int, ...]]:
    """Name → shape of every fp32 parameter (§4 table), in the table's order."""
    d, m = arch.width, arch.mlp_width
    shapes: dict[str, tuple[int, ...]] = {
        "patch.weight": (d, arch.patch_dim),
        "patch.bias": (d,),
        "camera.pos": (arch.num_cameras, arch.patches_per_camera, d),
        "text.embed": (vocab_size, d),
        "text.pos": (arch.max_text_tokens, d),
        "state.weight": (d, arch.state_dim),
        "state.bias": (d,),
    }
    if arch.keypoints:
        shapes |= {
            "keypoint.conv.weight": (arch.keypoints, KEYPOINT_TAPS),
            "keypoint.weight": (d, arch.keypoint_features),
        }
    shapes |= {"query": (arch.horizon, d)}
    for layer in range(arch.depth):
        b = f"blocks.{layer}."
        shapes |= {
            b + "ln1.weight": (d,),
            b + "ln1.bias": (d,),
            b + "ln2.weight": (d,),
            b + "ln2.bias": (d,),
            b + "attn.qkv.weight": (3 * d, d),
            b + "attn.qkv.bias": (3 * d,),
            b + "attn.out.weight": (d, d),
            b + "attn.out.bias": (d,),
            b + "mlp.fc1.weight": (m, d),
            b + "mlp.fc1.bias": (m,),
            b + "mlp.fc2.weight": (d, m),
            b + "mlp.fc2.bias": (d,),
        }
    shapes |= {
        "final_ln.weight": (d,),
        "final_ln.bias": (d,),
        "head.weight": (arch.action_dim, d),
        "head.bias": (arch.action_dim,),
    }
    return shapes


def parameter_count(arch: Architecture, vocab_size: int) -> int:
    """Elements of all fp32 parameters."""
    return sum(math.prod(s) for s in param_shapes(arch, vocab_size).values())


def flops(arch: Architecture) -> int:
    """FLOPs of one forward pass as Models/README.md §3 counts them: 2 × the multiply-adds of the matrix
    products (all T rows in every block, attention over all T keys; the keypoint stem's convolution and
    projection; element-wise work, the spatial softmax included, not counted)."""
    c, np_, p3 = arch.num_cameras, arch.patches_per_camera, arch.patch_dim
    d, m, t = arch.width, arch.mlp_width, arch.sequence_length
    macs = c * np_ * p3 * d + arch.state_dim * d
    macs += arch.depth * (t * d * 3 * d + 2 * t * t * d + t * d * d + 2 * t * d * m)
    macs += arch.horizon * d * arch.action_dim
    if arch.keypoints:
        macs += c * arch.image_height * arch.image_width * KEYPOINT_TAPS * arch.keypoints
        macs += arch.keypoint_features * d
    return 2 * macs


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    """N(0, std²) truncated to ±2 std by redrawing, fp32."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return (z * std).astype(np.float32)


def init_params(arch: Architecture, vocab_size: int, seed: int, scheme: str = "standard") -> dict[str, np.ndarray]:
    """Fresh parameters, deterministic for `seed`.

    - "standard" (what training starts from): weights, embeddings, positions and queries truncated normal
      std 0.02; biases 0; norm weights 1 and biases 0.
    - "conformance" (test fixtures): every tensor non-trivial so golden vectors exercise every term —
      matrices truncated normal std 1/sqrt(fan_in) (attention is far from uniform), embeddings, positions and
      queries std 0.5, biases std 0.1, norm weights 1 ± 0.2, norm biases std 0.1.
    Tensors are drawn in the §4 table order from `numpy.random.default_rng(seed)`.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; expected one of {', '.join(INIT_SCHEMES)}")
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    for name, shape in param_shapes(arch, vocab_size).items():
        is_norm = ".ln" in name or name.startswith("final_ln")
        if scheme == "standard":
            if is_norm:
                value = np.ones(shape, np.float32) if name.endswith("weight") else np.zeros(shape, np.float32)
            elif name == "keypoint.conv.weight":
                value = _truncated_normal(rng, shape, KEYPOINT_CONV_STD)
            elif name.endswith("bias"):
                value = np.zeros(shape, np.float32)
            else:
                value = _truncated_normal(rng, shape, 0.02)
        else:
            if is_norm and name.endswith("weight"):
                value = (1 + 0.2 * rng.uniform(-1, 1, shape)).astype(np.float32)
            elif name.endswith("bias"):
                value = _truncated_normal(rng, shape, 0.1)
            elif name.endswith("weight"):
                value = _truncated_normal(rng, shape, 1 / math.sqrt(shape[1]))
            else:
                value = _truncated_normal(rng, shape, 0.5)
        params[name] = value
    return params


# --- The network ------------------------------------------------------------------------------------------


def _linear(x: jax.Array, params: dict[str, jax.Array], name: str) -> jax.Array:
    return jnp.matmul(x, params[name + ".weight"].T, precision=_HIGHEST) + params[name + ".bias"]


def _layer_norm(x: jax.Array, w: jax.Array, b: jax.Array, eps: float) -> jax.Array:
    mean = jnp.mean(x, axis=-1, keepdims=True)
    centred = x - mean
    var = jnp.mean(centred * centred, axis=-1, keepdims=True)
    return centred / jnp.sqrt(var + jnp.float32(eps)) * w + b


def gelu_tanh(u: jax.Array) -> jax.Array:
    """0.5 · u · (1 + tanh(sqrt(2/π) · (u + 0.044715 · u³)))."""
    c = jnp.float32(math.sqrt(2 / math.pi))
    return 0.5 * u * (1 + jnp.tanh(c * (u + jnp.float32(0.044715) * u * u * u)))


def patchify(arch: Architecture, images_u8: jax.Array) -> jax.Array:
    """[C, H, W, 3] uint8 → [C, Np, P·P·3] fp32 pixels mapped to p / 127.5 − 1, patches row-major,
    each flattened [dy][dx][channel]."""
    c, p = arch.num_cameras, arch.patch_size
    hp, wp = arch.image_height // p, arch.image_width // p
    x = images_u8.astype(jnp.float32) / jnp.float32(127.5) - jnp.float32(1)
    x = x.reshape(c, hp, p, wp, p, 3).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(c, hp * wp, p * p * 3)


def keypoint_features(arch: Architecture, conv_weight: jax.Array, pixels: jax.Array,
                      precision: jax.lax.Precision | None = _HIGHEST) -> jax.Array:
    """The spatial soft-argmax stem (§3): pixels [..., C, image_height, image_width, 3], already mapped to
    p / 127.5 − 1 → [..., C · K · 2]. Per camera and keypoint k: logits z = W_k · (the 3×3 neighbourhood of a
    pixel, zero outside the image, flattened [dy][dx][channel]); softmax over the camera's pixels; the expected
    (x, y) with pixel centres at x = (2·col + 1) / width − 1, y = (2·row + 1) / height − 1, both in (−1, 1).
    Ordered [camera][keypoint][x, y]."""
    h, w, k = arch.image_height, arch.image_width, arch.keypoints
    lead = pixels.shape[:-4]
    c = pixels.shape[-4]
    x = jnp.pad(pixels.reshape((-1, h, w, 3)), ((0, 0), (1, 1), (1, 1), (0, 0)))
    taps = jnp.concatenate([x[:, dy : dy + h, dx : dx + w, :] for dy in range(3) for dx in range(3)], axis=-1)
    logits = jnp.einsum("nhwi,ki->nhwk", taps, conv_weight, precision=precision)  # [N, H, W, K]
    logits = logits.reshape(-1, h * w, k)
    weights = jax.nn.softmax(logits, axis=1)
    xs = (2 * jnp.arange(w, dtype=jnp.float32) + 1) / w - 1
    ys = (2 * jnp.arange(h, dtype=jnp.float32) + 1) / h - 1
    grid = jnp.stack([jnp.tile(xs, h), jnp.repeat(ys, w)], axis=-1)  # [H·W, 2], row-major pixels
    points = jnp.einsum("npk,pj->nkj", weights, grid, precision=precision)  # [N, K, 2]
    return points.reshape(lead + (c * k * 2,))


def key_mask(arch: Architecture, token_count: jax.Array) -> jax.Array:
    """[T] bool: False at text positions ≥ `token_count` (padding keys), True elsewhere."""
    t = arch.sequence_length
    start = arch.num_cameras * arch.patches_per_camera
    pos = jnp.arange(t)
    is_pad = (pos >= start + token_count) & (pos < start + arch.max_text_tokens)
    return ~is_pad


def forward(
    arch: Architecture,
    params: dict[str, jax.Array],
    images_u8: jax.Array,
    tokens: jax.Array,
    token_count: jax.Array,
    state_normalized: jax.Array,
) -> jax.Array:
    """Normalised action chunk [H, A] for one observation.

    images_u8 uint8 [C, image_height, image_width, 3]; tokens int [L]; token_count int scalar (0…L);
    state_normalized fp32 [S]. Pure; jit with `make_forward(arch)` or `jax.jit(partial(forward, arch))`.
    """
    d, heads = arch.width, arch.heads
    dh = arch.head_dim
    eps = arch.layer_norm_epsilon
    patches = patchify(arch, images_u8)
    image_tokens = jnp.matmul(patches, params["patch.weight"].T, precision=_HIGHEST) + params["patch.bias"]
    image_tokens = (image_tokens + params["camera.pos"]).reshape(-1, d)
    text_tokens = params["text.embed"][tokens.astype(jnp.int32)] + params["text.pos"]
    state_token = _linear(state_normalized.astype(jnp.float32)[None, :], params, "state")
    if arch.keypoints:
        pixels = images_u8.astype(jnp.float32) / jnp.float32(127.5) - jnp.float32(1)
        points = keypoint_features(arch, params["keypoint.conv.weight"], pixels)
        state_token = state_token + jnp.matmul(points, params["keypoint.weight"].T, precision=_HIGHEST)[None, :]
    x = jnp.concatenate([image_tokens, text_tokens, state_token, params["query"]], axis=0)
    t = x.shape[0]
    visible = key_mask(arch, jnp.asarray(token_count, jnp.int32))
    scale = jnp.float32(1 / math.sqrt(dh))
    for layer in range(arch.depth):
        b = f"blocks.{layer}."
        h = _layer_norm(x, params[b + "ln1.weight"], params[b + "ln1.bias"], eps)
        qkv = _linear(h, params, b + "attn.qkv")
        q, k, v = (qkv[:, i * d : (i + 1) * d].reshape(t, heads, dh) for i in range(3))
        logits = jnp.einsum("qhd,khd->hqk", q, k, precision=_HIGHEST) * scale
        logits = jnp.where(visible[None, None, :], logits, -jnp.inf)
        logits = logits - jnp.max(logits, axis=-1, keepdims=True)
        weights = jnp.exp(logits)
        weights = weights / jnp.sum(weights, axis=-1, keepdims=True)
        attended = jnp.einsum("hqk,khd->qhd", weights, v, precision=_HIGHEST).reshape(t, d)
        x = x + _linear(attended, params, b + "attn.out")
        h = _layer_norm(x, params[b + "ln2.weight"], params[b + "ln2.bias"], eps)
        x = x + _linear(gelu_tanh(_linear(h, params, b + "mlp.fc1")), params, b + "mlp.fc2")
    x = _layer_norm(x[t - arch.horizon :], params["final_ln.weight"], params["final_ln.bias"], eps)
    return _linear(x, params, "head")


def forward_batched(
    arch: Architecture,
    params: dict[str, jax.Array],
    images: jax.Array,
    tokens: jax.Array,
    token_count: jax.Array,
    state_normalized: jax.Array,
    precision: jax.lax.Precision | None = None,
    return_features: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array, jax.Array | None]:
    """`forward` for a batch, written batch-first for training: [B, H, A] from images [B, C, image_height,
    image_width, 3] (uint8, or float pixel values 0…255, e.g. augmented), tokens [B, L], token_count [B] and
    state_normalized [B, S]. The same arithmetic as §3, with two savings that leave the output unchanged: the
    last block computes queries, attention output, its projection and the MLP for the H query rows only (no
    other row reaches the head), and padding keys are masked with a large negative logit rather than −∞
    (their weight underflows to exactly 0 either way). `precision` defaults to XLA's (fp32 on CPU).
    With `return_features`, also the normalised query rows [B, H, d] the head reads and the keypoint stem's
    coordinates [B, C·K·2] (None without the stem), for training-only auxiliary heads."""
    d, heads, dh = arch.width, arch.heads, arch.head_dim
    eps = arch.layer_norm_epsilon
    b_, c, p = images.shape[0], arch.num_cameras, arch.patch_size
    hp, wp = arch.image_height // p, arch.image_width // p

    def linear(x: jax.Array, name: str) -> jax.Array:
        return jnp.einsum("...i,oi->...o", x, params[name + ".weight"], precision=precision) + params[name + ".bias"]

    x = images.astype(jnp.float32) / jnp.float32(127.5) - jnp.float32(1)
    points = keypoint_features(arch, params["keypoint.conv.weight"], x, precision) if arch.keypoints else None
    x = x.reshape(b_, c, hp, p, wp, p, 3).transpose(0, 1, 2, 4, 3, 5, 6).reshape(b_, c, hp * wp, p * p * 3)
    image_tokens = (linear(x, "patch") + params["camera.pos"]).reshape(b_, c * hp * wp, d)
    text_tokens = params["text.embed"][tokens.astype(jnp.int32)] + params["text.pos"]
    state_token = linear(state_normalized.astype(jnp.float32), "state")
    if points is not None:
        state_token = state_token + jnp.einsum("bi,oi->bo", points, params["keypoint.weight"], precision=precision)
    state_token = state_token[:, None, :]
    queries = jnp.broadcast_to(params["query"], (b_, arch.horizon, d))
    x = jnp.concatenate([image_tokens, text_tokens, state_token, queries], axis=1)
    t = x.shape[1]
    visible = jax.vmap(lambda n: key_mask(arch, n))(jnp.asarray(token_count, jnp.int32))  # [B, T]
    key_bias = jnp.where(visible, jnp.float32(0), jnp.float32(-1e30))[:, None, None, :]
    scale = jnp.float32(1 / math.sqrt(dh))
    for layer in range(arch.depth):
        b = f"blocks.{layer}."
        last = layer == arch.depth - 1
        h = _layer_norm(x, params[b + "ln1.weight"], params[b + "ln1.bias"], eps)
        w_qkv, b_qkv = params[b + "attn.qkv.weight"], params[b + "attn.qkv.bias"]
        kv = jnp.einsum("bti,oi->bto", h, w_qkv[d:], precision=precision) + b_qkv[d:]
        k, v = kv[..., :d].reshape(b_, t, heads, dh), kv[..., d:].reshape(b_, t, heads, dh)
        rows = h[:, t - arch.horizon :] if last else h
        q = jnp.einsum("bti,oi->bto", rows, w_qkv[:d], precision=precision) + b_qkv[:d]
        q = q.reshape(b_, rows.shape[1], heads, dh)
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k, precision=precision) * scale + key_bias
        weights = jax.nn.softmax(logits, axis=-1)
        attended = jnp.einsum("bhqk,bkhd->bqhd", weights, v, precision=precision).reshape(b_, rows.shape[1], d)
        if last:
            x = x[:, t - arch.horizon :]
        x = x + linear(attended, b + "attn.out")
        h = _layer_norm(x, params[b + "ln2.weight"], params[b + "ln2.bias"], eps)
        x = x + linear(gelu_tanh(linear(h, b + "mlp.fc1")), b + "mlp.fc2")
    x = _layer_norm(x[:, x.shape[1] - arch.horizon :], params["final_ln.weight"], params["final_ln.bias"], eps)
    if return_features:
        return linear(x, "head"), x, points
    return linear(x, "head")


def make_forward(arch: Architecture) -> Callable[..., jax.Array]:
    """`forward` for `arch`, jitted: f(params, images_u8, tokens, token_count, state_normalized) → [H, A]."""
    return jax.jit(partial(forward, arch))


def make_forward_batch(arch: Architecture) -> Callable[..., jax.Array]:
    """Batched, jitted `forward` (vmap over the leading axis of every input; params shared) → [B, H, A]."""
    return jax.jit(jax.vmap(partial(forward, arch), in_axes=(None, 0, 0, 0, 0)))


def to_device(params: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    """Parameters as fp32 JAX arrays."""
    return {k: jnp.asarray(v, dtype=jnp.float32) for k, v in params.items()}


def normalize_state(state: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """`(s − state_mean) / state_std` in fp32 (§1)."""
    s = np.asarray(state, dtype=np.float32)
    return ((s - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)


def denormalize_actions(y: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """`y · action_std + action_mean` in fp32 (§1)."""
    y = np.asarray(y, dtype=np.float32)
    return (y * np.asarray(std, np.float32) + np.asarray(mean, np.float32)).astype(np.float32)
