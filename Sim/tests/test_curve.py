"""CURVE on the twin's link: key files, the allow-list, the ZAP handler, and what reaches the wire.

Integration tests run the real twin process (`--cameras none`) on a free loopback port, with its log in a file, and
talk to it with pyzmq DEALERs holding CURVE client keys; a small TCP relay between client and twin records the
bytes on the wire.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import zmq

from edgecell_twin import curve
from edgecell_twin import protocol as p

SIM = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0


# ----------------------------------------------------------------------------------------------- unit tests ---


def test_key_files_round_trip_and_a_secret_others_can_read_is_refused(tmp_path: Path) -> None:
    keys = curve.write_key_pair(str(tmp_path / "twin"), comment="twin on bench-3")
    assert os.stat(tmp_path / "twin" / "cell.key").st_mode & 0o777 == 0o600
    assert os.stat(tmp_path / "twin").st_mode & 0o777 == 0o700
    loaded = curve.load_secret_key(str(tmp_path / "twin" / "cell.key"))
    assert loaded == keys and keys.secret.decode() not in repr(keys)
    public = (tmp_path / "twin" / "cell.pub").read_text()
    assert public == f"edgecell-curve-key-v1 {keys.public.decode()} twin on bench-3\n"
    assert curve.parse_allow_list(public, "cell.pub") == {keys.public: "twin on bench-3"}

    os.chmod(tmp_path / "twin" / "cell.key", 0o644)
    with pytest.raises(curve.CurveConfigError, match="chmod 600"):
        curve.load_secret_key(str(tmp_path / "twin" / "cell.key"))
    with pytest.raises(curve.CurveConfigError, match="edgecell keys generate"):
        curve.load_secret_key(str(tmp_path / "missing.key"))
    other = zmq.curve_keypair()
    with pytest.raises(curve.CurveConfigError, match="damaged"):
        curve.parse_secret_key(f"{curve.SECRET_TAG} {other[0].decode()} {keys.secret.decode()}", "x")
    line = f"{curve.SECRET_TAG} {keys.public.decode()} {keys.secret.decode()}\n"
    assert curve.load_secret_key("-", stdin=lambda: line) == keys


def test_allow_list_parsing_and_reload(tmp_path: Path) -> None:
    a, b = zmq.curve_keypair()[0], zmq.curve_keypair()[0]
    path = tmp_path / "allowed-clients"
    path.write_text(f"# runtimes\n\nedgecell-curve-key-v1 {a.decode()} cell-1\n")
    allow = curve.AllowList(str(path))
    assert allow.lookup(a) == (True, "cell-1") and not allow.lookup(b)[0] and len(allow) == 1
    path.write_text(path.read_text() + f"edgecell-curve-key-v1 {b.decode()}\n")
    assert allow.lookup(b) == (True, "")
    path.write_text("not a key\n")
    allowed, reason = allow.lookup(a)
    assert not allowed and "cannot be read" in reason  # fail closed
    with pytest.raises(curve.CurveConfigError, match="line 1"):
        curve.parse_allow_list("edgecell-curve-key-v1 short\n", "f")


def test_loopback_and_ipc_are_local_everything_else_is_not() -> None:
    for endpoint in ("tcp://127.0.0.1:5555", "tcp://127.9.8.7:0", "tcp://localhost:1", "tcp://[::1]:2", "ipc:///tmp/x"):
        assert curve.is_local(endpoint), endpoint
    for endpoint in ("tcp://0.0.0.0:5555", "tcp://*:5555", "tcp://10.0.0.2:5555", "tcp://cell.plant:1", "tcp://eth0:1"):
        assert not curve.is_local(endpoint), endpoint


# ---------------------------------------------------------------------------------------- the twin process ---


class TwinProcess:
    """The twin with its stderr in a file (read while it runs) and the endpoint from its ready line."""

    def __init__(self, tmp: Path, *args: str, stdin: str | None = None) -> None:
        self.log_path = tmp / f"twin-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w")
        # Without keys a twin serves only when told to in plaintext, for development.
        dev = () if any(a.startswith("--curve-secret-key") for a in args) else ("--dev-plaintext",)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgecell_twin", "--bind", "tcp://127.0.0.1:0", "--cameras", "none", *dev, *args],
            cwd=SIM, stdout=subprocess.PIPE, stderr=self.log, text=True,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        )  # fmt: skip
        if stdin is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(stdin)
            self.proc.stdin.close()
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(START_TIMEOUT):
                self.stop()
                raise AssertionError("no ready line")
        self.ready = self.proc.stdout.readline().strip()
        assert self.ready.startswith("edgecell-twin ready: "), (self.ready, self.stderr)
        self.endpoint = self.ready.split()[2]
        self.port = int(self.endpoint.rsplit(":", 1)[1])

    @property
    def stderr(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode


@contextlib.contextmanager
def running_twin(tmp: Path, *args: str, stdin: str | None = None) -> Iterator[TwinProcess]:
    twin = TwinProcess(tmp, *args, stdin=stdin)
    try:
        yield twin
    finally:
        assert twin.stop() == 0, twin.stderr


class Relay:
    """A loopback TCP relay that forwards to `port` and records every byte, both ways."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.captured = bytearray()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self.listener.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            server = socket.create_connection(("127.0.0.1", self.target))
            thread = threading.Thread(target=self._pump, args=(client, server), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        with a, b, selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_READ, b)
            sel.register(b, selectors.EVENT_READ, a)
            while not self.stopping.is_set():
                for key, _ in sel.select(0.05):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    with self.lock:
                        self.captured += data
                    key.data.sendall(data)

    def bytes(self) -> bytes:
        with self.lock:
            return bytes(self.captured)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)
        self.listener.close()


