"""An independent, deliberately plain numpy implementation of Models/README.md §3, used only by the tests to
cross-check the JAX network (`model.py`). It was written from the README, not from `model.py`: explicit loops
over cameras, patches, heads and rows, float64 arithmetic (so it is the more exact of the two).
"""

from __future__ import annotations

import math

import numpy as np

from .config import Architecture


def _ln(row: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = row.sum() / row.size
    var = ((row - mu) ** 2).sum() / row.size
    return (row - mu) / math.sqrt(var + eps) * w + b


def _gelu(u: np.ndarray) -> np.ndarray:
    return 0.5 * u * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (u + 0.044715 * u**3)))


def reference_forward(
    arch: Architecture,
    params: dict[str, np.ndarray],
    images_u8: np.ndarray,
    tokens: np.ndarray,
    token_count: int,
    state_normalized: np.ndarray,
) -> np.ndarray:
    """[H, A] float64 normalised actions for one observation (same inputs as `model.forward`)."""
    P = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    p = arch.patch_size
    rows: list[np.ndarray] = []
    # 1. image tokens, camera by camera, patches in row-major order, flattened [dy][dx][channel]
    for c in range(arch.num_cameras):
        img = images_u8[c].astype(np.float64) / 127.5 - 1.0
        j = 0
        for py in range(arch.image_height // p):
            for px in range(arch.image_width // p):
                vec = []
                for dy in range(p):
                    for dx in range(p):
                        for ch in range(3):
                            vec.append(img[py * p + dy, px * p + dx, ch])
                patch = np.array(vec)
                rows.append(P["patch.weight"] @ patch + P["patch.bias"] + P["camera.pos"][c, j])
                j += 1
    n_image = len(rows)
    # 2. text tokens, padding positions included
    for i in range(arch.max_text_tokens):
        rows.append(P["text.embed"][int(tokens[i])] + P["text.pos"][i])
    # 3. state token, plus the keypoint stem's projection
    state_row = P["state.weight"] @ np.asarray(state_normalized, np.float64) + P["state.bias"]
    if arch.keypoints:
        points: list[float] = []
        h, w = arch.image_height, arch.image_width
        for c in range(arch.num_cameras):
            img = np.pad(images_u8[c].astype(np.float64) / 127.5 - 1.0, ((1, 1), (1, 1), (0, 0)))
            for k in range(arch.keypoints):
                wk = P["keypoint.conv.weight"][k]
                logits = np.empty((h, w))
                for y in range(h):
                    for x in range(w):
                        logits[y, x] = wk @ img[y : y + 3, x : x + 3, :].reshape(-1)  # [dy][dx][channel]
                e = np.exp(logits - logits.max())
                e /= e.sum()
                xs = (2 * np.arange(w) + 1) / w - 1
                ys = (2 * np.arange(h) + 1) / h - 1
                points += [float((e * xs[None, :]).sum()), float((e * ys[:, None]).sum())]
        state_row = state_row + P["keypoint.weight"] @ np.asarray(points)
    rows.append(state_row)
    # 4. queries
    for i in range(arch.horizon):
        rows.append(P["query"][i].copy())
    x = np.stack(rows)
    T, d = x.shape
    assert T == arch.sequence_length
    masked = [n_image + i for i in range(token_count, arch.max_text_tokens)]
    dh = d // arch.heads
    eps = arch.layer_norm_epsilon
    for layer in range(arch.depth):
        b = f"blocks.{layer}."
        h = np.stack([_ln(x[t], P[b + "ln1.weight"], P[b + "ln1.bias"], eps) for t in range(T)])
        qkv = h @ P[b + "attn.qkv.weight"].T + P[b + "attn.qkv.bias"]
        q, k, v = qkv[:, :d], qkv[:, d : 2 * d], qkv[:, 2 * d :]
        out = np.zeros((T, d))
        for head in range(arch.heads):
            cols = slice(head * dh, (head + 1) * dh)
            for t in range(T):
                logits = k[:, cols] @ q[t, cols] / math.sqrt(dh)
                logits[masked] = -np.inf
                w = np.exp(logits - logits.max())
                w /= w.sum()
                out[t, cols] = w @ v[:, cols]
        x = x + out @ P[b + "attn.out.weight"].T + P[b + "attn.out.bias"]
        h = np.stack([_ln(x[t], P[b + "ln2.weight"], P[b + "ln2.bias"], eps) for t in range(T)])
        x = x + _gelu(h @ P[b + "mlp.fc1.weight"].T + P[b + "mlp.fc1.bias"]) @ P[b + "mlp.fc2.weight"].T + P[
            b + "mlp.fc2.bias"
        ]
    y = np.stack([_ln(x[T - arch.horizon + i], P["final_ln.weight"], P["final_ln.bias"], eps)
                  for i in range(arch.horizon)])
    return y @ P["head.weight"].T + P["head.bias"]
