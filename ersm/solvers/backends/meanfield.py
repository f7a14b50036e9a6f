"""``meanfield`` backend: naive mean-field on the grid MRF (approximate, not exact).

It minimises the free energy ``F(q) = E_mult(q) − T · H(q)`` over independent
Bernoulli marginals ``q`` by fixed-point updates
``q_i ← σ(−(θ_i + Σ_j w_ij (1 − 2 q_j)) / T)`` and rounds ``mask = q > 0.5``.
Arrays stay native: NumPy in → NumPy out, torch in → torch out on the same device. On
CPU the Numba kernels run by default, for torch with gradients through a Numba backward
(:mod:`.numba_autograd`); on CUDA the CuPy kernels (when cupy is installed) or torch ops
(unrolled autograd).

Schedules:

* ``"checkerboard"`` (default): colour classes updated in turn (2 classes
  ``(y + x) % 2`` for 4-connectivity; for 8-connectivity, where diagonal neighbours share
  that colour, the 4 classes ``(y % 2, x % 2)``). Each class update is exact coordinate
  descent on ``F`` (also with damping), so ``F`` never increases and the iteration
  converges.
* ``"parallel"``: every token from the previous iterate (Jacobi). Cheaper per sweep and
  what unrolled differentiation wants, but it can oscillate between two masks at low
  temperature with strong weights; damping ``α < 1`` helps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.arrays import is_torch, like, to_numpy
from ...core.checks import wants_grad
from ..registry import BackendSpec, register
from ..kernels.meanfield._common import (check_impl, check_init, check_options, free_energy, numpy_working_dtype,
                      torch_working_dtype)


def _pick_impl(impl: str, unary: Any, wants_grad: bool) -> str:
    """``auto``: Numba on CPU (NumPy or torch; differentiable for torch), on CUDA torch
    when gradients are wanted, else CuPy when usable."""
    if impl != "auto":
        return impl
    if not (is_torch(unary) and unary.is_cuda):
        return "numba"
    if wants_grad:
        return "torch"  # unrolled autograd on the device
    from ..kernels.meanfield.cupy_kernel import cupy_available

    return "cupy" if cupy_available() else "torch"


def _working_dtype(unary: Any, pairwise: Any) -> np.dtype:
    if is_torch(unary):
        return np.dtype(str(torch_working_dtype(unary, pairwise)).removeprefix("torch."))
    return numpy_working_dtype(unary, pairwise)


def _convert(impl: str, dtype: np.dtype, device: Any) -> Any:
    """A function casting an input array to what implementation ``impl`` computes on."""
    if impl in ("numba", "numpy"):
        return lambda x: to_numpy(x, dtype)
    if impl == "torch":
        import torch

        torch_dtype = getattr(torch, dtype.name)
        return lambda x: (x if is_torch(x) else torch.from_numpy(np.asarray(x))).to(
            device=device, dtype=torch_dtype)
    from ..kernels.meanfield.cupy_kernel import to_cupy

    return lambda x: to_cupy(x, dtype)


def _back(x: Any, reference: Any) -> Any:
    """An implementation's output as the array type and device of ``reference``."""
    if is_torch(reference):
        if is_torch(x):
            return x.to(reference.device)
        if isinstance(x, np.ndarray):
            return like(x, reference)
    elif isinstance(x, np.ndarray) or is_torch(x):
        return to_numpy(x)
    from ..kernels.meanfield.cupy_kernel import from_cupy

    return from_cupy(x, reference)


def _implementation(impl: str, differentiable: bool) -> Any:
    if impl == "numba" and differentiable:
        from ..kernels.meanfield.numba_autograd import meanfield_numba_autograd as fn
    elif impl == "numba":
        from ..kernels.meanfield.numba_kernel import meanfield_numba as fn
    elif impl == "numpy":
        from ..kernels.meanfield.numpy_reference import meanfield_numpy as fn
    elif impl == "torch":
        from ..kernels.meanfield.torch_impl import meanfield_torch as fn
    else:
        from ..kernels.meanfield.cupy_kernel import meanfield_cupy as fn
    return fn


