"""Timing of one policy model through ONNX Runtime, JAX/XLA and the EdgeCell C kernel (ctypes), on the same
inputs, for `Tools/bench-policy` (`python -m edgecell_policy bench DIR --lib PATH`).

Per engine: warm-up calls, then N timed calls (`time.perf_counter_ns` around each call, output ready), giving
p50/p99/mean latency per action chunk (for an instruction filling every token slot: the worst case); achieved
GFLOP/s = the work the engine executes / p50 (ONNX Runtime and JAX run every row: the §3 FLOP count; the C
kernel skips rows no output reads: its own executed count, `pk_model_op_stats`); the fraction of this core's FP32
FMA peak (`pk_measure_fma_peak` on the best SIMD path the C kernel supports, best of `PEAK_RUNS` runs); the
speed ratio to ONNX Runtime (ORT p50 / engine p50: above 1 is faster than ORT); and the max |Δ| of the
engine's output against JAX on the same inputs and weights (for bf16/int8: JAX with the dequantised variant
weights, and against fp32).
No timing is asserted anywhere; this module only measures.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from .config import ModelConfig
from .folder import GOLDEN_FILE, LoadedModel, load_folder, load_golden
from .golden import make_cases
from .model import flops as analytic_flops
from .model import normalize_state
from .tokenizer import Tokenizer

#: Runs of pk_measure_fma_peak; the peak is their maximum.
PEAK_RUNS = 3


@dataclass
class Row:
    """One engine × weights line of the table."""

    engine: str
    weights: str
    available: bool
    note: str = ""
    p50_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    gflops: float | None = None
    peak_fraction: float | None = None
    vs_ort: float | None = None
    max_abs_vs_jax: float | None = None
    max_abs_vs_jax_fp32: float | None = None


@dataclass
class BenchResult:
    """Everything `bench` measured."""

    model: str
    architecture: dict[str, object]
    flops: int
    kernel_flops: int | None
    peak_gflops: float | None
    peak_isa: str | None
    iterations: int
    warmup: int
    machine: str
    rows: list[Row] = field(default_factory=list)

    def to_json(self) -> str:
        """JSON text of the result."""
        return json.dumps(asdict(self), indent=2) + "\n"


def time_calls(fn: Callable[[], object], warmup: int, iterations: int) -> np.ndarray:
    """Nanoseconds of `iterations` calls of `fn` after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    out = np.empty(iterations, dtype=np.int64)
    for i in range(iterations):
        t0 = time.perf_counter_ns()
        fn()
        out[i] = time.perf_counter_ns() - t0
    return out


def summarize(row: Row, ns: np.ndarray, flops: int, peak: float | None) -> None:
    """Fills the latency columns of `row` from nanosecond samples."""
    row.p50_ms = float(np.percentile(ns, 50)) / 1e6
    row.p99_ms = float(np.percentile(ns, 99)) / 1e6
    row.mean_ms = float(ns.mean()) / 1e6
    row.gflops = flops / (row.p50_ms * 1e6)
    if peak:
        row.peak_fraction = row.gflops / peak


def machine_description() -> str:
    """CPU model, cores, affinity, kernel."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:
        allowed = []
    return f"{cpu}, {os.cpu_count()} cores, running on CPU(s) {allowed}, {platform.system()} {platform.release()}"


def bench_inputs(model: LoadedModel) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(images, tokens, n, state_normalized): golden case 0's images and state, with an instruction that fills
    every token slot, the worst case (the C kernel skips padding rows, so a short instruction would time less
    work for it than for the other engines, and its executed-work count is for a full instruction)."""
    config = model.config
    if (model.path / GOLDEN_FILE).is_file():
        g, _ = load_golden(model.path)
        images, state = g["case.0.images"], g["case.0.state_normalized"]
    else:
        case = make_cases(config, 0)[0]
        images = case.images
        state = normalize_state(case.state, config.normalization.state_mean, config.normalization.state_std)
    words = [w for w in config.vocabulary[2:]] or ["<unk>"]
    slots = config.architecture.max_text_tokens
    instruction = " ".join(words[i % len(words)] for i in range(slots))
    tokens, n = Tokenizer(config.vocabulary, slots).encode(instruction)
    return images, tokens, n, state


