"""CuPy mean-field: CUDA kernels from ``meanfield.cu`` (next to this module).

* maps with ``H · W ≤ 64²`` (:data:`FUSED_MAX_TOKENS`): one block per sample runs *all*
  iterations in one launch with ``q`` in shared memory (``meanfield_fused``);
* larger maps: temporal tiling (``meanfield_tiled``): one block per tile and sample loads
  the tile widened by a halo (θ, w and q) into shared memory and runs several sweeps there
  before writing the tile back (:class:`TilePlan`), so each launch reads the map from
  global memory once for several sweeps. With ``tol > 0`` a sample that converges in the
  middle of a launch is re-run from the launch's input for exactly the sweeps it needed, so
  every path runs the reference's iterations.

The host logic (:func:`meanfield_kernels`) only needs an array module and a kernel getter:
the GPU path passes cupy and compiled ``RawModule`` functions; the test suite passes NumPy
and the same source built by a CPU emulator. cupy is imported lazily: importing this module
never needs a GPU. torch CUDA tensors are handed over zero-copy through DLPack, on torch's
current stream.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ....core.arrays import is_torch
from ....core.optional import require
from ._common import MeanFieldOptions

FUSED_MAX_TOKENS = 64 * 64
"""Largest ``H · W`` handled by the fused shared-memory kernel."""
BLOCK = 256
"""Threads per block (a multiple of 32)."""
SHARED_BYTES = 48 * 1024
"""Shared memory a tiled block may use (the default per-block limit on every CUDA GPU)."""
MAX_SWEEPS_PER_LAUNCH = 8
"""Most sweeps one tiled launch runs (each needs one token of halo per colour class)."""
_TOKENS_PER_THREAD = (1, 2, 4, 8, 16)  # fused-kernel instantiations (16 · 256 = 64²)
KERNEL_SOURCE = Path(__file__).with_name("meanfield.cu")
_CTYPES = {"float32": "float", "float64": "double"}

KernelGetter = Callable[[np.dtype, str], Any]
"""``(dtype, name expression) → kernel`` callable as ``kernel(grid, block, args, shared_mem=)``."""


def kernel_names(dtype: Any) -> list[str]:
    """The ``RawModule`` name expressions instantiated for ``dtype`` (float32 or float64)."""
    ctype = _CTYPES[np.dtype(dtype).name]
    return [f"meanfield_fused<{ctype}, {t}>" for t in _TOKENS_PER_THREAD] + [
        f"meanfield_tiled<{ctype}>"]


@dataclass(frozen=True)
class TilePlan:
    """Geometry of the tiled kernel: ``tile × tile`` interiors, windows widened by ``halo``,
    at most ``sweeps`` sweeps per launch (``sweeps · colours ≤ halo``)."""

    tile: int
    halo: int
    sweeps: int

    @property
    def window(self) -> int:
        return self.tile + 2 * self.halo


def plan_tiles(n_k: int, itemsize: int, schedule: str,
               shared_bytes: int = SHARED_BYTES) -> TilePlan:
    """The plan that reads least global memory per useful token-sweep within
    ``shared_bytes``, keeping the redundant (halo) work at most 2× the useful work.

    Per window token the block holds θ, ``n_k`` weights and one (checkerboard) or two
    (parallel) q buffers; a sweep has one pass per colour class, each costing one token of
    halo.
    """
    checkerboard = schedule == "checkerboard"
    passes = (2 if n_k == 2 else 4) if checkerboard else 1
    per_token = (1 + n_k + (1 if checkerboard else 2)) * itemsize
    window = math.isqrt(shared_bytes // per_token)
    best = TilePlan(window - 2 * passes, passes, 1)
    for sweeps in range(1, MAX_SWEEPS_PER_LAUNCH + 1):
        plan = TilePlan(window - 2 * sweeps * passes, sweeps * passes, sweeps)
        useful = plan.tile ** 2 / window ** 2
        if plan.tile >= 8 and useful >= 0.5 and sweeps * useful > best.sweeps * (
                best.tile ** 2 / window ** 2):
            best = plan
    return best


@functools.lru_cache(maxsize=None)
def cupy_available() -> bool:
    """cupy imports and sees at least one CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@functools.lru_cache(maxsize=None)
