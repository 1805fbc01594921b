"""The twin's audit writer (Sim/edgecell_twin/audit.py) and the runtime's (Sources/Audit) write one format: entries
from both, interleaved in one file, form one chain that `edgecell audit verify` accepts, and an edited Python line
is caught. Needs the built `edgecell` (see test_eval_cli)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from test_eval_cli import edgecell_binary

audit = pytest.importorskip("edgecell_twin.audit")


def edgecell(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, EDGECELL_STATE_DIR=str(state))
    return subprocess.run([str(edgecell_binary()), *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)


def test_python_and_swift_entries_chain_in_one_log(tmp_path: Path) -> None:
    state = tmp_path / "state"
    log = audit.AuditLog(str(state / "audit.log"))
    tricky = 'quote " backslash \\ newline \n tab \t bell \x07 del \x7f é 日本 🤖'
    log.append("link.refused", {"client_key": "-x" * 20, "reason": tricky})
    done = edgecell(state, "estop", "--reset")  # the Swift writer appends estop.reset to the same file
    assert done.returncode == 0, done.stdout + done.stderr
    log.append("link.accepted", {"client": "cell-1", "address": "127.0.0.1"})
    lines = (state / "audit.log").read_text(encoding="utf-8").splitlines()
    assert [line.split('"event":"')[1].split('"')[0] for line in lines] == [
        "link.refused", "estop.reset", "link.accepted"]
    verify = edgecell(state, "audit", "verify")
    assert verify.returncode == 0 and "intact, 3 entries" in verify.stdout, verify.stdout + verify.stderr
    shown = edgecell(state, "audit", "show")
    assert shown.returncode == 0 and "link.refused" in shown.stdout and "cell-1" in shown.stdout

    # An edited Python-written line is named.
    lines[2] = lines[2].replace("cell-1", "cell-9")
    (state / "audit.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    verify = edgecell(state, "audit", "verify")
    assert verify.returncode == 1 and "line 3" in verify.stdout + verify.stderr, verify.stdout + verify.stderr


def test_bad_names_and_a_damaged_log_are_refused(tmp_path: Path) -> None:
    log = audit.AuditLog(str(tmp_path / "audit.log"))
    with pytest.raises(audit.AuditError, match="event name"):
        log.append("Link Refused", {})
    with pytest.raises(audit.AuditError, match="field"):
        log.append("link.refused", {"seq": "1"})
    log.append("link.refused", {"reason": "x"})
    with open(tmp_path / "audit.log", "ab") as f:
        f.write(b'{"v":1,"seq":2')  # a write cut short
    with pytest.raises(audit.AuditError, match="truncated"):
        log.append("link.refused", {"reason": "y"})
