"""Offscreen rendering of the cell's cameras, with an automatically chosen OpenGL backend.

Backend choice: ``MUJOCO_GL`` if it is set (``egl`` or ``osmesa``; anything else is passed to
MuJoCo's own choice); otherwise EGL, then OSMesa, each probed in a subprocess first, because an
OpenGL platform cannot be changed inside a process once PyOpenGL has loaded one. The probe's answer
is cached for the life of the process (``select_backend``), the only process-wide state here.

The renderer imports MuJoCo's backend module itself (``mujoco.egl`` / ``mujoco.osmesa``) rather than
relying on ``mujoco.Renderer``, which binds whatever ``MUJOCO_GL`` said when ``mujoco`` was first
imported. Close renderers explicitly (``close()`` or ``with``): OSMesa contexts left to the garbage
collector fail noisily at interpreter exit.
"""

from __future__ import annotations

import functools
import importlib
import os
import subprocess
import sys
import weakref
from collections.abc import Sequence
from typing import Any

import mujoco
import numpy as np

#: Backends probed, in order, when MUJOCO_GL is not set.
PROBED_BACKENDS: tuple[str, ...] = ("egl", "osmesa")
#: Debian packages that provide each backend.
DEBIAN_PACKAGES: dict[str, str] = {
    "egl": "libegl1 libegl-mesa0 libgl1-mesa-dri",
    "osmesa": "libosmesa6",
}
PROBE_TIMEOUT_S = 60.0

_PROBE_SCRIPT = """
import mujoco, numpy as np
from edgecell_twin.render import OffscreenRenderer
m = mujoco.MjModel.from_xml_string(
    '<mujoco><worldbody><light pos="0 0 1"/><geom type="sphere" size="0.1"/>'
    '<camera name="c" pos="0 0 1"/></worldbody></mujoco>')
d = mujoco.MjData(m); mujoco.mj_forward(m, d)
with OffscreenRenderer(m, ["c"], 8, 8, backend=BACKEND) as r:
    img = r.render(d)[0]
assert img.shape == (8, 8, 3) and img.any(), "blank image"
print("ok")
"""


class RenderBackendError(RuntimeError):
    """No OpenGL backend could render offscreen."""


