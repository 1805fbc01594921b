"""Training (edgecell_policy.train): the batch-first network equals the reference forward, a few steps on a tiny
dataset make the loss fall, the folder written is complete (provenance, loss curve, golden vectors from real
frames) and loads in the C kernel, fine-tuning extends the vocabulary and refuses another robot or camera."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import UR5E, kernel_library, make_fixture_dataset, small_arch
from edgecell_policy.__main__ import main
from edgecell_policy.folder import load_folder, load_folder_config, load_golden
from edgecell_policy.model import forward_batched, init_params, make_forward_batch, to_device
from edgecell_policy.train import (
    Progress,
    TrainError,
    TrainOptions,
    augment,
    extend_vocabulary,
    loss_svg,
    split_episodes,
    train,
)

TINY = dict(width=32, depth=2, heads=2, mlp_width=64, patch_size=16, horizon=4, action_period=0.02,
            max_text_tokens=8)


@pytest.mark.parametrize("arch", [small_arch(), small_arch(depth=1, horizon=3, cameras=("a", "b"), heads=4)])
def test_batched_forward_equals_the_reference(arch) -> None:  # type: ignore[no-untyped-def]
    params = to_device(init_params(arch, 20, 1, "conformance"))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, arch.num_cameras, 32, 32, 3), dtype=np.uint8)
    tokens = rng.integers(0, 20, (5, arch.max_text_tokens)).astype(np.int32)
    counts = np.array([0, 1, 3, arch.max_text_tokens, 2], np.int32)
    states = rng.normal(size=(5, 7)).astype(np.float32)
    want = np.asarray(make_forward_batch(arch)(params, images, tokens, counts, states))
    got = np.asarray(jax.jit(lambda *a: forward_batched(arch, *a))(params, images, tokens, counts, states))
    assert np.abs(got - want).max() <= 1e-5
    # Float pixels (augmented images) give the same as uint8 ones.
    got_f = np.asarray(jax.jit(lambda *a: forward_batched(arch, *a))(params, images.astype(np.float32), tokens,
                                                                       counts, states))
    assert np.abs(got_f - got).max() <= 1e-6


def test_augment_shapes_ranges_and_determinism() -> None:
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.integers(0, 256, (4, 2, 16, 24, 3), dtype=np.uint8))
    a = augment(images, jax.random.key(1))
    b = augment(images, jax.random.key(1))
    c = augment(images, jax.random.key(2))
    assert a.shape == (4, 2, 16, 24, 3) and a.dtype == jnp.float32
    assert float(a.min()) >= 0 and float(a.max()) <= 255
    assert np.array_equal(np.asarray(a), np.asarray(b)) and not np.array_equal(np.asarray(a), np.asarray(c))
    # No jitter and no shift: the identity.
    same = augment(images, jax.random.key(3), shift=0, brightness=0, contrast=0)
    assert np.allclose(np.asarray(same), np.asarray(images, np.float32), atol=1e-4)
    # Shift only: every output is a crop of the edge-padded input.
    shifted = np.asarray(augment(images, jax.random.key(4), shift=4, brightness=0, contrast=0))
    padded = np.pad(np.asarray(images), ((0, 0), (0, 0), (4, 4), (4, 4), (0, 0)), mode="edge")
    for i in range(4):
        for cam in range(2):
            assert any(np.allclose(shifted[i, cam], padded[i, cam, dy:dy + 16, dx:dx + 24], atol=1e-3)
                       for dy in range(9) for dx in range(9))


def test_split_holds_out_per_task() -> None:
    tasks = ["a"] * 20 + ["b"] * 10 + ["c"]
    held = split_episodes(tasks, 0.1, seed=0)
    assert held[:20].sum() == 2 and held[20:30].sum() == 1 and not held[30]
    assert np.array_equal(held, split_episodes(tasks, 0.1, seed=0))
    assert not split_episodes(tasks, 0.0, seed=0).any()


def test_extend_vocabulary() -> None:
    assert extend_vocabulary(("<pad>", "<unk>", "put"), ["Put the PURPLE cube", "the cube"]) == (
        "<pad>", "<unk>", "put", "the", "purple", "cube")


def test_progress_lines_without_a_terminal() -> None:
    stream = io.StringIO()
    p = Progress(100, stream, every=0.0)
    p.update(10, 0.5, None, 4.0)
    p.update(100, 0.25, 0.3, 4.0, final=True)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("step 10/100") and "loss 0.5000" in lines[0] and "ETA 0:22" in lines[0]
    assert "held-out 0.3000" in lines[1] and "\r" not in stream.getvalue()


def test_loss_svg_is_well_formed() -> None:
    import xml.etree.ElementTree as ET

    svg = loss_svg([(1, 1.0), (50, 0.3), (100, 0.1)], [(50, 0.4), (100, 0.2)], "a & b")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and "a &amp; b" in svg and svg.count("<polyline") == 2


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fixture_dataset(tmp_path_factory.mktemp("train") / "base", {"bin-red": 6, "bin-green": 6},
                                steps=40, frame_every=4)


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("models") / "tiny"
    result = train(TrainOptions(datasets=[data], out=out, steps=150, batch_size=16, lr=3e-3, seed=1,
                                eval_fraction=0.2, variants=("int8",), command="test", progress=io.StringIO(),
                                **TINY))
    return out, result


def test_training_makes_the_loss_fall(trained: tuple[Path, object]) -> None:
    _, result = trained
    history = result.history  # type: ignore[attr-defined]
    first = history[0][1]
    assert history[-1][1] < 0.7 * first, history  # smoothed, so it lags
    assert result.train_loss < 0.6 * first, (result.train_loss, first)  # type: ignore[attr-defined]
    assert result.heldout_loss is not None and result.heldout_loss < 0.8 * first  # type: ignore[attr-defined]


def test_folder_has_provenance_metrics_and_loss_curve(trained: tuple[Path, object], data: Path) -> None:
    out, result = trained
    config = load_folder_config(out)
    assert set(config.weights) == {"fp32", "int8"}
    assert config.control.action_period == 0.02 and config.architecture.horizon == 4
    assert config.robot.name == "UR5e" and config.robot.joints == tuple(UR5E["joints"])
    p = config.provenance
    assert p is not None and isinstance(p.data, dict) and p.seed == 1 and p.command == "test"
    assert p.data["tasks"] == ["bin-green", "bin-red"] and p.data["episodes"] == 12
    from edgecell_policy.dataset import open_dataset

    assert p.data["sha256"] == open_dataset(data).digest() and p.data["datasets"][0]["path"] == str(data.resolve())
    assert p.data["heldout_episodes"] == 2 and p.extra["training"]["steps"] == 150
    assert p.commit is None or len(p.commit.split("+")[0]) == 40
    assert config.metrics["steps"] == 150 and config.metrics["train_loss"] == pytest.approx(result.train_loss,
                                                                                            abs=1e-5)
    raw = json.loads((out / "config.json").read_text())
    assert raw["provenance"]["data"]["tasks"] == ["bin-green", "bin-red"]  # what the Swift runtime reads
    assert (out / "loss.svg").read_text().startswith("<svg")
    # Normalisation comes from the data: the gripper std is floored, means are the data's.
    assert min(config.normalization.state_std) >= 0.005


def test_golden_vectors_include_real_frames(trained: tuple[Path, object], data: Path) -> None:
    out, _ = trained
    golden, meta = load_golden(out)
    assert int(meta["cases"]) == 6 + 3
    assert meta["instruction.6"] in ("put the red cube in the bin", "put the green cube in the bin")
    from edgecell_policy.dataset import open_dataset

    frames = np.concatenate([e.images for e in open_dataset(data).episodes()])
    assert any(np.array_equal(golden["case.6.images"], f) for f in frames)


def test_trained_model_runs_in_the_c_kernel(trained: tuple[Path, object]) -> None:
    lib = kernel_library()
    if lib is None:
        pytest.skip("the C kernel's shared library is not built (Tools/build-kernel-lib)")
    from edgecell_policy.ckernel import Library
    from edgecell_policy.quantize import INT8_BOUND

    out, _ = trained
    config = load_folder_config(out)
    golden, meta = load_golden(out)
    library = Library(lib)
    for variant, suffix in (("fp32", ""), ("int8", ".int8")):
        with library.load(out / config.weights[variant].file, config.architecture, config.vocab_size) as km:
            for k in range(int(meta["cases"])):
                p = f"case.{k}."
                got = km.forward(golden[p + "images"], golden[p + "tokens"], int(golden[p + "token_count"][0]),
                                 golden[p + "state_normalized"])
                assert np.abs(got - golden[p + "actions_normalized" + suffix]).max() <= 1e-4, (variant, k)
                assert np.abs(got - golden[p + "actions_normalized"]).max() <= INT8_BOUND + 1e-4


def test_finetune_extends_the_vocabulary(trained: tuple[Path, object], tmp_path: Path) -> None:
    base_dir, _ = trained
    new = make_fixture_dataset(tmp_path / "purple", {"bin-purple": 3}, steps=40, frame_every=4, seed=5)
    out = tmp_path / "ft"
    result = train(TrainOptions(datasets=[new], out=out, base=base_dir, steps=20, batch_size=8, seed=2,
                                eval_fraction=0.0, progress=io.StringIO()))
    base = load_folder(base_dir)
    tuned = load_folder(out)
    c = tuned.config
    assert c.vocabulary[: base.config.vocab_size] == base.config.vocabulary and c.vocabulary[-1] == "purple"
    assert c.vocab_size == base.config.vocab_size + 1
    assert tuned.params["text.embed"].shape == (c.vocab_size, 32)
    assert c.normalization == base.config.normalization and c.architecture == base.config.architecture
    assert c.control == base.config.control
    assert c.provenance is not None and c.provenance.extra["base"]["new_words"] == ["purple"]
    assert c.provenance.data["tasks"] == ["bin-purple"] and result.heldout_loss is None  # type: ignore[union-attr]
    # The weights moved away from the base.
    assert not np.array_equal(tuned.params["blocks.0.mlp.fc1.weight"], base.params["blocks.0.mlp.fc1.weight"])


def test_finetune_refuses_another_robot(trained: tuple[Path, object], tmp_path: Path) -> None:
    base_dir, _ = trained
    other = dict(UR5E, name="UR10e")
    ds = make_fixture_dataset(tmp_path / "ur10", {"bin-red": 1}, robot=other)
    with pytest.raises(TrainError, match=r"robot.name is 'UR10e', the base model .*'s is 'UR5e'"):
        train(TrainOptions(datasets=[ds], out=tmp_path / "x", base=base_dir, steps=1, progress=io.StringIO()))
    grip = dict(UR5E, gripper="suction")
    ds = make_fixture_dataset(tmp_path / "suction", {"bin-red": 1}, robot=grip)
    with pytest.raises(TrainError, match="robot.gripper is 'suction'"):
        train(TrainOptions(datasets=[ds], out=tmp_path / "y", base=base_dir, steps=1, progress=io.StringIO()))


def test_finetune_refuses_other_cameras_and_sizes(trained: tuple[Path, object], tmp_path: Path) -> None:
    base_dir, _ = trained
    ds = make_fixture_dataset(tmp_path / "wrist", {"bin-red": 1}, cameras=("wrist",))
    with pytest.raises(TrainError, match=r"cameras are \['wrist'\], the base model .* takes \['scene'\]"):
        train(TrainOptions(datasets=[ds], out=tmp_path / "x", base=base_dir, steps=1, progress=io.StringIO()))
    ds = make_fixture_dataset(tmp_path / "big", {"bin-red": 1}, size=(48, 32))
    with pytest.raises(TrainError, match="images are 48×32, the base model .* takes 32×32"):
        train(TrainOptions(datasets=[ds], out=tmp_path / "y", base=base_dir, steps=1, progress=io.StringIO()))
    with pytest.raises(TrainError, match="fine-tuning keeps the base model's width"):
        train(TrainOptions(datasets=[ds], out=tmp_path / "z", base=base_dir, width=64, steps=1,
                           progress=io.StringIO()))


def test_refuses_mixed_robots_from_scratch(data: Path, tmp_path: Path) -> None:
    other = make_fixture_dataset(tmp_path / "ur10", {"bin-red": 1}, robot=dict(UR5E, name="UR10e"))
    with pytest.raises(TrainError, match="robot.name is 'UR10e'"):
        train(TrainOptions(datasets=[data, other], out=tmp_path / "x", steps=1, progress=io.StringIO(), **TINY))


def test_cli_train_and_errors(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["train", "--dataset", str(data), "--out", str(out), "--steps", "3", "--batch-size", "4", "--width", "32",
            "--depth", "1", "--heads", "2", "--mlp-width", "32", "--horizon", "2", "--action-period", "0.01",
            "--tasks", "bin-red"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "trained cli: 3 steps" in captured.out and "step 3/3 (100.0%)" in captured.err
    config = load_folder_config(out)
    assert config.provenance is not None and config.provenance.command.startswith("python -m edgecell_policy train")
    assert config.provenance.data["tasks"] == ["bin-red"]
    assert main(args) == 2 and "not empty" in capsys.readouterr().err
    assert main(["train", "--dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "not a dataset" in capsys.readouterr().err
    bad = args[:5] + ["--force", "--tasks", "stack-red-blue"]
    assert main(bad) == 2 and "--tasks stack-red-blue: not in the datasets" in capsys.readouterr().err
    bad = args + ["--force", "--action-period", "0.015"]
    assert main(bad) == 2 and "not a whole multiple" in capsys.readouterr().err


def test_state_noise_perturbs_the_joints_only() -> None:
    """The step with joint-state noise sees other inputs than without; noise on the gripper alone would not
    change a network that ignores the joints, so the check is on the inputs the loss sees."""
    from edgecell_policy import train as train_mod

    arch = small_arch()
    seen: list[np.ndarray] = []
    original = train_mod.forward_batched

    def spy(arch_, params, images, tokens, counts, states):  # type: ignore[no-untyped-def]
        jax.debug.callback(lambda s: seen.append(np.asarray(s)), states)
        return original(arch_, params, images, tokens, counts, states)

    train_mod.forward_batched = spy
    try:
        params = to_device(init_params(arch, 20, 0))
        n = 4
        data = {"images": jnp.zeros((n, 1, 32, 32, 3), jnp.uint8), "tokens": jnp.zeros((n, arch.max_text_tokens), jnp.int32),
                "counts": jnp.ones((n,), jnp.int32), "states": jnp.ones((n, 7), jnp.float32),
                "targets": jnp.zeros((n, 4, 7), jnp.float32), "objects": jnp.zeros((n, 0), jnp.float32),
                "has_objects": jnp.zeros((n,), bool)}
        for noise in (0.0, 0.5):
            opt = train_mod.make_optimizer(1e-3, 10, 1, 0.0, 1.0, params)
            step, _ = train_mod.make_steps(arch, opt, False, noise)
            p = jax.tree_util.tree_map(jnp.array, params)
            step(p, opt.init(p), data, jnp.arange(n), jax.random.PRNGKey(3))
    finally:
        train_mod.forward_batched = original
    clean, noisy = seen
    assert np.all(clean == 1.0)
    assert np.all(noisy[:, -1] == 1.0)  # the gripper is left alone
    d = noisy[:, :-1] - 1.0
    assert np.all(d != 0) and 0.2 < d.std() < 1.0


def test_object_targets_hand_computed() -> None:
    from edgecell_policy.train import object_targets

    def pose(x: float, y: float, yaw: float) -> tuple[float, ...]:
        return (x, y, 0.02, math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))

    bin_pose = (0.46, 0.33, 0.035, 1.0, 0.0, 0.0, 0.0)
    episodes = [{"red_cube": pose(0.4, 0.0, 0.1), "bin": bin_pose},
                None,  # recorded without object poses
                {"red_cube": pose(0.6, -0.2, math.pi / 8), "bin": bin_pose}]
    names, targets, mask = object_targets(episodes)
    assert names == ["red_cube"]  # the bin never moves: nothing to learn
    assert mask.tolist() == [True, False, True]
    # x: mean 0.5, std 0.1 → ∓1; y: mean −0.1, std 0.1 → ±1; sin/cos of 4 × yaw.
    np.testing.assert_allclose(targets[0], [-1, 1, math.sin(0.4), math.cos(0.4)], atol=1e-5)
    np.testing.assert_allclose(targets[2], [1, -1, 1, 0], atol=1e-5)
    assert not targets[1].any()
    assert object_targets([None, None])[0] == []


def test_auxiliary_loss_learns_and_stays_out_of_the_model(data: Path, tmp_path: Path) -> None:
    """With object poses in the dataset the auxiliary head trains (its loss falls on a fixed batch), and the
    folder written holds only the network's tensors."""
    from edgecell_policy import train as train_mod

    arch = small_arch()
    rng = np.random.default_rng(0)
    n = 8
    params = to_device(init_params(arch, 20, 0) | {"aux.weight": rng.normal(0, 0.02, (4, arch.width)).astype(np.float32),
                                                   "aux.bias": np.zeros(4, np.float32)})
    batch = {"images": jnp.asarray(rng.integers(0, 256, (n, 1, 32, 32, 3), dtype=np.uint8)),
             "tokens": jnp.zeros((n, arch.max_text_tokens), jnp.int32), "counts": jnp.ones((n,), jnp.int32),
             "states": jnp.zeros((n, 7), jnp.float32), "targets": jnp.zeros((n, arch.horizon, 7), jnp.float32),
             "objects": jnp.asarray(rng.normal(size=(n, 4)), jnp.float32), "has_objects": jnp.ones((n,), bool)}
    opt = train_mod.make_optimizer(3e-3, 100, 1, 0.0, 1.0, params)
    step, _ = train_mod.make_steps(arch, opt, False, 0.0, aux_weight=1.0)
    state = opt.init(params)
    aux_losses = []
    for i in range(40):
        params, state, _, aux = step(params, state, batch, jnp.arange(n), jax.random.PRNGKey(i))
        aux_losses.append(float(aux))
    assert aux_losses[-1] < 0.5 * aux_losses[0]
    # Frames without poses carry no auxiliary loss.
    step0, _ = train_mod.make_steps(arch, opt, False, 0.0, aux_weight=1.0)
    _, _, _, aux = step0(params, opt.init(params), batch | {"has_objects": jnp.zeros((n,), bool)}, jnp.arange(n),
                         jax.random.PRNGKey(0))
    assert float(aux) == 0.0

    ds = make_fixture_dataset(tmp_path / "objects", {"bin-red": 3, "bin-green": 3}, objects=True)
    out = tmp_path / "m"
    log: list[str] = []
    result = train(TrainOptions(datasets=[ds], out=out, steps=20, batch_size=8, seed=0, progress=io.StringIO(),
                                log=log.append, **TINY))
    assert any("auxiliary loss (weight 1): initial poses of red_cube on 6/6 episodes" in m for m in log), log
    assert not [k for k in result.params if k.startswith("aux.")]
    assert not [k for k in load_folder(out, "fp32").params if k.startswith("aux.")]
    metrics = load_folder_config(out).metrics
    assert metrics["aux_weight"] == 1.0 and metrics["aux_loss_smoothed"] > 0
    # Without object poses in the data the option is a no-op, said so.
    log.clear()
    train(TrainOptions(datasets=[data], out=tmp_path / "n", steps=2, batch_size=8, progress=io.StringIO(),
                       log=log.append, **TINY))
    assert any("no auxiliary loss: the datasets record no object poses" in m for m in log), log


