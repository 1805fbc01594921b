"""The C kernel through ctypes (edgecell_policy.ckernel) against the golden vectors — when its shared library
exists ($EDGECELL_POLICY_LIB or .build/bench/libpolicykernel.so, built by Tools/bench-policy or by hand:
clang -O2 -fPIC -shared -o .build/bench/libpolicykernel.so Sources/CPolicyKernel/*.c
-ISources/CPolicyKernel/include -lm -lpthread). Skipped otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURE_NAMES, FIXTURE_ROOT, kernel_library
from edgecell_policy.folder import load_folder_config, load_golden
from edgecell_policy.model import flops, parameter_count
from edgecell_policy.quantize import BF16_BOUND, INT8_BOUND

LIB = kernel_library()
pytestmark = pytest.mark.skipif(LIB is None, reason="the C kernel's shared library is not built "
                                "(.build/bench/libpolicykernel.so; see this module's docstring)")
BOUNDS = {"fp32": 0.0, "bf16": BF16_BOUND, "int8": INT8_BOUND}
ISAS = {"scalar": 1, "avx2": 2, "avx512": 3}


@pytest.fixture(scope="module")
def library():  # type: ignore[no-untyped-def]
    from edgecell_policy.ckernel import Library

    assert LIB is not None
    return Library(LIB)


def cases(folder: Path) -> list[tuple[np.ndarray, np.ndarray, int, np.ndarray, dict[str, np.ndarray]]]:
    golden, meta = load_golden(folder)
    out = []
    for k in range(int(meta["cases"])):
        p = f"case.{k}."
        outputs = {v: golden[p + "actions_normalized" + ("" if v == "fp32" else f".{v}")]
                   for v in ("fp32", "bf16", "int8") if p + "actions_normalized" + ("" if v == "fp32" else f".{v}")
                   in golden}
        out.append((golden[p + "images"], golden[p + "tokens"], int(golden[p + "token_count"][0]),
                    golden[p + "state_normalized"], outputs))
    return out


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_matches_golden_on_every_path(library, name: str, isa: str) -> None:  # type: ignore[no-untyped-def]
    if not library.isa_supported(ISAS[isa]):
        pytest.skip(f"{isa} is not supported on this CPU")
    folder = FIXTURE_ROOT / name
    config = load_folder_config(folder)
    for variant, wf in config.weights.items():
        with library.load(folder / wf.file, config.architecture, config.vocab_size, isa=ISAS[isa]) as km:
            assert km.isa == ISAS[isa]
            for k, (images, tokens, n, state, want) in enumerate(cases(folder)):
                got = km.forward(images, tokens, n, state)
                assert np.abs(got - want[variant]).max() <= 1e-4, (variant, k)
                assert np.abs(got - want["fp32"]).max() <= BOUNDS[variant] + 1e-4, (variant, k)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_parameter_count_agrees(library, name: str) -> None:  # type: ignore[no-untyped-def]
    folder = FIXTURE_ROOT / name
    config = load_folder_config(folder)
    with library.load(folder / config.weights["fp32"].file, config.architecture, config.vocab_size) as km:
        assert km.parameter_count == parameter_count(config.architecture, config.vocab_size)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_flop_count_agrees(library, name: str) -> None:  # type: ignore[no-untyped-def]
    folder = FIXTURE_ROOT / name
    config = load_folder_config(folder)
    with library.load(folder / config.weights["fp32"].file, config.architecture, config.vocab_size) as km:
        assert km.flops == flops(config.architecture), (
            "pk_model_flops must follow Models/README.md §3 'FLOP count' (2 × the multiply-adds of the matrix "
            "products as written, element-wise work not counted, no credit for skipped work)"
        )


def test_two_threads_match(library) -> None:  # type: ignore[no-untyped-def]
    folder = FIXTURE_ROOT / "small"
    config = load_folder_config(folder)
    with library.load(folder / "model.safetensors", config.architecture, config.vocab_size, threads=2) as km:
        for images, tokens, n, state, want in cases(folder):
            assert np.abs(km.forward(images, tokens, n, state) - want["fp32"]).max() <= 1e-4


def test_refusals(library) -> None:  # type: ignore[no-untyped-def]
    from edgecell_policy.ckernel import KernelError

    tiny = load_folder_config(FIXTURE_ROOT / "tiny")
    other = load_folder_config(FIXTURE_ROOT / "tiny2cam")
    with pytest.raises(KernelError) as e:  # tensors of another architecture
        library.load(FIXTURE_ROOT / "tiny" / "model.safetensors", other.architecture, other.vocab_size)
    assert e.value.status == 5  # PK_ERR_TENSOR
    with pytest.raises(KernelError):
        library.load(FIXTURE_ROOT / "tiny" / "missing.safetensors", tiny.architecture, tiny.vocab_size)
    with library.load(FIXTURE_ROOT / "tiny" / "model.safetensors", tiny.architecture, tiny.vocab_size) as km:
        images, tokens, _, state, _ = cases(FIXTURE_ROOT / "tiny")[0]
        with pytest.raises(KernelError) as e:
            km.forward(images, tokens, tiny.architecture.max_text_tokens + 1, state)
        assert e.value.status == 1  # PK_ERR_ARGUMENT
        bad = tokens.copy()
        bad[0] = tiny.vocab_size
        with pytest.raises(KernelError):
            km.forward(images, bad, 1, state)


def test_bench_runs_the_c_kernel() -> None:
    from edgecell_policy.bench import format_table, run_bench

    result = run_bench(FIXTURE_ROOT / "tiny", LIB, iterations=3, warmup=1, peak_seconds=0.05)
    c_rows = [r for r in result.rows if r.engine.startswith("C kernel")]
    assert [r.weights for r in c_rows] == ["fp32", "bf16", "int8"]
    for r in c_rows:
        assert r.available and r.p50_ms is not None and r.max_abs_vs_jax is not None
        assert r.max_abs_vs_jax <= 1e-4
    assert result.peak_gflops and result.peak_gflops > 0
    assert "% peak" in format_table(result)
