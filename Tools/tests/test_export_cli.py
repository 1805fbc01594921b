"""The audited ways data leaves a cell (issue 7, "data stays local"): `edgecell teach export` (a dataset, as a
LeRobotDataset v3) and `edgecell model export` (a model folder). Each success is an entry in the cell's
hash-chained audit log naming what left (a digest of its contents), where to and by whom; a refused export writes
nothing. Needs the built `edgecell` (see test_eval_cli)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import FIXTURE_ROOT, REPO, make_fixture_dataset
from test_eval_cli import edgecell_binary


def edgecell(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, EDGECELL_PYTHON=str(REPO / ".venv" / "bin" / "python"), EDGECELL_STATE_DIR=str(state))
    return subprocess.run([str(edgecell_binary()), *args], capture_output=True, text=True, env=env, timeout=300,
                          check=False)


def audit(state: Path) -> list[dict]:
    path = state / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_dataset_export_is_validated_written_and_audited(tmp_path: Path) -> None:
    data = make_fixture_dataset(tmp_path / "demo", {"bin-red": 2}, steps=24)
    state = tmp_path / "state"
    out = tmp_path / "export"
    done = edgecell(state, "teach", "export", str(data), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exported 2 episodes of 'demo'" in done.stdout and "audit log" in done.stdout
    assert (out / "meta" / "info.json").is_file()
    [entry] = [e for e in audit(state) if e["event"] == "data.exported"]
    assert entry["dataset"] == "demo" and entry["episodes"] == "2" and entry["format"] == "lerobot-v3"
    assert entry["destination"] == str(out) and entry["directory"] == str(data)
    assert len(entry["content_sha256"]) == 64 and int(entry["bytes"]) > 0
    assert edgecell(state, "audit", "verify").returncode == 0

    # The same dataset exported twice names the same contents; a changed dataset is refused before anything is
    # written (full validation), and leaves no data.exported entry.
    again = edgecell(state, "teach", "export", str(data), "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    entries = [e for e in audit(state) if e["event"] == "data.exported"]
    assert entries[0]["content_sha256"] == entries[1]["content_sha256"]
    episode = next((data / "episodes").iterdir())
    frames = next(p for p in episode.iterdir() if p.name != "episode.json")
    blob = bytearray(frames.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    frames.write_bytes(bytes(blob))
    bad = edgecell(state, "teach", "export", str(data), "--out", str(tmp_path / "bad"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert frames.name in bad.stderr, bad.stderr
    assert not (tmp_path / "bad").exists()
    assert len([e for e in audit(state) if e["event"] == "data.exported"]) == 2


def test_export_refuses_bad_arguments(tmp_path: Path) -> None:
    done = edgecell(tmp_path / "state", "teach", "export", str(tmp_path / "nothing"), "--out", str(tmp_path / "o"))
    assert done.returncode == 1 and "nothing" in done.stderr, done.stderr
    done = edgecell(tmp_path / "state", "teach", "export", str(tmp_path), "--out", "o", "--codec", "mp3")
    assert done.returncode != 0 and "--codec must be h264 or av1" in done.stderr, done.stderr
    assert not [e for e in audit(tmp_path / "state") if e["event"].startswith("data.export")]


def test_model_export_copies_every_file_and_is_audited(tmp_path: Path) -> None:
    state = tmp_path / "state"
    model = tmp_path / "tiny"
    import shutil
    shutil.copytree(FIXTURE_ROOT / "tiny", model)
    keys = tmp_path / "keys"
    for args in (("model", "keygen", "--out", str(keys), "--comment", "release"),
                 ("model", "sign", str(model), "--key", str(keys / "model-signing.key")),
                 ("model", "trust", str(keys / "model-signing.pub"))):
        done = edgecell(state, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "usb" / "tiny"
    done = edgecell(state, "model", "export", str(model), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in model.iterdir())
    assert all((out / p.name).read_bytes() == p.read_bytes() for p in model.iterdir())
    assert "signed by" in done.stdout and "(release)" in done.stdout
    # The copy still verifies as signed, so a receiving cell can check it.
    assert edgecell(state, "model", "verify", str(out)).returncode == 0
    [entry] = [e for e in audit(state) if e["event"] == "model.exported"]
    assert entry["model"] == "tiny" and entry["destination"] == str(out) and "(release)" in entry["signer"]
    # No silent overwrite; no temporary folder left behind.
    again = edgecell(state, "model", "export", str(model), "--out", str(out))
    assert again.returncode == 1 and "exists" in again.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny"]
    assert edgecell(state, "audit", "verify").returncode == 0