def run_bench(
    folder: str | os.PathLike[str],
    lib: str | os.PathLike[str] | None,
    *,
    iterations: int = 200,
    warmup: int = 20,
    peak_seconds: float = 0.5,
    log: Callable[[str], None] = lambda _m: None,
) -> BenchResult:
    """Measures every available engine on `folder`'s model (see the module docstring)."""
    import jax

    from . import onnx_export
    from .model import make_forward, to_device

    base = load_folder(folder, "fp32")
    config: ModelConfig = base.config
    arch = config.architecture
    flops = analytic_flops(arch)
    images, tokens, n, state = bench_inputs(base)
    variants = [v for v in ("fp32", "bf16", "int8") if v in config.weights]
    params = {v: (base if v == "fp32" else load_folder(folder, v)).params for v in variants}

    # JAX: the parity reference for every engine, and an engine itself.
    f = make_forward(arch)
    device_params = {v: to_device(p) for v, p in params.items()}
    j_inputs = [jax.device_put(x) for x in (images, tokens, np.int32(n), state)]
    reference = {v: np.asarray(f(device_params[v], *j_inputs)) for v in variants}

    # The C kernel's library and the core's FMA peak.
    library = None
    lib_note = "not available"
    peak = None
    peak_isa = None
    if lib is not None and Path(lib).is_file():
        from .ckernel import Library

        try:
            library = Library(lib)
            best = library.best_isa()
            peak_isa = library.isa_name(best)
            log(f"measuring the FP32 FMA peak ({peak_isa}, best of {PEAK_RUNS} × {peak_seconds} s)")
            # The best of several runs: anything else on the core only ever lowers a run.
            peak = max(library.measure_fma_peak(best, peak_seconds) for _ in range(PEAK_RUNS)) or None
        except (OSError, RuntimeError) as e:
            lib_note = f"not available ({e})"
            library = None
    elif lib is not None:
        lib_note = f"not available (no library at {lib})"

    result = BenchResult(model=config.name, architecture={**asdict(arch), "cameras": list(arch.cameras),
                                                          "vocab_size": config.vocab_size,
                                                          "sequence_length": arch.sequence_length},
                         flops=flops, kernel_flops=None, peak_gflops=peak, peak_isa=peak_isa,
                         iterations=iterations, warmup=warmup, machine=machine_description())

    # ONNX Runtime.
    log("ONNX Runtime: exporting and timing")
    sess = onnx_export.session(onnx_export.build_model(config, params["fp32"]))
    feeds = {"images": np.ascontiguousarray(images, np.uint8), "tokens": np.ascontiguousarray(tokens, np.int32),
             "token_count": np.asarray([n], np.int32), "state": np.ascontiguousarray(state, np.float32)}
    ort_out = sess.run([onnx_export.OUTPUT_NAME], feeds)[0]
    row = Row("ONNX Runtime", "fp32", True, "1 intra-op thread, ORT_ENABLE_ALL, sequential")
    summarize(row, time_calls(lambda: sess.run([onnx_export.OUTPUT_NAME], feeds), warmup, iterations), flops, peak)
    row.max_abs_vs_jax = float(np.max(np.abs(ort_out - reference["fp32"])))
    result.rows.append(row)
    ort_p50 = row.p50_ms

    # JAX/XLA.
    log("JAX/XLA: timing")
    p = device_params["fp32"]
    row = Row("JAX/XLA", "fp32", True, "jit, block_until_ready")
    summarize(row, time_calls(lambda: f(p, *j_inputs).block_until_ready(), warmup, iterations), flops, peak)
    row.max_abs_vs_jax = 0.0
    result.rows.append(row)

    # The C kernel, per weight variant.
    for v in variants:
        if library is None:
            result.rows.append(Row("C kernel", v, False, lib_note))
            continue
        log(f"C kernel ({v}): loading and timing")
        try:
            km = library.load(Path(folder) / config.weights[v].file, arch, config.vocab_size)
        except (OSError, RuntimeError) as e:
            result.rows.append(Row("C kernel", v, False, f"not available ({e})"))
            continue
        with km:
            prepared = km.prepare(images, tokens, n, state)
            out = km.forward_prepared(prepared).copy()
            result.kernel_flops = km.flops
            row = Row(f"C kernel {library.isa_name(km.isa)}", v, True,
                      f"packed {km.packed_bytes / 1e6:.1f} MB, arena {km.arena_bytes / 1e6:.2f} MB")
            call = partial(km.forward_prepared, prepared)
            # Achieved throughput counts the work this kernel executes (pk_model_op_stats: it skips the
            # last block's non-query rows), so it can be compared with the peak; the other engines run every
            # row, so for them the §3 count is the executed work.
            executed = sum(km.executed_flops.values())
            summarize(row, time_calls(call, warmup, iterations), executed, peak)
            row.note += f"; executes {executed / 1e6:.1f} MFLOP"
            row.max_abs_vs_jax = float(np.max(np.abs(out - reference[v])))
            row.max_abs_vs_jax_fp32 = float(np.max(np.abs(out - reference["fp32"])))
            result.rows.append(row)
    for row in result.rows:
        if row.p50_ms:
            row.vs_ort = ort_p50 / row.p50_ms
    return result


