"""What every mean-field implementation shares: options, working dtype, colours, free energy.

The iteration every implementation runs (the NumPy reference spells it out):

* ``q`` starts at ``init`` (default 0.5 everywhere, whose first update is the
  unary-only marginal ``σ(−θ/T)``);
* one *iteration* (sweep) visits the colour classes of the schedule in order; for each
  class, every token ``i`` of the class is set from the current ``q``::

      a_i = (θ_i + Σ_j w_ij (1 − 2 q_j)) / T,   q_i ← (1 − α) q_i + α σ(−a_i)

  (``j`` over the in-grid neighbours, both directions of every edge channel);
* a sample stops after the first sweep whose largest change ``max_i |Δq_i|`` is
  ``< tol`` (``converged``); samples are independent, so a batch gives the same result
  as its samples one by one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ....core.arrays import is_torch
from ....core.checks import (check_array_like, check_choice, check_count, check_finite,
                            check_interval, check_nonnegative_scalar, check_positive)
from ....core.errors import ShapeError, ValueRangeError
from ....energy.evaluate import relaxed_energy

SCHEDULES = ("parallel", "checkerboard")
IMPLS = ("auto", "numba", "numpy", "torch", "cupy")


@dataclass(frozen=True)
class MeanFieldOptions:
    """Validated mean-field options (see :func:`check_options`)."""

    iters: int = 50
    temperature: float = 1.0
    damping: float = 1.0
    tol: float = 1e-4
    schedule: str = "checkerboard"


def check_options(iters: Any, temperature: Any, damping: Any, tol: Any,
                  schedule: Any) -> MeanFieldOptions:
    """Validate the options; ``ValueError`` names the offending option.

    Args:
        iters: integer ``≥ 1``, the most sweeps per sample.
        temperature: finite ``T > 0``.
        damping: ``α ∈ (0, 1]`` (1 = no damping).
        tol: finite ``≥ 0``; 0 runs all ``iters`` sweeps.
        schedule: ``"parallel"`` or ``"checkerboard"``.
    """
    return MeanFieldOptions(check_count(iters, "iters"), check_positive(temperature, "temperature"),
                            check_interval(damping, "damping", 0, 1, low_open=True),
                            check_nonnegative_scalar(tol, "tol"),
                            check_choice(schedule, "schedule", SCHEDULES))


def check_impl(impl: Any) -> str:
    """Validate the ``impl`` option."""
    return check_choice(impl, "impl", IMPLS)


def check_init(init: Any, shape: tuple[int, int, int]) -> Any:
    """Validate warm-start marginals: ``(B, H, W)`` or ``(H, W)`` (shared by the batch),
    finite values in ``[0, 1]``. Returns a batched ``(B, H, W)`` array or tensor (a view)."""
    init = check_array_like(init, "init")
    if tuple(init.shape) == shape[1:]:
        init = init[None].expand(shape) if is_torch(init) else np.broadcast_to(init, shape)
    if tuple(init.shape) != tuple(shape):
        raise ShapeError(f"init must have shape {tuple(shape)} or {tuple(shape[1:])}, "
                         f"got {tuple(init.shape)}")
    check_finite(init, "init")
    values = init.detach() if is_torch(init) else init
    if values.numel() if is_torch(values) else values.size:
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > 1:
            raise ValueRangeError(f"init must hold marginals in [0, 1], got values in "
                                  f"[{low}, {high}]")
    return init


def numpy_working_dtype(*arrays: np.ndarray) -> np.dtype:
    """float32 for float32 (and narrower float) inputs, else float64 (integers too)."""
    dtype = np.result_type(*arrays)
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def torch_working_dtype(*tensors: Any) -> Any:
    """Torch twin of :func:`numpy_working_dtype`."""
    import torch

    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if dtype.is_floating_point and dtype.itemsize <= 4:
        return torch.float32
    return torch.float64


@functools.lru_cache(maxsize=64)
def colour_classes(height: int, width: int, connectivity: int, schedule: str) -> np.ndarray:
    """``(C, H, W)`` bool masks of the tokens updated together, in sweep order.

    ``parallel``: one class (all tokens). ``checkerboard``: for 4-connectivity the two
    classes ``(y + x) % 2 == 0`` then ``== 1``; for 8-connectivity, where diagonal
    neighbours share that colour, the four classes ``(y % 2, x % 2)`` in the order
    (0, 0), (0, 1), (1, 0), (1, 1). Each class is an independent set of the grid graph,
    so a class update is exact coordinate descent on the free energy. Cached: the array
    is read-only.
    """
    ys, xs = np.mgrid[:height, :width]
    if schedule == "parallel":
        classes = np.ones((1, height, width), dtype=bool)
    elif connectivity == 4:
        parity = (ys + xs) % 2
        classes = np.stack([parity == 0, parity == 1])
    else:
        classes = np.stack([(ys % 2 == cy) & (xs % 2 == cx) for cy in (0, 1) for cx in (0, 1)])
    classes.flags.writeable = False
    return classes


def entropy(q: Any) -> Any:
    """Bernoulli entropy ``Σ_i H(q_i)`` per sample (nats, ``0 log 0 = 0``), ``(B,)``."""
    if is_torch(q):
        import torch

        return (torch.special.entr(q) + torch.special.entr(1 - q)).sum(dim=(-2, -1))
    from scipy.special import entr

    return (entr(q) + entr(1 - q)).sum(axis=(-2, -1))


def free_energy(unary: Any, pairwise: Any, q: Any, temperature: float) -> Any:
    """Mean-field free energy ``E_mult(q) − T · H(q)`` per sample, float64 ``(B,)``.

    The energy's constant is not included (the backend never sees it). NumPy or torch
    (differentiable, on the inputs' device).
    """
    if is_torch(q):
        import torch

        u, p, q = (x.to(torch.float64) for x in (unary, pairwise, q))
    else:
        u, p, q = (np.asarray(x, np.float64) for x in (unary, pairwise, q))
    return relaxed_energy(u, p, q, "multilinear") - temperature * entropy(q)
