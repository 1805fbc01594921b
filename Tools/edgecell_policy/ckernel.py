"""ctypes binding of the EdgeCell C kernel (Sources/CPolicyKernel/include/CPolicyKernel.h) in a shared library.

Build the library from the repository root with
`clang -O2 -fPIC -shared -o .build/bench/libpolicykernel.so Sources/CPolicyKernel/*.c
-ISources/CPolicyKernel/include -lm -lpthread` (Tools/bench-policy does). Every call checks the returned
`pk_status` and raises `KernelError` with the kernel's message.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np

from .config import Architecture

ISA_AUTO, ISA_SCALAR, ISA_AVX2, ISA_AVX512 = 0, 1, 2, 3
ISA_BY_NAME = {"auto": ISA_AUTO, "scalar": ISA_SCALAR, "avx2": ISA_AVX2, "avx512": ISA_AVX512}
WEIGHTS_NAMES = {0: "f32", 1: "bf16", 2: "int8"}
_ERROR_SIZE = 1024


class KernelError(RuntimeError):
    """A non-zero pk_status; `status` is its code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class PkConfig(ctypes.Structure):
    """`pk_config`."""

    _fields_ = [(name, ctypes.c_int) for name in (
        "cameras", "image_width", "image_height", "patch_size", "vocab_size", "max_text_tokens", "state_dim",
        "action_dim", "horizon", "width", "depth", "heads", "mlp_width")] + [("layer_norm_epsilon", ctypes.c_float),
                                                                     ("keypoints", ctypes.c_int)]


class PkOptions(ctypes.Structure):
    """`pk_options`."""

    _fields_ = [("isa", ctypes.c_int), ("threads", ctypes.c_int)]


class PkInput(ctypes.Structure):
    """`pk_input`."""

    _fields_ = [
        ("images", ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8))),
        ("tokens", ctypes.POINTER(ctypes.c_int32)),
        ("token_count", ctypes.c_int),
        ("state", ctypes.POINTER(ctypes.c_float)),
    ]


OP_CLASSES = ("matmul", "attention", "norm", "elementwise")


class PkOpStats(ctypes.Structure):
    """`pk_op_stats`."""

    _fields_ = [("flops", ctypes.c_uint64 * 4), ("bytes", ctypes.c_uint64 * 4), ("operations", ctypes.c_int)]


