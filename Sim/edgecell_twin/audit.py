"""An append-only, hash-chained audit log in exactly the format of the runtime's (`Sources/Audit`,
docs/SECURITY.md §1), so `edgecell audit verify --log FILE` checks a twin's or robot bridge's log too.

One JSON line per event in a canonical form, members in this order:
`{"v":1,"seq":N,"time":"…","event":"…",<fields, sorted by name>,"prev":"…","hash":"…"}` — no spaces; strings
escape only `"`, `\\`, and control characters (`\\n`, `\\r`, `\\t`, else `\\u00XX`); everything else is written as
UTF-8. `hash` is the SHA-256 (hex) of the line without its `,"hash":"…"` member; `prev` is the SHA-256 of the
previous line's bytes, or 64 zeros for the first. Appends take an exclusive `flock` on the file, read the last line,
and write the new line in one `write(2)` with `O_APPEND`, then `fsync` — the same protocol as the Swift writer, so
both may append to one file.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import re

FORMAT_VERSION = 1
GENESIS = "0" * 64
RESERVED = frozenset({"v", "seq", "time", "event", "prev", "hash"})
_EVENT = re.compile(r"[a-z][a-z0-9_.\-]*\Z")
_FIELD = re.compile(r"[a-z][a-z0-9_]*\Z")


class AuditError(Exception):
    """The log cannot be appended to (unreadable, damaged last line, bad event or field name)."""


def _quote(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def body(seq: int, time: str, event: str, fields: dict[str, str], prev: str) -> str:
    """The canonical form without `hash` (what `hash` is computed over)."""
    text = f'{{"v":{FORMAT_VERSION},"seq":{seq},"time":{_quote(time)},"event":{_quote(event)}'
    for name in sorted(fields, key=lambda n: n.encode()):
        text += f",{_quote(name)}:{_quote(fields[name])}"
    return text + f',"prev":{_quote(prev)}}}'


def line(seq: int, time: str, event: str, fields: dict[str, str], prev: str) -> str:
    text = body(seq, time, event, fields, prev)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return text[:-1] + f',"hash":"{digest}"}}'


def timestamp(when: datetime.datetime | None = None) -> str:
    """ISO 8601 in UTC with milliseconds, as the Swift writer formats it."""
    when = (when or datetime.datetime.now(datetime.timezone.utc)).astimezone(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class AuditLog:
    def __init__(self, path: str) -> None:
        self.path = path

    def append(self, event: str, fields: dict[str, str]) -> str:
        """Records `event` with `fields` (plus `pid`); returns the line written."""
        fields = {**fields, "pid": str(os.getpid())}
        if not _EVENT.match(event):
            raise AuditError(f"event name {event!r} must be lower-case a-z, 0-9, '_', '.', '-'")
        for name, value in fields.items():
            if not _FIELD.match(name) or name in RESERVED or not isinstance(value, str):
                raise AuditError(f"field {name!r} must be a lower-case name (not {sorted(RESERVED)}) with a string value")
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, mode=0o750, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            seq, prev = 1, GENESIS
            if size > 0:
                last = self._last_line(fd, size)
                try:
                    seq = int(json.loads(last)["seq"]) + 1
                except (ValueError, KeyError, TypeError) as e:
                    raise AuditError(
                        f"{self.path}: the last line is not an audit entry ({e}): not appending; run `edgecell audit "
                        "verify --log` and move the damaged log aside"
                    ) from None
                prev = hashlib.sha256(last).hexdigest()
            text = line(seq, timestamp(), event, fields, prev)
            data = (text + "\n").encode()
            written = os.write(fd, data)
            if written != len(data):
                os.ftruncate(fd, size)
                raise AuditError(f"{self.path}: short write ({written} of {len(data)} bytes)")
            os.fsync(fd)
            return text
        finally:
            os.close(fd)

    def _last_line(self, fd: int, size: int) -> bytes:
        tail = b""
        offset = size
        while offset > 0:
            count = min(4096, offset)
            offset -= count
            tail = os.pread(fd, count, offset) + tail
            if b"\n" in tail[:-1]:
                break
        if not tail.endswith(b"\n"):
            raise AuditError(f"{self.path} ends in a truncated line (a write was interrupted): not appending")
        body_ = tail[:-1]
        at = body_.rfind(b"\n")
        return body_[at + 1 :] if at >= 0 else body_
