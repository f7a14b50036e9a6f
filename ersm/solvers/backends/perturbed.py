"""``perturbed``: perturb-and-MAP through the exact cut with the implicit-MLE gradient.

Samples: ``m_s = argmin_m E(m; θ + ε_s, w)`` for ``s = 1..S`` (``samples=``), exact graph
cuts of the unaries perturbed by i.i.d. logistic noise ``ε ~ Logistic(0, noise)`` (the
difference of two Gumbels: with ``w = 0``, ``P(m_i = 1) = σ(−θ_i / noise)``), drawn from a
``torch.Generator`` seeded by ``seed=`` (``None``: torch's global RNG). All ``S · B`` cuts
run as one batch on the host; results come back to the input device.

Forward (``forward=``): ``"exact"`` returns ``q = m(θ)``, the noise-free exact mask;
``"mean"`` returns ``q = (1/S) Σ_s m_s``. ``mask`` is always the exact noise-free
minimiser.

Backward: implicit MLE (Niepert, Minervini & Franceschi 2021), chosen over the
perturbed-optimiser estimator of Berthet et al. 2020 because it needs no density of the
noise and costs ``S`` extra cuts. I-MLE writes the MAP as a maximisation of ``⟨η, z⟩``
and returns ``(MAP(η + ε) − MAP(η − λ g + ε)) / λ`` for ``g = ∂L/∂z``; here ``η = −θ``
(we minimise), so the unary gradient is::

    ∂L/∂θ ≈ (1/S) Σ_s [m(θ + ε_s + λ g) − m(θ + ε_s)] / λ

(``λ`` is ``lam=``, the same noise in both cuts). Pairwise: the energy is linear in the
parameters ``(θ, w)`` with sufficient statistics ``(m, c(m))``, ``c_ij(m) = [m_i ≠ m_j]``;
I-MLE's estimator is the difference of the statistics between the target and the current
MAP, and since ``L`` depends on ``m`` only the target distribution moves ``θ`` alone, so::

    ∂L/∂w ≈ (1/S) Σ_s [c(m(θ + ε_s + λ g)) − c(m(θ + ε_s))] / λ

(0 on edges that leave the grid). Both are finite differences of the exact perturbed
cut: they point downhill for the piecewise-constant ``L(m)`` only on average and only
where ``λ g`` is large enough to flip tokens; scale ``lam`` with the size of ``g`` (a
loss averaged over ``N`` tokens has ``g ∝ 1/N``).
"""

from __future__ import annotations

import functools
from typing import Any

from ...core.checks import check_choice, check_count, check_positive, check_seed, wants_grad
from ._native import exact_masks, register_native
from ..kernels.grid_difference import grid_difference, valid_edges

FORWARDS = ("exact", "mean")


def logistic_noise(shape: tuple[int, ...], scale: float, seed: int | None, like: Any) -> Any:
    """``Logistic(0, scale)`` samples of ``like``'s dtype and device, seedable."""
    import torch

    generator = None
    if seed is not None:
        generator = torch.Generator(device=like.device)
        generator.manual_seed(seed)
    u = torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)
    tiny = torch.finfo(like.dtype).tiny
    return scale * (torch.log(u.clamp(min=tiny)) - torch.log1p(-u))


def _map_samples(unary: Any, pairwise: Any) -> Any:
    """Exact masks of ``(S, B, H, W)`` unaries sharing ``(B, K, H, W)`` weights, as one batch."""
    n_s, batch, height, width = unary.shape
    weights = pairwise.expand(n_s, *pairwise.shape).reshape(n_s * batch, *pairwise.shape[1:])
    return exact_masks(unary.reshape(n_s * batch, height, width), weights).reshape(unary.shape)


def _cut_statistics(masks: Any, valid: Any) -> Any:
    """``[m_i ≠ m_j]`` per edge, ``(S, B, H, W)`` → ``(S, B, K, H, W)`` (0 off-grid)."""
    n_s, batch = masks.shape[:2]
    m = masks.to(valid.dtype).reshape(n_s * batch, *masks.shape[2:])
    return grid_difference(m, valid).abs().reshape(n_s, batch, *valid.shape)


