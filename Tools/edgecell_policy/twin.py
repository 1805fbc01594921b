"""The MuJoCo twin in process (Sim/edgecell_twin), for measuring the trainer: record expert demonstrations into
a docs/DATASET.md dataset, and run a model closed loop on held-out seeds.

This is a development tool, not the product path: operators record with `edgecell teach record` (Sources/Teach)
and evaluate with `edgecell eval` (the C kernel in the Swift runtime, lock-step over the protocol). It exists so
the trainer's defaults can be chosen on real data and real rollouts before those are in place, and it follows
the same rules: the dataset is written as §1 says, a step's action is what was commanded after observing it, and
the policy is executed as `PolicyController` does (chunk row *i* is the target for *t₀* + (*i*+1)·action_period,
linear between rows, from the last command (the observed posture for the first chunk) before row 0; sequential
execution of half the horizon, or temporal ensembling). Needs the `edgecell_twin` package (Sim/, installed in the project venv) and MuJoCo.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import DatasetWriter, step_dtype

DEMO_SEED_BASE = 0
EVAL_SEED_BASE = 100_000  # `edgecell eval`'s default: demonstrations use seeds below it


def _twin() -> Any:
    try:
        from edgecell_twin import cell, expert, model  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError(f"the twin package is not installed ({e}); pip install -e Sim") from None
    return cell, expert, model


def robot_dict(description: Any) -> dict[str, Any]:
    """`dataset.json` `robot` from the cell's description (what WELCOME carries)."""
    return {"name": description.robot_name, "joints": [j.name for j in description.joints],
            "gripper": description.gripper_name, "dh": [list(row) for row in description.dh],
            "base_pose": list(description.base_pose), "tool_pose": list(description.tool_pose)}


def record(out: str | Path, tasks: Sequence[str], episodes: int, *, first_seed: int = DEMO_SEED_BASE,
           cameras: Sequence[str] = ("scene", "wrist"), image_size: int = 96, control_period: float = 0.01,
           frame_every: int = 10, max_time: float = 20.0, settle_time: float = 1.5, keep_failures: bool = False,
           log: Callable[[str], None] | None = None) -> Path:
    """Records `episodes` expert episodes per task (seeds first_seed, first_seed+1, … per task) into `out`,
    ending each one as `edgecell teach record` does (the expert finished and the task succeeded; a failure
    after `settle_time` s or at `max_time`)."""
    cell_mod, expert_mod, _ = _twin()
    say = log or (lambda _m: None)
    out = Path(out)
    cell = cell_mod.Cell(cameras=tuple(cameras), image_size=(image_size, image_size), control_period=control_period)
    try:
        d = cell.description
        writer = DatasetWriter(out, name=out.name, robot=robot_dict(d),
                               cell={"kind": "twin", "name": "edgecell-twin", "version": "in-process"},
                               control_period=control_period, frame_every=frame_every,
                               cameras=[(c.name, c.width, c.height) for c in d.cameras])
        phases = list(expert_mod.PHASES)
        n = len(d.joints)
        start = time.perf_counter()
        for task in tasks:
            kept = 0
            for k in range(episodes):
                seed = first_seed + k
                cell.reset(task, seed)
                obs = cell.observe(render=True)
                ex = expert_mod.Expert(d)
                ex.reset(task, obs)
                initial_objects = {o.name: obs.object_poses[i].tolist() for i, o in enumerate(d.objects)}
                rows: list[tuple[Any, ...]] = []
                images: list[np.ndarray] = []
                t = 0
                finished_at = -1.0
                while True:
                    q, g = ex.act(obs)
                    frame = t // frame_every if t % frame_every == 0 else -1
                    if frame >= 0:
                        images.append(np.stack([img for _, img in obs.images]))
                    flags = 2 if obs.in_collision else 0
                    rows.append((obs.sim_time, obs.joint_positions.copy(), obs.joint_velocities.copy(),
                                 obs.gripper_aperture, obs.gripper_force, np.asarray(q, np.float64), float(g),
                                 phases.index(ex.phase), int(obs.success), flags, frame))
                    # As Sources/Teach's Recorder: done when the expert has finished (its "done" phase) and the
                    # task succeeds, failed when it does not within the settle time, or at the time limit.
                    if ex.phase == "done":
                        if obs.success:
                            break
                        finished_at = obs.sim_time if finished_at < 0 else finished_at
                        if obs.sim_time - finished_at >= settle_time:
                            break
                    if obs.sim_time + control_period > max_time + 1e-9:
                        break
                    cell.set_targets(q, g)
                    cell.step()
                    t += 1
                    obs = cell.observe(render=t % frame_every == 0)
                success = bool(obs.success)
                if not success and not keep_failures:
                    say(f"{task} seed {seed}: expert failed, discarded")
                    continue
                steps = np.zeros(len(rows), step_dtype(n))
                for i, r in enumerate(rows):
                    steps[i] = r
                writer.add_episode(task=task, instruction=_instruction(task), seed=seed,
                                   source="expert", success=success, steps=steps, images=np.stack(images),
                                   phases=phases, objects=initial_objects)
                kept += 1
                if kept % 10 == 0:
                    say(f"{task}: {kept}/{episodes} episodes ({time.perf_counter() - start:.0f} s)")
    finally:
        cell.close()
    return out


