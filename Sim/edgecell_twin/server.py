"""The twin's ZeroMQ server: one ROUTER socket speaking PROTOCOL.md v1 in front of a `Cell`.

Lock-step mode (§5.1) answers every request; a `STEP` advances the physics by exactly one control period,
so runs are deterministic. Real-time mode (§5.2) advances the physics on the monotonic wall clock after a
`RESET` and streams an `OBSERVATION` per control period to the peer that sent it; `STEP`s are one-way. In both
modes observations carry images at `step` 0 and every `images_every` steps after it (the camera rate).

In lock-step mode the MuJoCo cell also has a scripted expert (§4.9, `expert.py`): every `RESET` starts a fresh
one, and `EXPERT` answers with what it would command for the cell's current state.

Nothing a peer sends ends the process: every rejected message is answered with `ERROR` (§4.8) and logged at
warning level (rate-limited). The server is single-threaded; the physics runs inside the poll loop.
"""

from __future__ import annotations

import contextlib
import collections
import importlib
import logging
import math
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import zmq

from . import __version__
from . import curve
from . import protocol as p

log = logging.getLogger("edgecell_twin.server")

TWIN_NAME = "edgecell-twin"
DEFAULT_CELL = "edgecell_twin.cell:Cell"
MAX_PEERS = 256
MAX_LAG_PERIODS = 3  # real-time: further behind than this, skip ahead instead of bursting steps
DEFAULT_REALTIME_CAMERA_RATE = 10.0  # Hz


@dataclass(frozen=True)
class ServerConfig:
    """Everything the command line sets; see `python -m edgecell_twin --help`."""

    bind: str = "tcp://127.0.0.1:5555"
    mode: p.Mode = p.Mode.LOCKSTEP
    task: str = "bin-red"
    seed: int = 0
    cameras: tuple[str, ...] = ("scene", "wrist")
    image_size: tuple[int, int] = (96, 96)  # width, height
    control_rate: float = 100.0  # Hz
    camera_rate: float | None = None  # Hz; None: every step in lock-step, 10 Hz (at most control_rate) in real time
    command_timeout: float = 0.2  # s, real-time mode only
    physics_timestep: float = 0.002  # s
    cell: str = DEFAULT_CELL  # "module:attribute" of a Cell-compatible class
    # Fault injection (real time, tests): every `reorder_every`-th observation is held back and sent after the
    # next `reorder_delay` ones: late and out of order, as a congested network or a buggy bridge could deliver it.
    reorder_every: int = 0
    reorder_delay: int = 1
    # CURVE (curve.py): the twin's key pair and the allow-list of runtime keys; None: plaintext (loopback/ipc only).
    curve_keys: Any = None  # curve.KeyPair
    curve_allow: str | None = None  # path of the allow-list file
    curve_allow_keys: tuple[bytes, ...] = ()  # further allowed client keys (Z85)
    audit_log: str | None = None  # hash-chained log of link admissions and refusals (the runtime's format)

    def __post_init__(self) -> None:
        if self.camera_rate is not None and not (
            math.isfinite(self.camera_rate) and 0 < self.camera_rate <= self.control_rate * (1 + 1e-9)
        ):
            raise ValueError(
                f"camera rate {self.camera_rate} Hz must be positive and at most the control rate "
                f"({self.control_rate} Hz): images come with at most every observation"
            )

    @property
    def control_period(self) -> float:
        return 1.0 / self.control_rate

    @property
    def images_every(self) -> int:
        """Observations carry images at step 0 and every k-th step after it (k ≥ 1)."""
        rate = self.camera_rate
        if rate is None:
            lockstep = self.mode == p.Mode.LOCKSTEP
            rate = self.control_rate if lockstep else min(DEFAULT_REALTIME_CAMERA_RATE, self.control_rate)
        return max(1, round(self.control_rate / rate))


