"""CuPy mean-field: CUDA kernels from ``kernels/meanfield.cu``.

* maps with ``H · W ≤ 64²`` (:data:`FUSED_MAX_TOKENS`): one block per sample runs *all*
  iterations in one launch with ``q`` in shared memory (``meanfield_fused``);
* larger maps: one thread per token in global memory, one launch per colour class and
  sweep (``meanfield_sweep``) plus a tiny per-sample bookkeeping kernel
  (``meanfield_finish``); with ``tol > 0`` the host checks every
  :data:`CHECK_EVERY` sweeps whether any sample is still running.

The module is compiled once per device and dtype (``cupy.memoize(for_each_device=True)``)
and cupy is imported lazily: importing this module never needs a GPU. torch CUDA
tensors are handed over zero-copy through DLPack, on torch's current stream.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..._arrays import is_torch
from ..._optional import require
from ._common import MeanFieldOptions

FUSED_MAX_TOKENS = 64 * 64
"""Largest ``H · W`` handled by the fused shared-memory kernel."""
BLOCK = 256
"""Threads per block (a multiple of 32)."""
CHECK_EVERY = 8
"""Sweeps between host-side early-exit checks of the global-memory path (``tol > 0``)."""
_TOKENS_PER_THREAD = (1, 2, 4, 8, 16)  # fused-kernel instantiations (16 · 256 = 64²)
_SOURCE = Path(__file__).with_name("kernels") / "meanfield.cu"
_CTYPES = {"float32": "float", "float64": "double"}


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
        ctype = _CTYPES[dtype_name]
        names = [f"meanfield_fused<{ctype}, {t}>" for t in _TOKENS_PER_THREAD]
        names += [f"meanfield_sweep<{ctype}>", f"meanfield_finish<{ctype}>"]
        module = cupy.RawModule(code=_SOURCE.read_text(), options=("-std=c++14",),
                                name_expressions=names)
        module.compile()
        return module

    return load


def _kernel(dtype: np.dtype, name: str) -> Any:
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
    """Mean-field on the GPU with cupy arrays.

    Args:
        unary: ``(B, H, W)`` θ, cupy float32 or float64 (the working dtype), C-contiguous.
        pairwise: ``(B, K, H, W)`` weights, same dtype.
        q0: ``(B, H, W)`` initial marginals, same dtype (not modified).
        options: :class:`._common.MeanFieldOptions`.

    Returns:
        ``(q (B, H, W), iterations (B,) int64, converged (B,) bool)`` as cupy arrays.
    """
    cupy = require("cupy", extra="gpu")
    batch, height, width = unary.shape
    dtype = unary.dtype.type
    q = q0.copy()
    iterations = cupy.zeros(batch, cupy.int64)
    converged = cupy.zeros(batch, cupy.bool_)
    if batch == 0:
        return q, iterations, converged
    scalars = (dtype(1 / options.temperature), dtype(options.damping))
    shape = (np.int32(height), np.int32(width), np.int32(pairwise.shape[1]))
    if height * width <= FUSED_MAX_TOKENS:
        per_thread = next(t for t in _TOKENS_PER_THREAD if t * BLOCK >= height * width)
        kernel = _kernel(unary.dtype, f"meanfield_fused<{_CTYPES[unary.dtype.name]}, {per_thread}>")
        kernel((batch,), (BLOCK,),
               (unary, pairwise, q, iterations, converged, *shape, *scalars, dtype(options.tol),
                np.int32(options.iters), np.int32(options.schedule == "checkerboard")),
               shared_mem=height * width * q.itemsize)
        return q, iterations, converged
    return _meanfield_global(unary, pairwise, q, iterations, converged, shape, scalars, options)


def _meanfield_global(unary: Any, pairwise: Any, q: Any, iterations: Any, converged: Any,
                      shape: tuple, scalars: tuple,
                      options: MeanFieldOptions) -> tuple[Any, Any, Any]:
    """Global-memory path: one ``meanfield_sweep`` launch per colour class and sweep."""
    cupy = require("cupy", extra="gpu")
    batch, n = q.shape[0], q.size
    ctype = _CTYPES[q.dtype.name]
    sweep = _kernel(q.dtype, f"meanfield_sweep<{ctype}>")
    finish = _kernel(q.dtype, f"meanfield_finish<{ctype}>")
    active = cupy.ones(batch, cupy.int32)
    delta = cupy.zeros(batch, q.dtype)
    checkerboard = options.schedule == "checkerboard"
    colours = range(2 if pairwise.shape[1] == 2 else 4) if checkerboard else (-1,)
    src, dst = q, (q if checkerboard else cupy.empty_like(q))
    grid = ((n + BLOCK - 1) // BLOCK,)
    for it in range(options.iters):
        for colour in colours:
            sweep(grid, (BLOCK,), (unary, pairwise, src, dst, active, delta, np.int64(n),
                                   *shape, *scalars, np.int32(colour)))
        src, dst = dst, src
        finish(((batch + BLOCK - 1) // BLOCK,), (BLOCK,),
               (delta, active, iterations, converged, q.dtype.type(options.tol), np.int32(batch)))
        if options.tol > 0 and (it + 1) % CHECK_EVERY == 0 and not bool(active.any()):
            break
    return src, iterations, converged
