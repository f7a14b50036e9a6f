"""Adjoint linear solves for implicit differentiation of a fixed point ``q* = F(q*)``.

The backward pass needs ``v`` with ``(I − Jᵀ) v = g`` where ``J = ∂F/∂q`` at ``q*`` and
``Jᵀ`` is only available as a vector–Jacobian product. Two solvers, batched (every
sample of ``(B, H, W)`` has its own scalars and stopping test):

* ``fixed_point`` (Neumann series): ``v ← g + Jᵀ v``; converges when the spectral radius
  of ``J`` is ``< 1``.
* ``cg``: conjugate gradients. For mean-field ``J = S N`` with ``S = diag(σ′)`` and
  ``N`` the symmetric neighbour operator, so ``I − Jᵀ = I − N S`` is self-adjoint in the
  inner product ``⟨x, y⟩_S = Σ σ′ x y`` and positive definite there exactly when ``q*``
  is a strict local minimum of the mean-field free energy (its Hessian is
  ``T S^{-1/2} (I − S^{1/2} N S^{1/2}) S^{-1/2}``). CG runs in that inner product with
  the caller's ``weight = σ′``. Only ``σ′ ⊙ v`` reaches the parameters' gradients, which is
  exactly the part CG determines.
"""

from __future__ import annotations

from typing import Any, Callable

BACKWARD_METHODS = ("cg", "fixed_point")


def _dot(a: Any, b: Any, weight: Any) -> Any:
    return (weight * a * b).sum(dim=(-2, -1))


def _per_sample(x: Any) -> Any:
    return x[:, None, None]


def _safe_div(num: Any, den: Any) -> Any:
    import torch

    ok = den > 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)),
                       torch.zeros_like(num))


def solve_adjoint(vjp: Callable[[Any], Any], rhs: Any, weight: Any, method: str,
                  iters: int, tol: float) -> tuple[Any, bool, float]:
    """Solve ``(I − Jᵀ) v = rhs`` for ``(B, H, W)`` tensors.

    Args:
        vjp: ``x ↦ Jᵀ x`` (a vector–Jacobian product of one update step).
        rhs: ``(B, H, W)`` incoming gradient ``g``.
        weight: ``(B, H, W)`` ``σ′ ≥ 0``, the inner-product weight for ``cg`` (ignored by
            ``fixed_point``).
        method: ``"cg"`` or ``"fixed_point"``.
        iters: most iterations.
        tol: relative tolerance on the residual (weighted norm for ``cg``, max-norm of
            the update for ``fixed_point``).

    Returns:
        ``(v, converged, residual)``: the solution, whether every sample met ``tol`` and
        the largest relative residual.
    """
    if method == "cg":
        return _cg(vjp, rhs, weight, iters, tol)
    return _fixed_point(vjp, rhs, iters, tol)


def _fixed_point(vjp: Callable[[Any], Any], rhs: Any, iters: int,
                 tol: float) -> tuple[Any, bool, float]:
    scale = float(rhs.abs().max()) if rhs.numel() else 0.0
    v, residual = rhs, 0.0
    for _ in range(iters):
        new = rhs + vjp(v)
        residual = float((new - v).abs().max()) / scale if scale > 0 else 0.0
        v = new
        if residual <= tol:
            return v, True, residual
    return v, residual <= tol, residual


def _cg(vjp: Callable[[Any], Any], rhs: Any, weight: Any, iters: int,
        tol: float) -> tuple[Any, bool, float]:
    import torch

    x = torch.zeros_like(rhs)
    r, d = rhs, rhs
    rs = _dot(r, r, weight)
    target = (tol ** 2) * rs
    worst = 0.0
    for _ in range(iters):
        active = rs > target  # converged samples keep their solution
        if not bool(active.any()):
            break
        md = d - vjp(d)
        alpha = torch.where(active, _safe_div(rs, _dot(d, md, weight)), torch.zeros_like(rs))
        x = x + _per_sample(alpha) * d
        r = r - _per_sample(alpha) * md
        rs_new = _dot(r, r, weight)
        d = r + _per_sample(_safe_div(rs_new, rs)) * d
        rs = rs_new
    if rhs.shape[0]:
        worst = float(_safe_div(rs, _dot(rhs, rhs, weight)).max().sqrt())
    return x, worst <= tol, worst