def client(ctx: zmq.Context, endpoint: str, keys: tuple[bytes, bytes] | None, server_key: bytes | None) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        sock.curve_publickey, sock.curve_secretkey = keys
        sock.curve_serverkey = server_key
    sock.connect(endpoint)
    return sock


def hello(sock: zmq.Socket, seq: int = 1, timeout: float = 20.0) -> p.Message | None:
    """HELLO and its reply, or None if nothing came back in time."""
    sock.send_multipart(p.encode(p.Hello(client_name="test", client_version="0"), seq))
    if not sock.poll(int(timeout * 1000)):
        return None
    return p.decode(sock.recv_multipart())[1]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, object]:
    """The twin's key folder with an allow-list holding one runtime key; a second runtime key not allowed."""
    twin = curve.write_key_pair(str(tmp_path / "twin"))
    runtime = zmq.curve_keypair()
    stranger = zmq.curve_keypair()
    allow = tmp_path / "twin" / "allowed-clients"
    allow.write_text(f"edgecell-curve-key-v1 {runtime[0].decode()} cell-1\n")
    return {"twin": twin, "runtime": runtime, "stranger": stranger, "allow": allow,
            "args": ("--curve-secret-key", str(tmp_path / "twin" / "cell.key"), "--curve-allow", str(allow))}  # fmt: skip


def test_an_unknown_key_is_refused_and_logged_the_allowed_key_works(tmp_path: Path, keys: dict) -> None:
    twin_keys = keys["twin"]
    with running_twin(tmp_path, *keys["args"]) as twin:
        assert twin.ready.endswith(f"curve={twin_keys.public.decode()}")
        ctx = zmq.Context()
        try:
            stranger = client(ctx, twin.endpoint, keys["stranger"], twin_keys.public)
            assert hello(stranger, timeout=1.5) is None
            good = client(ctx, twin.endpoint, keys["runtime"], twin_keys.public)
            assert isinstance(hello(good), p.Welcome)
            plain = client(ctx, twin.endpoint, None, None)  # no CURVE: never answered
            assert hello(plain, timeout=1.0) is None
            wrong_server = client(ctx, twin.endpoint, keys["runtime"], zmq.curve_keypair()[0])
            assert hello(wrong_server, timeout=1.0) is None
        finally:
            ctx.destroy(linger=0)
        log = twin.stderr
    stranger_key = keys["stranger"][0].decode()
    runtime_key = keys["runtime"][0].decode()
    assert f"link.refused client_key={stranger_key} address=127.0.0.1 endpoint={twin.endpoint}" in log, log
    assert log.count(f"link.refused client_key={stranger_key}") == 1  # its retries are counted, not repeated
    assert f"link.accepted client_key={runtime_key} address=127.0.0.1 endpoint={twin.endpoint} client=cell-1" in log