def _instruction(task: str) -> str:
    from edgecell_twin.tasks import get_task

    return get_task(task).instruction


# --- Closed-loop evaluation -------------------------------------------------------------------------------


@dataclass
class EpisodeResult:
    """One evaluated episode."""

    task: str
    seed: int
    success: bool
    steps: int
    seconds: float


class _Engine:
    """Inference on one observation → raw action chunk [H, A]: the C kernel if given, else JAX."""

    def __init__(self, folder: Path, lib: Path | None, variant: str = "fp32") -> None:
        from .folder import load_folder
        from .tokenizer import Tokenizer

        self.model = load_folder(folder, variant)
        c = self.model.config
        self.arch = c.architecture
        self.tokenizer = Tokenizer(c.vocabulary, self.arch.max_text_tokens)
        n = c.normalization
        self.s_mean, self.s_std = np.asarray(n.state_mean, np.float32), np.asarray(n.state_std, np.float32)
        self.a_mean, self.a_std = np.asarray(n.action_mean, np.float32), np.asarray(n.action_std, np.float32)
        self.kernel = None
        if lib is not None:
            from .ckernel import Library

            self.kernel = Library(lib).load(folder / c.weights[variant].file, self.arch, c.vocab_size)
            self.name = "C kernel"
        else:
            from .model import make_forward, to_device

            self._f = make_forward(self.arch)
            self._p = to_device(self.model.params)
            self.name = "JAX"

    def __call__(self, images: np.ndarray, instruction: str, state: np.ndarray) -> np.ndarray:
        tokens, count = self.tokenizer.encode(instruction)
        s = ((np.asarray(state, np.float32) - self.s_mean) / self.s_std).astype(np.float32)
        if self.kernel is not None:
            y = self.kernel.forward(images, tokens, count, s)
        else:
            y = np.asarray(self._f(self._p, images, tokens, np.int32(count), s))
        return (y * self.a_std + self.a_mean).astype(np.float64)

    def close(self) -> None:
        if self.kernel is not None:
            self.kernel.close()