def imle_gradients(unary: Any, pairwise: Any, noise: Any, samples: Any, grad_q: Any,
                   lam: float) -> tuple[Any, Any]:
    """I-MLE estimates ``(∂L/∂θ (B, H, W), ∂L/∂w (B, K, H, W))`` (see the module docstring).

    Args:
        unary, pairwise: the energy, ``(B, H, W)`` and ``(B, K, H, W)``.
        noise: ``(S, B, H, W)`` the forward perturbations; samples: ``(S, B, H, W)`` bool,
            their exact masks.
        grad_q: ``(B, H, W)`` incoming gradient; lam: ``λ > 0``.
    """
    target = _map_samples(unary + noise + lam * grad_q, pairwise)
    grad_unary = (target.to(unary.dtype) - samples.to(unary.dtype)).mean(dim=0) / lam
    valid = valid_edges(pairwise)
    stats = _cut_statistics(target, valid) - _cut_statistics(samples, valid)
    return grad_unary, stats.mean(dim=0) / lam


@functools.cache
def _imle_function() -> Any:
    """The ``torch.autograd.Function`` (built on first use: ``import ersm`` stays torch-free)."""
    import torch
    from torch.autograd.function import once_differentiable

    class PerturbedMAP(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, unary: Any, pairwise: Any, value: Any, noise: Any, samples: Any,
                    lam: float) -> Any:
            ctx.save_for_backward(unary, pairwise, noise, samples)
            ctx.lam = lam
            return value.clone()

        @staticmethod
        @once_differentiable
        def backward(ctx: Any, grad_q: Any) -> tuple[Any, ...]:
            unary, pairwise, noise, samples = ctx.saved_tensors
            grad_u, grad_p = imle_gradients(unary, pairwise, noise, samples, grad_q, ctx.lam)
            return grad_u, grad_p, None, None, None, None

    return PerturbedMAP


def perturbed_mask(unary: Any, pairwise: Any, samples: int = 8, noise: float = 1.0,
                   lam: float = 10.0, seed: int | None = None,
                   forward: str = "exact") -> tuple[Any, Any]:
    """Exact mask with a perturb-and-MAP / implicit-MLE gradient.

    Args:
        unary: ``(B, H, W)`` float tensor θ, any device, may require grad.
        pairwise: ``(B, K, H, W)`` weights ``≥ 0``, same dtype and device, may require grad.
        samples: number ``S ≥ 1`` of perturbations.
        noise: logistic noise scale ``> 0``.
        lam: I-MLE step ``λ > 0``.
        seed: integer seed of the noise generator, or None for torch's global RNG.
        forward: ``"exact"`` (``q`` = exact mask) or ``"mean"`` (``q`` = mean of the
            perturbed masks).

    Returns:
        ``(mask (B, H, W) bool, q (B, H, W))``; ``q`` carries the I-MLE gradient.

    Example:
        >>> import torch
        >>> u = torch.tensor([[[-1.0, 0.5]]], requires_grad=True)
        >>> mask, q = perturbed_mask(u, torch.full((1, 2, 1, 2), 0.2), seed=0)
        >>> mask.tolist()
        [[[True, False]]]
    """
    samples = check_count(samples, "samples")
    scale = check_positive(noise, "noise")
    lam = check_positive(lam, "lam")
    forward = check_choice(forward, "forward", FORWARDS)
    seed = check_seed(seed)
    mask = exact_masks(unary, pairwise)
    want_grad = wants_grad(unary, pairwise)
    if forward == "exact" and not want_grad:
        return mask, mask.to(unary.dtype)
    eps = logistic_noise((samples, *unary.shape), scale, seed, unary)
    drawn = _map_samples(unary.detach() + eps, pairwise.detach())
    value = drawn.to(unary.dtype).mean(dim=0) if forward == "mean" else mask.to(unary.dtype)
    if not want_grad:
        return mask, value
    return mask, _imle_function().apply(unary, pairwise, value, eps, drawn, lam)


SPEC = register_native(
    "perturbed", perturbed_mask, exact=True, canonical=True, needs_submodular=True,
    description="exact graph cut; perturb-and-MAP samples with implicit-MLE gradients to "
                "unary and pairwise",
)