def _fmt(value: float | None, width: int, spec: str, suffix: str = "") -> str:
    text = "—" if value is None else format(value, spec) + suffix
    return text.rjust(width)


def format_table(result: BenchResult) -> str:
    """The human-readable report."""
    a = result.architecture
    lines = [
        f"model {result.model}: {len(a['cameras'])} camera(s) {a['image_width']}×{a['image_height']} patch "
        f"{a['patch_size']}, L={a['max_text_tokens']}, H={a['horizon']}, d={a['width']}, depth {a['depth']}, "
        f"heads {a['heads']}, mlp {a['mlp_width']}, T={a['sequence_length']}",
        f"work: {result.flops / 1e6:.1f} MFLOP per action chunk (Models/README.md §3 count: 2 × multiply-adds of "
        f"the matrix products)" + ("" if result.kernel_flops is None else
                                   f"; pk_model_flops {result.kernel_flops / 1e6:.1f} MFLOP"
                                   + (" (agrees)" if result.kernel_flops == result.flops else " (DISAGREES)")),
        f"machine: {result.machine}",
        f"timing: {result.warmup} warm-up + {result.iterations} timed calls per engine, one observation per call",
    ]
    if result.peak_gflops:
        lines.append(f"peak: {result.peak_gflops:.1f} GFLOP/s = pk_measure_fma_peak({result.peak_isa}): this core's "
                     "FP32 FMA throughput with independent register-resident chains, the ceiling no GEMM can pass; "
                     "'% peak' = achieved GFLOP/s (executed work / p50) / peak")
    else:
        lines.append("peak: not available (needs the C kernel's pk_measure_fma_peak); '% peak' left blank")
    header = (f"{'engine':<20} {'weights':<7} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'GFLOP/s':>8} "
              f"{'% peak':>7} {'vs ORT':>7} {'max|Δ| JAX':>11} {'vs fp32':>9}  note")
    lines += ["", header, "-" * len(header)]
    for r in result.rows:
        if not r.available:
            lines.append(f"{r.engine:<20} {r.weights:<7} {r.note}")
            continue
        pct = None if r.peak_fraction is None else 100 * r.peak_fraction
        lines.append(
            f"{r.engine:<20} {r.weights:<7} {_fmt(r.p50_ms, 8, '.3f')} {_fmt(r.p99_ms, 8, '.3f')} "
            f"{_fmt(r.mean_ms, 8, '.3f')} {_fmt(r.gflops, 8, '.1f')} {_fmt(pct, 7, '.1f', '%')} "
            f"{_fmt(r.vs_ort, 7, '.2f', '×')} {_fmt(r.max_abs_vs_jax, 11, '.2e')} "
            f"{_fmt(r.max_abs_vs_jax_fp32, 9, '.2e')}  {r.note}"
        )
    lines.append("")
    lines.append("vs ORT = ORT p50 / engine p50 (above 1: faster than ONNX Runtime). max|Δ| JAX: against JAX with "
                 "the same (dequantised) weights; vs fp32: against JAX with the fp32 weights.")
    return "\n".join(lines)