def load_cell_factory(spec: str) -> Callable[..., Any]:
    """Resolve "module:attribute" to the Cell class (the physics side, or a bridge with the same API)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"cell factory {spec!r} is not of the form module:attribute")
    return getattr(importlib.import_module(module_name), attribute)


def expert_factory(cell: Any) -> Callable[[], Any] | None:
    """What builds `cell`'s scripted expert (`expert.Expert` for the MuJoCo cell), or None if it has none.

    Only the MuJoCo `Cell` (and subclasses) has one: the expert plans from its privileged state. Looked up
    without importing MuJoCo: a `Cell` instance exists only if its module is loaded.
    """
    cell_module = sys.modules.get("edgecell_twin.cell")
    if cell_module is None or not isinstance(cell, cell_module.Cell):
        return None
    from .expert import Expert

    return lambda: Expert(cell.description)


def build_welcome(
    cell: Any, mode: p.Mode, control_period: float, *, images_every: int = 1, has_expert: bool = False
) -> p.Welcome:
    """The handshake for `cell`'s description and its current task and seed.

    `camera_period` is `images_every` control periods, or one control period when there are no cameras.
    """
    d = cell.description
    return p.Welcome(
        twin_name=TWIN_NAME,
        twin_version=__version__,
        robot_name=d.robot_name,
        mode=mode,
        control_period=float(control_period),
        physics_timestep=float(d.physics_timestep),
        joints=tuple(
            p.JointDescription(
                j.name,
                float(j.position_min),
                float(j.position_max),
                float(j.velocity_max),
                float(j.acceleration_max),
                float(j.effort_max),
            )
            for j in d.joints
        ),
        base_pose=p.Pose.from_array(d.base_pose),
        dh=tuple(p.DHRow(*(float(x) for x in row)) for row in d.dh),
        tool_pose=p.Pose.from_array(d.tool_pose),
        gripper_name=d.gripper_name,
        gripper_aperture_min=float(d.gripper_aperture_min),
        gripper_aperture_max=float(d.gripper_aperture_max),
        gripper_force_max=float(d.gripper_force_max),
        gripper_speed_max=float(d.gripper_speed_max),
        workspace_min=tuple(float(x) for x in d.workspace_min),  # type: ignore[arg-type]
        workspace_max=tuple(float(x) for x in d.workspace_max),  # type: ignore[arg-type]
        cameras=tuple(p.CameraDescription(c.name, int(c.width), int(c.height)) for c in d.cameras),
        objects=tuple(
            p.ObjectDescription(o.name, tuple(float(x) for x in o.size))  # type: ignore[arg-type]
            for o in d.objects
        ),
        tasks=tuple(d.tasks),
        task=cell.task,
        instruction=cell.instruction,
        seed=int(cell.seed),
        camera_period=float(control_period) * (images_every if d.cameras else 1),
        has_expert=has_expert,
    )


def encode_observation(obs: Any, episode: int, flags: int, seq: int) -> list[bytes]:
    """The OBSERVATION frames for the physics side's `Observation` (the per-step hot path)."""
    return p.encode_observation_fast(
        seq,
        episode,
        int(obs.step),
        float(obs.sim_time),
        obs.joint_positions,
        obs.joint_velocities,
        float(obs.gripper_aperture),
        float(obs.gripper_force),
        obs.tcp_pose,
        obs.object_poses,
        bool(obs.success),
        flags | (p.FLAG_COLLISION if obs.in_collision else 0),
        obs.images,
    )


def observation_body(obs: Any, episode: int, flags: int) -> p.ObservationBody:
    """Convert the physics side's `Observation` into the protocol's observation body."""
    poses = np.asarray(obs.object_poses, dtype=np.float64).reshape(-1, 7)
    if obs.in_collision:
        flags |= p.FLAG_COLLISION
    return p.ObservationBody(
        episode=episode,
        step=int(obs.step),
        sim_time=float(obs.sim_time),
        joint_positions=tuple(np.asarray(obs.joint_positions, dtype=np.float64).tolist()),
        joint_velocities=tuple(np.asarray(obs.joint_velocities, dtype=np.float64).tolist()),
        gripper_aperture=float(obs.gripper_aperture),
        gripper_force=float(obs.gripper_force),
        tcp_pose=p.Pose.from_array(obs.tcp_pose),
        objects=tuple(p.Pose.from_array(row) for row in poses),
        success=bool(obs.success),
        flags=flags,
        images=tuple(
            p.Image(int(index), int(image.shape[1]), int(image.shape[0]), p.Encoding.RGB8, image)
            for index, image in obs.images
        ),
    )


