"""The policy network as an ONNX graph (Models/README.md §3), built node by node with `onnx.helper` from the
same fp32 weights (a bf16/int8 folder exports its dequantised weights).

Interface (one observation, no batch axis, like the C kernel):

| input | dtype, shape | meaning |
|---|---|---|
| `images` | uint8 [C, image_height, image_width, 3] | camera images, §3 order |
| `tokens` | int32 [L] | token ids (§2) |
| `token_count` | int32 [1] | n; text keys at positions ≥ n are masked inside the graph |
| `state` | float32 [S] | the normalised state |

Output `actions` float32 [H, A], the normalised action chunk. Opset 20, so that ONNX Runtime sees
`LayerNormalization` and `Gelu(approximate="tanh")` as single operators; weights are stored transposed
([in, out]) so every linear layer is `MatMul` + `Add`, which ORT fuses into `Gemm`/`FusedMatMul` where it can.
The key mask is an additive bias (0 or −inf) built from `token_count` and added to every head's logits.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .config import ModelConfig, atomic_write_bytes

OPSET = 20
INPUT_NAMES: tuple[str, ...] = ("images", "tokens", "token_count", "state")
OUTPUT_NAME = "actions"


class _Graph:
    """A small builder: unique names, initialisers, nodes."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], name: str | None = None, **attrs: object) -> str:
        self._n += 1
        out = name or f"{kind.lower()}_{self._n}"
        self.nodes.append(helper.make_node(kind, inputs, [out], name=f"n{self._n}_{kind}", **attrs))
        return out

    def linear(self, x: str, params: dict[str, np.ndarray], name: str, out: str | None = None) -> str:
        w = self.const(name + ".weight_t", np.asarray(params[name + ".weight"], np.float32).T)
        b = self.const(name + ".bias", np.asarray(params[name + ".bias"], np.float32))
        return self.op("Add", [self.op("MatMul", [x, w]), b], out)

    def layer_norm(self, x: str, params: dict[str, np.ndarray], name: str, eps: float) -> str:
        w = self.const(name + ".weight", np.asarray(params[name + ".weight"], np.float32))
        b = self.const(name + ".bias", np.asarray(params[name + ".bias"], np.float32))
        return self.op("LayerNormalization", [x, w, b], axis=-1, epsilon=float(eps))