def _module_loader() -> Any:
    cupy = require("cupy", extra="gpu")

    @cupy.memoize(for_each_device=True)
    def load(dtype_name: str) -> Any:
        module = cupy.RawModule(code=KERNEL_SOURCE.read_text(), options=("-std=c++14",),
                                name_expressions=kernel_names(dtype_name))
        module.compile()
        return module

    return load


def _cupy_kernel(dtype: np.dtype, name: str) -> Any:
    return _module_loader()(np.dtype(dtype).name).get_function(name)


def to_cupy(x: Any, dtype: Any) -> Any:
    """``x`` (NumPy, torch CPU/CUDA, cupy) as a C-contiguous cupy array of ``dtype``;
    torch CUDA tensors are shared zero-copy through DLPack when no cast is needed."""
    cupy = require("cupy", extra="gpu")
    if is_torch(x):
        x = x.detach()
        if x.is_cuda:
            return cupy.ascontiguousarray(cupy.from_dlpack(x.contiguous()), dtype=dtype)
        x = x.cpu().numpy()
    return cupy.ascontiguousarray(cupy.asarray(x), dtype=dtype)


def from_cupy(x: Any, reference: Any) -> Any:
    """A cupy array back as the array type (and device) of ``reference``."""
    cupy = require("cupy", extra="gpu")
    if is_torch(reference):
        import torch

        return torch.from_dlpack(x).to(reference.device)
    return cupy.asnumpy(x)


@contextlib.contextmanager
def on_stream_of(reference: Any) -> Iterator[None]:
    """Run cupy work on the device and current stream of a torch CUDA tensor (no-op else)."""
    cupy = require("cupy", extra="gpu")
    if not (is_torch(reference) and reference.is_cuda):
        yield
        return
    import torch

    stream = torch.cuda.current_stream(reference.device)
    with cupy.cuda.Device(reference.device.index), cupy.cuda.ExternalStream(stream.cuda_stream):
        yield


def meanfield_cupy(unary: Any, pairwise: Any, q0: Any,
                   options: MeanFieldOptions) -> tuple[Any, Any, Any]:
    """Mean-field on the GPU with cupy arrays (see :func:`meanfield_kernels`)."""
    cupy = require("cupy", extra="gpu")
    return meanfield_kernels(unary, pairwise, q0, options, xp=cupy, get_kernel=_cupy_kernel)