def test_admissions_and_refusals_go_to_the_hash_chained_audit_log(tmp_path: Path, keys: dict) -> None:
    """--audit-log: each decision is an entry in the runtime's log format, chained by SHA-256."""
    from edgecell_twin import audit

    path = tmp_path / "audit" / "twin-audit.log"
    with running_twin(tmp_path, *keys["args"], "--audit-log", str(path)) as twin:
        ctx = zmq.Context()
        try:
            assert hello(client(ctx, twin.endpoint, keys["stranger"], keys["twin"].public), timeout=1.5) is None
            assert isinstance(hello(client(ctx, twin.endpoint, keys["runtime"], keys["twin"].public)), p.Welcome)
        finally:
            ctx.destroy(linger=0)
    lines = path.read_bytes().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["event"] for e in entries] == ["link.refused", "link.accepted"]
    assert entries[0]["client_key"] == keys["stranger"][0].decode() and "allow-list" in entries[0]["reason"]
    assert entries[1]["client_key"] == keys["runtime"][0].decode() and entries[1]["client"] == "cell-1"
    assert all(e["endpoint"] == twin.endpoint and e["address"] == "127.0.0.1" for e in entries)
    prev = audit.GENESIS
    for k, (raw, entry) in enumerate(zip(lines, entries, strict=True), start=1):
        assert entry["seq"] == k and entry["prev"] == prev
        fields = {n: v for n, v in entry.items() if n not in audit.RESERVED}
        assert audit.line(k, entry["time"], entry["event"], fields, prev).encode() == raw  # canonical, hash right
        prev = hashlib.sha256(raw).hexdigest()
    assert oct(path.stat().st_mode & 0o777) == "0o640"


def test_a_key_revoked_while_connected_is_cut_at_its_next_message(tmp_path: Path, keys: dict) -> None:
    """Revocation takes effect on open links too: the next message of a client whose key left the allow-list is
    answered ERROR (BAD_STATE, naming the reason), and `link.revoked` is logged once, in the audit log too."""
    path = tmp_path / "twin-audit.log"
    with running_twin(tmp_path, *keys["args"], "--audit-log", str(path)) as twin:
        ctx = zmq.Context()
        try:
            sock = client(ctx, twin.endpoint, keys["runtime"], keys["twin"].public)
            assert isinstance(hello(sock), p.Welcome)
            keys["allow"].write_text("# nobody\n")  # `edgecell keys revoke` rewrites the file the same way
            for seq in (2, 3):
                reply = hello(sock, seq=seq, timeout=5.0)
                assert isinstance(reply, p.Error) and reply.code == p.ErrorCode.BAD_STATE, reply
                assert "no longer allowed" in reply.message and reply.offending_seq == seq
        finally:
            ctx.destroy(linger=0)
        log = twin.stderr
    assert log.count("link.revoked client_key=" + keys["runtime"][0].decode()) == 1, log
    events = [json.loads(line)["event"] for line in path.read_text().splitlines()]
    assert events == ["link.accepted", "link.revoked"]


def test_audit_log_needs_curve(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgecell_twin", "--cameras", "none", "--bind", "tcp://127.0.0.1:0", "--dev-plaintext",
         "--audit-log", str(tmp_path / "a.log")], cwd=SIM, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "--audit-log records CURVE admissions" in done.stderr


def test_allowing_a_key_takes_effect_at_its_next_connection(tmp_path: Path, keys: dict) -> None:
    with running_twin(tmp_path, *keys["args"]) as twin:
        ctx = zmq.Context()
        try:
            late = client(ctx, twin.endpoint, keys["stranger"], keys["twin"].public)
            assert hello(late, timeout=1.0) is None
            with open(keys["allow"], "a") as f:
                f.write(f"edgecell-curve-key-v1 {keys['stranger'][0].decode()} cell-2\n")
            late.close(linger=0)
            late = client(ctx, twin.endpoint, keys["stranger"], keys["twin"].public)
            assert isinstance(hello(late, seq=2), p.Welcome)
        finally:
            ctx.destroy(linger=0)


