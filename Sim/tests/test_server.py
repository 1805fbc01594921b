"""Integration tests: the real twin process on a free loopback port, driven by a pyzmq DEALER.

The cell is the real MuJoCo `edgecell_twin.cell.Cell`; the fake of tests/fakes only stands in where a test
injects a failure. No timing assertions beyond generous sanity bounds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import selectors
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import zmq

from edgecell_twin import protocol as p
from edgecell_twin.protocol import ErrorCode as E

SIM = Path(__file__).resolve().parents[1]
CELL = "edgecell_twin.cell:Cell"  # the real MuJoCo cell; the fake serves only the failure-injection tests
START_TIMEOUT = 120.0  # s; the first start may probe the OpenGL backend
REPLY_TIMEOUT = 20.0  # s


class Twin:
    """A twin process; `endpoint` is parsed from its ready line."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SIM / "tests"), env.get("PYTHONPATH", "")]))
        self.args = [sys.executable, "-m", "edgecell_twin", "--bind", "tcp://127.0.0.1:0", "--dev-plaintext", "--cell",
                     CELL, *args]
        self.proc = subprocess.Popen(
            self.args, cwd=SIM, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.ready_line = self._read_ready_line()
        self.endpoint = self.ready_line.split()[2]

    def _read_ready_line(self) -> str:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(START_TIMEOUT):
                self.stop()
                raise AssertionError(f"no ready line within {START_TIMEOUT} s")
        line = self.proc.stdout.readline()
        if not line.startswith("edgecell-twin ready: "):
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"twin did not start: {line!r}\n{err}")
        return line.strip()

    def stop(self) -> int:
        """SIGTERM, wait; SIGKILL if it does not go. Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.proc.returncode


@contextlib.contextmanager
def twin(*args: str) -> Iterator[Twin]:
    t = Twin(*args)
    try:
        yield t
    finally:
        status = t.stop()
    assert status == 0, f"twin exited with {status}"


class Client:
    """A DEALER talking to the twin; `seq` counts requests as the runtime does."""

    def __init__(self, ctx: zmq.Context, endpoint: str) -> None:
        self.ctx, self.endpoint = ctx, endpoint
        self.seq = 0
        self.sock = self._open()

    def _open(self) -> zmq.Socket:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        return sock

    def reopen(self) -> None:
        """Lazy Pirate: close and reopen (a new routing id)."""
        self.sock.close(linger=0)
        self.sock = self._open()

    def send(self, frames: list[bytes]) -> None:
        self.sock.send_multipart(frames)

    def recv(self, timeout: float = REPLY_TIMEOUT) -> list[bytes]:
        if not self.sock.poll(int(timeout * 1000)):
            raise TimeoutError(f"no reply within {timeout} s")
        return self.sock.recv_multipart()

    def request(self, message: p.Message, seq: int | None = None) -> tuple[p.Header, p.Message, list[bytes]]:
        if seq is None:
            self.seq += 1
            seq = self.seq
        self.send(p.encode(message, seq))
        frames = self.recv()
        header, reply = p.decode(frames)
        assert header.seq == seq, (header.seq, seq, reply)
        return header, reply, frames

    def expect_error(self, frames: list[bytes], code: p.ErrorCode, seq: int) -> p.Error:
        self.send(frames)
        header, reply = p.decode(self.recv())
        assert isinstance(reply, p.Error), reply
        assert (p.ErrorCode(reply.code), reply.offending_seq, header.seq) == (code, seq, seq), reply
        return reply

    def close(self) -> None:
        self.sock.close(linger=0)


@pytest.fixture(scope="module")
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.term()


@pytest.fixture(scope="module")
def lockstep() -> Iterator[Twin]:
    with twin("--cameras", "scene,wrist", "--image-size", "32x24") as t:
        yield t


@pytest.fixture
def client(ctx: zmq.Context, lockstep: Twin) -> Iterator[Client]:
    c = Client(ctx, lockstep.endpoint)
    yield c
    c.close()


def hello(c: Client) -> p.Welcome:
    _, welcome, _ = c.request(p.Hello("edgecell-tests", "0"))
    assert isinstance(welcome, p.Welcome)
    return welcome


def targets_for(welcome: p.Welcome, start: tuple[float, ...], k: int) -> p.Step:
    """A deterministic, in-limits trajectory: small sinusoids around the start posture."""
    q = np.array(start) + 0.05 * np.sin(0.1 * k + np.arange(len(start)))
    lo = np.array([j.position_min for j in welcome.joints])
    hi = np.array([j.position_max for j in welcome.joints])
    g = welcome.gripper_aperture_min + (welcome.gripper_aperture_max - welcome.gripper_aperture_min) * (0.5 + 0.4 * np.cos(0.05 * k))
    return p.Step(tuple(np.clip(q, lo, hi).tolist()), float(g))


# ---------------------------------------------------------------- lock-step ------------------------------


def test_ready_line(lockstep: Twin) -> None:
    assert lockstep.endpoint.startswith("tcp://127.0.0.1:") and not lockstep.endpoint.endswith(":0")
    assert "mode=lockstep" in lockstep.ready_line and "cameras=scene,wrist 32x24" in lockstep.ready_line


def test_handshake_reset_step(client: Client) -> None:
    welcome = hello(client)
    assert welcome.twin_name == "edgecell-twin" and welcome.mode == p.Mode.LOCKSTEP
    assert [c.name for c in welcome.cameras] == ["scene", "wrist"]
    assert all((c.width, c.height) == (32, 24) for c in welcome.cameras)
    assert len(welcome.dh) == len(welcome.joints) > 0 and welcome.task in welcome.tasks
    assert welcome.control_period == pytest.approx(0.01)
    assert welcome.camera_period == welcome.control_period  # lock-step default: images with every observation
    assert welcome.has_expert

    _, episode, frames = client.request(p.Reset(welcome.task, 3))
    assert isinstance(episode, p.Episode), episode
    p.validate_against(welcome, episode, frames)
    assert episode.seed == 3 and episode.task == welcome.task and episode.body.step == 0
    assert [im.camera for im in episode.body.images] == [0, 1]
    assert episode.body.images[0].pixels().shape == (24, 32, 3)

    header, obs, frames = client.request(targets_for(welcome, episode.body.joint_positions, 1))
    assert isinstance(obs, p.Observation), obs
    p.validate_against(welcome, obs, frames)
    assert obs.body.step == 1 and obs.body.episode == episode.body.episode
    assert obs.body.sim_time == pytest.approx(welcome.control_period)
    assert len(obs.body.images) == 2 and header.extra_frames == 2

    _, beat, _ = client.request(p.Heartbeat(1.5))
    assert isinstance(beat, p.Heartbeat)


def _run_episode(c: Client, welcome: p.Welcome, seed: int, steps: int) -> tuple[list[p.ObservationBody], list[list[bytes]]]:
    """Reset and step; returns the bodies with the episode counter zeroed, and the raw replies."""
    _, episode, frames = c.request(p.Reset(welcome.task, seed))
    assert isinstance(episode, p.Episode)
    bodies, raw = [dataclasses.replace(episode.body, episode=0)], [frames]
    start = episode.body.joint_positions
    for k in range(1, steps + 1):
        _, obs, frames = c.request(targets_for(welcome, start, k))
        assert isinstance(obs, p.Observation) and obs.body.step == k, obs
        bodies.append(dataclasses.replace(obs.body, episode=0))
        raw.append(frames)
    return bodies, raw


def test_fifty_steps_are_deterministic(ctx: zmq.Context) -> None:
    args = ("--cameras", "scene,wrist", "--image-size", "32x24")
    runs = []
    for _ in range(2):  # two fresh processes, same requests: the same bytes
        with twin(*args) as t:
            c = Client(ctx, t.endpoint)
            try:
                welcome = hello(c)
                runs.append(_run_episode(c, welcome, seed=11, steps=50))
                again, _ = _run_episode(c, welcome, seed=11, steps=50)  # same process, reset again
                other, _ = _run_episode(c, welcome, seed=12, steps=1)
            finally:
                c.close()
        assert again == runs[-1][0]  # images included (Image equality compares pixels)
        assert other[0] != again[0]  # another seed, another initial state
    assert runs[0][1] == runs[1][1]


def test_retry_is_idempotent(ctx: zmq.Context, client: Client) -> None:
    welcome = hello(client)
    _, episode, _ = client.request(p.Reset(welcome.task, 4))
    assert isinstance(episode, p.Episode)
    start = episode.body.joint_positions
    client.request(targets_for(welcome, start, 1))
    request = p.encode(targets_for(welcome, start, 2), client.seq + 1)
    client.seq += 1
    client.send(request)
    reply = client.recv()
    client.send(request)  # same seq, same payload: the cached answer
    assert client.recv() == reply
    client.reopen()  # Lazy Pirate: a new socket, a new routing id
    client.send(request)
    assert client.recv() == reply
    _, obs, _ = client.request(targets_for(welcome, start, 3))
    assert isinstance(obs, p.Observation) and obs.body.step == 3  # the physics advanced once per seq
    # A RESET retry does not start another episode.
    reset = p.encode(p.Reset(welcome.task, 5), client.seq + 1)
    client.seq += 1
    client.send(reset)
    first = client.recv()
    client.send(reset)
    assert client.recv() == first
    _, obs, _ = client.request(targets_for(welcome, start, 1))
    assert isinstance(obs, p.Observation) and obs.body.step == 1
    assert obs.body.episode == p.decode(first)[1].body.episode  # type: ignore[union-attr]


def test_malformed_input_gets_errors_and_the_twin_keeps_answering(client: Client) -> None:
    welcome = hello(client)
    client.request(p.Reset("", 1))
    n = len(welcome.joints)
    seq = client.seq + 100
    client.expect_error([b"garbage that is long enough to hold a header"], E.BAD_MAGIC, 0)
    client.expect_error([b"ECTW\x01"], E.TRUNCATED, 0)
    client.expect_error([b""], E.TRUNCATED, 0)
    good = p.encode(p.Heartbeat(0.0), seq)[0]
    client.expect_error([good[:4] + b"\x02\x00" + good[6:]], E.UNSUPPORTED_VERSION, 0)
    client.expect_error([good[:6] + b"\x63\x00" + good[8:]], E.UNKNOWN_TYPE, seq)
    client.expect_error([good[:-1]], E.TRUNCATED, seq)
    client.expect_error([good, b"stray frame"], E.INCONSISTENT, seq)
    client.expect_error([good[:24] + struct.pack("<d", float("nan"))], E.BAD_VALUE, seq)
    client.expect_error(p.encode(p.Step((0.0,) * (n - 1), 0.0), seq), E.INCONSISTENT, seq)
    far = tuple(j.position_max + 1.0 for j in welcome.joints)
    client.expect_error(p.encode(p.Step(far, 0.0), seq + 1), E.BAD_VALUE, seq + 1)
    ok = targets_for(welcome, tuple(0.5 * (j.position_min + j.position_max) for j in welcome.joints), 0)
    client.expect_error(p.encode(p.Step(ok.joint_targets, welcome.gripper_aperture_max + 1.0), seq + 2), E.BAD_VALUE, seq + 2)
    client.expect_error(p.encode(p.Reset("no-such-task", 0), seq + 3), E.UNKNOWN_TASK, seq + 3)
    client.expect_error(p.encode(welcome, seq + 4), E.BAD_STATE, seq + 4)
    client.send(p.encode(p.Error(E.INTERNAL, 1, "client-side trouble"), seq + 5))  # logged, not answered
    for _ in range(3):
        client.send([os.urandom(64)])
        p.decode(client.recv())  # an ERROR each
    client.seq = seq + 10
    _, beat, _ = client.request(p.Heartbeat(2.0))
    assert isinstance(beat, p.Heartbeat)


def test_step_before_reset_is_bad_state(ctx: zmq.Context) -> None:
    with twin("--cameras", "none", "--camera-rate", "10") as t:
        c = Client(ctx, t.endpoint)
        try:
            welcome = hello(c)
            assert welcome.cameras == ()
            assert welcome.camera_period == welcome.control_period  # no cameras: the control period
            mid = tuple(0.5 * (j.position_min + j.position_max) for j in welcome.joints)
            c.expect_error(p.encode(p.Step(mid, welcome.gripper_aperture_min), 2), E.BAD_STATE, 2)
            error = c.expect_error(p.encode(p.Expert(), 3), E.BAD_STATE, 3)
            assert "before the first RESET" in error.message
            c.seq = 3
            _, episode, frames = c.request(p.Reset("", 0))
            assert isinstance(episode, p.Episode) and episode.body.images == () and len(frames) == 1
            assert episode.task == welcome.task
            _, advice, _ = c.request(p.Expert())
            assert isinstance(advice, p.Advice) and advice.phase == "reach" and not advice.done
        finally:
            c.close()


# ---------------------------------------------------------------- camera rate and expert (lock-step) -----


@pytest.fixture(scope="module")
def rated() -> Iterator[Twin]:
    """Lock-step with images at 30 Hz of a 100 Hz control rate: every round(100 / 30) = 3rd step."""
    with twin("--cameras", "scene,wrist", "--image-size", "16x12", "--camera-rate", "30") as t:
        yield t


def test_lockstep_camera_rate(ctx: zmq.Context, rated: Twin) -> None:
    c = Client(ctx, rated.endpoint)
    try:
        welcome = hello(c)
        assert welcome.camera_period == pytest.approx(3 * welcome.control_period)
        every = round(welcome.camera_period / welcome.control_period)
        assert every == 3
        for seed in (1, 2):  # the count restarts with every RESET
            bodies, raw = _run_episode(c, welcome, seed=seed, steps=10)
            for body, frames in zip(bodies, raw):
                expected = 2 if body.step % every == 0 else 0
                assert len(body.images) == expected and len(frames) == 1 + expected, body.step
    finally:
        c.close()


def _expert_episode(c: Client, task: str, seed: int, max_steps: int = 1500) -> tuple[int, list[str]]:
    """RESET, then EXPERT → STEP(advice) until success (how demonstrations are recorded)."""
    welcome = hello(c)
    _, episode, _ = c.request(p.Reset(task, seed))
    assert isinstance(episode, p.Episode)
    phases: list[str] = []
    for step in range(1, max_steps + 1):
        _, advice, frames = c.request(p.Expert())
        assert isinstance(advice, p.Advice), advice
        p.validate_against(welcome, advice, frames)
        if not phases or phases[-1] != advice.phase:
            phases.append(advice.phase)
        _, obs, _ = c.request(p.Step(advice.joint_targets, advice.gripper_target))  # within the limits
        assert isinstance(obs, p.Observation), obs
        if obs.body.success:
            return step, phases
    raise AssertionError(f"{task} seed {seed}: no success in {max_steps} steps; phases {phases}")


@pytest.mark.parametrize("task", ["bin-red", "stack-blue-green"])
def test_expert_advice_drives_an_episode_to_success(ctx: zmq.Context, rated: Twin, task: str) -> None:
    c = Client(ctx, rated.endpoint)
    try:
        steps, phases = _expert_episode(c, task, seed=3)
    finally:
        c.close()
    assert phases[:7] == ["reach", "descend", "grasp", "lift", "move", "place", "release"], phases
    assert 100 < steps < 1500


def test_expert_retries_do_not_advance_the_expert(ctx: zmq.Context, rated: Twin) -> None:
    """Asking again for the same step (a retry, a reopened socket, a new seq) gets the same advice; the
    advice sequence matches a run that asks once per step, bit for bit."""
    c = Client(ctx, rated.endpoint)
    try:
        welcome = hello(c)

        def run(ask_again: bool) -> list[p.Advice]:
            c.request(p.Reset("bin-red", 5))
            advices = []
            for _ in range(110):  # through reach into descend (from step 99 for this seed): a phase change
                request = p.encode(p.Expert(), c.seq + 1)
                c.seq += 1
                c.send(request)
                reply = c.recv()
                if ask_again:
                    c.send(request)  # the same bytes: a Lazy Pirate retry
                    assert c.recv() == reply
                    c.reopen()
                    c.send(request)
                    assert c.recv() == reply
                    _, again, _ = c.request(p.Expert())  # a new seq, the same step
                    assert again == p.decode(reply)[1]
                advice = p.decode(reply)[1]
                assert isinstance(advice, p.Advice)
                advices.append(advice)
                step = p.encode(p.Step(advice.joint_targets, advice.gripper_target), c.seq + 1)
                c.seq += 1
                c.send(step)
                observation = c.recv()
                if ask_again:
                    # An EXPERT in between does not evict the STEP from the retry cache.
                    c.request(p.Expert())
                    c.send(step)
                    assert c.recv() == observation
            return advices

        once, repeated = run(ask_again=False), run(ask_again=True)
        assert {a.phase for a in once} >= {"reach", "descend"}
        assert once == repeated
        assert len(welcome.joints) == len(once[0].joint_targets)
    finally:
        c.close()


# ---------------------------------------------------------------- real time ------------------------------


def test_realtime_streams_and_holds(ctx: zmq.Context) -> None:
    rate = 50.0
    with twin(
        "--mode", "realtime", "--control-rate", str(rate), "--camera-rate", "10", "--command-timeout", "0.2",
        "--cameras", "scene", "--image-size", "16x12",
    ) as t:  # fmt: skip
        c = Client(ctx, t.endpoint)
        try:
            welcome = hello(c)
            assert welcome.mode == p.Mode.REALTIME
            assert welcome.camera_period == pytest.approx(5 / rate)  # 10 Hz of 50 Hz: every 5th observation
            assert not welcome.has_expert
            error = c.expect_error(p.encode(p.Expert(), c.seq + 1), E.BAD_STATE, c.seq + 1)
            assert "lock-step" in error.message
            c.seq += 1
            _, episode, _ = c.request(p.Reset("", 9))
            assert isinstance(episode, p.Episode)
            s0 = c.seq
            start = episode.body.joint_positions
            observations: list[tuple[float, p.Header, p.ObservationBody]] = []

            def collect(duration: float, steer: bool) -> None:
                end = time.monotonic() + duration
                k = 0
                while time.monotonic() < end:
                    if steer:
                        k += 1
                        c.seq += 1
                        c.send(p.encode(targets_for(welcome, start, k), c.seq))  # one-way
                    frames = c.recv(timeout=5.0)
                    header, message = p.decode(frames)
                    assert isinstance(message, p.Observation), message
                    p.validate_against(welcome, message, frames)
                    observations.append((time.monotonic(), header, message.body))

            collect(0.6, steer=True)
            steered = len(observations)
            collect(1.0, steer=False)
            # Beats are answered while streaming (observations may arrive in between).
            c.seq += 1
            c.send(p.encode(p.Heartbeat(0.0), c.seq))
            for _ in range(200):
                header, message = p.decode(c.recv(timeout=5.0))
                if isinstance(message, p.Heartbeat):
                    assert header.seq == c.seq
                    break
            else:
                raise AssertionError("no HEARTBEAT answer while streaming")
            collect(0.3, steer=True)
        finally:
            c.close()
    seqs = [h.seq for _, h, _ in observations]
    steps = [b.step for _, _, b in observations]
    assert all(h.seq == s0 + b.step for _, h, b in observations)
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    elapsed = observations[-1][0] - observations[0][0]
    measured = (steps[-1] - steps[0]) / elapsed
    assert 0.3 * rate < measured < 3.0 * rate, measured  # sanity only
    assert any(b.images for _, _, b in observations) and not all(b.images for _, _, b in observations)
    held = [bool(b.flags & p.FLAG_HOLDING) for _, _, b in observations]
    assert not any(held[: steered // 2])  # commands flowing: no hold
    assert any(held[steered:])  # 1 s without STEP > 0.2 s timeout: held
    assert not held[-1]  # commands resumed


# ---------------------------------------------------------------- robustness -----------------------------


def test_fuzzed_input_never_stops_the_twin(ctx: zmq.Context, lockstep: Twin) -> None:
    import json
    import random

    vectors = json.loads((SIM / "tests" / "vectors" / "vectors.json").read_text(encoding="utf-8"))["vectors"]
    samples = [[bytes.fromhex(f) for f in v["frames"]] for v in vectors if v["frames"]]
    rng = random.Random(7)
    c = Client(ctx, lockstep.endpoint)
    try:
        hello(c)
        for i in range(300):
            frames = list(rng.choice(samples))
            frame0 = bytearray(frames[0])
            for _ in range(rng.randint(0, 3)):
                if frame0:
                    frame0[rng.randrange(len(frame0))] ^= 1 << rng.randrange(8)
            frames[0] = bytes(frame0[: rng.randint(0, len(frame0))] if rng.random() < 0.3 else frame0)
            c.send(frames)
            if i % 50 == 49:  # everything sent so far has been answered (or, for ERRORs, consumed)
                beat = 10_000 + i
                c.send(p.encode(p.Heartbeat(0.0), beat))
                while True:
                    header, reply = p.decode(c.recv())
                    if isinstance(reply, p.Heartbeat) and header.seq == beat:
                        break
    finally:
        c.close()
    assert lockstep.proc.poll() is None


class _FailingCell:
    """Wraps the fake cell; `step` fails on demand, like a physics blow-up would."""

    def __init__(self, **kwargs: object) -> None:
        from fakes.fake_cell import FakeCell

        self._cell = FakeCell(**kwargs)  # type: ignore[arg-type]
        self.fail = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._cell, name)

    def step(self) -> None:
        if self.fail:
            raise FloatingPointError("simulation diverged")
        self._cell.step()


def test_cell_failure_is_an_internal_error_in_process(ctx: zmq.Context) -> None:
    import threading

    from edgecell_twin.server import ServerConfig, TwinServer

    config = ServerConfig(bind="tcp://127.0.0.1:0", cameras=())
    cell = _FailingCell(cameras=(), image_size=(8, 8), control_period=0.01, physics_timestep=0.002)
    server = TwinServer(config, cell, context=ctx)
    endpoint = server.bind()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    c = Client(ctx, endpoint)
    try:
        welcome = hello(c)
        _, episode, _ = c.request(p.Reset("", 0))
        assert isinstance(episode, p.Episode)
        cell.fail = True
        err = c.expect_error(p.encode(targets_for(welcome, episode.body.joint_positions, 1), 3), E.INTERNAL, 3)
        assert "diverged" in err.message
        cell.fail = False
        c.seq = 3
        _, obs, _ = c.request(targets_for(welcome, episode.body.joint_positions, 2))
        assert isinstance(obs, p.Observation) and obs.body.step == 1
    finally:
        c.close()
        server.stop()
        thread.join(timeout=10)
        server.close()
    assert not thread.is_alive() and cell._cell.closed


def test_a_cell_without_an_expert_says_so(ctx: zmq.Context) -> None:
    import threading

    from fakes.fake_cell import FakeCell

    from edgecell_twin.server import ServerConfig, TwinServer

    config = ServerConfig(bind="tcp://127.0.0.1:0", cameras=("scene",), image_size=(8, 6), camera_rate=50.0)
    cell = FakeCell(cameras=("scene",), image_size=(8, 6), control_period=0.01, physics_timestep=0.002)
    server = TwinServer(config, cell, context=ctx)
    endpoint = server.bind()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    c = Client(ctx, endpoint)
    try:
        welcome = hello(c)
        assert not welcome.has_expert and welcome.camera_period == pytest.approx(0.02)
        c.request(p.Reset("", 0))
        error = c.expect_error(p.encode(p.Expert(), 3), E.BAD_STATE, 3)
        assert "FakeCell has no scripted expert" in error.message
        c.seq = 3
        _, obs, _ = c.request(targets_for(welcome, (0.0,) * 6, 1))
        assert isinstance(obs, p.Observation) and obs.body.step == 1 and obs.body.images == ()
        _, obs, _ = c.request(targets_for(welcome, (0.0,) * 6, 2))
        assert isinstance(obs, p.Observation) and obs.body.step == 2 and len(obs.body.images) == 1
    finally:
        c.close()
        server.stop()
        thread.join(timeout=10)
        server.close()


def test_camera_rate_above_the_control_rate_is_refused() -> None:
    from edgecell_twin.server import ServerConfig

    with pytest.raises(ValueError, match="at most the control rate"):
        ServerConfig(control_rate=50.0, camera_rate=60.0)
    assert ServerConfig(control_rate=50.0, camera_rate=50.0).images_every == 1
    assert ServerConfig(mode=p.Mode.REALTIME, control_rate=5.0).images_every == 1  # default 10 Hz, capped
    assert ServerConfig(mode=p.Mode.REALTIME).images_every == 10
    assert ServerConfig().images_every == 1


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--image-size", "96y96"], "--image-size"),
        (["--mode", "fast"], "--mode"),
        (["--control-rate", "-5"], "--control-rate"),
        (["--cameras", "scene,,wrist"], "--cameras"),
        (["--cell", "fakes.fake_cell:FakeCell", "--task", "no-such-task"], "no-such-task"),
        (["--cell", "fakes.fake_cell:FakeCell", "--cameras", "ceiling"], "ceiling"),
        (["--control-rate", "50", "--camera-rate", "60"], "--camera-rate"),
    ],
)
def test_bad_arguments_exit_2(args: list[str], complaint: str) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SIM / "tests"), env.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "edgecell_twin", "--bind", "tcp://127.0.0.1:0", "--dev-plaintext", *args],
        cwd=SIM, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert complaint in proc.stderr and proc.stdout == ""


def test_exit_with_parent_stops_the_twin_when_its_parent_dies(tmp_path: Path) -> None:
    """A runtime killed outright must not leave its twin running: a parent (a shell standing in for it) starts
    the twin with --parent-pid, prints its pid and dies (possibly before the twin has even started); the twin
    stops within seconds."""
    env = dict(os.environ)
    twin_cmd = " ".join([sys.executable, "-m", "edgecell_twin", "--bind", "tcp://127.0.0.1:0", "--dev-plaintext",
                         "--cameras", "none", "--parent-pid", "$$"])
    parent = subprocess.Popen(["sh", "-c", f"{twin_cmd} > {tmp_path}/out 2>&1 & echo $!; sleep 1; kill -9 $$"],
                              cwd=SIM, env=env, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    parent.wait(timeout=30)
    deadline = time.monotonic() + 20
    alive = True
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            alive = False
            break
        # A zombie (re-parented to a reaper that has not reaped it yet) counts as gone.
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                alive = False
                break
        time.sleep(0.2)
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, (tmp_path / "out").read_text()
    assert "parent process" in (tmp_path / "out").read_text()


def test_reorder_injection_sends_every_nth_observation_late(ctx: zmq.Context) -> None:
    """`--inject-reorder 5:2`: step 5 arrives after steps 6 and 7, step 10 after 11 and 12, and so on."""
    with twin(
        "--mode", "realtime", "--control-rate", "50", "--cameras", "scene", "--image-size", "16x12",
        "--inject-reorder", "5:2",
    ) as t:  # fmt: skip
        c = Client(ctx, t.endpoint)
        try:
            hello(c)
            _, episode, _ = c.request(p.Reset("", 3))
            assert isinstance(episode, p.Episode)
            steps: list[int] = []
            while len(steps) < 20:
                header, message = p.decode(c.recv(timeout=5.0))
                if isinstance(message, p.Observation):
                    steps.append(int(message.body.step))
            assert steps[:14] == [1, 2, 3, 4, 6, 7, 5, 8, 9, 11, 12, 10, 13, 14], steps
        finally:
            c.close()


@pytest.mark.parametrize("value", ["0", "x", "5:0", "1:2:3"])
def test_reorder_injection_refuses_bad_values(value: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edgecell_twin", "--inject-reorder", value], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "--inject-reorder" in proc.stderr and "EVERY[:DELAY]" in proc.stderr, proc.stderr
