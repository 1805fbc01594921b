"""`python -m edgecell_twin`: serve the MuJoCo robot cell over ZeroMQ (Sim/PROTOCOL.md).

Prints exactly one line to stdout once the socket is bound, e.g.

    edgecell-twin ready: tcp://127.0.0.1:5555 mode=lockstep task=bin-red cameras=scene,wrist 96x96 renderer=egl \
        curve=off

so a parent process can wait for it (with `--bind tcp://127.0.0.1:0` the line names the port chosen; with
--curve-secret-key, `curve=` names the twin's public key, which runtimes pass as --twin-key).
Logs go to stderr. SIGTERM or SIGINT end the process with status 0; a bad argument with status 2.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import threading
import time
import sys
from typing import Callable

import zmq

from . import __version__
from . import curve
from . import protocol as p
from .server import DEFAULT_CELL, ServerConfig, run

DEFAULT_TASK = "bin-red"  # tasks.DEFAULT_TASK; not imported so that --help works without MuJoCo loaded


def _reorder(text: str) -> tuple[int, int]:
    """EVERY[:DELAY], both whole numbers ≥ 1."""
    try:
        parts = [int(v) for v in text.split(":")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not EVERY[:DELAY] with whole numbers ≥ 1, e.g. 10:3")
    return parts[0], parts[1] if len(parts) == 2 else 1


def _image_size(text: str) -> tuple[int, int]:
    try:
        if "x" in text.lower():
            width_text, height_text = text.lower().split("x", 1)
            width, height = int(width_text), int(height_text)
        else:
            width = height = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: use N or WxH, e.g. 96 or 128x96") from None
    if not (1 <= width <= p.MAX_IMAGE_SIDE and 1 <= height <= p.MAX_IMAGE_SIDE):
        raise argparse.ArgumentTypeError(f"image size {width}x{height} out of range 1…{p.MAX_IMAGE_SIDE}")
    return width, height


def _cameras(text: str) -> tuple[str, ...]:
    if text.strip().lower() == "none":
        return ()
    names = tuple(name.strip() for name in text.split(","))
    if not names or any(not name for name in names):
        raise argparse.ArgumentTypeError(f"{text!r}: give camera names separated by commas, or 'none'")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: a camera is named twice")
    if len(names) > p.MAX_EXTRA_FRAMES:
        raise argparse.ArgumentTypeError(f"at most {p.MAX_EXTRA_FRAMES} cameras (one extra frame each)")
    return names


def _positive(unit: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{text!r}: must be a positive number of {unit}")
        return value

    return parse


def _seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= p.U64_MAX:
        raise argparse.ArgumentTypeError(f"seed {value} is not a u64")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgecell-twin",
        description="Serve the EdgeCell MuJoCo robot cell over ZeroMQ (protocol: Sim/PROTOCOL.md).",
    )
    parser.add_argument("--bind", default="tcp://127.0.0.1:5555", help="ROUTER endpoint (port 0: any free port)")
    parser.add_argument("--mode", choices=("lockstep", "realtime"), default="lockstep", help="§5.1 or §5.2")
    parser.add_argument("--task", default=DEFAULT_TASK, help="task loaded at start (default %(default)s)")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the start-up episode (default 0)")
    parser.add_argument(
        "--cameras", type=_cameras, default=("scene", "wrist"), help="comma-separated cameras, or 'none'"
    )
    parser.add_argument("--image-size", type=_image_size, default=(96, 96), help="N or WxH pixels (default 96)")
    parser.add_argument("--control-rate", type=_positive("Hz"), default=100.0, help="Hz (default 100)")
    parser.add_argument(
        "--camera-rate", type=_positive("Hz"), default=None,
        help="Hz at which observations carry images: step 0 and every round(control rate / camera rate) steps "
        "(at most the control rate; default: every step in lock-step, 10 Hz in real time)",
    )  # fmt: skip
    parser.add_argument(
        "--command-timeout", type=_positive("seconds"), default=0.2,
        help="real-time mode: hold the arm after this long without a STEP (default 0.2 s)",
    )  # fmt: skip
    parser.add_argument(
        "--physics-timestep", type=_positive("seconds"), default=0.002, help="MuJoCo timestep (default 0.002 s)"
    )
    parser.add_argument(
        "--cell", default=DEFAULT_CELL,
        help="module:class of the cell to serve (default %(default)s; a bridge to a real arm plugs in here)",
    )  # fmt: skip
    parser.add_argument(
        "--log-level", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"), default="INFO",
        help="stderr log level (default INFO)",
    )  # fmt: skip
    parser.add_argument(
        "--cpu", type=int, default=None,
        help="pin the twin to this CPU (the runtime's lock-step mode keeps its sequential pipeline on one core)",
    )  # fmt: skip
    parser.add_argument(
        "--inject-reorder", type=_reorder, default=(0, 1), metavar="EVERY[:DELAY]",
        help="fault injection, real time: hold back every EVERY-th observation and send it after the next DELAY "
        "ones (default 1): late and out of order (tests)",
    )  # fmt: skip
    parser.add_argument(
        "--parent-pid", type=int, default=None,
        help="stop (as on SIGTERM) within 0.5 s once this process is no longer the twin's parent: the runtime "
        "passes its pid, so a runtime killed outright leaves no twin behind",
    )  # fmt: skip
    parser.add_argument(
        "--curve-secret-key", metavar="FILE", default=None,
        help="the twin's CURVE secret key (edgecell keys generate --dir DIR: DIR/cell.key, mode 0600; '-': one line "
        "on standard input): encrypt the link and admit only the runtimes in --curve-allow. Required for an "
        "endpoint other machines can reach",
    )  # fmt: skip
    parser.add_argument(
        "--curve-allow", metavar="FILE", default=None,
        help="allow-list of runtime public keys, one 'edgecell-curve-key-v1 <Z85> [comment]' line each "
        "(edgecell keys allow KEY --dir DIR writes DIR/allowed-clients); re-read when it changes",
    )  # fmt: skip
    parser.add_argument(
        "--curve-allow-key", metavar="KEY", action="append", default=[],
        help="also admit this runtime public key (40 characters of Z85); repeatable. The runtime uses it with "
        "'--curve-secret-key -' to secure the twin it starts for itself with keys made for that run",
    )  # fmt: skip
    parser.add_argument(
        "--audit-log", metavar="FILE", default=None,
        help="with CURVE: record every admission and refusal (link.accepted/link.refused, the client's key and "
        "address) in this append-only, hash-chained log, in the runtime's format (`edgecell audit verify --log FILE` "
        "checks it)",
    )  # fmt: skip
    parser.add_argument(
        "--dev-plaintext", action="store_true",
        help="development only: serve a loopback (tcp://127.0.0.1:…) or ipc:// endpoint without CURVE (plaintext, "
        "no authentication: any local user can connect). Without keys and without this flag the twin refuses to "
        "start; an endpoint other machines can reach always needs keys",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"edgecell-twin {__version__}")
    return parser


def _exit_with_parent(parent: int) -> None:
    """A watcher thread: once `parent` is no longer our parent (it died and we were re-parented, possibly before
    we started), SIGTERM ourselves, which stops the server as usual."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        logging.getLogger("edgecell_twin").warning("the parent process %d is gone: stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.physics_timestep > 1.0 / args.control_rate * (1 + 1e-9):
        parser.error(f"--physics-timestep {args.physics_timestep} s is longer than the control period")
    if args.camera_rate is not None and args.camera_rate > args.control_rate * (1 + 1e-9):
        parser.error(
            f"--camera-rate {args.camera_rate:g} Hz exceeds --control-rate {args.control_rate:g} Hz: "
            "images come with at most every observation"
        )
    allow_given = args.curve_allow is not None or bool(args.curve_allow_key)
    if (args.curve_secret_key is None) == allow_given:
        parser.error(
            "--curve-secret-key and --curve-allow (or --curve-allow-key) go together: a CURVE server needs its key "
            "and an allow-list"
        )
    if args.curve_secret_key is None and not curve.is_local(args.bind):
        parser.error(curve.refusal_without_keys(args.bind))
    if args.curve_secret_key is None and not args.dev_plaintext:
        parser.error(curve.refusal_without_dev_flag(args.bind))
    if args.curve_secret_key is not None and args.dev_plaintext:
        parser.error("--dev-plaintext contradicts --curve-secret-key: give one or the other")
    if args.audit_log is not None and args.curve_secret_key is None:
        parser.error("--audit-log records CURVE admissions and refusals: it goes with --curve-secret-key")
    curve_keys = None
    allow_keys: tuple[bytes, ...] = ()
    if args.curve_secret_key is not None:
        try:
            curve_keys = curve.load_secret_key(args.curve_secret_key)
            allow_keys = tuple(curve.public_key(key) for key in args.curve_allow_key)
            if args.curve_allow is not None:
                curve.parse_allow_list(open(args.curve_allow, encoding="utf-8").read(), args.curve_allow)
        except (OSError, curve.CurveConfigError) as e:
            parser.error(str(e))
    if args.cpu is not None:
        # Before any thread exists (libzmq's I/O thread, numpy's workers), so every thread inherits it.
        try:
            os.sched_setaffinity(0, {args.cpu})
        except (OSError, ValueError) as e:
            parser.error(f"--cpu {args.cpu}: {e}")
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.parent_pid is not None:
        _exit_with_parent(args.parent_pid)
    mode = p.Mode.REALTIME if args.mode == "realtime" else p.Mode.LOCKSTEP
    config = ServerConfig(
        bind=args.bind,
        mode=mode,
        task=args.task,
        seed=args.seed,
        cameras=args.cameras,
        image_size=args.image_size,
        control_rate=args.control_rate,
        camera_rate=args.camera_rate,
        command_timeout=args.command_timeout,
        physics_timestep=args.physics_timestep,
        cell=args.cell,
        reorder_every=args.inject_reorder[0],
        reorder_delay=args.inject_reorder[1],
        curve_keys=curve_keys,
        curve_allow=args.curve_allow,
        curve_allow_keys=allow_keys,
        audit_log=args.audit_log,
    )
    if curve_keys is None:
        # A twin a runtime started for itself (--parent-pid) is the development default: said at INFO only.
        level = logging.INFO if args.parent_pid is not None else logging.WARNING
        logging.getLogger("edgecell_twin").log(level, "%s", curve.plaintext_warning(args.bind))
    else:
        allowed = len(curve.AllowList(args.curve_allow, allow_keys))
        logging.getLogger("edgecell_twin").info(
            "CURVE on: twin public key %s; %d allowed runtime keys (%s)", curve_keys.public.decode(), allowed,
            args.curve_allow or "--curve-allow-key",
        )  # fmt: skip
        if allowed == 0:
            logging.getLogger("edgecell_twin").warning(
                "the allow-list %s is empty: every runtime will be refused", args.curve_allow
            )

    def ready(endpoint: str, renderer: str) -> None:
        cameras = ",".join(config.cameras) or "none"
        width, height = config.image_size
        security = f"curve={curve_keys.public.decode()}" if curve_keys is not None else "curve=off"
        print(
            f"edgecell-twin ready: {endpoint} mode={args.mode} task={config.task} cameras={cameras} "
            f"{width}x{height} renderer={renderer} {security}",
            flush=True,
        )

    try:
        return run(config, ready=ready)
    except (ValueError, ImportError, AttributeError, zmq.ZMQError) as e:
        # Start-up problems that come from the arguments (unknown task or camera, bad --cell, address in use).
        logging.getLogger("edgecell_twin").debug("start-up failed", exc_info=True)
        print(f"edgecell-twin: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
