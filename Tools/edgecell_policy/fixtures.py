"""The C kernel's test fixtures: small model folders under Tests/Fixtures/models/, generated deterministically.

Regenerate (from the repository root): `Tools/make-fixtures`; check that the committed ones reproduce:
`Tools/make-fixtures --check`. Weights use the "conformance" init scheme (every bias, norm and position
non-trivial) so the golden vectors exercise every term of Models/README.md §3.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import tensorfile
from .config import Architecture
from .folder import CONFIG_FILE, DEFAULT_VOCABULARY, GOLDEN_FILE, init_folder, new_config

#: The vocabulary of the tiny fixtures: the twin's task words only.
SMALL_VOCABULARY: tuple[str, ...] = ("<pad>", "<unk>", "put", "the", "red", "cube", "in", "bin", "stack", "blue",
                                     "on", "green")


@dataclass(frozen=True)
class Fixture:
    """One fixture folder: its architecture, vocabulary, seed and variants."""

    name: str
    arch: Architecture
    vocabulary: tuple[str, ...]
    seed: int
    variants: tuple[str, ...]


FIXTURES: tuple[Fixture, ...] = (
    Fixture("tiny", Architecture(cameras=("scene",), image_width=32, image_height=32, patch_size=16,
                                 max_text_tokens=6, state_dim=7, action_dim=7, horizon=4, width=32, depth=2,
                                 heads=2, mlp_width=64), SMALL_VOCABULARY, 1, ("fp32", "bf16", "int8")),
    Fixture("tiny2cam", Architecture(cameras=("scene", "wrist"), image_width=48, image_height=32, patch_size=16,
                                     max_text_tokens=8, state_dim=7, action_dim=7, horizon=5, width=48, depth=2,
                                     heads=3, mlp_width=96), SMALL_VOCABULARY, 2, ("fp32", "bf16", "int8")),
    Fixture("small", Architecture(cameras=("scene", "wrist"), image_width=96, image_height=96, patch_size=16,
                                  max_text_tokens=16, state_dim=7, action_dim=7, horizon=8, width=64, depth=2,
                                  heads=4, mlp_width=256), DEFAULT_VOCABULARY, 3, ("fp32",)),
    Fixture("tinykp", Architecture(cameras=("scene", "wrist"), image_width=32, image_height=16, patch_size=16,
                                   max_text_tokens=6, state_dim=7, action_dim=7, horizon=4, width=32, depth=2,
                                   heads=2, mlp_width=64, keypoints=3), SMALL_VOCABULARY, 4,
            ("fp32", "bf16", "int8")),
)
COMMAND = "Tools/make-fixtures"


def write_fixture(fixture: Fixture, out: Path, log: Callable[[str], None] | None = None) -> None:
    """Writes one fixture folder (replacing any old one) at `out`."""
    if out.exists():
        shutil.rmtree(out)
    config = new_config(fixture.name, fixture.arch, fixture.vocabulary)
    init_folder(out, config, fixture.seed, variants=fixture.variants, scheme="conformance", command=COMMAND,
                log=log)


def write_all(root: Path, log: Callable[[str], None] | None = None) -> None:
    """Every fixture under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for fixture in FIXTURES:
        write_fixture(fixture, root / fixture.name, log)


#: Golden outputs come from XLA, whose code (and so the last bits of a sum) may differ on another CPU; the
#: check accepts this much and compares everything else exactly.
OUTPUT_TOLERANCE = 1e-6


def _compare_golden(fresh: Path, committed: Path) -> list[str]:
    a, meta_a, kinds_a = tensorfile.read(fresh)
    b, meta_b, kinds_b = tensorfile.read(committed)
    if meta_a != meta_b or kinds_a != kinds_b:
        return [f"{committed}: metadata or tensor set differs"]
    problems = []
    for name in a:
        exact = ".actions" not in name
        same = np.array_equal(a[name], b[name]) if exact else (
            a[name].shape == b[name].shape and np.abs(a[name] - b[name]).max() <= OUTPUT_TOLERANCE)
        if not same:
            problems.append(f"{committed}: tensor {name!r} differs")
    return problems


def check_all(root: Path, log: Callable[[str], None] | None = None) -> list[str]:
    """Regenerates every fixture in a temporary folder and compares it with `root`: weight files byte for byte,
    golden inputs exactly and outputs within `OUTPUT_TOLERANCE`, config.json apart from `provenance`. Returns
    the differences (empty when all reproduce)."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for fixture in FIXTURES:
            fresh = Path(tmp) / fixture.name
            write_fixture(fixture, fresh, log)
            committed = root / fixture.name
            names = sorted(p.name for p in fresh.iterdir())
            have = sorted(p.name for p in committed.iterdir()) if committed.is_dir() else []
            if names != have:
                problems.append(f"{committed}: files {have}, expected {names}")
                continue
            for name in names:
                if name == CONFIG_FILE:
                    a = json.loads((fresh / name).read_text())
                    b = json.loads((committed / name).read_text())
                    a.pop("provenance", None)
                    b.pop("provenance", None)
                    if a != b:
                        problems.append(f"{committed / name}: differs (outside provenance)")
                elif name == GOLDEN_FILE:
                    problems += _compare_golden(fresh / name, committed / name)
                elif not filecmp.cmp(fresh / name, committed / name, shallow=False):
                    problems.append(f"{committed / name}: bytes differ")
    return problems


__all__ = ["FIXTURES", "Fixture", "GOLDEN_FILE", "check_all", "write_all", "write_fixture"]


def main(argv: list[str] | None = None) -> int:
    """`Tools/make-fixtures [--out DIR] [--check]`."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="Tools/make-fixtures", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("Tests/Fixtures/models"),
                        help="root of the fixture folders (default Tests/Fixtures/models)")
    parser.add_argument("--check", action="store_true",
                        help="regenerate in a temporary folder and compare with --out instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        problems = check_all(args.out)
        for p in problems:
            print(f"make-fixtures: {p}", file=sys.stderr)
        if problems:
            return 1
        print(f"make-fixtures: {', '.join(f.name for f in FIXTURES)} under {args.out} reproduce")
        return 0
    write_all(args.out, log=print)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