def _probe(backend: str) -> str | None:
    """Try ``backend`` in a fresh interpreter; None if it renders, else what went wrong."""
    env = dict(os.environ)
    env["MUJOCO_GL"] = backend
    env["PYOPENGL_PLATFORM"] = backend
    script = _PROBE_SCRIPT.replace("BACKEND", repr(backend))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return f"probe timed out after {PROBE_TIMEOUT_S:.0f} s"
    if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
        return None
    lines = [line for line in (proc.stderr or proc.stdout).strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"probe exited with status {proc.returncode}"


@functools.cache
def select_backend() -> str:
    """The OpenGL backend this process renders with (cached after the first call).

    Raises:
        RenderBackendError: MUJOCO_GL is unset and neither EGL nor OSMesa works; the message names
            both failures and the Debian packages to install.
    """
    requested = os.environ.get("MUJOCO_GL", "").strip().lower()
    if requested:
        return requested
    failures: dict[str, str] = {}
    for backend in PROBED_BACKENDS:
        error = _probe(backend)
        if error is None:
            return backend
        failures[backend] = error
    details = "; ".join(f"{b}: {e}" for b, e in failures.items())
    packages = " ".join(DEBIAN_PACKAGES[b] for b in PROBED_BACKENDS)
    raise RenderBackendError(
        f"no offscreen OpenGL backend works ({details}). Install EGL or OSMesa, e.g. "
        f"`apt-get install {packages}`, or set MUJOCO_GL to a backend that works."
    )


def _gl_context_class(backend: str) -> Any:
    """MuJoCo's GLContext class for ``backend``."""
    if backend in ("egl", "osmesa"):
        module_name = f"mujoco.{backend}"
    elif backend in ("glfw", "glx", "enable", "enabled", "on", "true", "1"):
        module_name = "mujoco.glfw"
    else:
        raise RenderBackendError(f"MUJOCO_GL={backend!r} is not a backend this twin can use (egl, osmesa, glfw)")
    try:
        return importlib.import_module(module_name).GLContext
    except Exception as error:  # noqa: BLE001 - any import failure means the backend is unusable
        packages = DEBIAN_PACKAGES.get(backend, "an OpenGL driver")
        raise RenderBackendError(
            f"OpenGL backend {backend!r} failed to load ({error}); install {packages} or choose another MUJOCO_GL"
        ) from error


def _free_resources(resources: list[Any]) -> None:
    """Free an MjrContext (with its GL context current) and then the GL context."""
    gl = resources[0] if resources else None
    for context in resources[1:]:
        if gl is not None:
            with gl.as_current():
                context.free()
        else:
            context.free()
    if gl is not None:
        gl.free()
    resources.clear()


class OffscreenRenderer:
    """Renders a fixed list of a model's cameras into RGB images of one size.

    One GL context and one MuJoCo render context serve all cameras. Not thread safe: use it from
    the thread that created it.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        cameras: Sequence[str],
        width: int,
        height: int,
        *,
        backend: str | None = None,
    ) -> None:
        """Create the GL context. ``backend`` defaults to ``select_backend()``.

        Raises:
            ValueError: unknown camera name or bad image size.
            RenderBackendError: the backend cannot create a context.
        """
        if not (1 <= width <= 4096 and 1 <= height <= 4096):
            raise ValueError(f"image size must be 1..4096 pixels each way, got {width}x{height}")
        self._camera_ids: list[int] = []
        for name in cameras:
            cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
            if cam_id < 0:
                raise ValueError(f"camera {name!r} is not in the model")
            self._camera_ids.append(cam_id)
        self._model = model
        self._width, self._height = width, height
        self._gl: Any = None
        self._context: mujoco.MjrContext | None = None
        # The offscreen framebuffer is sized from the model's visual settings.
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        gl_class = _gl_context_class(backend or select_backend())
        # Resources live in a list the finalizer owns, so an unclosed renderer is still freed at
        # interpreter exit while the GL modules are alive (OSMesa's own __del__ fails after that).
        self._resources: list[Any] = []
        self._finalizer = weakref.finalize(self, _free_resources, self._resources)
        try:
            self._gl = gl_class(width, height)
            self._resources.append(self._gl)
            self._gl.make_current()
            self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100)
            self._resources.append(self._context)
            mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        except Exception as error:
            self.close()
            if isinstance(error, RenderBackendError):
                raise
            raise RenderBackendError(f"could not create an offscreen OpenGL context: {error}") from error
        self._scene = mujoco.MjvScene(model, maxgeom=2000)
        self._option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._rect = mujoco.MjrRect(0, 0, width, height)

    @property
    def width(self) -> int:
        """Image width, pixels."""
        return self._width

    @property
    def height(self) -> int:
        """Image height, pixels."""
        return self._height

    def render(self, data: mujoco.MjData) -> list[np.ndarray]:
        """One HxWx3 uint8 image per camera, in the order given, of the state in ``data``.

        ``data`` must be up to date (mj_forward or mj_step run since the last change).
        """
        if self._context is None:
            raise RuntimeError("render called after close")
        self._gl.make_current()
        images = []
        for cam_id in self._camera_ids:
            self._camera.fixedcamid = cam_id
            mujoco.mjv_updateScene(
                self._model, data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL, self._scene
            )
            mujoco.mjr_render(self._rect, self._scene, self._context)
            image = np.empty((self._height, self._width, 3), dtype=np.uint8)
            mujoco.mjr_readPixels(image, None, self._rect, self._context)
            images.append(np.ascontiguousarray(np.flipud(image)))
        return images

    def close(self) -> None:
        """Free the GL resources (idempotent)."""
        self._finalizer()
        self._context = None
        self._gl = None

    def __enter__(self) -> OffscreenRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
