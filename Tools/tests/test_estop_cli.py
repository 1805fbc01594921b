"""`edgecell estop` end to end against the real twin: a running `edgecell run` brakes its arm and exits with 4,
the latch keeps any runtime from starting until `edgecell estop --reset`. Needs the built `edgecell`."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from conftest import REPO
from test_eval_cli import edgecell_binary


def test_estop_stops_a_running_runtime_and_latches(tmp_path: Path) -> None:
    env = dict(os.environ, EDGECELL_PYTHON=str(REPO / ".venv" / "bin" / "python"),
               EDGECELL_STATE_DIR=str(tmp_path / "state"))
    binary = str(edgecell_binary())
    run = subprocess.Popen([binary, "run", "--task", "bin-red", "--episodes", "50", "--no-realtime"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert run.stdout is not None
    try:
        for line in run.stdout:  # wait for the first finished episode: the runtime is in (or about to start) the next
            if line.startswith("episode 1/50"):
                break
        else:
            raise AssertionError("the run ended before its first episode: " + run.stderr.read())  # type: ignore
        registered = list((tmp_path / "state" / "runtimes").iterdir())
        assert [p.name for p in registered] == [str(run.pid)]
        started = time.monotonic()
        estop = subprocess.run([binary, "estop", "--reason", "test"], capture_output=True, text=True, env=env,
                               timeout=30, check=False)
        assert estop.returncode == 0 and f"pid {run.pid}" in estop.stdout, estop.stdout + estop.stderr
        out, err = run.communicate(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 4, out + err
    assert ": STOPPED" in out and "e-stop: braking" in err, out + err
    episodes = [line for line in out.splitlines() if line.startswith("episode ")]
    assert len(episodes) < 10 and ": STOPPED" in episodes[-1], episodes  # the next episode after the e-stop
    assert elapsed < 10
    assert not list((tmp_path / "state" / "runtimes").iterdir())  # unregistered on exit
    # Latched: nothing starts until the reset.
    refused = subprocess.run([binary, "run", "--episodes", "1", "--no-realtime"], capture_output=True, text=True,
                             env=env, timeout=60, check=False)
    assert refused.returncode == 4 and "edgecell estop --reset" in refused.stderr and "test" in refused.stderr
    released = subprocess.run([binary, "estop", "--reset"], capture_output=True, text=True, env=env, timeout=30,
                              check=False)
    assert released.returncode == 0 and "released" in released.stdout
    again = subprocess.run([binary, "run", "--episodes", "1", "--no-realtime"], capture_output=True, text=True,
                           env=env, timeout=120, check=False)
    assert again.returncode == 0, again.stdout + again.stderr


def test_sigterm_during_motion_stops_the_arm_and_the_twin(tmp_path: Path) -> None:
    import signal

    env = dict(os.environ, EDGECELL_PYTHON=str(REPO / ".venv" / "bin" / "python"),
               EDGECELL_STATE_DIR=str(tmp_path / "state"))
    run = subprocess.Popen([str(edgecell_binary()), "run", "--task", "bin-red", "--episodes", "50",
                            "--no-realtime"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert run.stdout is not None
    try:
        for line in run.stdout:  # mid-way through the run: the next episode is moving
            if line.startswith("episode 1/50"):
                break
        children = Path(f"/proc/{run.pid}/task/{run.pid}/children")
        twin_pid = int(children.read_text().split()[0]) if children.exists() and children.read_text() else None
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, out + err
    assert ": STOPPED" in out and "stopping: the episode ends now" in err
    if twin_pid is not None:  # the local twin was stopped with the runtime
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{twin_pid}").exists():
            stat = Path(f"/proc/{twin_pid}/stat").read_text().split()
            if stat[2] == "Z":
                break
            time.sleep(0.1)
        assert not Path(f"/proc/{twin_pid}").exists() or Path(f"/proc/{twin_pid}/stat").read_text().split()[2] == "Z"
