"""`python -m edgecell_policy`: the commands on a tiny model, and exit status 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgecell_policy.__main__ import main
from edgecell_policy.folder import load_folder_config

TINY = ["--cameras", "scene", "--image-size", "32", "--max-text-tokens", "6", "--horizon", "4", "--width", "32",
        "--depth", "2", "--heads", "2", "--mlp-width", "64"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "tiny"
    assert main(["init", "--out", str(out), "--seed", "3", "--variants", "bf16,int8", *TINY]) == 0
    return out


def test_init_writes_a_complete_folder(model: Path) -> None:
    config = load_folder_config(model)
    assert config.name == "tiny" and set(config.weights) == {"fp32", "bf16", "int8"}
    assert config.provenance is not None and "--seed 3" in config.provenance.command
    assert config.architecture.width == 32 and config.architecture.cameras == ("scene",)


def test_info_golden_export(model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "FLOPs per action chunk: 747,968" in out and "max |int8 − fp32|" in out
    before = (model / "golden.safetensors").read_bytes()
    assert main(["golden", str(model)]) == 0
    assert (model / "golden.safetensors").read_bytes() == before, "golden uses provenance.seed by default"
    assert main(["export-onnx", str(model), "--out", str(model.parent / "t.onnx")]) == 0
    assert (model.parent / "t.onnx").stat().st_size > 0


def test_bench_without_the_c_kernel(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "bench.json"
    code = main(["bench", str(model), "--lib", str(tmp_path / "missing.so"), "--iterations", "3", "--warmup", "1",
                 "--json", str(report)])
    assert code == 0
    out = capsys.readouterr().out
    assert "ONNX Runtime" in out and "JAX/XLA" in out and "not available" in out
    result = json.loads(report.read_text())
    assert result["flops"] == 747_968
    rows = {(r["engine"], r["weights"]): r for r in result["rows"]}
    assert rows[("ONNX Runtime", "fp32")]["max_abs_vs_jax"] <= 1e-4
    assert not rows[("C kernel", "int8")]["available"]


@pytest.mark.parametrize(
    "argv",
    [
        ["init", "--seed", "1"],  # no --out
        ["init", "--out", "X", "--seed", "-1"],
        ["init", "--out", "X", "--seed", "1", "--width", "0"],
        ["init", "--out", "X", "--seed", "1", "--image-size", "9x"],
        ["init", "--out", "X", "--seed", "1", "--variants", "fp16"],
        ["bench", "X"],  # no --lib
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2


def test_bad_folders_exit_2(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "none")]) == 2
    assert main(["init", "--out", str(model), "--seed", "1", *TINY]) == 2  # not empty
    assert main(["init", "--out", str(tmp_path / "x"), "--seed", "1", "--width", "30", "--heads", "4"]) == 2
    assert main(["export-onnx", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "divisible by heads" in err and "no config.json" in err


def test_module_entry_point(model: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "edgecell_policy", "info", str(model)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and "parameters:" in done.stdout
