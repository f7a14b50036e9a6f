"""What the native (differentiable) backends share: tensors in and out, exact cuts.

Every backend here is registered with ``array="native"``: it receives the energy's own
batched arrays (torch tensors, possibly requiring grad, on any device; or NumPy arrays),
computes in torch on the tensors' device and returns the caller's array type.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ...core.arrays import is_torch
from ..registry import BackendSpec, register


def working_tensors(unary: Any, pairwise: Any) -> tuple[Any, Any, bool]:
    """Torch tensors to compute with, and whether the caller gave NumPy arrays.

    Args:
        unary: ``(B, H, W)`` NumPy array or tensor (any real dtype, any device).
        pairwise: ``(B, K, H, W)``, same type and device as ``unary``.

    Returns:
        ``(unary, pairwise, from_numpy)``: float32 for float32 (and narrower) inputs, else
        float64 (integers too); tensors stay on their device and in the autograd graph.
    """
    import torch

    from ..kernels.meanfield._common import torch_working_dtype

    from_numpy = not is_torch(unary)
    if from_numpy:
        unary = torch.from_numpy(np.ascontiguousarray(unary))
        pairwise = torch.from_numpy(np.ascontiguousarray(pairwise))
    dtype = torch_working_dtype(unary, pairwise)
    return unary.to(dtype), pairwise.to(dtype), from_numpy


def backend_output(mask: Any, q: Any, from_numpy: bool, **info: Any) -> dict:
    """The dict a backend returns: ``mask`` (bool), ``q`` and info, NumPy if asked.

    Tensors in ``info`` are converted like ``mask``; ``q`` keeps its autograd graph
    when the output stays torch.
    """
    out = {"mask": mask, "q": q, **info}
    if from_numpy:
        out = {k: v.detach().cpu().numpy() if is_torch(v) else v for k, v in out.items()}
    return out


def _mask_and_q(out: tuple) -> tuple[Any, Any, dict]:
    return out[0], out[1], {}


def register_native(name: str, fn: Callable[..., Any], description: str,
                    outputs: Callable[[Any], tuple[Any, Any, dict]] = _mask_and_q,
                    **flags: Any) -> BackendSpec:
    """Register ``fn(unary, pairwise, **options)`` (torch in) as a differentiable native backend.

    The backend's ``run`` converts NumPy inputs with :func:`working_tensors`, calls
    ``fn``, maps its result to ``(mask, q, info)`` with ``outputs`` (default: ``fn``
    returns ``(mask, q)``) and returns :func:`backend_output`. ``run`` carries ``fn``'s
    signature, so the dispatcher accepts exactly ``fn``'s options.
    """

    @functools.wraps(fn)
    def run(unary: Any, pairwise: Any, **options: Any) -> dict:
        u, p, from_numpy = working_tensors(unary, pairwise)
        mask, q, info = outputs(fn(u, p, **options))
        return backend_output(mask, q, from_numpy, **info)

    flags = {"requires": ("torch",), "extra": "nets", **flags}
    return register(BackendSpec(name=name, run=run, differentiable=True, array="native",
                                description=description, **flags))


def host_float64(x: Any) -> np.ndarray:
    """``x`` detached as a C-contiguous float64 NumPy array: a zero-copy view of a CPU
    float64 contiguous tensor, else one conversion (dtype and/or device)."""
    import torch

    x = x.detach()
    if x.device.type != "cpu" or x.dtype != torch.float64:
        x = x.to(device="cpu", dtype=torch.float64)
    return np.ascontiguousarray(x.numpy())


def exact_masks(unary: Any, pairwise: Any) -> Any:
    """Exact minimisers by the graph-cut kernel (:mod:`ersm.solvers.kernels.bk`), float64.

    Called by backends, after the dispatcher validated the energy (weights ``≥ 0``): no
    registry lookup, no second validation or energy evaluation. CPU float64 tensors reach
    the kernel as zero-copy NumPy views and the mask comes back as one.

    Args:
        unary: ``(N, H, W)`` tensor (detached here; any device).
        pairwise: ``(N, K, H, W)`` tensor, weights ``≥ 0``.

    Returns:
        ``(N, H, W)`` bool tensor on ``unary``'s device (the canonical, largest optimal
        keep set; not differentiable).
    """
    import torch

    from ..kernels.bk import grid_mincut_batch

    mask = torch.from_numpy(grid_mincut_batch(host_float64(unary), host_float64(pairwise)))
    return mask if unary.device.type == "cpu" else mask.to(unary.device)


def meanfield_step(unary: Any, pairwise: Any, q: Any, temperature: float) -> Any:
    """One parallel, undamped mean-field update ``F(q) = σ(−(θ + Σ_j w_ij (1 − 2 q_j)) / T)``.

    Runs the torch mean-field implementation for a single sweep, so it is differentiable
    in ``unary``, ``pairwise`` and ``q``; its fixed points are the mean-field fixed points
    of every schedule and damping.

    Args:
        unary: ``(B, H, W)``; pairwise: ``(B, K, H, W)``; q: ``(B, H, W)`` in ``[0, 1]``,
            one dtype and device.
        temperature: ``T > 0``.

    Returns:
        ``(B, H, W)`` updated marginals.
    """
    from ..kernels.meanfield._common import MeanFieldOptions
    from ..kernels.meanfield.torch_impl import meanfield_torch

    step = MeanFieldOptions(iters=1, temperature=temperature, damping=1.0, tol=0.0,
                            schedule="parallel")
    return meanfield_torch(unary, pairwise, q, step)[0]


def straight_through(forward: Any, surrogate: Any) -> Any:
    """``forward`` in the forward pass, the gradient of ``surrogate`` in the backward pass."""
    return forward + (surrogate - surrogate.detach())
