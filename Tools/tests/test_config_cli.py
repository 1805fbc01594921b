"""`--config FILE` (docs/CONFIGURATION.md): options from YAML, the command line wins, bad keys named."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import REPO
from test_eval_cli import edgecell_binary


def edgecell(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, EDGECELL_PYTHON=str(REPO / ".venv" / "bin" / "python"))
    return subprocess.run([str(edgecell_binary()), *args], capture_output=True, text=True, env=env, timeout=300,
                          check=False)


def test_options_come_from_the_file_and_the_command_line_wins(tmp_path: Path) -> None:
    config = tmp_path / "cell.yaml"
    config.write_text("episodes: 2\ntask: [bin-red, stack-blue-green]\nno-realtime: true\nrun:\n  seed: 7\n")
    summary = tmp_path / "s.json"
    done = edgecell("run", "--config", str(config), "--summary-json", str(summary))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("episode ")]
    assert [line.split(":")[0] for line in lines] == [
        "episode 1/2  bin-red seed 7", "episode 2/2  bin-red seed 8",
        "episode 1/2  stack-blue-green seed 7", "episode 2/2  stack-blue-green seed 8"]
    done = edgecell("run", "--config", str(config), "--task", "bin-green", "--episodes", "1", "--seed", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.split(":")[0] for line in done.stdout.splitlines() if line.startswith("episode ")]
    assert lines == ["episode 1/1  bin-green seed 3"]
    assert json.loads(summary.read_text())


def test_bad_keys_and_values_are_named(tmp_path: Path) -> None:
    cases = {
        "mdoe: realtime\n": (2, "unknown key 'mdoe'"),
        "eval:\n  controller: policy\n": (2, "'eval.controller' is not an option of edgecell eval"),
        "mode: bogus\n": (64, "key 'mode'"),
        "episodes: {a: 1}\n": (2, "'episodes' must be a number"),
        "[1, 2\n": (2, "not valid YAML"),
        "- a\n- b\n": (2, "must be a mapping"),
    }
    for text, (status, message) in cases.items():
        config = tmp_path / "bad.yaml"
        config.write_text(text)
        command = "eval" if text.startswith("eval") else "run"
        done = edgecell(command, "--config", str(config))
        assert done.returncode == status, (text, done.stdout, done.stderr)
        assert message in done.stderr and str(config) in done.stderr, (text, done.stderr)
    done = edgecell("run", "--config", str(tmp_path / "missing.yaml"))
    assert done.returncode == 2 and "cannot read" in done.stderr
    done = edgecell("policy", "info", "--config", str(tmp_path / "bad.yaml"))
    assert done.returncode == 2 and "--config works with" in done.stderr
