"""``ste``: exact graph-cut forward, straight-through backward through a relaxed surrogate.

Forward: ``m = argmin E`` by the graph-cut kernel on the host (float64; CPU tensors are
passed as zero-copy views), moved back to the input device; ``mask = m`` and ``q = m`` (as floats).

Backward: ``q = m + (s − stop_gradient(s))``, so ``∂L/∂θ = (∂s/∂θ)ᵀ ∂L/∂q`` and
``∂L/∂w = (∂s/∂w)ᵀ ∂L/∂q``: the gradient of the surrogate marginals ``s`` evaluated at
the incoming gradient ``∂L/∂q`` (taken at the exact mask). Surrogates, both at
temperature ``T``:

* ``"sigmoid"`` (default): the conditional keep-probability of each token given the
  exact labels of its neighbours, ``s_i = σ(−(θ_i + Σ_j w_ij (1 − 2 m_j)) / T)`` (one
  mean-field update from ``m``); ``∂s_i/∂θ_i = −s_i (1 − s_i) / T``, diagonal in ``θ``;
  ``w_ij`` gets ``−s_i (1 − s_i)(1 − 2 m_j) / T`` from each end ``i`` of the edge.
* ``"meanfield"``: the mean-field fixed point warm-started at ``m`` (the basin of the
  exact cut), differentiated implicitly (:mod:`.implicit_meanfield`), i.e. the full
  ``(I − ∂F/∂q)^{-1}`` coupling between tokens.
"""

from __future__ import annotations

from typing import Any

from ...core.checks import check_choice, check_positive, wants_grad
from ._native import exact_masks, meanfield_step, register_native, straight_through
from .meanfield_implicit import meanfield_implicit

SURROGATES = ("sigmoid", "meanfield")


def ste_mask(unary: Any, pairwise: Any, surrogate: str = "sigmoid",
             temperature: float = 1.0) -> tuple[Any, Any]:
    """Exact mask with a straight-through relaxed gradient.

    Args:
        unary: ``(B, H, W)`` float tensor θ, any device, may require grad.
        pairwise: ``(B, K, H, W)`` weights ``≥ 0``, same dtype and device.
        surrogate: ``"sigmoid"`` or ``"meanfield"`` (see the module docstring).
        temperature: ``T > 0`` of the surrogate.

    Returns:
        ``(mask (B, H, W) bool, q (B, H, W))``: ``q`` equals ``mask`` in value and
        carries the surrogate's gradient.

    Example:
        >>> import torch
        >>> u = torch.tensor([[[-1.0, 0.5]]], requires_grad=True)
        >>> mask, q = ste_mask(u, torch.full((1, 2, 1, 2), 0.2))
        >>> q.tolist(), q.sum().backward()
        ([[[1.0, 0.0]]], None)
    """
    surrogate = check_choice(surrogate, "surrogate", SURROGATES)
    temperature = check_positive(temperature, "temperature")
    mask = exact_masks(unary, pairwise)
    m = mask.to(unary.dtype)
    if not wants_grad(unary, pairwise):
        return mask, m
    if surrogate == "sigmoid":
        s = meanfield_step(unary, pairwise, m, temperature)
    else:
        s = meanfield_implicit(unary, pairwise, temperature=temperature, init=m)[0]
    return mask, straight_through(m, s)


SPEC = register_native(
    "ste", ste_mask, exact=True, canonical=True, needs_submodular=True,
    description="exact graph-cut forward, straight-through gradient of a sigmoid or "
                "mean-field surrogate",
)
