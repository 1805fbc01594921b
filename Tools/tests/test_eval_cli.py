"""`edgecell eval` end to end: the built runtime starts the real twin, runs a tiny model through the C kernel in
lock-step, and writes the report (Markdown, JSON, JUnit XML, plots, film strips), with --min-success as the exit
status. Needs the built `edgecell` ($EDGECELL_BIN, set by Tools/test; else .build/debug/edgecell if present)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import FIXTURE_ROOT, REPO


def edgecell_binary() -> Path:
    env = os.environ.get("EDGECELL_BIN")
    if env:
        path = Path(env)
        assert path.is_file(), f"EDGECELL_BIN={env} does not exist"
        return path
    path = REPO / ".build" / "debug" / "edgecell"
    if not path.is_file():
        pytest.skip("edgecell is not built (swift build), and EDGECELL_BIN is not set")
    return path


def cli_env(state: Path) -> dict[str, str]:
    """The environment for an `edgecell` process: the repo's venv for the twin, a state directory of its own
    (audit log, keys, trusted signers) instead of the machine's."""
    return dict(os.environ, EDGECELL_PYTHON=str(REPO / ".venv" / "bin" / "python"), EDGECELL_STATE_DIR=str(state))


@pytest.fixture(scope="module")
def signed_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the tiny2cam fixture signed with a key made for these tests (the runtime runs only signed models
    from trusted signers): the model folder and the signer's public key file, to pass as --trust."""
    root = tmp_path_factory.mktemp("signed")
    model = root / "tiny2cam"
    shutil.copytree(FIXTURE_ROOT / "tiny2cam", model)
    env = cli_env(root / "state")
    for command in (["model", "keygen", "--out", str(root / "keys")],
                    ["model", "sign", str(model), "--key", str(root / "keys" / "model-signing.key")]):
        done = subprocess.run([str(edgecell_binary()), *command], capture_output=True, text=True, env=env,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    return model, root / "keys" / "model-signing.pub"


def run_eval(tmp: Path, signed: tuple[Path, Path], *extra: str) -> subprocess.CompletedProcess[str]:
    model, trust = signed
    return subprocess.run(
        [str(edgecell_binary()), "eval", "--model", str(model), "--trust", str(trust), "--task", "bin-red",
         "stack-blue-green", "--episodes", "2", "--time-limit", "1.5", "--no-realtime", "--report", str(tmp), *extra],
        capture_output=True, text=True, env=cli_env(tmp.parent / "state"), timeout=300, check=False)


def test_eval_in_real_time_prints_the_loop_timing(tmp_path: Path, signed_model: tuple[Path, Path]) -> None:
    # What Tools/bench-realtime reads: wake-up lateness, period and overruns, inference latency and late chunks.
    done = run_eval(tmp_path / "report", signed_model, "--mode", "realtime", "--control-rate", "250",
                    "--chunking", "realtime")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["mode"] == "real-time" and len(report["episodes"]) == 4
    for key in ("wake-up lateness: p50", "overruns", "inference (policy thread): p50", "arrived after"):
        assert key in done.stdout, (key, done.stdout)


def test_eval_of_a_tiny_model_writes_every_report(tmp_path: Path, signed_model: tuple[Path, Path]) -> None:
    out = tmp_path / "report"
    done = run_eval(out, signed_model)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "report.json").read_text())
    episodes = report["episodes"]
    assert [(e["task"], e["seed"]) for e in episodes] == [
        ("bin-red", 100000), ("bin-red", 100001), ("stack-blue-green", 100000), ("stack-blue-green", 100001)]
    # A random-weight model cannot solve a task in 1.5 s: every episode ends at the time limit or in a safety
    # stop (it may steer towards the table), none crashes or faults.
    assert all(not e["success"] for e in episodes), episodes
    assert all(e["outcome"] in ("time-limit", "safety-stop") for e in episodes), episodes
    assert all(e["steps"] <= 160 for e in episodes), episodes
    assert "loop timing (" in done.stdout and "lock-step on simulation time" in done.stdout, done.stdout
    suite = ET.parse(out / "junit.xml").getroot()
    assert [t.get("name") for t in suite.findall("testsuite")] == ["bin-red", "stack-blue-green"]
    cases = suite.findall(".//testcase")  # one per episode, a failed episode carries its outcome
    assert [c.find("failure").get("type") for c in cases] == [e["outcome"] for e in episodes]
    text = (out / "report.md").read_text()
    assert "bin-red" in text and "stack-blue-green" in text and "tiny2cam" in text
    for svg in out.glob("*.svg"):
        ET.parse(svg)
    pngs = list(out.rglob("*.png"))
    assert pngs, "no film strips"
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "inference" in done.stdout.lower()


def test_min_success_is_the_exit_status(tmp_path: Path, signed_model: tuple[Path, Path]) -> None:
    done = run_eval(tmp_path / "report", signed_model, "--min-success", "0.5", "--metrics-port", "0")
    assert done.returncode == 3, done.stdout + done.stderr
    # eval takes the demand options as run does: here the Prometheus endpoint, with the energy method named.
    assert "metrics: http://127.0.0.1:" in done.stdout and "energy: " in done.stdout, done.stdout
    assert (tmp_path / "report" / "report.json").is_file()  # the report is written whatever the verdict


def test_a_corrupt_model_is_refused_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in (FIXTURE_ROOT / "tiny2cam").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    weights = bad / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    # Unsigned, so past the signature check only with --allow-unsigned-model: the loader's own check of the
    # weights against config.json's SHA-256 is what refuses it here.
    done = subprocess.run([str(edgecell_binary()), "eval", "--model", str(bad), "--episodes", "1", "--no-realtime",
                           "--allow-unsigned-model", "--report", str(tmp_path / "r")], capture_output=True, text=True,
                          env=cli_env(tmp_path / "state"), timeout=120, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "model.safetensors" in done.stderr and "SHA-256" in done.stderr, done.stderr