def test_state_dropout_replaces_whole_joint_states_of_some_samples() -> None:
    """With dropout 0.5 about half the samples see a random joint posture instead of theirs (all joints at once);
    the gripper is never touched; with 0 nothing changes."""
    from edgecell_policy import train as train_mod

    arch = small_arch()
    seen: list[np.ndarray] = []
    original = train_mod.forward_batched

    def spy(arch_, params, images, tokens, counts, states):  # type: ignore[no-untyped-def]
        jax.debug.callback(lambda s: seen.append(np.asarray(s)), states)
        return original(arch_, params, images, tokens, counts, states)

    train_mod.forward_batched = spy
    try:
        params = to_device(init_params(arch, 20, 0))
        n = 64
        data = {"images": jnp.zeros((n, 1, 32, 32, 3), jnp.uint8), "tokens": jnp.zeros((n, arch.max_text_tokens), jnp.int32),
                "counts": jnp.ones((n,), jnp.int32), "states": jnp.ones((n, 7), jnp.float32),
                "targets": jnp.zeros((n, 4, 7), jnp.float32), "objects": jnp.zeros((n, 0), jnp.float32),
                "has_objects": jnp.zeros((n,), bool)}
        for dropout in (0.0, 0.5):
            opt = train_mod.make_optimizer(1e-3, 10, 1, 0.0, 1.0, params)
            step, _ = train_mod.make_steps(arch, opt, False, 0.0, 0.0, dropout)
            p = jax.tree_util.tree_map(jnp.array, params)
            step(p, opt.init(p), data, jnp.arange(n), jax.random.PRNGKey(5))
    finally:
        train_mod.forward_batched = original
    clean, dropped = seen
    assert np.all(clean == 1.0)
    assert np.all(dropped[:, -1] == 1.0)  # the gripper is left alone
    changed = np.any(dropped[:, :-1] != 1.0, axis=1)
    assert np.all(np.all(dropped[changed, :-1] != 1.0, axis=1))  # a dropped sample loses all its joints
    assert 16 <= changed.sum() <= 48, changed.sum()
