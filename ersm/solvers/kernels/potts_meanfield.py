"""Multi-label mean-field for Potts energies: the Numba kernel (CPU) and the torch twin.

Marginals ``q (L, H, W)`` per map, ``Σ_l q_i(l) = 1``, minimise the free energy

    F(q) = Σ_i Σ_l U_i(l) q_i(l) + Σ_(i,j) w_ij (1 − Σ_l q_i(l) q_j(l)) − T · H(q)

(``H`` the categorical entropy) by the update ``q_i ← (1 − α) q_i + α softmax_l(
−(U_i(l) − Σ_j w_ij q_j(l)) / T)``. Schedules and colour classes are those of the binary
mean-field (:func:`ersm.solvers.kernels.meanfield._common.colour_classes`): with
``L = 2`` the iteration *is* the binary one for ``θ = U(1) − U(0)`` (``q(1)`` follows
``σ(−(θ_i + Σ_j w_ij (1 − 2 q_j)) / T)``). A sample stops after the first sweep whose
largest ``|Δq|`` is below ``tol``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ersm.core.numba_cache import njit
from ersm.core.parallel import run_batch
from ersm.energy.offsets import OFFSETS, edge_slices

from .meanfield._common import MeanFieldOptions, colour_classes

__all__ = ["potts_free_energy", "potts_meanfield_numba", "potts_meanfield_torch"]

_DY = np.array([o[0] for o in OFFSETS], dtype=np.int64)
_DX = np.array([o[1] for o in OFFSETS], dtype=np.int64)


@njit(nogil=True, cache=True)
def _update_token(unary, pairwise, src, dst, y, x, inv_t, alpha, a):
    """Set ``dst[:, y, x]`` from the marginals ``src``; returns the largest change."""
    L, H, W = unary.shape
    for lab in range(L):
        a[lab] = -unary[lab, y, x]
    for k in range(pairwise.shape[0]):
        dy = _DY[k]
        dx = _DX[k]
        yn, xn = y + dy, x + dx
        if yn < H and 0 <= xn < W:
            w = pairwise[k, y, x]
            for lab in range(L):
                a[lab] += w * src[lab, yn, xn]
        yp, xp = y - dy, x - dx
        if yp >= 0 and 0 <= xp < W:
            w = pairwise[k, yp, xp]
            for lab in range(L):
                a[lab] += w * src[lab, yp, xp]
    top = a[0]
    for lab in range(1, L):
        top = max(top, a[lab])
    total = 0.0
    for lab in range(L):
        a[lab] = np.exp((a[lab] - top) * inv_t)
        total += a[lab]
    change = 0.0
    for lab in range(L):
        old = src[lab, y, x]
        new = old + alpha * (a[lab] / total - old)
        change = max(change, abs(new - old))
        dst[lab, y, x] = new
    return change


@njit(nogil=True, cache=True)
def _meanfield_map(unary, pairwise, q, classes, iters, inv_t, alpha, tol, stats):
    """Mean-field of one map, ``q (L, H, W)`` updated in place; ``classes (C, H, W)``
    (one class: parallel, from a copy of the previous iterate). ``stats`` gets
    ``[sweeps, converged]``."""
    L, H, W = unary.shape
    a = np.empty(L, dtype=np.float64)
    parallel = classes.shape[0] == 1
    prev = q.copy()
    sweeps = 0
    converged = False
    while sweeps < iters and not converged:
        sweeps += 1
        change = 0.0
        if parallel:
            prev[:, :, :] = q
        for c in range(classes.shape[0]):
            for y in range(H):
                for x in range(W):
                    if classes[c, y, x]:
                        src = prev if parallel else q
                        change = max(change, _update_token(unary, pairwise, src, q, y, x,
                                                           inv_t, alpha, a))
        converged = change < tol
    stats[0] = sweeps
    stats[1] = 1.0 if converged else 0.0


@njit(nogil=True, cache=True)
def _meanfield_range(start, stop, unary, pairwise, q, classes, iters, inv_t, alpha, tol, stats):
    for b in range(start, stop):
        _meanfield_map(unary[b], pairwise[b], q[b], classes, iters, inv_t, alpha, tol, stats[b])


def potts_meanfield_numba(unary: np.ndarray, pairwise: np.ndarray, q0: np.ndarray,
                          options: MeanFieldOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean-field on host float64 arrays, batch-parallel.

    Args:
        unary: ``(B, L, H, W)``; pairwise: ``(B, K, H, W)``; q0: ``(B, L, H, W)`` start.
        options: validated :class:`MeanFieldOptions`.

    Returns:
        ``(q (B, L, H, W) float64, sweeps (B,) int64, converged (B,) bool)``.
    """
    unary = np.ascontiguousarray(unary, dtype=np.float64)
    pairwise = np.ascontiguousarray(pairwise, dtype=np.float64)
    q = np.array(q0, dtype=np.float64, order="C", copy=True)
    b, _, h, w = unary.shape
    classes = np.ascontiguousarray(colour_classes(h, w, 4 if pairwise.shape[1] == 2 else 8,
                                                  options.schedule))
    stats = np.zeros((b, 2), dtype=np.float64)
    run_batch(_meanfield_range, b, unary, pairwise, q, classes, options.iters,
              1.0 / options.temperature, options.damping, options.tol, stats)
    return q, stats[:, 0].astype(np.int64), stats[:, 1] > 0


