"""CURVE for the twin's link (PROTOCOL.md §1): key files shared with `edgecell keys`, the allow-list of client
keys, and a ZAP handler (RFC 27) that admits only allow-listed runtimes.

Key files (the formats of `edgecell keys`, docs/SECURITY.md):

- secret key, mode 0600: one line `edgecell-curve-secret-v1 <public Z85> <secret Z85>`; refused if group or others
  can access it.
- allow-list: one `edgecell-curve-key-v1 <Z85> [comment]` line per client key; blank lines and `#` comments allowed.
  Re-read whenever it changes, so `edgecell keys allow|revoke --dir DIR` takes effect at the next connection.

libzmq admits any client key when no ZAP handler is bound in the server socket's context, so `ZapHandler` binds in
its constructor, before the server socket is made a CURVE server.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import zmq
from zmq.utils import z85

from .audit import AuditError, AuditLog

PUBLIC_TAG = "edgecell-curve-key-v1"
SECRET_TAG = "edgecell-curve-secret-v1"
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"edgecell"
_Z85 = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

log = logging.getLogger("edgecell_twin.auth")


class CurveConfigError(ValueError):
    """A key file or CURVE option that cannot be used; the message says which and what to do."""


@dataclass(frozen=True)
class KeyPair:
    """A CURVE key pair as Z85 bytes (what pyzmq's socket options take). `repr` never shows the secret."""

    public: bytes
    secret: bytes

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public.decode()})"


def _check_z85(text: str, what: str, origin: str) -> bytes:
    if len(text) != 40 or not set(text) <= _Z85:
        raise CurveConfigError(f"{origin}: a CURVE {what} is 40 characters of Z85, not {text[:48]!r}")
    return text.encode("ascii")


def parse_secret_key(text: str, origin: str) -> KeyPair:
    """A key pair from a secret key file's text."""
    words = text.split()
    if len(words) != 3 or words[0] != SECRET_TAG:
        raise CurveConfigError(
            f"{origin} is not an edgecell CURVE secret key (expected '{SECRET_TAG} <public> <secret>')"
        )
    public = _check_z85(words[1], "public key", origin)
    secret = _check_z85(words[2], "secret key", origin)
    if zmq.curve_public(secret) != public:
        raise CurveConfigError(f"{origin} is damaged: its public key does not belong to its secret key")
    return KeyPair(public, secret)


def load_secret_key(path: str, stdin: Callable[[], str] | None = None) -> KeyPair:
    """Read a secret key file (`-`: one line from standard input), refusing one that others can access."""
    if path == "-":
        return parse_secret_key((stdin or sys.stdin.readline)(), "the secret key on standard input")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CurveConfigError(
            f"there is no CURVE secret key at {path}: create the twin's key pair with "
            "`edgecell keys generate --dir DIR`"
        ) from None
    except OSError as e:
        raise CurveConfigError(f"cannot read the secret key file {path}: {e.strerror}") from None
    if mode & 0o077:
        raise CurveConfigError(
            f"the secret key file {path} is accessible by others (mode {stat.S_IMODE(mode):o}): `chmod 600 {path}`, "
            "and consider the key exposed"
        )
    return parse_secret_key(Path(path).read_text(encoding="utf-8"), path)


def parse_allow_list(text: str, path: str) -> dict[bytes, str]:
    """Allowed client keys (Z85 bytes) and their comments."""
    keys: dict[bytes, str] = {}
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(None, 2)
        if len(words) < 2 or words[0] != PUBLIC_TAG:
            raise CurveConfigError(f"{path} line {number} is not a public key line ('{PUBLIC_TAG} <Z85> [comment]')")
        keys.setdefault(_check_z85(words[1], "public key", f"{path} line {number}"), words[2] if len(words) > 2 else "")
    return keys


