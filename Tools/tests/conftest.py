"""Shared test helpers: small architectures, the repository's fixture folders, the C kernel library if built."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgecell_policy.config import Architecture
from edgecell_policy.fixtures import FIXTURES

REPO = Path(__file__).resolve().parents[2]
FIXTURE_ROOT = REPO / "Tests" / "Fixtures" / "models"
FIXTURE_NAMES = [f.name for f in FIXTURES]


def small_arch(**overrides: object) -> Architecture:
    """A fast architecture (1 camera 32×32, d 32); `overrides` change any field."""
    base = dict(cameras=("scene",), image_width=32, image_height=32, patch_size=16, max_text_tokens=6, state_dim=7,
                action_dim=7, horizon=4, width=32, depth=2, heads=2, mlp_width=64)
    base.update(overrides)
    return Architecture(**base)  # type: ignore[arg-type]


def kernel_library() -> Path | None:
    """The C kernel's shared library: $EDGECELL_POLICY_LIB, else .build/bench/libpolicykernel.so, if present."""
    env = os.environ.get("EDGECELL_POLICY_LIB")
    path = Path(env) if env else REPO / ".build" / "bench" / "libpolicykernel.so"
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def fixture_root() -> Path:
    """Tests/Fixtures/models."""
    return FIXTURE_ROOT
