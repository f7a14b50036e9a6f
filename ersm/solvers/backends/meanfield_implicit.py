"""``meanfield_implicit``: mean-field with implicit backward.

Forward: the mean-field iteration of the ``meanfield`` backend (same options and
semantics; the Numba kernel on CPU, the torch implementation on other devices) runs to
convergence **without** autograd, giving ``q* = F(q*)`` with the update
``F(q) = σ(−(θ + Σ_j w_ij (1 − 2 q_j)) / T)`` (the fixed points of every schedule and
damping).

Backward: the implicit function theorem. For ``g = ∂L/∂q*`` it solves
``(I − ∂F/∂q)ᵀ v = g`` (CG or fixed-point iterations, see :mod:`._adjoint`) using
vector–Jacobian products of *one* update step (``torch.autograd.grad`` of
``F(q*)``), then returns ``(∂F/∂θ)ᵀ v`` and ``(∂F/∂w)ᵀ v``. Only ``θ``, ``w`` and ``q*``
are kept for the backward pass, so memory does not grow with the iteration count
(unrolled autograd through the ``meanfield`` backend stores every iteration).

The gradient is exact at a fixed point; a forward stopped by ``iters`` before ``tol``
gives the implicit gradient at the last iterate (``converged`` says which). The linear
system is well posed when ``q*`` is a strict local minimum of the free energy (what the
checkerboard schedule converges to); an adjoint solve that misses ``backward_tol``
warns.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.arrays import is_torch
from ..kernels.meanfield._common import MeanFieldOptions, check_init, check_options
from ..kernels.adjoint import BACKWARD_METHODS, solve_adjoint
from ...core.checks import check_choice, check_count, check_positive
from ._native import meanfield_step, register_native


@dataclass(frozen=True)
class AdjointOptions:
    """How the backward linear system is solved (see :func:`._adjoint.solve_adjoint`)."""

    method: str = "cg"
    iters: int = 200
    tol: float = 1e-8


@functools.cache
def _implicit_function() -> Any:
    """The ``torch.autograd.Function`` (built on first use: ``import ersm`` stays torch-free)."""
    import torch
    from torch.autograd.function import once_differentiable

    class ImplicitMeanField(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, unary: Any, pairwise: Any, q0: Any, options: MeanFieldOptions,
                    adjoint: AdjointOptions) -> tuple[Any, Any, Any]:
            q, iterations, converged = _fixed_point(unary, pairwise, q0, options)
            ctx.save_for_backward(unary, pairwise, q)
            ctx.temperature, ctx.adjoint = options.temperature, adjoint
            ctx.mark_non_differentiable(iterations, converged)
            return q, iterations, converged

        @staticmethod
        @once_differentiable
        def backward(ctx: Any, grad_q: Any, *_: Any) -> tuple[Any, ...]:
            unary, pairwise, q = ctx.saved_tensors
            grads = _implicit_vjp(unary, pairwise, q, grad_q, ctx.temperature, ctx.adjoint,
                                  ctx.needs_input_grad[:2])
            return (*grads, None, None, None)

    return ImplicitMeanField


def _implicit_vjp(unary: Any, pairwise: Any, q: Any, grad_q: Any, temperature: float,
                  adjoint: AdjointOptions, needs: tuple[bool, bool]) -> tuple[Any, Any]:
    """``(∂L/∂θ, ∂L/∂w)`` at the fixed point ``q`` (None where not needed)."""
    import torch

    with torch.enable_grad():
        u, p = (t.detach().requires_grad_(n) for t, n in zip((unary, pairwise), needs))
        q_var = q.detach().requires_grad_()
        out = meanfield_step(u, p, q_var, temperature)
        weight = (out * (1 - out)).detach()  # σ′ at the fixed point

        def vjp(x: Any) -> Any:
            return torch.autograd.grad(out, q_var, x, retain_graph=True)[0]

        v, ok, residual = solve_adjoint(vjp, grad_q, weight, adjoint.method, adjoint.iters,
                                        adjoint.tol)
        if not ok:
            warnings.warn(f"meanfield_implicit backward: the {adjoint.method} adjoint solve "
                          f"stopped at relative residual {residual:.2e} > backward_tol="
                          f"{adjoint.tol:g} after {adjoint.iters} iterations",
                          RuntimeWarning, stacklevel=3)
        inputs = [t for t in (u, p) if t.requires_grad]
        grads = iter(torch.autograd.grad(out, inputs, v) if inputs else ())
    return tuple(next(grads) if n else None for n in needs)


def meanfield_implicit(unary: Any, pairwise: Any, iters: int = 200, temperature: float = 1.0,
                       damping: float = 1.0, tol: float = 1e-6, schedule: str = "checkerboard",
                       init: Any = None, backward: str = "cg", backward_iters: int = 200,
                       backward_tol: float = 1e-8) -> tuple[Any, Any, Any]:
    """Mean-field marginals with an implicit (constant-memory) backward pass.

    Args:
        unary: ``(B, H, W)`` float tensor θ, any device, may require grad.
        pairwise: ``(B, K, H, W)`` tensor, same dtype and device, may require grad.
        iters: most forward sweeps per sample, ``≥ 1`` (the defaults run to a tight fixed
            point; the forward options are those of ``meanfield``).
        temperature: ``T > 0`` of the free energy.
        damping: ``α ∈ (0, 1]``: ``q ← (1 − α) q + α · update``.
        tol: a sample stops after the first sweep whose largest ``|Δq|`` is ``< tol``.
        schedule: ``"checkerboard"`` (monotone in the free energy) or ``"parallel"``.
        init: ``(B, H, W)`` or ``(H, W)`` warm start in ``[0, 1]`` (default 0.5); the
            gradient does not flow to it (a fixed point does not depend on it locally).
        backward: ``"cg"`` or ``"fixed_point"`` adjoint solver.
        backward_iters: most adjoint iterations, ``≥ 1``.
        backward_tol: relative tolerance of the adjoint solve, ``> 0`` (a miss warns).

    Returns:
        ``(q (B, H, W), iterations (B,) int64, converged (B,) bool)``; ``q`` is
        differentiable in ``unary`` and ``pairwise``.

    Example:
        >>> import torch
        >>> u = torch.tensor([[[-1.0, 2.0]]], requires_grad=True)
        >>> q, _, _ = meanfield_implicit(u, torch.full((1, 2, 1, 2), 0.5))
        >>> q.sum().backward(); u.grad.shape
        torch.Size([1, 1, 2])
    """
    options = check_options(iters, temperature, damping, tol, schedule)
    adjoint = AdjointOptions(check_choice(backward, "backward", BACKWARD_METHODS),
                             check_count(backward_iters, "backward_iters"),
                             check_positive(backward_tol, "backward_tol"))
    return _implicit_function().apply(unary, pairwise, _initial(init, unary), options, adjoint)


def _fixed_point(unary: Any, pairwise: Any, q0: Any,
                 options: MeanFieldOptions) -> tuple[Any, Any, Any]:
    """The forward iteration without autograd: the Numba kernel for CPU tensors of one
    float dtype, torch ops otherwise."""
    import torch

    from ..kernels.meanfield.torch_impl import meanfield_torch

    tensors = (unary, pairwise, q0)
    if unary.device.type != "cpu" or unary.dtype not in (torch.float32, torch.float64) or any(
            t.dtype != unary.dtype for t in tensors):
        return meanfield_torch(unary, pairwise, q0, options)
    from ..kernels.meanfield.numba_kernel import meanfield_numba

    arrays = (t.detach().contiguous().numpy() for t in tensors)
    return tuple(torch.from_numpy(a) for a in meanfield_numba(*arrays, options))


def _initial(init: Any, unary: Any) -> Any:
    """Validated, detached ``(B, H, W)`` start in ``unary``'s dtype and device."""
    import torch

    if init is None:
        return torch.full_like(unary, 0.5).detach()
    init = check_init(init, tuple(unary.shape))
    init = init.detach() if is_torch(init) else torch.from_numpy(np.ascontiguousarray(init))
    return init.to(dtype=unary.dtype, device=unary.device)


def _outputs(out: tuple[Any, Any, Any]) -> tuple[Any, Any, dict]:
    q, iterations, converged = out
    most = int(iterations.max()) if iterations.numel() else 0
    return q > 0.5, q, {"iterations": most, "converged": converged}


SPEC = register_native(
    "meanfield_implicit", meanfield_implicit, outputs=_outputs,
    description="meanfield with implicit backward: fixed point (Numba on CPU, torch elsewhere), implicit-function "
                "gradients to unary and pairwise in constant memory",
)
