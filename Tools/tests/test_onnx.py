"""The ONNX export against JAX (≤ 1e-4), through ONNX Runtime as the benchmark runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from conftest import FIXTURE_NAMES, FIXTURE_ROOT
from edgecell_policy import onnx_export
from edgecell_policy.folder import default_architecture, load_folder, load_golden, new_config
from edgecell_policy.model import init_params, make_forward, to_device


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_onnx_runtime_matches_the_golden_outputs(name: str) -> None:
    folder = FIXTURE_ROOT / name
    golden, meta = load_golden(folder)
    model = load_folder(folder)
    for variant in model.config.weights:
        params = load_folder(folder, variant).params
        sess = onnx_export.session(onnx_export.build_model(model.config, params))
        suffix = "" if variant == "fp32" else f".{variant}"
        for k in range(int(meta["cases"])):
            out = onnx_export.run(sess, golden[f"case.{k}.images"], golden[f"case.{k}.tokens"],
                                  int(golden[f"case.{k}.token_count"][0]), golden[f"case.{k}.state_normalized"])
            assert out.dtype == np.float32
            assert np.abs(out - golden[f"case.{k}.actions_normalized{suffix}"]).max() <= 1e-4, (variant, k)


@pytest.mark.slow
def test_onnx_runtime_matches_jax_on_the_default_model() -> None:
    arch = default_architecture()
    config = new_config("default", arch)
    params = init_params(arch, config.vocab_size, seed=0)
    sess = onnx_export.session(onnx_export.build_model(config, params))
    f = make_forward(arch)
    p = to_device(params)
    rng = np.random.default_rng(0)
    for n in (0, 5, arch.max_text_tokens):
        images = rng.integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
        tokens = rng.integers(0, config.vocab_size, arch.max_text_tokens).astype(np.int32)
        state = rng.standard_normal(7).astype(np.float32)
        want = np.asarray(f(p, images, tokens, np.int32(n), state))
        got = onnx_export.run(sess, images, tokens, n, state)
        assert np.abs(got - want).max() <= 1e-4


def test_graph_interface_and_operators(tmp_path: Path) -> None:
    model = load_folder(FIXTURE_ROOT / "tiny")
    size = onnx_export.export(model.config, model.params, tmp_path / "m.onnx")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert size == (tmp_path / "m.onnx").stat().st_size
    assert [i.name for i in proto.graph.input] == list(onnx_export.INPUT_NAMES)
    assert [o.name for o in proto.graph.output] == [onnx_export.OUTPUT_NAME]
    assert proto.opset_import[0].version == onnx_export.OPSET
    ops = {n.op_type for n in proto.graph.node}
    assert {"LayerNormalization", "Gelu", "Softmax", "MatMul"} <= ops
    assert all(a.s == b"tanh" for n in proto.graph.node if n.op_type == "Gelu" for a in n.attribute)