def meanfield_kernels(unary: Any, pairwise: Any, q0: Any, options: MeanFieldOptions, *,
                      xp: Any, get_kernel: KernelGetter,
                      fused_max_tokens: int = FUSED_MAX_TOKENS,
                      plan: TilePlan | None = None) -> tuple[Any, Any, Any]:
    """Run the kernels of ``meanfield.cu`` on arrays of the module ``xp``.

    Args:
        unary: ``(B, H, W)`` θ, float32 or float64 (the working dtype), C-contiguous.
        pairwise: ``(B, K, H, W)`` weights, same dtype.
        q0: ``(B, H, W)`` initial marginals, same dtype (not modified).
        options: :class:`._common.MeanFieldOptions`.
        xp: ``cupy`` (or NumPy for an emulator).
        get_kernel: ``(dtype, name expression) → kernel``.
        fused_max_tokens: maps with at most this many tokens use the fused kernel.
        plan: tiling of larger maps (default :func:`plan_tiles`).

    Returns:
        ``(q (B, H, W), iterations (B,) int64, converged (B,) bool)`` as ``xp`` arrays.
    """
    batch, height, width = unary.shape
    dtype = unary.dtype.type
    ctype = _CTYPES[unary.dtype.name]
    if batch == 0 or height * width <= fused_max_tokens:
        q = q0.copy()
        iterations = xp.zeros(batch, xp.int64)
        converged = xp.zeros(batch, xp.bool_)
        if batch == 0:
            return q, iterations, converged
        per_thread = next(t for t in _TOKENS_PER_THREAD if t * BLOCK >= height * width)
        kernel = get_kernel(unary.dtype, f"meanfield_fused<{ctype}, {per_thread}>")
        kernel((batch,), (BLOCK,),
               (unary, pairwise, q, iterations, converged, np.int32(height), np.int32(width),
                np.int32(pairwise.shape[1]), dtype(1 / options.temperature),
                dtype(options.damping), dtype(options.tol), np.int32(options.iters),
                np.int32(options.schedule == "checkerboard")),
               shared_mem=height * width * q.itemsize)
        return q, iterations, converged
    plan = plan or plan_tiles(pairwise.shape[1], unary.itemsize, options.schedule)
    return _meanfield_tiled(unary, pairwise, q0, options, xp, get_kernel(
        unary.dtype, f"meanfield_tiled<{ctype}>"), plan)


def _meanfield_tiled(unary: Any, pairwise: Any, q0: Any, options: MeanFieldOptions, xp: Any,
                     kernel: Any, plan: TilePlan) -> tuple[Any, Any, Any]:
    """Tiled path: launches of up to ``plan.sweeps`` sweeps, double-buffered ``q``.

    Per-sample bookkeeping (sweeps left, convergence) lives on the host; with ``tol > 0``
    each launch's per-sweep changes come back (``B × sweeps`` values) to find samples that
    converged inside the launch, which are re-run from the launch's input for exactly the
    sweeps they needed (``sweeps[b] = −1`` leaves the others untouched).
    """
    batch, height, width = unary.shape
    dtype = unary.dtype.type
    checkerboard = options.schedule == "checkerboard"
    n_k = pairwise.shape[1]
    grid = (-(-width // plan.tile) * -(-height // plan.tile) * batch,)
    shared = plan.window ** 2 * (1 + n_k + (1 if checkerboard else 2)) * unary.itemsize
    src, dst = q0.copy(), xp.empty_like(q0)
    delta = xp.zeros((batch, plan.sweeps), unary.dtype)
    scalars = (np.int32(height), np.int32(width), np.int32(n_k), dtype(1 / options.temperature),
               dtype(options.damping), np.int32(checkerboard), np.int32(plan.tile),
               np.int32(plan.halo), np.int32(plan.sweeps))

    def launch(sweeps: np.ndarray) -> None:
        delta.fill(0)
        kernel(grid, (BLOCK,), (unary, pairwise, src, dst, xp.asarray(sweeps, np.int32), delta,
                                *scalars), shared_mem=shared)

    remaining = np.full(batch, options.iters, np.int64)
    iterations = np.zeros(batch, np.int64)
    converged = np.zeros(batch, bool)
    while True:
        active = (remaining > 0) & ~converged
        if not active.any():
            break
        todo = np.where(active, np.minimum(remaining, plan.sweeps), 0)
        launch(todo)
        done = todo
        if options.tol > 0:
            below = (_to_host(delta) < options.tol) & (np.arange(plan.sweeps) < todo[:, None])
            stopped = below.any(axis=1)
            done = np.where(stopped, below.argmax(axis=1) + 1, todo)
            redo = stopped & (done < todo)
            if redo.any():
                launch(np.where(redo, done, -1))
            converged |= stopped
        iterations += done
        remaining -= done
        src, dst = dst, src
    return src, xp.asarray(iterations), xp.asarray(converged)


def _to_host(x: Any) -> np.ndarray:
    return x.get() if hasattr(x, "get") else np.asarray(x)
