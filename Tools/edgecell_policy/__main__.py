"""`python -m edgecell_policy` — model folders (Models/README.md) from the command line.

  init --out DIR --seed N [architecture options] [--variants bf16,int8]   a random-init folder with golden vectors
  golden DIR [--seed N]                                                   recompute golden.safetensors
  export-onnx DIR [--out FILE] [--variant V]                              the ONNX graph (default DIR/model.onnx)
  info DIR                                                                parameters, FLOPs, bytes, provenance
  bench DIR --lib PATH [--iterations N] [--warmup N] [--json FILE]        ORT vs JAX vs the C kernel
  train --dataset DIR [--dataset DIR …] --out DIR [--base DIR] [options]  train or fine-tune (docs/TRAINING.md)
  bench-train [--width N …] [--batch-size N]                              seconds per training step
  export-lerobot DATASET --out DIR [--fps N]                              LeRobotDataset v3 export
  twin-record / twin-eval / twin-localise                                 the in-process twin (measurements)

Exit status: 0 success, 1 a failed check, 2 bad arguments or an unusable folder.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

USAGE_ERROR = 2


def _progress(message: str) -> None:
    print(f"edgecell_policy: {message}", file=sys.stderr, flush=True)


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer ≥ `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be ≥ {minimum}")
        return value

    return parse


_positive = _at_least(1)
_count = _at_least(0)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"seed {value} must be in 0…2^63−1")
    return value


def _image_size(text: str) -> tuple[int, int]:
    """'96' (square) or '96x64' (width × height)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give N or WIDTHxHEIGHT, e.g. 96 or 96x64") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give N or WIDTHxHEIGHT with positive sizes")
    return values[0], values[1]


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated names")
    return names