def evaluate(folder: str | Path, tasks: Sequence[str], episodes: int, *, first_seed: int = EVAL_SEED_BASE,
             lib: str | Path | None = None, variant: str = "fp32", execute_rows: int | None = None,
             ensemble_decay: float | None = None, camera_period: float | None = None, time_limit: float = 20.0,
             log: Callable[[str], None] | None = None) -> list[EpisodeResult]:
    """Runs the model on `episodes` seeds per task (first_seed + k), lock-step: inference on every observation
    that carries images (every `camera_period`, default the action period × executed rows), its chunk executed
    as `PolicyController` does. Returns one result per episode."""
    cell_mod, _, model_mod = _twin()
    say = log or (lambda _m: None)
    engine = _Engine(Path(folder), Path(lib) if lib else None, variant)
    arch = engine.arch
    period_a = engine.model.config.control.action_period
    rows = execute_rows or max(1, arch.horizon // 2)
    control_period = 0.01
    if camera_period is None:
        camera_period = period_a * rows if ensemble_decay is None else period_a
    image_every = max(1, round(camera_period / control_period))
    lower = np.asarray(model_mod.JOINT_POSITION_MIN)
    upper = np.asarray(model_mod.JOINT_POSITION_MAX)
    g_lo, g_hi = model_mod.GRIPPER_APERTURE_MIN, model_mod.GRIPPER_APERTURE_MAX
    cell = cell_mod.Cell(cameras=arch.cameras, image_size=(arch.image_width, arch.image_height),
                         control_period=control_period)
    results: list[EpisodeResult] = []
    try:
        for task in tasks:
            instruction = _instruction(task)
            wins = 0
            for k in range(episodes):
                seed = first_seed + k
                start = time.perf_counter()
                cell.reset(task, seed)
                obs = cell.observe(render=True)
                chunks: list[tuple[float, np.ndarray, np.ndarray]] = []  # (t0, start, chunk)
                last_target: np.ndarray | None = None
                t = 0
                while obs.sim_time < time_limit and not obs.success:
                    state = np.concatenate([obs.joint_positions, [obs.gripper_aperture]])
                    if obs.images:
                        chunk = engine(np.stack([img for _, img in obs.images]), instruction, state)
                        if ensemble_decay is not None or not chunks or \
                                obs.sim_time >= chunks[-1][0] + rows * period_a - 1e-9:
                            # Starts from the last command (the servos lag it), as PolicyController does.
                            start = state if last_target is None else last_target
                            chunks.append((obs.sim_time, start, chunk))
                            chunks = chunks[-arch.horizon:]
                    target = _target(chunks, obs.sim_time + control_period, period_a, ensemble_decay)
                    last_target = target
                    q = np.clip(target[:-1], lower, upper)
                    g = float(np.clip(target[-1], g_lo, g_hi))
                    cell.set_targets(q, g)
                    cell.step()
                    t += 1
                    obs = cell.observe(render=t % image_every == 0)
                results.append(EpisodeResult(task, seed, bool(obs.success), t, time.perf_counter() - start))
                wins += int(obs.success)
            say(f"{task}: {wins}/{episodes} successes ({engine.name}, {rows} rows per chunk"
                f"{'' if ensemble_decay is None else f', ensemble decay {ensemble_decay}'})")
    finally:
        cell.close()
        engine.close()
    return results


def _target(chunks: list[tuple[float, np.ndarray, np.ndarray]], target_time: float, period: float,
            decay: float | None) -> np.ndarray:
    total = np.zeros_like(chunks[-1][2][0])
    weight_sum = 0.0
    weight = 1.0
    horizon = len(chunks[-1][2])
    factor = math.exp(-decay) if decay is not None else 1.0
    for k, (t0, state, values) in enumerate(chunks):
        r = (target_time - t0) / period - 1
        if r > horizon - 1 and k != len(chunks) - 1:
            continue
        if decay is None and k != len(chunks) - 1:
            continue
        r = min(r, horizon - 1)
        if r < 0:
            row = state + (values[0] - state) * max(r + 1, 0)
        else:
            i0 = int(r)
            i1 = min(i0 + 1, horizon - 1)
            f = r - i0
            row = values[i0] * (1 - f) + values[i1] * f
        total += row * weight
        weight_sum += weight
        weight *= factor
    return total / weight_sum


# --- Diagnosis: does the policy localise its target? ------------------------------------------------------------


@dataclass
class Localisation:
    """How the first chunk's end point (from the rest posture) follows the target cube over seeds."""

    task: str
    seeds: list[int]
    cube_xy: np.ndarray  # [seeds, 2] m
    reached_xy: np.ndarray  # [seeds, 2] m: TCP at the first chunk's last row (forward kinematics)

    def correlation(self, axis: int) -> float:
        """Pearson correlation of the reached and the cube coordinate (0 x, 1 y); 1: the policy follows the cube."""
        return float(np.corrcoef(self.cube_xy[:, axis], self.reached_xy[:, axis])[0, 1])

    def mean_error(self, axis: int) -> float:
        """Mean |reached − cube| along the axis, m."""
        return float(np.abs(self.reached_xy[:, axis] - self.cube_xy[:, axis]).mean())


def localisation(folder: str | Path, task: str, seeds: Sequence[int], *, lib: str | Path | None = None) -> Localisation:
    """For each seed, resets the twin, runs the model once on the first observation and puts the TCP of the
    chunk's last row (the expert is on its way to the cube by then) next to the target cube's position: a
    blind policy answers the same point for every seed (correlation ≈ 0), a seeing one follows the cube."""
    cell_mod, expert_mod, _ = _twin()
    from edgecell_twin.tasks import get_task

    engine = _Engine(Path(folder), Path(lib) if lib else None)
    arch = engine.arch
    cell = cell_mod.Cell(cameras=arch.cameras, image_size=(arch.image_width, arch.image_height))
    try:
        kinematics = expert_mod.Kinematics(cell.description)
        names = [o.name for o in cell.description.objects]
        target = names.index(get_task(task).cube)
        cubes, reached = [], []
        for seed in seeds:
            cell.reset(task, seed)
            obs = cell.observe(render=True)
            state = np.concatenate([obs.joint_positions, [obs.gripper_aperture]])
            chunk = engine(np.stack([img for _, img in obs.images]), _instruction(task), state)
            reached.append(kinematics.forward(chunk[-1][: len(obs.joint_positions)])[:2, 3])
            cubes.append(obs.object_poses[target][:2])
    finally:
        cell.close()
        engine.close()
    return Localisation(task, list(seeds), np.asarray(cubes), np.asarray(reached))
