#!/usr/bin/env python3
"""Write the kinematics conformance vectors, `Sim/tests/vectors/kinematics.json`.

Usage (from the repository root, with the Sim venv):
    python Sim/tools/make_kinematics_vectors.py            # (re)write the file
    python Sim/tools/make_kinematics_vectors.py --check    # exit 1 if the committed file is stale

Each sample is a joint configuration and the TCP pose MuJoCo reports for it (the `tcp` site after
`mj_kinematics`), so an independent forward kinematics (the Swift/C++ `CKinematics`, the numpy one in
`edgecell_twin.model`) can check it reproduces the twin, to 1e-9.

File format (version 1), a JSON object:
    "format": "edgecell-kinematics-vectors", "version": 1, "generator": this file, "robot": "UR5e",
    "source": where the DH table comes from, "notes": [free text],
    "dh": [{"a", "d", "alpha", "theta_offset"}, ...]     one per joint, standard DH, m and rad
    "base_pose", "tool_pose": {"position": [x, y, z], "orientation": [w, x, y, z]}
    "joint_limits": [{"name", "position_min", "position_max"}, ...]
    "samples": [{"name", "q": [...], "tcp_pose": {"position", "orientation"}}, ...]
The forward kinematics is T = base_pose * prod_i Rz(q_i + theta_offset_i) Tz(d_i) Tx(a_i) Rx(alpha_i) * tool_pose
(Sim/PROTOCOL.md §4.2). Orientations are unit quaternions with w >= 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from edgecell_twin import model

OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "kinematics.json"
SEED = 20240607
RANDOM_SAMPLES = 19


def _pose(values: Any) -> dict[str, list[float]]:
    v = [float(x) for x in values]
    return {"position": v[:3], "orientation": v[3:7]}


def mujoco_tcp_pose(mj_model: mujoco.MjModel, data: mujoco.MjData, q: np.ndarray) -> np.ndarray:
    """TCP pose (x y z qw qx qy qz, w >= 0) of the twin's MuJoCo model at arm configuration ``q``."""
    for name, value in zip(model.JOINT_NAMES, q, strict=True):
        data.joint(name).qpos[0] = value
    mujoco.mj_kinematics(mj_model, data)
    site = mj_model.site(model.TCP_SITE).id
    return np.concatenate([data.site_xpos[site], model.matrix_to_quat(data.site_xmat[site].reshape(3, 3))])


def build_vectors() -> dict[str, Any]:
    """The vectors document (deterministic)."""
    mj_model = model.load_model()
    data = mujoco.MjData(mj_model)
    lower, upper = np.array(model.JOINT_POSITION_MIN), np.array(model.JOINT_POSITION_MAX)
    rng = np.random.default_rng(SEED)
    configurations = [("home", np.array(model.HOME_Q)), ("zero", np.zeros(len(model.JOINT_NAMES)))]
    configurations += [(f"random_{i}", rng.uniform(lower, upper)) for i in range(RANDOM_SAMPLES)]
    samples = [
        {"name": name, "q": [float(x) for x in q], "tcp_pose": _pose(mujoco_tcp_pose(mj_model, data, q))}
        for name, q in configurations
    ]
    return {
        "format": "edgecell-kinematics-vectors",
        "version": 1,
        "generator": "Sim/tools/make_kinematics_vectors.py",
        "robot": model.ROBOT_NAME,
        "source": model.MODEL_SOURCE,
        "notes": [
            "tcp_pose is what the MuJoCo twin reports (site 'tcp' after mj_kinematics); "
            "T = base_pose * prod_i Rz(q_i + theta_offset_i) Tz(d_i) Tx(a_i) Rx(alpha_i) * tool_pose",
            "orientations are unit quaternions (w, x, y, z) with w >= 0",
            f"samples: home, zero, then {RANDOM_SAMPLES} uniform within the cell's joint limits "
            f"(numpy default_rng({SEED}))",
        ],
        "dh": [{"a": a, "d": d, "alpha": alpha, "theta_offset": off} for a, d, alpha, off in model.DH],
        "base_pose": _pose(model.BASE_POSE),
        "tool_pose": _pose(model.TOOL_POSE),
        "joint_limits": [
            {"name": n, "position_min": lo, "position_max": hi}
            for n, lo, hi in zip(model.JOINT_NAMES, model.JOINT_POSITION_MIN, model.JOINT_POSITION_MAX, strict=True)
        ],
        "samples": samples,
    }


def differences(expected: Any, actual: Any, tolerance: float = 1e-12, where: str = "") -> list[str]:
    """Where two documents differ; numbers may differ by ``tolerance`` (MuJoCo's last bits vary by CPU)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if expected.keys() != actual.keys():
            return [f"{where or '/'}: keys {sorted(expected)} != {sorted(actual)}"]
        return [d for k in expected for d in differences(expected[k], actual[k], tolerance, f"{where}/{k}")]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(expected)} items != {len(actual)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in differences(e, a, tolerance, f"{where}/{i}")]
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(actual, numbers) and not isinstance(expected, bool):
        return [] if abs(float(expected) - float(actual)) <= tolerance else [f"{where}: {expected!r} != {actual!r}"]
    return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]


def render(document: dict[str, Any]) -> str:
    """The file's text: 2-space indent, ASCII, newline at the end."""
    return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file, fsync and rename, so the file is never half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file is stale")
    args = parser.parse_args(argv)
    document = build_vectors()
    if args.check:
        current = json.loads(OUTPUT.read_text(encoding="ascii")) if OUTPUT.exists() else {}
        stale = differences(document, current)
        if stale:
            print(f"{OUTPUT} is stale ({stale[0]}): run python Sim/tools/make_kinematics_vectors.py", file=sys.stderr)
            return 1
        print(f"{OUTPUT} is up to date")
        return 0
    text = render(document)
    write_atomically(OUTPUT, text)
    print(f"wrote {OUTPUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