def _bind(lib: ctypes.CDLL) -> None:
    vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    sigs: dict[str, tuple[object, list[object]]] = {
        "pk_default_options": (PkOptions, []),
        "pk_model_load": (ctypes.c_int, [cp, ctypes.POINTER(PkConfig), ctypes.POINTER(PkOptions),
                                         ctypes.POINTER(vp), cp, sz]),
        "pk_model_free": (None, [vp]),
        "pk_state_arena_size": (sz, [vp]),
        "pk_state_init": (ctypes.c_int, [vp, vp, sz, ctypes.POINTER(vp), cp, sz]),
        "pk_state_release": (None, [vp]),
        "pk_forward": (ctypes.c_int, [vp, vp, ctypes.POINTER(PkInput), ctypes.POINTER(ctypes.c_float), cp, sz]),
        "pk_model_config": (ctypes.POINTER(PkConfig), [vp]),
        "pk_model_isa": (ctypes.c_int, [vp]),
        "pk_model_weights": (ctypes.c_int, [vp]),
        "pk_model_parameter_count": (ctypes.c_uint64, [vp]),
        "pk_model_file_weight_bytes": (ctypes.c_uint64, [vp]),
        "pk_model_packed_bytes": (ctypes.c_uint64, [vp]),
        "pk_model_flops": (ctypes.c_uint64, [vp]),
        "pk_model_op_stats": (ctypes.c_int, [vp, ctypes.POINTER(PkOpStats)]),
        "pk_isa_supported": (ctypes.c_int, [ctypes.c_int]),
        "pk_best_isa": (ctypes.c_int, []),
        "pk_isa_name": (ctypes.c_char_p, [ctypes.c_int]),
        "pk_weights_name": (ctypes.c_char_p, [ctypes.c_int]),
        "pk_status_string": (ctypes.c_char_p, [ctypes.c_int]),
        "pk_measure_fma_peak": (ctypes.c_double, [ctypes.c_int, ctypes.c_double]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)  # AttributeError names a symbol the library lacks
        fn.restype = restype
        fn.argtypes = argtypes


class Library:
    """The loaded shared library with typed functions."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such library (build it first; see edgecell_policy.ckernel)")
        self.lib = ctypes.CDLL(str(self.path.resolve()))
        try:
            _bind(self.lib)
        except AttributeError as e:
            raise KernelError(-1, f"{self.path}: missing symbol: {e}") from None

    def isa_supported(self, isa: int) -> bool:
        """pk_isa_supported."""
        return bool(self.lib.pk_isa_supported(isa))

    def best_isa(self) -> int:
        """pk_best_isa."""
        return int(self.lib.pk_best_isa())

    def isa_name(self, isa: int) -> str:
        """pk_isa_name."""
        return (self.lib.pk_isa_name(isa) or b"?").decode()

    def measure_fma_peak(self, isa: int, seconds: float = 0.5) -> float:
        """pk_measure_fma_peak: this core's FP32 FMA GFLOP/s on `isa` (0 if unsupported)."""
        return float(self.lib.pk_measure_fma_peak(isa, seconds))

    def load(self, weights: str | os.PathLike[str], arch: Architecture, vocab_size: int, isa: int = ISA_AUTO,
             threads: int = 1) -> KernelModel:
        """pk_model_load + pk_state_init."""
        return KernelModel(self, weights, arch, vocab_size, isa, threads)


def pk_config(arch: Architecture, vocab_size: int) -> PkConfig:
    """The `pk_config` of an architecture."""
    return PkConfig(cameras=arch.num_cameras, image_width=arch.image_width, image_height=arch.image_height,
                    patch_size=arch.patch_size, vocab_size=vocab_size, max_text_tokens=arch.max_text_tokens,
                    state_dim=arch.state_dim, action_dim=arch.action_dim, horizon=arch.horizon, width=arch.width,
                    depth=arch.depth, heads=arch.heads, mlp_width=arch.mlp_width,
                    layer_norm_epsilon=arch.layer_norm_epsilon, keypoints=arch.keypoints)


class KernelModel:
    """A loaded model and one inference state (arena owned here). Call `close` (or use `with`)."""

    def __init__(self, library: Library, weights: str | os.PathLike[str], arch: Architecture, vocab_size: int,
                 isa: int, threads: int) -> None:
        self._lib = library.lib
        self.arch = arch
        self._model = ctypes.c_void_p()
        self._state = ctypes.c_void_p()
        self._error = ctypes.create_string_buffer(_ERROR_SIZE)
        self._config = pk_config(arch, vocab_size)
        options = PkOptions(isa=isa, threads=threads)
        status = self._lib.pk_model_load(str(weights).encode(), ctypes.byref(self._config), ctypes.byref(options),
                                         ctypes.byref(self._model), self._error, _ERROR_SIZE)
        self._check(status)
        size = int(self._lib.pk_state_arena_size(self._model))
        self._arena = ctypes.create_string_buffer(size)
        status = self._lib.pk_state_init(self._model, self._arena, size, ctypes.byref(self._state), self._error,
                                         _ERROR_SIZE)
        if status != 0:
            self.close()
        self._check(status)
        self._actions = np.zeros((arch.horizon, arch.action_dim), np.float32)
        self._image_ptrs = (ctypes.POINTER(ctypes.c_uint8) * arch.num_cameras)()
        self._keep: list[np.ndarray] = []

    def _check(self, status: int) -> None:
        if status != 0:
            name = (self._lib.pk_status_string(status) or b"?").decode()
            raise KernelError(status, f"{name}: {self._error.value.decode(errors='replace')}")

    def __enter__(self) -> KernelModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Releases the state and frees the model."""
        if self._state:
            self._lib.pk_state_release(self._state)
            self._state = ctypes.c_void_p()
        if self._model:
            self._lib.pk_model_free(self._model)
            self._model = ctypes.c_void_p()

    def prepare(self, images: np.ndarray, tokens: np.ndarray, token_count: int, state: np.ndarray) -> PkInput:
        """A `pk_input` pointing at copies of the arrays (kept alive until the next `prepare`)."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        tokens = np.ascontiguousarray(tokens, dtype=np.int32)
        state = np.ascontiguousarray(state, dtype=np.float32)
        self._keep = [images, tokens, state]
        for c in range(self.arch.num_cameras):
            self._image_ptrs[c] = images[c].ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
        return PkInput(images=self._image_ptrs, tokens=tokens.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
                       token_count=int(token_count), state=state.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))

    def forward_prepared(self, prepared: PkInput) -> np.ndarray:
        """pk_forward on a prepared input; returns the (reused) [H, A] output buffer."""
        status = self._lib.pk_forward(self._model, self._state, ctypes.byref(prepared),
                                      self._actions.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), self._error,
                                      _ERROR_SIZE)
        self._check(status)
        return self._actions

    def forward(self, images: np.ndarray, tokens: np.ndarray, token_count: int, state: np.ndarray) -> np.ndarray:
        """[H, A] normalised actions (a copy)."""
        return self.forward_prepared(self.prepare(images, tokens, token_count, state)).copy()

    @property
    def flops(self) -> int:
        """pk_model_flops."""
        return int(self._lib.pk_model_flops(self._model))

    @property
    def executed_flops(self) -> dict[str, int]:
        """pk_model_op_stats: FLOPs pk_forward executes per operation class (for a full instruction)."""
        stats = PkOpStats()
        self._check(self._lib.pk_model_op_stats(self._model, ctypes.byref(stats)))
        return {name: int(stats.flops[i]) for i, name in enumerate(OP_CLASSES)}

    @property
    def isa(self) -> int:
        """pk_model_isa."""
        return int(self._lib.pk_model_isa(self._model))

    @property
    def weights(self) -> str:
        """pk_weights_name(pk_model_weights)."""
        return (self._lib.pk_weights_name(self._lib.pk_model_weights(self._model)) or b"?").decode()

    @property
    def parameter_count(self) -> int:
        """pk_model_parameter_count."""
        return int(self._lib.pk_model_parameter_count(self._model))

    @property
    def file_weight_bytes(self) -> int:
        """pk_model_file_weight_bytes."""
        return int(self._lib.pk_model_file_weight_bytes(self._model))

    @property
    def packed_bytes(self) -> int:
        """pk_model_packed_bytes."""
        return int(self._lib.pk_model_packed_bytes(self._model))

    @property
    def arena_bytes(self) -> int:
        """Bytes of the state's arena."""
        return ctypes.sizeof(self._arena)