def _variants(text: str) -> tuple[str, ...]:
    names = _names(text)
    bad = [n for n in names if n not in ("fp32", "bf16", "int8")]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {', '.join(bad)}; choose from fp32, bf16, int8")
    return names


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the tests)."""
    parser = argparse.ArgumentParser(prog="python -m edgecell_policy", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="write a random-init model folder with golden vectors")
    p.add_argument("--out", type=Path, required=True, help="folder to create")
    p.add_argument("--seed", type=_seed, required=True, help="seed of the weights and the golden inputs")
    p.add_argument("--name", help="model name (default: the folder's name)")
    p.add_argument("--cameras", type=_names, default=("scene", "wrist"), help="comma-separated (default scene,wrist)")
    p.add_argument("--image-size", type=_image_size, default=(96, 96), metavar="N|WxH", help="default 96")
    p.add_argument("--patch-size", type=_positive, default=16, help="default 16")
    p.add_argument("--max-text-tokens", type=_positive, default=16, help="default 16")
    p.add_argument("--horizon", type=_positive, default=20, help="action chunk rows (default 20)")
    p.add_argument("--width", type=_positive, default=256, help="d (default 256)")
    p.add_argument("--depth", type=_positive, default=4, help="blocks (default 4)")
    p.add_argument("--heads", type=_positive, default=4, help="default 4")
    p.add_argument("--mlp-width", type=_positive, default=1024, help="default 1024")
    p.add_argument("--action-period", type=float, default=0.01, help="s between action rows (default 0.01)")
    p.add_argument("--variants", type=_variants, default=(), help="weight-only variants besides fp32: bf16,int8")
    p.add_argument("--scheme", choices=("standard", "conformance"), default="standard",
                   help="initialisation (default standard; conformance makes every bias and norm non-trivial)")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")

    p = sub.add_parser("golden", help="recompute golden.safetensors from the folder's weights")
    p.add_argument("folder", type=Path)
    p.add_argument("--seed", type=_seed, help="seed of the inputs (default: provenance.seed, else 0)")

    p = sub.add_parser("export-onnx", help="export the ONNX graph")
    p.add_argument("folder", type=Path)
    p.add_argument("--out", type=Path, help="ONNX file (default FOLDER/model.onnx)")
    p.add_argument("--variant", choices=("fp32", "bf16", "int8"), default="fp32",
                   help="weights to export (dequantised to fp32; default fp32)")

    p = sub.add_parser("info", help="parameters, FLOPs, bytes, provenance")
    p.add_argument("folder", type=Path)

    p = sub.add_parser("bench", help="time ONNX Runtime, JAX and the C kernel on the same inputs")
    p.add_argument("folder", type=Path)
    p.add_argument("--lib", type=Path, required=True, help="the C kernel as a shared library (may be absent)")
    p.add_argument("--iterations", type=_positive, default=200, help="timed calls per engine (default 200)")
    p.add_argument("--warmup", type=_positive, default=20, help="untimed calls first (default 20)")
    p.add_argument("--peak-seconds", type=float, default=0.5, help="duration of the FMA peak measurement")
    p.add_argument("--json", type=Path, help="also write the results as JSON")

    from .defaults import DEFAULTS

    p = sub.add_parser("train", help="train a model on datasets, or fine-tune one (--base)",
                       description="Train a policy on demonstration datasets (docs/DATASET.md), or fine-tune a "
                                   "base model. See docs/TRAINING.md.")
    p.add_argument("--dataset", type=Path, action="append", required=True, metavar="DIR",
                   help="a dataset folder (repeat for several)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--base", type=Path, help="fine-tune this model folder (keeps its architecture, normalisation, "
                                             "action period; extends its vocabulary)")
    p.add_argument("--steps", type=_positive, help=f"optimiser steps (default {DEFAULTS['steps']}, "
                                                   f"{DEFAULTS['finetune_steps']} with --base)")
    p.add_argument("--batch-size", type=_positive, default=DEFAULTS["batch_size"],
                   help=f"default {DEFAULTS['batch_size']}")
    p.add_argument("--lr", type=_positive_float, default=DEFAULTS["lr"], help=f"peak learning rate (default "
                                                                              f"{DEFAULTS['lr']})")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the weights, split, batches and augmentation")
    p.add_argument("--tasks", type=_names, nargs="+", metavar="TASKS",
                   help="train on these tasks only (comma- or space-separated)")
    p.add_argument("--width", type=_positive, help=f"d (default {DEFAULTS['width']})")
    p.add_argument("--depth", type=_positive, help=f"blocks (default {DEFAULTS['depth']})")
    p.add_argument("--heads", type=_positive, help=f"default {DEFAULTS['heads']}")
    p.add_argument("--mlp-width", type=_positive, help=f"default {DEFAULTS['mlp_width']}")
    p.add_argument("--patch-size", type=_positive, help=f"default {DEFAULTS['patch_size']}")
    p.add_argument("--horizon", type=_positive, help=f"action chunk rows (default {DEFAULTS['horizon']})")
    p.add_argument("--action-period", type=_positive_float,
                   help=f"s between chunk rows, a multiple of the control period (default {DEFAULTS['action_period']})")
    p.add_argument("--max-text-tokens", type=_positive, help=f"default {DEFAULTS['max_text_tokens']}")
    p.add_argument("--variants", type=_variants, default=(), help="weight-only variants besides fp32: bf16,int8")
    p.add_argument("--eval-fraction", type=_fraction, default=DEFAULTS["eval_fraction"],
                   help=f"share of each task's episodes held out (default {DEFAULTS['eval_fraction']})")
    p.add_argument("--warmup", type=int, help="warm-up steps (default min(500, steps/10))")
    p.add_argument("--weight-decay", type=float, default=DEFAULTS["weight_decay"])
    p.add_argument("--eval-every", type=_positive, help="held-out loss every N steps (default steps/20)")
    p.add_argument("--no-augment", action="store_true", help="train without image augmentation")
    p.add_argument("--shift-pixels", type=_count, default=DEFAULTS["shift_pixels"],
                   help="largest random image shift of the augmentation, in pixels (0: brightness and contrast "
                        f"jitter only; default {DEFAULTS['shift_pixels']})")
    p.add_argument("--keypoints", type=_count,
                   help="keypoints per camera of the spatial soft-argmax stem (0: none; default "
                        f"{DEFAULTS['keypoints']})")
    p.add_argument("--aux-weight", type=float, default=DEFAULTS["aux_weight"],
                   help="weight of the training-only auxiliary loss that predicts the objects' initial poses from "
                        "the features the actions are read from (needs object poses in the dataset; 0 turns it "
                        f"off; default {DEFAULTS['aux_weight']})")
    p.add_argument("--state-dropout", type=_fraction, default=DEFAULTS["state_dropout"],
                   help="share of training samples whose joint positions are replaced by a random posture, so "
                        f"the network must find the target in the images (default {DEFAULTS['state_dropout']})")
    p.add_argument("--state-noise", type=float, default=DEFAULTS["state_noise"],
                   help="std of the noise added to the normalised joint positions in training "
                        f"(default {DEFAULTS['state_noise']})")
    p.add_argument("--name", help="model name (default: the folder's name)")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")

    p = sub.add_parser("bench-train", help="seconds per training step of an architecture (synthetic data)")
    p.add_argument("--batch-size", type=_positive, default=DEFAULTS["batch_size"])
    p.add_argument("--steps", type=_positive, default=15, help="timed steps (median; default 15)")
    p.add_argument("--cameras", type=_names, default=("scene", "wrist"))
    p.add_argument("--image-size", type=_image_size, default=(96, 96), metavar="N|WxH")
    for key in ("width", "depth", "heads", "mlp_width", "patch_size", "horizon", "max_text_tokens"):
        p.add_argument("--" + key.replace("_", "-"), type=_positive, default=DEFAULTS[key])

    p = sub.add_parser("export-lerobot", help="export a dataset as a LeRobotDataset v3")
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder to create")
    p.add_argument("--fps", type=_positive, help="frames per second (default: the dataset's frame rate; a whole "
                                                 "divisor of it subsamples the frames)")
    p.add_argument("--codec", choices=("h264", "av1"), default="h264", help="video codec (default h264)")
    p.add_argument("--force", action="store_true", help="replace an existing folder")

    p = sub.add_parser("twin-record", help="record expert demonstrations from the in-process twin (measurements)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tasks", type=_names, required=True)
    p.add_argument("--episodes", type=_positive, default=10, help="per task")
    p.add_argument("--first-seed", type=_seed, default=0)

    p = sub.add_parser("twin-eval", help="run a model closed loop in the in-process twin (measurements)")
    p.add_argument("folder", type=Path)
    p.add_argument("--tasks", type=_names, help="default: the tasks the model was trained on")
    p.add_argument("--episodes", type=_positive, default=20, help="per task")
    p.add_argument("--first-seed", type=_seed, default=100_000)
    p.add_argument("--lib", type=Path, help="the C kernel's shared library (default: JAX)")
    p.add_argument("--execute-rows", type=_positive, help="rows per chunk (default horizon/2)")
    p.add_argument("--ensemble-decay", type=float, help="temporal ensembling instead of sequential execution")
    p.add_argument("--json", type=Path)

    p = sub.add_parser("twin-localise",
                       help="does the model find the cube? its first chunk's end point against the cube, over seeds")
    p.add_argument("folder", type=Path)
    p.add_argument("--task", default="bin-red")
    p.add_argument("--episodes", type=_positive, default=15, help="seeds, from --first-seed")
    p.add_argument("--first-seed", type=_seed, default=100_000)
    p.add_argument("--lib", type=Path, help="the C kernel's shared library (default: JAX)")
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"{value} must be a positive number")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be in [0, 1)")
    return value


def _cmd_init(args: argparse.Namespace) -> int:
    from .config import Architecture, ConfigError
    from .folder import init_folder, new_config

    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise _UsageError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise _UsageError(f"--out {out}: folder is not empty (use --force to overwrite its model files)")
    width, height = args.image_size
    arch = Architecture(cameras=args.cameras, image_width=width, image_height=height, patch_size=args.patch_size,
                        max_text_tokens=args.max_text_tokens, state_dim=7, action_dim=7, horizon=args.horizon,
                        width=args.width, depth=args.depth, heads=args.heads, mlp_width=args.mlp_width)
    name = args.name or out.resolve().name
    try:
        config = new_config(name, arch, action_period=args.action_period)
    except ConfigError as e:
        raise _UsageError(str(e)) from None
    command = "python -m edgecell_policy " + shlex.join(args.argv)
    variants = ("fp32",) + tuple(v for v in args.variants if v != "fp32")
    _progress(f"initialising {name} (seed {args.seed}, {', '.join(variants)}) in {out}")
    final = init_folder(out, config, args.seed, variants=variants, scheme=args.scheme, command=command,
                        log=_progress)
    _progress(f"done: {out} ({', '.join(final.weights)})")
    return 0


def _cmd_golden(args: argparse.Namespace) -> int:
    from . import tensorfile
    from .folder import GOLDEN_FILE, load_folder, load_folder_config
    from .golden import compute_golden, make_cases

    config = load_folder_config(args.folder)
    seed = args.seed if args.seed is not None else (config.provenance.seed if config.provenance and
                                                     config.provenance.seed is not None else 0)
    params = {v: load_folder(args.folder, v).params for v in config.weights}
    _progress(f"computing golden vectors for {', '.join(params)} (seed {seed})")
    tensors, meta = compute_golden(config, params, make_cases(config, seed))
    tensorfile.write(args.folder / GOLDEN_FILE, tensors, meta)
    _progress(f"wrote {args.folder / GOLDEN_FILE} ({meta['cases']} cases)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .folder import load_folder
    from .onnx_export import OPSET, export

    model = load_folder(args.folder, args.variant)
    out = args.out or args.folder / "model.onnx"
    size = export(model.config, model.params, out)
    print(f"wrote {out} ({size} bytes, opset {OPSET}, {args.variant} weights as fp32)")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .folder import GOLDEN_FILE, load_folder_config, load_golden
    from .golden import max_variant_error
    from .model import flops, parameter_count

    config = load_folder_config(args.folder)
    a = config.architecture
    print(f"model {config.name} ({args.folder})")
    print(f"  cameras {', '.join(a.cameras)}: {a.image_width}×{a.image_height}, patch {a.patch_size} "
          f"({a.patches_per_camera} patches each)")
    print(f"  text: {a.max_text_tokens} tokens, vocabulary {config.vocab_size} words; state {a.state_dim}, "
          f"actions {a.horizon}×{a.action_dim} every {config.control.action_period} s")
    print(f"  network: d={a.width}, depth {a.depth}, heads {a.heads} (dh {a.head_dim}), mlp {a.mlp_width}, "
          f"T={a.sequence_length} tokens")
    print(f"  parameters: {parameter_count(a, config.vocab_size):,}")
    print(f"  FLOPs per action chunk: {flops(a):,} ({flops(a) / 1e6:.1f} MFLOP, Models/README.md §3 count)")
    for variant, wf in config.weights.items():
        path = args.folder / wf.file
        size = path.stat().st_size if path.is_file() else None
        print(f"  weights {variant}: {wf.file}, {size if size is not None else 'MISSING'} bytes, sha256 {wf.sha256}")
    if config.provenance:
        p = config.provenance
        print(f"  provenance: {p.data}; seed {p.seed}; {p.created}; commit {p.commit}; by {p.tool}: {p.command}")
    if (args.folder / GOLDEN_FILE).is_file():
        g, meta = load_golden(args.folder)
        line = f"  golden: {meta['cases']} cases"
        for v in ("bf16", "int8"):
            if f"case.0.actions_normalized.{v}" in g:
                line += f"; max |{v} − fp32| {max_variant_error(g, v):.2e}"
        print(line)
    if config.metrics:
        print(f"  metrics: {config.metrics}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import format_table, run_bench
    from .config import atomic_write_bytes

    result = run_bench(args.folder, args.lib, iterations=args.iterations, warmup=args.warmup,
                       peak_seconds=args.peak_seconds, log=_progress)
    print(format_table(result), flush=True)
    if args.json:
        atomic_write_bytes(args.json, result.to_json().encode())
        _progress(f"wrote {args.json}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import TrainOptions, command_line, train

    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise _UsageError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise _UsageError(f"--out {out}: folder is not empty (use --force to overwrite its model files)")
    opts = TrainOptions(datasets=list(args.dataset), out=out, base=args.base, steps=args.steps,
                        batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                        tasks=[t for group in args.tasks for t in group] if args.tasks else None,
                        width=args.width, depth=args.depth,
                        heads=args.heads, mlp_width=args.mlp_width, patch_size=args.patch_size, horizon=args.horizon,
                        action_period=args.action_period, max_text_tokens=args.max_text_tokens,
                        variants=tuple(v for v in args.variants if v != "fp32"), eval_fraction=args.eval_fraction,
                        warmup=args.warmup, weight_decay=args.weight_decay, eval_every=args.eval_every,
                        augment=not args.no_augment, shift_pixels=args.shift_pixels, keypoints=args.keypoints,
                        state_noise=args.state_noise, aux_weight=args.aux_weight,
                        state_dropout=args.state_dropout, name=args.name, command=command_line(args.argv),
                        log=_progress)
    result = train(opts)
    held = f", held-out {result.heldout_loss:.4f}" if result.heldout_loss is not None else ""
    m = result.metrics
    print(f"trained {result.config.name}: {m['steps']} steps in {m['training_seconds']:.0f} s "
          f"({result.seconds_per_step:.3f} s/step), train loss {result.train_loss:.4f}{held}; wrote {out}")
    return 0


def _cmd_bench_train(args: argparse.Namespace) -> int:
    from .config import Architecture
    from .train import bench_step

    width, height = args.image_size
    arch = Architecture(cameras=args.cameras, image_width=width, image_height=height, patch_size=args.patch_size,
                        max_text_tokens=args.max_text_tokens, state_dim=7, action_dim=7, horizon=args.horizon,
                        width=args.width, depth=args.depth, heads=args.heads, mlp_width=args.mlp_width)
    arch.validate()
    r = bench_step(arch, args.batch_size, steps=args.steps)
    print(f"d={arch.width} depth={arch.depth} heads={arch.heads} mlp={arch.mlp_width} patch={arch.patch_size} "
          f"H={arch.horizon} T={arch.sequence_length}: {r['parameters'] / 1e6:.2f} M parameters, "
          f"{r['forward_flops'] / 1e6:.0f} MFLOP per forward; batch {args.batch_size}: "
          f"{r['seconds_per_step']:.3f} s/step (median of {args.steps}), "
          f"{r['train_gflops_per_s']:.0f} GFLOP/s (3 × forward × batch), compile {r['compile_seconds']:.1f} s")
    return 0


def _cmd_export_lerobot(args: argparse.Namespace) -> int:
    from .export_lerobot import export

    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.force:
        raise _UsageError(f"--out {out}: exists (use --force to replace it)")
    summary = export(args.dataset, out, fps=args.fps, codec=args.codec, force=args.force, log=_progress)
    print(summary)
    return 0


def _cmd_twin_record(args: argparse.Namespace) -> int:
    from .twin import record

    record(args.out, list(args.tasks), args.episodes, first_seed=args.first_seed, log=_progress)
    print(f"wrote {args.out}")
    return 0


def _cmd_twin_eval(args: argparse.Namespace) -> int:
    import json

    from .folder import load_folder_config
    from .twin import evaluate

    config = load_folder_config(args.folder)
    tasks = list(args.tasks) if args.tasks else (
        config.provenance.data.get("tasks") if config.provenance and isinstance(config.provenance.data, dict) else None)
    if not tasks:
        raise _UsageError("--tasks: the model does not say which tasks it was trained on")
    results = evaluate(args.folder, tasks, args.episodes, first_seed=args.first_seed, lib=args.lib,
                       execute_rows=args.execute_rows, ensemble_decay=args.ensemble_decay, log=_progress)
    summary = {}
    for task in tasks:
        mine = [r for r in results if r.task == task]
        summary[task] = {"episodes": len(mine), "successes": sum(r.success for r in mine),
                         "rate": sum(r.success for r in mine) / len(mine)}
        print(f"{task}: {summary[task]['successes']}/{len(mine)} ({summary[task]['rate']:.0%})")
    if args.json:
        from .config import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps({"tasks": summary, "episodes": [r.__dict__ for r in results]},
                                                 indent=2).encode())
    return 0


def _cmd_twin_localise(args: argparse.Namespace) -> int:
    from .twin import localisation

    seeds = list(range(args.first_seed, args.first_seed + args.episodes))
    result = localisation(args.folder, args.task, seeds, lib=args.lib)
    for axis, name in enumerate("xy"):
        print(f"{args.task} {name}: correlation {result.correlation(axis):+.2f}, mean error "
              f"{result.mean_error(axis) * 100:.1f} cm over {len(seeds)} seeds")
    return 0


class _UsageError(Exception):
    """Bad arguments or an unusable folder: exit 2."""


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.command == "bench":
        # One XLA thread, like the single-threaded ORT and C runs (set before JAX is imported).
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    from .ckernel import KernelError
    from .config import ConfigError
    from .dataset import DatasetError
    from .folder import ModelFolderError
    from .tensorfile import TensorFileError
    from .train import TrainError

    commands = {"init": _cmd_init, "golden": _cmd_golden, "export-onnx": _cmd_export, "info": _cmd_info,
                "bench": _cmd_bench, "train": _cmd_train, "bench-train": _cmd_bench_train,
                "export-lerobot": _cmd_export_lerobot, "twin-record": _cmd_twin_record, "twin-eval": _cmd_twin_eval,
                "twin-localise": _cmd_twin_localise}
    try:
        return commands[args.command](args)
    except (_UsageError, ModelFolderError, ConfigError, TensorFileError, DatasetError, TrainError) as e:
        print(f"python -m edgecell_policy {args.command}: error: {e}", file=sys.stderr)
        return USAGE_ERROR
    except KernelError as e:
        print(f"python -m edgecell_policy {args.command}: C kernel error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
