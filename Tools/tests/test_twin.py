"""The in-process twin tool (edgecell_policy.twin): an expert episode recorded into a valid dataset, a model run
closed loop, and the chunk interpolation PolicyController uses. Skipped without the twin package or MuJoCo."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from edgecell_policy.dataset import open_dataset
from edgecell_policy.twin import _target

pytest.importorskip("edgecell_twin")
pytest.importorskip("mujoco")


def test_target_interpolates_like_the_policy_controller() -> None:
    state = np.zeros(2)
    chunk = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    chunks = [(0.0, state, chunk)]
    # Row i is the target for t0 + (i+1)·period; before row 0 the target moves from the observed state.
    assert np.allclose(_target(chunks, 0.05, 0.1, None), [0.5, 5.0])
    assert np.allclose(_target(chunks, 0.1, 0.1, None), [1.0, 10.0])
    assert np.allclose(_target(chunks, 0.25, 0.1, None), [2.5, 25.0])
    assert np.allclose(_target(chunks, 0.9, 0.1, None), [3.0, 30.0])  # past the last row: hold it
    # Temporal ensembling: the i-th oldest live chunk weighs exp(−decay·i) (decay 0: a plain mean).
    newer = (0.1, state, chunk + 1)
    got = _target([chunks[0], newer], 0.2, 0.1, 0.0)  # equal weights
    assert np.allclose(got, ([2.0, 20.0] + np.array([2.0, 11.0])) / 2)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgecell_policy.twin import record

    out = tmp_path_factory.mktemp("twin") / "demo"
    try:
        record(out, ["bin-red"], 1, first_seed=3)
    except Exception as e:  # pragma: no cover - no OpenGL on this machine
        pytest.skip(f"the twin cannot render here: {e}")
    return out


def test_recorded_episode_is_a_valid_dataset(recorded: Path) -> None:
    d = open_dataset(recorded)
    assert d.tasks == ["bin-red"] and [c.name for c in d.cameras] == ["scene", "wrist"]
    assert d.robot.name == "UR5e" and len(d.robot.joints) == 6 and d.frame_every == 10
    e = d.episode(0)
    assert e.meta.success and e.meta.seed == 3 and e.meta.instruction == "put the red cube in the bin"
    assert e.images is not None and e.images.shape[1:] == (2, 96, 96, 3) and e.images.std() > 5
    assert e.steps["success"][-1] == 1  # ends when the expert is done and the task holds, as Sources/Teach does
    assert e.meta.phases[e.steps["phase"][-1]] == "done"
    assert np.allclose(e.steps["time"], np.arange(e.meta.steps) * 0.01)
    # The expert's action at step t is reached (closely) one period later.
    assert np.abs(e.actions[:-1, :6] - e.states[1:, :6]).max() < 0.05
    # The objects' initial poses, as the seed placed them.
    from edgecell_twin.tasks import get_task

    assert e.meta.objects is not None and set(e.meta.objects) == {"red_cube", "green_cube", "blue_cube", "bin"}
    placed = get_task("bin-red").initial_cube_poses(3)
    for name, pose in placed.items():
        assert np.allclose(e.meta.objects[name][:2], pose[:2], atol=1e-6), name


def test_evaluate_runs_a_model_closed_loop(recorded: Path, tmp_path: Path) -> None:
    from edgecell_policy.train import TrainOptions, train
    from edgecell_policy.twin import evaluate

    out = tmp_path / "m"
    train(TrainOptions(datasets=[recorded], out=out, steps=2, batch_size=4, width=32, depth=1, heads=2,
                       mlp_width=32, horizon=4, eval_fraction=0.0, progress=io.StringIO()))
    results = evaluate(out, ["bin-red"], 1, time_limit=0.5)
    assert len(results) == 1 and results[0].task == "bin-red" and results[0].seed == 100_000
    assert not results[0].success and results[0].steps in (50, 51)


def test_localisation_puts_the_first_chunk_next_to_the_cube(recorded: Path, tmp_path: Path) -> None:
    from edgecell_policy.train import TrainOptions, train
    from edgecell_policy.twin import Localisation, localisation
    from edgecell_twin.tasks import get_task

    # The statistics, by hand: a policy that follows the cube exactly, and one that always goes to one point.
    cubes = np.array([[0.4, -0.1], [0.5, 0.0], [0.6, 0.1]])
    seeing = Localisation("bin-red", [0, 1, 2], cubes, cubes + 0.01)
    assert seeing.correlation(0) == pytest.approx(1) and seeing.mean_error(1) == pytest.approx(0.01)
    blind = Localisation("bin-red", [0, 1, 2], cubes, np.array([[0.5, 0.0], [0.5, 0.0], [0.51, 0.0]]))
    assert blind.mean_error(0) == pytest.approx((0.1 + 0 + 0.09) / 3)

    out = tmp_path / "m"
    train(TrainOptions(datasets=[recorded], out=out, steps=2, batch_size=4, width=32, depth=1, heads=2,
                       mlp_width=32, horizon=4, eval_fraction=0.0, progress=io.StringIO()))
    result = localisation(out, "bin-red", [100_000, 100_001, 100_002])
    assert result.reached_xy.shape == (3, 2) and np.isfinite(result.reached_xy).all()
    for k, seed in enumerate(result.seeds):
        assert np.allclose(result.cube_xy[k], get_task("bin-red").initial_cube_poses(seed)["red_cube"][:2])