class _RateLimitedLog:
    """At most `burst` lines at once and `rate` per second after that; counts what it drops."""

    def __init__(self, logger: logging.Logger, rate: float = 5.0, burst: int = 20) -> None:
        self.logger, self.rate, self.burst = logger, rate, burst
        self.tokens = float(burst)
        self.last = time.monotonic()
        self.suppressed = 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            self.suppressed += 1
            return
        self.tokens -= 1.0
        if self.suppressed:
            self.logger.warning("(%d similar messages suppressed)", self.suppressed)
            self.suppressed = 0
        self.logger.warning(message, *args)


@dataclass
class _Peer:
    """What the twin remembers about a connection (routing id)."""

    name: str = "?"
    greeted: bool = False
    last_seen: float = 0.0


@dataclass
class _Stats:
    requests: int = 0
    errors: int = 0
    steps: int = 0
    observations_sent: int = 0
    retries_answered: int = 0
    skipped_periods: int = 0
    overruns: int = 0
    reordered: int = 0


@dataclass
class _Retry:
    """The last STEP/RESET processed and its answer (§5.1: retries are idempotent).

    `EXPERT` does not use it: it changes no state, and its answer is kept per step instead (`_advice`).
    """

    request: list[bytes] = field(default_factory=list)
    reply: list[bytes] = field(default_factory=list)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TwinServer:
    """The protocol server around one `Cell`. Create, `bind()`, then `serve()` until `stop()`."""

    def __init__(self, config: ServerConfig, cell: Any, context: zmq.Context | None = None) -> None:
        self.config = config
        self.cell = cell
        self.context = context or zmq.Context.instance()
        # CURVE: the ZAP handler must serve the context before the socket can accept anyone (curve.py).
        self.zap: curve.ZapHandler | None = None
        if config.curve_keys is not None:
            if config.curve_allow is None and not config.curve_allow_keys:
                raise ValueError("CURVE needs an allow-list of client keys (--curve-allow FILE or --curve-allow-key)")
            allow = curve.AllowList(config.curve_allow, config.curve_allow_keys)
            self.zap = curve.ZapHandler(self.context, allow, config.bind, audit_log=config.audit_log)
        self.socket = self.context.socket(zmq.ROUTER)
        if config.curve_keys is not None:
            curve.make_curve_server(self.socket, config.curve_keys)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a client reopening with the same routing id takes over
        self.socket.setsockopt(zmq.SNDHWM, 1000)
        self.socket.setsockopt(zmq.RCVHWM, 1000)
        self.endpoint = ""
        # EXPERT is answered in lock-step mode only (§4.9), so only there does WELCOME announce an expert.
        self._make_expert = expert_factory(cell) if config.mode == p.Mode.LOCKSTEP else None
        self.welcome = self._build_welcome()  # static part for §6 checks
        self._peers: collections.OrderedDict[bytes, _Peer] = collections.OrderedDict()
        self._revoked: set[bytes] = set()  # routing ids whose key left the allow-list (logged once each)
        self._retry = _Retry()
        self._errors_log = _RateLimitedLog(log)
        self.stats = _Stats()
        # Episode state.
        self._episode = 0
        self._running = False  # a RESET has been processed
        self._reset_seq = 0
        self._step = 0  # control steps since the RESET
        # The scripted expert of the running episode, and its advice for the current step (an EXPERT asked
        # again before the next STEP, a retry or not, gets the same advice: the expert advances once per step).
        self._expert: Any = None
        self._expert_failure = ""
        self._advice: p.Advice | None = None
        # Real-time state.
        self._stream_peer: bytes | None = None
        self._held: list[tuple[int, list[bytes]]] = []  # (newer observations still to send first, frames)
        self._next_deadline = 0.0
        self._last_command = 0.0
        self._holding = False
        self._stop = False
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._signals_installed = False

    # ------------------------------------------------------------------ lifecycle ---------------------------

    def bind(self) -> str:
        """Bind the ROUTER socket and return the actual endpoint (port 0 becomes the chosen port)."""
        self.socket.bind(self.config.bind)
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        if self.zap is not None:
            self.zap.endpoint = self.endpoint
        return self.endpoint

    def stop(self) -> None:
        """Ask `serve()` to return; safe from a signal handler or another thread."""
        self._stop = True
        if self._wake_w is not None:
            try:
                self._wake_w.send(b"\x00")
            except OSError:
                pass

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the server cleanly (main thread only).

        Python runs signal handlers only between bytecodes of the main thread, and a signal taken by another
        thread (numpy's BLAS workers) does not interrupt the blocking poll at all. So the C-level handler also
        writes the signal number into the wake-up socket pair (`signal.set_wakeup_fd`), which the poll watches:
        `serve()` sees the byte and stops, whichever thread took the signal.
        """
        self._ensure_wakeup()
        assert self._wake_w is not None
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        self._signals_installed = True
        for sig in _STOP_SIGNALS:
            signal.signal(sig, lambda signum, frame: self.stop())

    def close(self) -> None:
        """Close the socket, the ZAP handler and the cell."""
        self.socket.close(linger=0)
        if self.zap is not None:
            self.zap.stop()
        if self._signals_installed:
            signal.set_wakeup_fd(-1)
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self.cell.close()

    def _build_welcome(self) -> p.Welcome:
        return build_welcome(
            self.cell,
            self.config.mode,
            self.config.control_period,
            images_every=self.config.images_every,
            has_expert=self._make_expert is not None,
        )

    def _ensure_wakeup(self) -> None:
        if self._wake_r is None:
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)

    # ------------------------------------------------------------------ the loop ----------------------------

    def serve(self) -> None:
        """Run until `stop()`: answer requests, and in real-time mode advance the physics on the clock."""
        self._ensure_wakeup()
        assert self._wake_r is not None
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        poller.register(self._wake_r.fileno(), zmq.POLLIN)
        realtime = self.config.mode == p.Mode.REALTIME
        while not self._stop:
            timeout_ms: int | None = None
            if realtime and self._running:
                timeout_ms = max(0, math.ceil((self._next_deadline - time.monotonic()) * 1000.0))
            events = dict(poller.poll(timeout_ms))
            if self._wake_r.fileno() in events:
                try:
                    woken_by = self._wake_r.recv(4096)
                except OSError:
                    woken_by = b""
                if any(byte in _STOP_SIGNALS for byte in woken_by):
                    self._stop = True
                    break
            if self.socket in events:
                self._drain()
            if realtime and self._running and time.monotonic() >= self._next_deadline:
                self._realtime_tick()
        log.info(
            "stopping: %d requests, %d errors, %d steps, %d observations streamed, %d retries answered, "
            "%d real-time periods skipped",
            self.stats.requests, self.stats.errors, self.stats.steps, self.stats.observations_sent,
            self.stats.retries_answered, self.stats.skipped_periods,
        )  # fmt: skip

    def _drain(self, limit: int = 64) -> None:
        """Handle the messages waiting (bounded, so real-time deadlines are not starved)."""
        for _ in range(limit):
            try:
                if self.zap is None:
                    parts = self.socket.recv_multipart(zmq.NOBLOCK, copy=True)
                else:
                    frames = self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
                    parts = [f.bytes for f in frames]
                    if parts and not self._still_allowed(parts[0], parts[1:], frames[0]):
                        continue
            except zmq.Again:
                return
            if len(parts) < 1:
                continue
            self._handle(parts[0], parts[1:])

    def _still_allowed(self, identity: bytes, body: list[bytes], frame: zmq.Frame) -> bool:
        """CURVE: whether the key this message came with (its ZAP user id) is still in the allow-list. A key
        revoked while connected is cut at its next message: the twin answers ERROR (BAD_STATE, saying why), forgets
        the peer and stops streaming to it, and logs `link.revoked` once (in the audit log too)."""
        assert self.zap is not None
        try:
            key = frame.get("User-Id")
        except zmq.ZMQError:
            key = ""
        allowed, detail = self.zap.allow.lookup(key.encode()) if key else (False, "no client key on the message")
        if allowed:
            return True
        if identity not in self._revoked:
            self._revoked.add(identity)
            try:
                address = frame.get("Peer-Address")
            except zmq.ZMQError:
                address = ""
            self.zap.record_revocation(key or "none", address, detail)
        self._peers.pop(identity, None)
        if self._stream_peer == identity:
            self._stream_peer = None
        seq = 0
        with contextlib.suppress(p.ProtocolError):
            seq = p.decode(body)[0].seq
        self._error(identity, p.ErrorCode.BAD_STATE, f"this client's key is no longer allowed ({detail}): the twin "
                    "closed the link", seq)  # fmt: skip
        return False

    # ------------------------------------------------------------------ requests ----------------------------

    def _send(self, identity: bytes, frames: list[bytes]) -> None:
        try:
            self.socket.send_multipart([identity, *frames], zmq.NOBLOCK, copy=False)
        except zmq.Again:
            log.debug("send to %s would block; dropped", identity.hex())

    def _error(self, identity: bytes, code: p.ErrorCode, message: str, seq: int) -> list[bytes]:
        self.stats.errors += 1
        self._errors_log.warning("peer %s: %s %s (seq %d)", identity.hex(), code.name, message, seq)
        text = message.encode("utf-8", "replace")[:1024].decode("utf-8", "ignore")  # may quote peer input
        reply = p.encode(p.Error(code, seq, text), seq)
        self._send(identity, reply)
        return reply

    def _peer(self, identity: bytes) -> _Peer:
        peer = self._peers.pop(identity, None) or _Peer()
        peer.last_seen = time.monotonic()
        self._peers[identity] = peer
        while len(self._peers) > MAX_PEERS:
            self._peers.popitem(last=False)
        return peer

    def _handle(self, identity: bytes, frames: list[bytes]) -> None:
        self.stats.requests += 1
        peer = self._peer(identity)
        try:
            header, message = p.decode(frames)
        except p.ProtocolError as e:
            self._error(identity, e.code, e.message, e.offending_seq)
            return
        seq = header.seq
        try:
            if isinstance(message, (p.Step, p.Reset)):
                if self._retry.request == frames:
                    self.stats.retries_answered += 1
                    log.debug("retry of seq %d answered from the cache", seq)
                    self._send(identity, self._retry.reply)
                    return
                reply = self._on_reset(identity, seq, message) if isinstance(message, p.Reset) else (
                    self._on_step(identity, seq, message, frames)
                )  # fmt: skip
                if reply is not None:
                    self._retry = _Retry(list(frames), reply)
            elif isinstance(message, p.Expert):
                self._on_expert(identity, seq)
            elif isinstance(message, p.Hello):
                peer.name, peer.greeted = f"{message.client_name} {message.client_version}", True
                log.info("peer %s: HELLO from %s", identity.hex(), peer.name or "(unnamed)")
                self._send(identity, p.encode(self._build_welcome(), seq))
            elif isinstance(message, p.Heartbeat):
                self._send(identity, p.encode(p.Heartbeat(time.monotonic()), seq))
            elif isinstance(message, p.Error):
                log.warning(
                    "peer %s reports error %s for seq %d: %s",
                    identity.hex(), p.ErrorCode(message.code).name, message.offending_seq, message.message,
                )  # fmt: skip
            else:
                self._error(identity, p.ErrorCode.BAD_STATE, f"{type(message).__name__.upper()} is sent by the twin, not to it", seq)
        except p.ProtocolError as e:
            # Our own encoding failed: the physics produced something the protocol cannot carry (e.g. NaN).
            log.exception("cannot encode the reply to seq %d", seq)
            self._error(identity, p.ErrorCode.INTERNAL, f"twin could not encode its reply: {e.message}", seq)
        except Exception as e:  # the cell failed; the twin keeps running (§4.8)
            log.exception("failed on seq %d", seq)
            self._error(identity, p.ErrorCode.INTERNAL, f"twin failed: {type(e).__name__}: {e}", seq)

    def _on_reset(self, identity: bytes, seq: int, message: p.Reset) -> list[bytes]:
        task = message.task or self.cell.task
        if task not in self.welcome.tasks:
            return self._error(
                identity, p.ErrorCode.UNKNOWN_TASK, f"unknown task {task!r}; tasks: {', '.join(self.welcome.tasks)}", seq
            )
        try:
            self.cell.reset(task, message.seed)
        except ValueError as e:  # UnknownTaskError is a ValueError
            code = p.ErrorCode.UNKNOWN_TASK if type(e).__name__ == "UnknownTaskError" else p.ErrorCode.BAD_VALUE
            return self._error(identity, code, str(e), seq)
        self._episode += 1
        self._running = True
        self._reset_seq = seq
        self._holding = False
        self._step = 0
        self._stream_peer = identity
        self._held = []
        obs = self.cell.observe(render=True)
        self._start_expert(obs)
        reply = p.encode(
            p.Episode(self.cell.task, self.cell.instruction, int(message.seed), observation_body(obs, self._episode, 0)),
            seq,
        )
        log.info("episode %d: task %s seed %d (peer %s)", self._episode, task, message.seed, identity.hex())
        self._send(identity, reply)
        # The real-time clocks start once the EPISODE is out (the first render may take a while).
        now = time.monotonic()
        self._last_command = now
        self._next_deadline = now + self.config.control_period
        return reply

    def _on_step(self, identity: bytes, seq: int, message: p.Step, frames: Sequence[bytes]) -> list[bytes] | None:
        try:
            p.validate_against(self.welcome, message, frames)
        except p.ProtocolError as e:
            return self._error(identity, e.code, e.message, seq)
        if not self._running:
            return self._error(identity, p.ErrorCode.BAD_STATE, "STEP before the first RESET", seq)
        try:
            self.cell.set_targets(np.asarray(message.joint_targets, dtype=np.float64), float(message.gripper_target))
        except ValueError as e:
            return self._error(identity, p.ErrorCode.BAD_VALUE, f"STEP: {e}", seq)
        if self.config.mode == p.Mode.REALTIME:
            self._last_command = time.monotonic()
            if self._holding:
                log.info("commands resumed")
            self._holding = False
            return None  # one-way; nothing to cache
        self._advice = None  # the state moves on: the next EXPERT asks the expert again
        self.cell.step()
        self.stats.steps += 1
        self._step += 1
        obs = self.cell.observe(render=self._images_due())
        reply = encode_observation(obs, self._episode, 0, seq)
        self._send(identity, reply)
        return reply

    def _images_due(self) -> bool:
        """Whether the observation of the current step carries images (step 0 and every k-th step)."""
        return bool(self.welcome.cameras) and self._step % self.config.images_every == 0

    # ------------------------------------------------------------------ the expert (§4.9) ---------------------

    def _start_expert(self, observation: Any) -> None:
        """A fresh expert for the episode just reset; a failure is reported to EXPERT, not to RESET."""
        self._expert, self._expert_failure, self._advice = None, "", None
        if self._make_expert is None:
            return
        try:
            expert = self._make_expert()
            expert.reset(self.cell.task, observation)
        except Exception as e:
            log.exception("the expert could not start on task %s", self.cell.task)
            self._expert_failure = f"{type(e).__name__}: {e}"
            return
        self._expert = expert

    def _on_expert(self, identity: bytes, seq: int) -> None:
        if self.config.mode != p.Mode.LOCKSTEP:
            self._error(identity, p.ErrorCode.BAD_STATE, "EXPERT is answered in lock-step mode only", seq)
            return
        if self._make_expert is None:
            self._error(
                identity, p.ErrorCode.BAD_STATE,
                f"EXPERT: the cell {type(self.cell).__name__} has no scripted expert (WELCOME has_expert 0)", seq,
            )  # fmt: skip
            return
        if not self._running:
            self._error(identity, p.ErrorCode.BAD_STATE, "EXPERT before the first RESET", seq)
            return
        if self._expert is None:
            text = f"the expert failed to start at RESET: {self._expert_failure}"
            self._error(identity, p.ErrorCode.INTERNAL, text, seq)
            return
        if self._advice is None:
            targets, gripper = self._expert.act(self.cell.observe(render=False))
            phase = str(self._expert.phase)
            joints = tuple(np.asarray(targets, dtype=np.float64).ravel().tolist())
            self._advice = p.Advice(joints, float(gripper), phase, phase == "done")
        else:
            self.stats.retries_answered += 1
            log.debug("EXPERT seq %d answered with the advice already given for step %d", seq, self._step)
        self._send(identity, p.encode(self._advice, seq))

    # ------------------------------------------------------------------ real time ---------------------------

    def _realtime_tick(self) -> None:
        """One control period of real-time mode: maybe hold, step, observe, stream."""
        period = self.config.control_period
        now = time.monotonic()
        lag = now - self._next_deadline
        if lag > MAX_LAG_PERIODS * period:
            skipped = int(lag / period)
            self.stats.skipped_periods += skipped
            self.stats.overruns += 1
            log.debug("real-time: %.1f ms behind, skipping %d periods", lag * 1000.0, skipped)
            self._next_deadline = now
        self._next_deadline += period
        if not self._holding and now - self._last_command > self.config.command_timeout:
            self.cell.hold()
            self._holding = True
            log.info("no STEP for %.3f s: holding the arm", now - self._last_command)
        try:
            self.cell.step()
            self.stats.steps += 1
            self._step += 1
            obs = self.cell.observe(render=self._images_due())
            step = int(obs.step)
            flags = p.FLAG_HOLDING if self._holding else 0
            frames = encode_observation(obs, self._episode, flags, (self._reset_seq + step) & p.U64_MAX)
        except Exception as e:
            # Stop streaming rather than flood the client with errors every period.
            self._running = False
            log.exception("real-time step failed; streaming stopped until the next RESET")
            if self._stream_peer is not None:
                self._error(self._stream_peer, p.ErrorCode.INTERNAL, f"twin failed: {type(e).__name__}: {e}", self._reset_seq)
            return
        if self._stream_peer is not None:
            self._stream(self._stream_peer, frames, step)

    def _stream(self, peer: bytes, frames: list[bytes], step: int) -> None:
        """Sends one real-time observation, or holds it back (`reorder_every` fault injection) and sends the held
        one once `reorder_delay` newer ones have gone out."""
        every = self.config.reorder_every
        if every > 0 and step % every == 0:
            self._held.append((self.config.reorder_delay, frames))
            self.stats.reordered += 1
            return
        self._send(peer, frames)
        self.stats.observations_sent += 1
        still: list[tuple[int, list[bytes]]] = []
        for left, held in self._held:
            if left <= 1:
                self._send(peer, held)
                self.stats.observations_sent += 1
            else:
                still.append((left - 1, held))
        self._held = still


def run(config: ServerConfig, *, ready: Callable[[str, str], None] | None = None) -> int:
    """Build the cell, bind, announce readiness through `ready(endpoint, renderer)`, serve until a signal."""
    factory = load_cell_factory(config.cell)
    cell = factory(
        cameras=config.cameras,
        image_size=config.image_size,
        control_period=config.control_period,
        physics_timestep=config.physics_timestep,
    )
    server: TwinServer | None = None
    try:
        cell.reset(config.task, config.seed)
        server = TwinServer(config, cell)
        endpoint = server.bind()
        server.install_signal_handlers()
        if ready is not None:
            ready(endpoint, renderer_name(cell, config))
        server.serve()
    finally:
        if server is not None:
            server.close()
        else:
            cell.close()
    return 0


def renderer_name(cell: Any, config: ServerConfig) -> str:
    """The OpenGL backend in use, for the ready line ("none" without cameras)."""
    if not config.cameras:
        return "none"
    for attribute in ("renderer_backend", "backend", "render_backend"):
        value = getattr(cell, attribute, None)
        if isinstance(value, str) and value:
            return value
    try:
        from .render import select_backend

        return select_backend()
    except Exception:  # the name is informational only
        return os.environ.get("MUJOCO_GL", "unknown") or "unknown"
