"""``meanfield`` for :class:`~ersm.PottsEnergy`: multi-label mean-field (approximate).

Softmax updates of categorical marginals ``q (B, L, H, W)``, minimising
``E_mult(q) − T·H(q)`` (:mod:`ersm.solvers.kernels.potts_meanfield`); labels are
``argmax_l q``. NumPy in: the Numba kernel (batch-parallel, float64); torch in: torch ops
on the tensors' device, differentiable by unrolling. With ``L = 2`` it is the binary
``meanfield`` for ``θ = U(1) − U(0)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.arrays import is_torch, to_numpy
from ...core.checks import check_array_like, check_choice, check_finite
from ...core.errors import ShapeError, ValueRangeError
from ..kernels.meanfield._common import check_options
from ..registry import BackendSpec, register

IMPLS = ("auto", "numba", "torch")


def _start(unary: Any, init: Any) -> Any:
    """The start marginals ``(B, L, H, W)``: uniform ``1/L``, or ``init`` (``(B, L, H, W)``
    or ``(L, H, W)``, values in ``[0, 1]``) in the working array type."""
    shape = tuple(int(s) for s in unary.shape)
    if init is None:
        q = np.full(shape, 1.0 / shape[1])
    else:
        init = check_array_like(init, "init")
        q = to_numpy(init, np.float64)
        if q.shape == shape[1:]:
            q = np.broadcast_to(q, shape)
        if q.shape != shape:
            raise ShapeError(f"init must have shape {shape} or {shape[1:]}, got {q.shape}")
        check_finite(q, "init")
        if q.size and (q.min() < 0 or q.max() > 1):
            raise ValueRangeError(f"init must hold marginals in [0, 1], got values in "
                                  f"[{q.min()}, {q.max()}]")
        if is_torch(init) and is_torch(unary):
            return init.to(device=unary.device, dtype=unary.dtype).expand(shape)
    if is_torch(unary):
        import torch

        return torch.as_tensor(q, dtype=unary.dtype, device=unary.device)
    return q


def run_potts_meanfield(unary: Any, pairwise: Any, iters: int = 50, temperature: float = 1.0,
                        damping: float = 1.0, tol: float = 1e-4, schedule: str = "checkerboard",
                        init: Any = None, impl: str = "auto") -> dict:
    """Multi-label mean-field on native arrays (the backend's ``run``; use ``ersm.solve``).

    Args:
        unary: ``(B, L, H, W)`` label costs, NumPy or torch (any device).
        pairwise: ``(B, K, H, W)`` Potts weights of the same kind (any sign).
        iters: most sweeps per sample, ``≥ 1``.
        temperature: ``T > 0``.
        damping: ``α ∈ (0, 1]``: ``q ← (1 − α) q + α · softmax``.
        tol: a sample stops after the first sweep whose largest ``|Δq|`` is ``< tol``.
        schedule: ``"checkerboard"`` (monotone in the free energy) or ``"parallel"``.
        init: start marginals ``(B, L, H, W)`` or ``(L, H, W)``; default ``1/L``.
        impl: ``"auto"`` (NumPy → ``"numba"``, torch → ``"torch"``), ``"numba"`` or ``"torch"``.

    Returns:
        dict with ``labels`` ``(B, H, W)`` int64 (``argmax q``), ``q`` ``(B, L, H, W)``,
        ``free_energy`` ``(B,)`` float64, ``converged`` ``(B,)`` bool (the input's array
        type), ``iterations`` (int) and ``impl``.
    """
    options = check_options(iters, temperature, damping, tol, schedule)
    impl = check_choice(impl, "impl", IMPLS)
    torch_in = is_torch(unary)
    if impl == "auto":
        impl = "torch" if torch_in else "numba"
    q0 = _start(unary, init)
    if impl == "numba":
        from ..kernels.potts_meanfield import potts_meanfield_numba

        q, sweeps, converged = potts_meanfield_numba(to_numpy(unary, np.float64),
                                                     to_numpy(pairwise, np.float64),
                                                     to_numpy(q0, np.float64), options)
        if torch_in:
            import torch

            q = torch.from_numpy(q).to(device=unary.device, dtype=unary.dtype)
            converged = torch.from_numpy(converged).to(unary.device)
    else:
        import torch

        from ..kernels.potts_meanfield import potts_meanfield_torch

        dtype = unary.dtype if torch_in and unary.is_floating_point() else torch.float64
        convert = lambda x: torch.as_tensor(x).to(dtype=dtype, device=getattr(  # noqa: E731
            unary, "device", "cpu"))
        q, sweeps, converged = potts_meanfield_torch(convert(unary), convert(pairwise),
                                                     convert(q0), options)
        if not torch_in:
            q, sweeps, converged = q.detach().numpy(), sweeps.numpy(), converged.numpy()
    from ..kernels.potts_meanfield import potts_free_energy

    labels = q.argmax(1) if is_torch(q) else np.argmax(q, axis=1).astype(np.int64)
    return {"labels": labels, "q": q,
            "free_energy": potts_free_energy(unary, pairwise, q, options.temperature),
            "converged": converged, "iterations": int(sweeps.max()) if len(sweeps) else 0,
            "impl": impl}


SPEC = register(BackendSpec(
    name="meanfield", run=run_potts_meanfield, kind="potts", differentiable=True, array="native",
    description="multi-label mean-field (softmax updates, free energy E_mult - T*H), Numba "
    "for NumPy, torch on any device (differentiable); approximate",
))