def build_model(config: ModelConfig, params: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The ONNX model of `config` with fp32 `params`, checked with `onnx.checker`."""
    a = config.architecture
    c, p, d, heads = a.num_cameras, a.patch_size, a.width, a.heads
    hp, wp = a.image_height // p, a.image_width // p
    np_, L, H, dh, T = a.patches_per_camera, a.max_text_tokens, a.horizon, a.head_dim, a.sequence_length
    g = _Graph()
    i64 = lambda *v: np.asarray(v, dtype=np.int64)  # noqa: E731

    # Image tokens: p / 127.5 − 1, patches row-major, flattened [dy][dx][channel].
    pix = g.op("Sub", [g.op("Div", [g.op("Cast", ["images"], to=TensorProto.FLOAT),
                                    g.const("c127_5", np.asarray(127.5, np.float32))]),
                       g.const("c1", np.asarray(1.0, np.float32))])
    pixels = pix  # [C, H, W, 3], normalised
    pix = g.op("Reshape", [pix, g.const("shape_patch6", i64(c, hp, p, wp, p, 3))])
    pix = g.op("Transpose", [pix], perm=[0, 1, 3, 2, 4, 5])
    patches = g.op("Reshape", [pix, g.const("shape_patches", i64(c * np_, a.patch_dim))])
    camera_pos = np.asarray(params["camera.pos"], np.float32).reshape(c * np_, d)
    image_tokens = g.op("Add", [g.linear(patches, params, "patch"), g.const("camera.pos", camera_pos)])
    # Text tokens (padding positions included) and the key mask.
    text = g.op("Add", [g.op("Gather", [g.const("text.embed", np.asarray(params["text.embed"], np.float32)), "tokens"],
                             axis=0),
                        g.const("text.pos", np.asarray(params["text.pos"], np.float32))])
    is_text = g.op("Less", [g.const("text_positions", np.arange(L, dtype=np.int32)), "token_count"])
    text_bias = g.op("Where", [is_text, g.const("zero", np.asarray(0.0, np.float32)),
                               g.const("minus_inf", np.asarray(-np.inf, np.float32))])
    key_bias = g.op("Concat", [g.const("bias_images", np.zeros(c * np_, np.float32)), text_bias,
                               g.const("bias_rest", np.zeros(1 + H, np.float32))], axis=0)
    # State token and queries.
    state = g.op("Unsqueeze", ["state", g.const("axis0", i64(0))])
    state_token = g.linear(state, params, "state")
    if a.keypoints:
        # The spatial soft-argmax stem: 3×3 convolution (zero padding), softmax over each camera's pixels,
        # expected pixel-centre coordinates, projected into the state token.
        k, hh, ww = a.keypoints, a.image_height, a.image_width
        kernel = np.asarray(params["keypoint.conv.weight"], np.float32).reshape(k, 3, 3, 3).transpose(0, 3, 1, 2)
        conv = g.op("Conv", [g.op("Transpose", [pixels], perm=[0, 3, 1, 2]), g.const("keypoint.conv", kernel)],
                    pads=[1, 1, 1, 1])
        probs = g.op("Softmax", [g.op("Reshape", [conv, g.const("shape_kp_logits", i64(c, k, hh * ww))])], axis=-1)
        xs = (2 * np.arange(ww, dtype=np.float32) + 1) / ww - 1
        ys = (2 * np.arange(hh, dtype=np.float32) + 1) / hh - 1
        grid = np.stack([np.tile(xs, hh), np.repeat(ys, ww)], axis=-1).astype(np.float32)
        points = g.op("Reshape", [g.op("MatMul", [probs, g.const("keypoint.grid", grid)]),
                                  g.const("shape_kp_points", i64(1, a.keypoint_features))])
        proj = np.asarray(params["keypoint.weight"], np.float32).T
        state_token = g.op("Add", [state_token, g.op("MatMul", [points, g.const("keypoint.weight_t", proj)])])
    query = g.const("query", np.asarray(params["query"], np.float32))
    x = g.op("Concat", [image_tokens, text, state_token, query], axis=0)

    scale = g.const("attn_scale", np.asarray(1 / math.sqrt(dh), np.float32))
    shape_heads = g.const("shape_heads", i64(T, heads, dh))
    shape_rows = g.const("shape_rows", i64(T, d))
    split = g.const("split_qkv", i64(d, d, d))
    eps = a.layer_norm_epsilon
    for layer in range(a.depth):
        b = f"blocks.{layer}."
        h = g.layer_norm(x, params, b + "ln1", eps)
        qkv = g.linear(h, params, b + "attn.qkv")
        q_name, k_name, v_name = (f"{b}q", f"{b}k", f"{b}v")
        g.nodes.append(helper.make_node("Split", [qkv, split], [q_name, k_name, v_name], axis=1,
                                        name=f"split_{layer}"))
        q = g.op("Transpose", [g.op("Reshape", [q_name, shape_heads])], perm=[1, 0, 2])  # [heads, T, dh]
        k = g.op("Transpose", [g.op("Reshape", [k_name, shape_heads])], perm=[1, 2, 0])  # [heads, dh, T]
        v = g.op("Transpose", [g.op("Reshape", [v_name, shape_heads])], perm=[1, 0, 2])  # [heads, T, dh]
        logits = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), key_bias])
        probs = g.op("Softmax", [logits], axis=-1)
        attended = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[1, 0, 2]), shape_rows])
        x = g.op("Add", [x, g.linear(attended, params, b + "attn.out")])
        h = g.layer_norm(x, params, b + "ln2", eps)
        hidden = g.op("Gelu", [g.linear(h, params, b + "mlp.fc1")], approximate="tanh")
        x = g.op("Add", [x, g.linear(hidden, params, b + "mlp.fc2")])
    queries = g.op("Slice", [x, g.const("slice_start", i64(T - H)), g.const("slice_end", i64(T)),
                             g.const("slice_axis", i64(0))])
    y = g.layer_norm(queries, params, "final_ln", eps)
    g.linear(y, params, "head", out=OUTPUT_NAME)

    inputs = [
        helper.make_tensor_value_info("images", TensorProto.UINT8, [c, a.image_height, a.image_width, 3]),
        helper.make_tensor_value_info("tokens", TensorProto.INT32, [L]),
        helper.make_tensor_value_info("token_count", TensorProto.INT32, [1]),
        helper.make_tensor_value_info("state", TensorProto.FLOAT, [a.state_dim]),
    ]
    outputs = [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [H, a.action_dim])]
    graph = helper.make_graph(g.nodes, f"edgecell_vla_{config.name}", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="edgecell_policy", doc_string=__doc__.splitlines()[0])
    model.ir_version = 9  # readable by ONNX Runtime 1.16+
    onnx.checker.check_model(model, full_check=True)
    return model


def export(config: ModelConfig, params: dict[str, np.ndarray], out: str | os.PathLike[str]) -> int:
    """Writes the ONNX model atomically; returns its size in bytes."""
    data = build_model(config, params).SerializeToString()
    atomic_write_bytes(Path(out), data)
    return len(data)


def session(model: onnx.ModelProto | bytes, threads: int = 1) -> object:
    """An ONNX Runtime session as the benchmark runs it: `threads` intra-op thread(s), one inter-op thread,
    sequential execution, every graph optimisation (ORT_ENABLE_ALL), CPU provider."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


def run(sess: object, images: np.ndarray, tokens: np.ndarray, token_count: int, state: np.ndarray) -> np.ndarray:
    """[H, A] from an ORT session for one observation."""
    feeds = {
        "images": np.ascontiguousarray(images, dtype=np.uint8),
        "tokens": np.ascontiguousarray(tokens, dtype=np.int32),
        "token_count": np.asarray([token_count], dtype=np.int32),
        "state": np.ascontiguousarray(state, dtype=np.float32),
    }
    return sess.run([OUTPUT_NAME], feeds)[0]  # type: ignore[attr-defined]