def test_secret_on_stdin_and_keys_on_the_command_line(tmp_path: Path) -> None:
    """How a runtime secures the twin it starts: keys made for the run, the secret through a pipe (never on disk,
    in argv or in the environment), the runtime's public key as --curve-allow-key."""
    twin_public, twin_secret = zmq.curve_keypair()
    # A Z85 key may begin with "-" (about one in 85): the runtime passes it as --curve-allow-key=KEY, which
    # argparse reads as a value whatever its first character (the separate-argument form once failed CI).
    runtime = next(pair for pair in iter(zmq.curve_keypair, None) if pair[0].startswith(b"-"))
    line = f"{curve.SECRET_TAG} {twin_public.decode()} {twin_secret.decode()}\n"
    args = ("--curve-secret-key", "-", f"--curve-allow-key={runtime[0].decode()}")
    with running_twin(tmp_path, *args, stdin=line) as twin:
        assert twin.ready.endswith(f"curve={twin_public.decode()}")
        ctx = zmq.Context()
        try:
            assert hello(client(ctx, twin.endpoint, zmq.curve_keypair(), twin_public), timeout=1.0) is None
            assert isinstance(hello(client(ctx, twin.endpoint, runtime, twin_public)), p.Welcome)
        finally:
            ctx.destroy(linger=0)
    assert twin_secret.decode() not in twin.stderr


@pytest.mark.parametrize("secured", [False, True], ids=["plaintext", "curve"])
def test_traffic_on_the_wire(tmp_path: Path, keys: dict, secured: bool) -> None:
    """Through a recording relay: in plaintext the protocol's magic and the twin's name cross the wire; with CURVE
    neither does (the same test, so it can fail)."""
    with running_twin(tmp_path, *(keys["args"] if secured else ())) as twin:
        relay = Relay(twin.port)
        ctx = zmq.Context()
        try:
            sock = client(ctx, relay.endpoint, keys["runtime"] if secured else None, keys["twin"].public)
            welcome = hello(sock)
            assert isinstance(welcome, p.Welcome)
            sock.send_multipart(p.encode(p.Reset(task="bin-red", seed=0), 2))
            assert sock.poll(20000)
            assert isinstance(p.decode(sock.recv_multipart())[1], p.Episode)
        finally:
            ctx.destroy(linger=0)
            relay.stop()
    wire = relay.bytes()
    assert len(wire) > 500
    plaintext = [p.MAGIC, b"edgecell-twin", b"bin-red"]
    if secured:
        assert not any(marker in wire for marker in plaintext)
        assert b"CURVE" in wire and b"NULL" not in wire
    else:
        assert all(marker in wire for marker in plaintext)
        assert b"NULL" in wire


def test_start_up_refusals(tmp_path: Path, keys: dict) -> None:
    def start(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edgecell_twin", "--cameras", "none", *args],
            cwd=SIM, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    done = start("--bind", "tcp://0.0.0.0:0")
    assert done.returncode == 2 and "refusing to serve tcp://0.0.0.0:0 without CURVE" in done.stderr
    assert "edgecell keys generate" in done.stderr and "--curve-allow" in done.stderr and done.stdout == ""
    # --dev-plaintext never opens a port other machines can reach.
    done = start("--bind", "tcp://0.0.0.0:0", "--dev-plaintext")
    assert done.returncode == 2 and "refusing to serve tcp://0.0.0.0:0 without CURVE" in done.stderr
    # Loopback without keys: only when plaintext is asked for explicitly.
    done = start("--bind", "tcp://127.0.0.1:0")
    assert done.returncode == 2 and "refusing to serve tcp://127.0.0.1:0 without CURVE" in done.stderr
    assert "--dev-plaintext" in done.stderr and done.stdout == ""
    done = start("--bind", "tcp://127.0.0.1:0", "--dev-plaintext", *keys["args"])
    assert done.returncode == 2 and "contradicts" in done.stderr
    done = start("--bind", "tcp://127.0.0.1:0", "--curve-secret-key", keys["args"][1])
    assert done.returncode == 2 and "go together" in done.stderr
    os.chmod(keys["args"][1], 0o640)
    done = start("--bind", "tcp://127.0.0.1:0", *keys["args"])
    assert done.returncode == 2 and "chmod 600" in done.stderr
