"""The stated bf16/int8 error bounds (quantize.BF16_BOUND, INT8_BOUND) on the fixtures and default-size models."""

from __future__ import annotations

import pytest

from conftest import FIXTURE_NAMES, FIXTURE_ROOT
from edgecell_policy.folder import default_architecture, load_folder_config, load_golden, new_config
from edgecell_policy.golden import compute_golden, make_cases, max_variant_error
from edgecell_policy.model import init_params
from edgecell_policy.quantize import BF16_BOUND, INT8_BOUND, dequantized

BOUNDS = {"bf16": BF16_BOUND, "int8": INT8_BOUND}


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_variants_within_bounds(name: str) -> None:
    config = load_folder_config(FIXTURE_ROOT / name)
    golden, _ = load_golden(FIXTURE_ROOT / name)
    for variant in ("bf16", "int8"):
        if variant in config.weights:
            err = max_variant_error(golden, variant)
            assert 0 < err <= BOUNDS[variant], f"{name} {variant}: {err}"


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["standard", "conformance"])
def test_default_model_variants_within_bounds(scheme: str) -> None:
    config = new_config("default", default_architecture())
    params = init_params(config.architecture, config.vocab_size, seed=0, scheme=scheme)
    by_variant = {v: dequantized(params, config.architecture.depth, v) for v in ("fp32", "bf16", "int8")}
    golden, _ = compute_golden(config, by_variant, make_cases(config, 0))
    for variant, bound in BOUNDS.items():
        err = max_variant_error(golden, variant)
        assert 0 < err <= bound, f"{scheme} {variant}: {err}"
    # bf16 keeps 8 significant bits of every weight, int8 127 steps of its row's largest: int8 loses more.
    assert max_variant_error(golden, "bf16") < max_variant_error(golden, "int8")