def _shift(x: Any, dy: int, dx: int) -> Any:
    """``out[..., y, x] = x[..., y + dy, x + dx]`` (zero outside the grid), out of place."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    padded = F.pad(x, (abs(dx), abs(dx), abs(dy), abs(dy)))
    return padded[..., abs(dy) + dy:abs(dy) + dy + h, abs(dx) + dx:abs(dx) + dx + w]


def _message(weights: list[Any], q: Any) -> Any:
    """``Σ_j w_ij q_j(l)`` ``(B, L, H, W)``; ``weights[k]`` ``(B, 1, H, W)`` zero off-grid."""
    total = None
    for k, wk in enumerate(weights):
        dy, dx = OFFSETS[k]
        term = wk * _shift(q, dy, dx) + _shift(wk * q, -dy, -dx)
        total = term if total is None else total + term
    return total


def potts_meanfield_torch(unary: Any, pairwise: Any, q0: Any,
                          options: MeanFieldOptions) -> tuple[Any, Any, Any]:
    """The same iteration in out-of-place torch ops (any device; autograd unrolls it).

    Args:
        unary: ``(B, L, H, W)``; pairwise: ``(B, K, H, W)``; q0: ``(B, L, H, W)``; one
            floating dtype and device.

    Returns:
        ``(q, sweeps (B,) int64, converged (B,) bool)`` on the device.
    """
    import torch

    from ...energy.offsets import valid_edge_mask

    b, _, h, w = unary.shape
    n_k = pairwise.shape[1]
    valid = torch.as_tensor(valid_edge_mask(h, w, 4 if n_k == 2 else 8), device=unary.device)
    weights = [torch.where(valid[k], pairwise[:, k], torch.zeros((), dtype=pairwise.dtype,
                                                                 device=pairwise.device))[:, None]
               for k in range(n_k)]
    classes = colour_classes(h, w, 4 if n_k == 2 else 8, options.schedule)
    classes = torch.as_tensor(np.array(classes), device=unary.device)
    q = q0
    active = torch.ones(b, dtype=torch.bool, device=unary.device)
    sweeps = torch.zeros(b, dtype=torch.int64, device=unary.device)
    for _ in range(options.iters):
        start = q
        for c in range(classes.shape[0]):
            target = torch.softmax((_message(weights, q) - unary) / options.temperature, dim=1)
            update = q + options.damping * (target - q)
            q = torch.where(classes[c] & active[:, None, None, None], update, q)
        sweeps = sweeps + active.to(torch.int64)
        change = (q - start).detach().abs().amax(dim=(1, 2, 3))
        active = active & ~(change < options.tol)
        if not bool(active.any()):
            break
    return q, sweeps, ~active


def potts_free_energy(unary: Any, pairwise: Any, q: Any, temperature: float) -> Any:
    """``F(q)`` per sample ``(B,)`` for batched ``unary (B,L,H,W)``, ``pairwise``, ``q``
    (NumPy float64, or torch: differentiable, on the inputs' device)."""
    height, width = q.shape[-2:]
    if hasattr(q, "detach"):
        import torch

        u, p, q = (x.to(torch.float64) for x in (unary, pairwise, q))
        entropy = -torch.special.xlogy(q, q).sum(dim=(1, 2, 3))
        total = (u * q).sum(dim=(1, 2, 3)) - temperature * entropy
        summed = lambda x: x.sum(dim=(-2, -1))  # noqa: E731
    else:
        from scipy.special import xlogy

        u, p, q = (np.asarray(x, np.float64) for x in (unary, pairwise, q))
        total = (u * q).sum(axis=(1, 2, 3)) + temperature * xlogy(q, q).sum(axis=(1, 2, 3))
        summed = lambda x: x.sum(axis=(-2, -1))  # noqa: E731
    for k in range(p.shape[1]):
        (ys, xs), (yd, xd) = edge_slices(k, height, width)
        agree = (q[:, :, ys, xs] * q[:, :, yd, xd]).sum(1)
        total = total + summed(p[:, k, ys, xs] * (1 - agree))
    return total