def write_key_pair(directory: str, comment: str = "") -> KeyPair:
    """Write `cell.key` (0600, temp file + fsync + rename) and `cell.pub` as `edgecell keys generate` does (tests)."""
    public, secret = zmq.curve_keypair()
    folder = Path(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, text, mode in (
        ("cell.key", f"{SECRET_TAG} {public.decode()} {secret.decode()}\n", 0o600),
        ("cell.pub", f"{PUBLIC_TAG} {public.decode()}{' ' + comment if comment else ''}\n", 0o644),
    ):
        temporary = folder / f".{name}.tmp-{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, folder / name)
    return KeyPair(public, secret)


def is_local(endpoint: str) -> bool:
    """Whether only this machine can reach `endpoint`: ipc://, inproc://, or tcp:// on loopback (the runtime's rule)."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    address = endpoint[len("tcp://") :].rsplit(";", 1)[-1]
    if address.startswith("[") and "]" in address:
        host = address[1 : address.index("]")]
    else:
        host = address.rsplit(":", 1)[0]
    host = host.lower()
    if host in ("localhost", "::1", "0:0:0:0:0:0:0:1"):
        return True
    octets = host.split(".")
    return len(octets) == 4 and octets[0] == "127" and all(o.isdigit() and int(o) <= 255 for o in octets)


def refusal_without_keys(endpoint: str) -> str:
    return (
        f"refusing to serve {endpoint} without CURVE: other machines can reach it. Create the twin's key pair with "
        "`edgecell keys generate --dir DIR`, allow each runtime's public key (`edgecell keys show` on the cell) with "
        "`edgecell keys allow KEY --dir DIR`, and start the twin with --curve-secret-key DIR/cell.key "
        "--curve-allow DIR/allowed-clients. Only loopback (tcp://127.0.0.1:…) and ipc:// may run without keys, for "
        "development."
    )


def refusal_without_dev_flag(endpoint: str) -> str:
    return (
        f"refusing to serve {endpoint} without CURVE: give the twin its keys (--curve-secret-key FILE and "
        "--curve-allow FILE or --curve-allow-key KEY; `edgecell keys generate --dir DIR` makes them), or, for "
        "development on this machine only, --dev-plaintext (plaintext, no authentication: any local user can connect)"
    )


def public_key(text: str) -> bytes:
    """A public key given on the command line (40 characters of Z85)."""
    return _check_z85(text.strip(), "public key", "--curve-allow-key")


def plaintext_warning(endpoint: str) -> str:
    return (
        f"{endpoint} runs without CURVE (--dev-plaintext: plaintext, no authentication, for development on "
        "loopback and ipc:// only): any local user can connect to it. For a production cell give --curve-secret-key and "
        "--curve-allow (docs/SECURITY.md)."
    )


class AllowList:
    """An allow-list file, re-read when it changes, plus keys given directly (`--curve-allow-key`); a file that
    cannot be read or parsed admits no one (fail closed)."""

    def __init__(self, path: str | None, keys: tuple[bytes, ...] = ()) -> None:
        self.path = path
        self.fixed = {key: "given with --curve-allow-key" for key in keys}
        self._stamp: tuple[int, ...] | None = None
        self._keys: dict[bytes, str] = dict(self.fixed)
        self._error: str | None = None
        self.refresh()

    def refresh(self) -> None:
        if self.path is None:
            return
        try:
            st = os.stat(self.path)
            stamp: tuple[int, ...] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        except OSError:
            stamp = (-1,)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._keys = {**self.fixed, **parse_allow_list(Path(self.path).read_text(encoding="utf-8"), self.path)}
            self._error = None
        except (OSError, UnicodeDecodeError, CurveConfigError) as e:
            self._keys = {}
            self._error = f"the allow-list cannot be read, so every client is refused: {e}"

    def lookup(self, key: bytes) -> tuple[bool, str]:
        """(allowed, comment) for an allowed key; (False, reason) otherwise."""
        self.refresh()
        if self._error is not None:
            return False, self._error
        if key in self._keys:
            return True, self._keys[key]
        return False, f"key not in the allow-list {self.path or '(--curve-allow-key)'}"

    def __len__(self) -> int:
        self.refresh()
        return len(self._keys)


class ZapHandler:
    """The ZAP handler of one context: a REP socket on `inproc://zeromq.zap.01` served by a thread.

    Every accepted connection is logged (`link.accepted`, INFO; and to `audit_log`, the runtime's hash-chained
    format, when given); refusals (`link.refused`, WARNING) at most once per
    `refusal_interval` seconds for the same key, address and reason, counting the ones in between — a refused client
    retries at its reconnect interval. `events` keeps the last 256 decisions (tests, diagnostics).
    """

    def __init__(
        self, context: zmq.Context, allow: AllowList, endpoint: str = "", refusal_interval: float = 60.0,
        audit_log: str | None = None,
    ) -> None:
        self.allow = allow
        self.audit = AuditLog(audit_log) if audit_log else None
        self.endpoint = endpoint
        self.refusal_interval = refusal_interval
        self.events: list[dict[str, str]] = []
        self._refusals: dict[str, tuple[float, int]] = {}
        self._stop = threading.Event()
        self._socket = context.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind(ZAP_ENDPOINT)  # raises if another handler serves this context
        self._thread = threading.Thread(target=self._serve, name="zap", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        # The loop must not die while the server runs: with no handler bound, libzmq would admit any client key.
        # So a failure answering one request refuses that client (500) and the loop goes on.
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if not poller.poll(100):
                    continue
                try:
                    frames = self._socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    continue
                try:
                    reply = self.answer(frames)
                except Exception:
                    log.exception("ZAP request failed; refusing the client")
                    reply = [b"1.0", frames[1] if len(frames) > 1 else b"", b"500", b"internal error", b"", b""]
                self._socket.send_multipart(reply)
        except zmq.ContextTerminated:
            pass
        finally:
            self._socket.close(linger=0)

    def answer(self, frames: list[bytes]) -> list[bytes]:
        """The reply to one ZAP request (version, request id, status, text, user id, metadata)."""
        if len(frames) < 6 or frames[0] != b"1.0":
            return [b"1.0", frames[1] if len(frames) > 1 else b"", b"400", b"bad ZAP request", b"", b""]
        request_id, address, mechanism = frames[1], frames[3].decode("utf-8", "replace"), frames[5]
        key = b""
        if mechanism == b"CURVE" and len(frames) == 7 and len(frames[6]) == 32:
            key = z85.encode(frames[6])
            allowed, detail = self.allow.lookup(key)
        else:
            allowed, detail = False, f"the client did not use CURVE ({mechanism.decode('utf-8', 'replace')})"
        event = {
            "event": "link.accepted" if allowed else "link.refused",
            "client_key": key.decode() or "none",
            "address": address,
            "endpoint": self.endpoint,
        }
        if allowed:
            if detail:
                event["client"] = detail
        else:
            event["reason"] = detail
        self._record(event, allowed)
        if allowed:
            return [b"1.0", request_id, b"200", b"OK", key, b""]
        return [b"1.0", request_id, b"400", b"client key not allowed", b"", b""]

    def record_revocation(self, key: str, address: str, detail: str) -> None:
        """A connected client whose key left the allow-list (the server refuses its messages from now on)."""
        event = {"event": "link.revoked", "client_key": key, "address": address, "endpoint": self.endpoint,
                 "reason": detail}  # fmt: skip
        self.events = (self.events + [event])[-256:]
        log.warning("link.revoked client_key=%s address=%s endpoint=%s reason=%s", key, address, self.endpoint, detail)
        if self.audit is not None:
            try:
                self.audit.append("link.revoked", {k: v for k, v in event.items() if k != "event"})
            except (OSError, AuditError) as e:
                log.error("audit log %s: %s (event link.revoked not recorded)", self.audit.path, e)

    def _record(self, event: dict[str, str], allowed: bool) -> None:
        if not allowed:
            now = time.monotonic()
            slot = f"{event['client_key']} {event['address']} {event['reason']}"
            last, suppressed = self._refusals.get(slot, (-1e18, 0))
            if now - last < self.refusal_interval:
                self._refusals[slot] = (last, suppressed + 1)
                return
            self._refusals[slot] = (now, 0)
            if suppressed:
                event["repeats"] = str(suppressed)
            if len(self._refusals) > 4096:
                self._refusals = {k: v for k, v in self._refusals.items() if now - v[0] < self.refusal_interval}
        self.events = (self.events + [event])[-256:]
        text = " ".join(f"{k}={v}" for k, v in event.items() if k != "event")
        (log.info if allowed else log.warning)("%s %s", event["event"], text)
        if self.audit is not None:
            try:
                self.audit.append(event["event"], {k: v for k, v in event.items() if k != "event"})
            except (OSError, AuditError) as e:
                # Best effort, as in the runtime: a log that cannot be written never blocks the decision.
                log.error("audit log %s: %s (event %s not recorded)", self.audit.path, e, event["event"])


def make_curve_server(socket: zmq.Socket, keys: KeyPair) -> None:
    """Make `socket` a CURVE server with `keys` (before bind); its context must already have a `ZapHandler`."""
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.zap_domain = ZAP_DOMAIN
    socket.curve_server = True