def run_meanfield(unary: Any, pairwise: Any, iters: int = 50, temperature: float = 1.0,
                  damping: float = 1.0, tol: float = 1e-4, schedule: str = "checkerboard",
                  init: Any = None, impl: str = "auto") -> dict:
    """Mean-field on native arrays (the backend's ``run``; use ``ersm.solve``).

    Args:
        unary: ``(B, H, W)`` θ, NumPy (any real dtype) or torch (any device).
        pairwise: ``(B, K, H, W)`` weights of the same kind (negative weights allowed:
            mean-field does not need submodularity).
        iters: most sweeps per sample, ``≥ 1``.
        temperature: ``T > 0``; ``T → 0`` approaches iterated conditional modes.
        damping: ``α ∈ (0, 1]``: ``q ← (1 − α) q + α · update``.
        tol: a sample stops after the first sweep whose largest ``|Δq|`` is ``< tol``;
            0 runs every sweep.
        schedule: ``"checkerboard"`` (monotone in the free energy) or ``"parallel"``.
        init: warm start, marginals in ``[0, 1]`` of shape ``(B, H, W)`` or ``(H, W)``;
            default 0.5 everywhere (the first sweep then gives ``σ(−θ/T)``).
        impl: ``"auto"`` (CPU, NumPy or torch → ``"numba"``; torch CUDA → ``"torch"``
            when gradients are wanted, else ``"cupy"`` if usable, else ``"torch"``), or
            force ``"numba"``, ``"numpy"`` (the readable reference), ``"torch"`` or
            ``"cupy"``. ``"numba"`` with torch inputs that require gradients runs
            :mod:`.numba_autograd` (the unrolled gradient, computed in Numba).

    Returns:
        dict with ``mask`` ``(B, H, W)`` bool (``q > 0.5``); ``q`` ``(B, H, W)`` in the
        working dtype (float32 for float32 or narrower floats, float64 otherwise);
        ``free_energy`` ``(B,)`` float64 (``E_mult(q) − T·H(q)``; ``ersm.solve`` adds the
        energy's constant); ``converged`` ``(B,)`` bool — all of the input's array type and device;
        ``iterations`` (int, the most sweeps any sample ran) and ``impl`` (str).
        With ``impl="torch"`` or ``"numba"`` gradients flow from ``q`` to torch inputs
        (``"torch"`` also supports double backward).
    """
    options = check_options(iters, temperature, damping, tol, schedule)
    grad = wants_grad(unary, pairwise, init)
    impl = _pick_impl(check_impl(impl), unary, grad)
    dtype = _working_dtype(unary, pairwise)
    init = None if init is None else check_init(init, tuple(unary.shape))
    # Numba with torch inputs that need gradients: an autograd function on CPU tensors
    differentiable = impl == "numba" and grad
    device = "cpu" if differentiable or not is_torch(unary) else unary.device
    convert = _convert("torch" if differentiable else impl, dtype, device)
    u, p = convert(unary), convert(pairwise)
    q0 = convert(np.full(tuple(unary.shape), 0.5, dtype) if init is None else init)
    solver = _implementation(impl, differentiable)
    if impl == "cupy":
        from ..kernels.meanfield.cupy_kernel import on_stream_of

        with on_stream_of(unary):
            q, iterations, converged = solver(u, p, q0, options)
    else:
        q, iterations, converged = solver(u, p, q0, options)
    q, converged = _back(q, unary), _back(converged, unary)
    return {
        "mask": q > 0.5,
        "q": q,
        "free_energy": free_energy(unary, pairwise, q, options.temperature),
        "iterations": int(iterations.max()) if len(iterations) else 0,
        "converged": converged,
        "impl": impl,
    }


SPEC = register(BackendSpec(
    name="meanfield", run=run_meanfield, exact=False, differentiable=True, array="native",
    description="naive mean-field (free energy E_mult - T*H), Numba / torch / CuPy; approximate; "
    "differentiable by unrolling when torch inputs require grad (Numba backward on CPU, "
    "torch autograd elsewhere)",
))
